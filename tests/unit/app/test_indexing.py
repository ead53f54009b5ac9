"""ncf index build/bench: an index of a run's item vectors, measured, saved where serving finds it."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from ncf.app import RunSpec, train
from ncf.app.indexing import bench_indexes, build_index, held_back_queries
from ncf.cli import main
from ncf.errors import ConfigError, DataError
from ncf.serving import Recommender


@pytest.fixture(scope="module")
def run_dir(neumf_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("idx") / "run"
    train(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "dim": 16, "epochs": 2})), out,
          show_progress=False)
    return out


def test_truth_is_the_exact_top_k_of_unseen_items(run_dir):
    from ncf.app import Run

    run = Run.load(run_dir)
    q = held_back_queries(run, k=5, limit=50)
    assert q.users.size == 50 and q.truth.shape == (50, 5)
    scores = q.vectors @ q.item_vectors.T
    for r, seen in enumerate(q.seen):
        scores[r, seen] = -np.inf
        assert not set(q.truth[r].tolist()) & set(seen.tolist())
    np.testing.assert_allclose(np.sort(scores, axis=1)[:, ::-1][:, :5],
                               np.take_along_axis(scores, q.truth, axis=1), rtol=1e-5)


def test_build_measures_saves_and_serving_uses_it(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    info = build_index(run, "hnsw", params={"M": 16}, k=10, queries=200)
    assert info.recall > 0.95 and info.k == 10 and info.queries == 200 and info.p99_ms > 0
    saved = json.loads((run / "index-info.json").read_text())
    assert saved == info.to_dict() and saved["recall@10"] == info.recall  # the file is the report
    assert saved["kind"] == "hnsw" and saved["model_version"] == Recommender.load(run, index=None).version
    rec = Recommender.load(run)
    assert rec.index is not None and rec.index.kind == "hnsw"
    exact = Recommender.load(run, index=None)
    a, b = rec.recommend(["u1", "u2"], k=10), exact.recommend(["u1", "u2"], k=10)
    for x, y in zip(a, b, strict=True):
        assert len(set(x.items) & set(y.items)) >= 8  # approximate, but close to the exact answer
    info_file = run / "index-info.json"
    info_file.write_text(json.dumps({**saved, "model_version": "000000000000"}))
    with pytest.raises(DataError, match="rebuild it with ncf index build"):
        Recommender.load(run)


def test_bench_sweeps_each_kind_and_the_cli_prints_it(run_dir):
    rows = bench_indexes(run_dir, ["exact", "ivf"], k=5, queries=50)
    assert [r["kind"] for r in rows][0] == "exact" and rows[0]["recall@5"] == 1.0
    ivf = [r for r in rows if r["kind"] == "ivf"]
    assert [r["nprobe"] for r in ivf] == sorted(r["nprobe"] for r in ivf)
    assert ivf[-1]["recall@5"] >= ivf[0]["recall@5"]  # more lists searched, no worse recall
    res = CliRunner().invoke(main, ["index", "bench", str(run_dir), "--kinds", "exact,hnsw", "--queries", "30"])
    assert res.exit_code == 0, res.output
    assert "ef_search=64" in res.output and "recall@10" in res.output
    with pytest.raises(ConfigError, match="unknown index kind"):
        bench_indexes(run_dir, ["nmslib"], queries=10)


@pytest.mark.parametrize(
    "kind,params",
    [("scann", ["num_leaves=8", "num_leaves_to_search=8", "rerank=8"]), ("annoy", ["n_trees=20"]),
     ("ivfpq", ["nlist=4", "nprobe=4", "m=17", "nbits=6", "rerank=16", "rerank_dtype=float16"])],
)
def test_the_cli_builds_the_other_kinds_and_serving_loads_them(run_dir, tmp_path, kind, params):
    pytest.importorskip({"ivfpq": "faiss"}.get(kind, kind), reason=f"the {kind!r} kind's package is not installed")
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    args = ["index", "build", str(run), "--kind", kind, "--queries", "100", "--json"]
    res = CliRunner().invoke(main, [*args, *[x for p in params for x in ("--param", p)]])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output.strip().splitlines()[-1])
    assert info["kind"] == kind and info["recall@10"] >= 0.9
    if kind != "annoy":
        assert info["params"]["rerank"] in (8, 16)
    rec = Recommender.load(run)
    assert rec.index is not None and rec.index.kind == kind and rec.index.params == info["params"]
    assert all(len(r.items) == 10 for r in rec.recommend(["u1", "u2"], k=10))


def test_non_factorized_models_are_refused(neumf_dir, tmp_path):
    out = tmp_path / "neumf"
    train(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "neumf", "loss": "bce", "epochs": 1})), out,
          show_progress=False)
    res = CliRunner().invoke(main, ["index", "build", str(out)])
    assert res.exit_code == 2 and "no item vectors to index" in res.stderr
