"""``--filter-weight``: the trained model blended with a graph filter, fixed or chosen on the carve,
and ranked the same by the library, ``ncf recommend`` and the server."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ncf
from ncf.app import Run, RunSpec, train
from ncf.app.filter_blend import FILTER_SHARES, choose_filter_share, filter_blend, fit_filter_part
from ncf.cli import main
from ncf.errors import ConfigError
from ncf.evaluation import evaluate
from ncf.models import GraphFilter, MatrixFactorization
from ncf.models.blend import RowBlend, score_spread


def _spec(data, **options):
    base = {"data": str(data), "model": "mf", "loss": "bpr", "dim": 8, "epochs": 2, "batch-size": 256, "lr": 0.01,
            "spectral-weight": 0.0}
    return RunSpec.from_options(("test", {**base, **options}))


@pytest.fixture(scope="module")
def blend_run(neumf_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("filter-blend") / "run"
    result = train(_spec(neumf_dir, **{"filter-weight": 0.4}), out, show_progress=False)
    return out, result


def test_a_share_saves_the_trained_model_and_a_filter_fitted_on_train(blend_run):
    out, result = blend_run
    run = Run.load(out)
    assert isinstance(run.model, RowBlend) and "graph filter (share 0.4)" in result.summary()
    mf, filt = run.model.components()
    assert isinstance(mf, MatrixFactorization) and isinstance(filt, GraphFilter)
    # the filter is the run's default shape fitted on the training rows (no carve with fixed epochs)
    twin = fit_filter_part(run.spec, run.split.train)
    users = torch.arange(20)
    torch.testing.assert_close(filt.score_rows(users), twin.score_rows(users))
    assert run.model.weights == pytest.approx([0.6 / score_spread(mf), 0.4 / score_spread(filt)])


def test_the_cli_the_library_and_the_server_rank_the_blend_alike(blend_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ncf.serving.app import ServeConfig, create_app

    out, _ = blend_run
    run = Run.load(out)
    users = [str(u) for u in run.decode_users(np.arange(25))]
    res = CliRunner().invoke(main, ["recommend", str(out), *[a for u in users for a in ("--user", u)], "--k", "5",
                                    "--json"])
    assert res.exit_code == 0, res.output
    cli = {u: [r["item"] for r in rows] for u, rows in json.loads(res.stdout).items()}
    lib = {u: list(r.items) for u, r in zip(users, ncf.Recommender.load(out).recommend(users, 5), strict=True)}
    with TestClient(create_app(out, ServeConfig(index=None))) as client:
        server = {u: [r["item"] for r in client.get("/recommend", params={"user": u, "k": 5}).json()["items"]]
                  for u in users}
    assert cli == lib == server
    # and they are the blend's rows with the user's items removed, ranked by hand
    rows = run.model.score_rows(torch.arange(25)).clone()
    seen = run.seen[:25]  # everything the user did in the run is left out
    rows[torch.from_numpy(np.repeat(np.arange(25), np.diff(seen.indptr))), torch.from_numpy(seen.indices)] = -torch.inf
    top = torch.topk(rows, 5, dim=1).indices.numpy()
    assert all(lib[u] == [str(x) for x in run.decode_items(top[r])] for r, u in enumerate(users))


def test_the_chosen_share_is_the_best_blend_on_the_carve(neumf_dir, tmp_path, monkeypatch):
    import ncf.app.filter_blend as fb

    spec = _spec(neumf_dir)
    run_out = tmp_path / "carve"
    train(_spec(neumf_dir, valid=True, refit=False), run_out, show_progress=False)  # a carve, kept in the run
    run = Run.load(run_out)
    assert run.split.valid is not None
    monkeypatch.setattr(fb, "CHUNK_USERS", 37)  # several chunks, the last one short
    chosen = choose_filter_share(spec, run.model, run.split, "ndcg@10")
    filt = fit_filter_part(spec, run.split.train)
    for share in FILTER_SHARES:  # each share against ncf.evaluate of the blend itself, all carve users at once
        blend = filter_blend(run.model, filt, share)
        want = evaluate(blend, run.split.valid, exclude=run.split.train, k=(10,), protocol="sampled",
                        negatives=run.split.valid_negatives).metrics["ndcg@10"]
        assert chosen["scores"][str(share)] == pytest.approx(want, abs=1e-9)
    best = max(FILTER_SHARES, key=lambda s: (chosen["scores"][str(s)], -s))
    assert chosen["share"] == best


def test_auto_chooses_on_the_carved_model_then_blends_the_refit(neumf_dir, tmp_path):
    out = tmp_path / "auto"
    result = train(_spec(neumf_dir, **{"filter-weight": "auto"}), out, show_progress=False)
    refit = json.loads((out / "run.json").read_text())["history"]["refit"]
    chosen = refit["filter_blend"]
    assert refit["done"] and refit["epochs"] == 2 and [float(s) for s in chosen["scores"]] == list(FILTER_SHARES)
    assert "graph filter share" in result.summary()
    model = Run.load(out).model
    assert isinstance(model, RowBlend) == (chosen["share"] > 0)


def test_options_that_do_not_apply_are_refused(neumf_dir, tmp_path):
    with pytest.raises(ConfigError, match="needs a trained factorized model"):
        train(_spec(neumf_dir, model="neumf", loss="bce", **{"filter-weight": 0.3}), tmp_path / "a",
              show_progress=False)
    with pytest.raises(ConfigError, match="--degree-power does not apply"):
        train(_spec(neumf_dir, **{"degree-power": 0.3}), tmp_path / "b", show_progress=False)
    with pytest.raises(ConfigError, match=r"share, in \[0, 1\]"):
        _spec(neumf_dir, **{"filter-weight": 1.5})
    # the filter's shape options apply once the run blends a filter
    spec = _spec(neumf_dir, **{"filter-weight": 0.2, "degree-power": 0.3})
    assert spec.model.degree_power == 0.3


def test_auto_spectral_and_auto_filter_choose_on_the_same_carve(neumf_dir, tmp_path, monkeypatch):
    import ncf.app.model_builders as builders

    fits: list[int] = []
    original = builders.build_spectral

    def counted(spec, context):  # type: ignore[no-untyped-def]
        fits.append(context.num_users)
        return original(spec, context)

    monkeypatch.setattr(builders, "build_spectral", counted)
    out = tmp_path / "both"
    train(_spec(neumf_dir, **{"spectral-weight": "auto", "spectral-rank": 8, "filter-weight": "auto"}), out,
          show_progress=False)
    refit = json.loads((out / "run.json").read_text())["history"]["refit"]
    assert "blend" in refit and [float(s) for s in refit["filter_blend"]["scores"]] == list(FILTER_SHARES)
    # one spectral fit on the carve (the share and the filter's share are chosen with it), one on all rows
    assert len(fits) == 2
