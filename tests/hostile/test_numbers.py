"""Hostile numbers at the edges: NaN and infinities in JSON, integers beyond what torch or C
code hold, k beyond the catalogue, wrong types into the library. One rule each: whole numbers
are checked against a stated range (:func:`ncf.config.check_whole`), a JSON error body is
always strict JSON (:func:`ncf.serving.app.json_safe`), k is clamped to the catalogue."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tests_hostile_tally import record

import ncf
from ncf.cli import main
from ncf.errors import NCFError

BIG = "99999999999999999999"


def _strict_json(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, neumf_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("numbers") / "run"
    res = CliRunner().invoke(main, ["train", str(neumf_dir), "--model", "mf", "--epochs", "1", "--dim", "8", "-q",
                                    "--spectral-weight", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_non_finite_json_numbers_get_422_in_strict_json(run_dir: Path, literal: str) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving.app import create_app

    client = TestClient(create_app(run_dir), raise_server_exceptions=False)
    for path, body in (("/recommend", f'{{"users": ["u1"], "k": {literal}}}'),
                       ("/recommend/history", f'{{"history": ["i1"], "k": {literal}}}')):
        res = client.post(path, content=body, headers={"content-type": "application/json"})
        assert res.status_code == 422, (path, res.status_code, res.text)
        answer = _strict_json(res.text)
        assert isinstance(answer, dict) and answer["detail"] == "k: Input should be a finite number", answer
        assert answer["errors"][0]["input"] in ("NaN", "Infinity", "-Infinity"), answer
    record("clear error")


@pytest.mark.parametrize(("flag", "says"), [
    ("--dim", f"dim must be a whole number from 1 to 2,147,483,647, got {int(BIG):,}"),
    ("--seed", f"seed must be a whole number from 0 to 4,294,967,295, got {int(BIG):,}"),
    ("--epochs", f"epochs must be a whole number from 1 to 2,147,483,647, got {int(BIG):,}"),
    ("--batch-size", f"batch_size must be a whole number from 1 to 2,147,483,647, got {int(BIG):,}"),
    ("--layers", f"a layer width must be a whole number from 1 to 2,147,483,647, got {int(BIG):,}"),
])
def test_train_integers_beyond_their_range_are_refused_before_torch(
        neumf_dir: Path, tmp_path: Path, flag: str, says: str) -> None:
    model = "mlp" if flag == "--layers" else "mf"
    res = CliRunner().invoke(main, ["train", str(neumf_dir), "--model", model, "--epochs", "1", flag, BIG,
                                    "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == f"error: {says}", res.stderr
    assert not (tmp_path / "out").exists()
    record("clear error")


def test_a_dimension_that_cannot_be_allocated_says_how_big(neumf_dir: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["train", str(neumf_dir), "--model", "mf", "--epochs", "1", "--dim", "2147483647",
                                    "--spectral-weight", "0", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert line.startswith("error: the mf model does not fit in memory: 500 users and items x --dim 2,147,483,647 is")
    assert line.endswith("GiB of embeddings alone; lower --dim") and "out of memory: use a smaller" not in line
    record("clear error")


@pytest.mark.parametrize(("value", "says"), [
    ("abc", "NCF_NUM_THREADS must be a whole number, got 'abc'"),
    ("1_0", "NCF_NUM_THREADS must be a whole number, got '1_0'"),
    ("0", "threads must be a whole number from 1 to 4,096, got 0"),
    (BIG, f"threads must be a whole number from 1 to 4,096, got {int(BIG):,}"),
])
def test_bad_thread_counts_are_one_error_line(neumf_dir: Path, value: str, says: str) -> None:
    res = CliRunner(env={"NCF_NUM_THREADS": value}).invoke(main, ["data", "stats", str(neumf_dir)])
    assert res.exit_code == 2 and res.stderr == f"error: {says}\n", res.stderr
    record("clear error")


@pytest.mark.parametrize(("param", "says"), [
    ("M=1180591620717411303424", "--param M must be a whole number from -2,147,483,647 to 2,147,483,647"),
    ("ef_search=1e400", "--param ef_search must be a finite number, got '1e400'"),
    ("M=nan", "--param M must be a finite number, got 'nan'"),
])
def test_index_params_beyond_c_ints_are_refused_by_ncf(run_dir: Path, tmp_path: Path, param: str, says: str) -> None:
    res = CliRunner().invoke(main, ["index", "build", str(run_dir), "--kind", "exact", "--param", param,
                                    "--out", str(tmp_path / "idx")])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith(f"error: {says}"), res.stderr
    record("clear error")


def test_k_beyond_the_catalogue_is_clamped_everywhere(run_dir: Path) -> None:
    from ncf.app.artifact import Run
    from ncf.app.recommender import Recommender

    run = Run.load(run_dir)
    top = ncf.recommend(run.model, [0, 1], k=10**15, exclude=run.seen)
    assert top.ids.shape == (2, run.model.num_items)
    unseen = run.model.num_items - run.seen[0].nnz
    assert int((top.ids[0] >= 0).sum()) == unseen
    rec = Recommender.load(run_dir)
    assert len(rec.recommend(["u0"], k=10**15)[0]) == unseen
    assert len(rec.similar_items(["i0"], k=10**15)[0]) == run.model.num_items - 1
    res = CliRunner().invoke(main, ["recommend", str(run_dir), "--user", "u0", "--k", "1000000000000000", "--json"])
    assert res.exit_code == 0 and len(json.loads(res.stdout)["u0"]) == unseen, res.output
    record("correct result")


def test_an_index_id_of_a_trillion_names_its_line_not_memory(tmp_path: Path) -> None:
    root = tmp_path / "lg"
    root.mkdir()
    (root / "train.txt").write_text("0 1 2 3\n1 2 1000000000000\n")
    (root / "test.txt").write_text("0 4\n1 3\n")
    res = CliRunner().invoke(main, ["data", "stats", str(root)])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: {root / 'train.txt'}:2, field 'item': index 1,000,000,000,000 is beyond "
                                 "2,147,483,646: ids in this format are contiguous indices"), res.stderr
    record("clear error")


DATA = ncf.synthetic(num_users=30, num_items=40, seed=2).interactions
SPLIT = ncf.leave_one_out(DATA, num_negatives=10, seed=0)
MF = ncf.MatrixFactorization(30, 40, embedding_dim=4)

LIBRARY: list[tuple[str, Callable[[], object], str]] = [
    ("leave_one_out of a string", lambda: ncf.leave_one_out("str"), "data must be Interactions, got str 'str'"),
    ("random_split of a list", lambda: ncf.random_split([1, 2]), "data must be Interactions, got list"),
    ("temporal_split of a string", lambda: ncf.temporal_split("x"), "data must be Interactions, got str 'x'"),
    ("validation_split of None", lambda: ncf.validation_split(None), "train must be Interactions, got NoneType"),
    ("k_core of a string", lambda: ncf.k_core("x", 2), "data must be Interactions, got str 'x'"),
    ("Trainer of a string", lambda: ncf.Trainer("x"), "config must be TrainConfig, got str 'x'"),
    ("fit a string", lambda: ncf.Trainer(ncf.TrainConfig(epochs=1, show_progress=False)).fit("m", SPLIT.train),
     "model must be Model, got str 'm'"),
    ("fit on a string", lambda: ncf.Trainer(ncf.TrainConfig(epochs=1, show_progress=False)).fit(MF, "d"),
     "train must be Interactions, got str 'd'"),
    ("evaluate a string", lambda: ncf.evaluate("m", SPLIT.test), "model must be Model, got str 'm'"),
    ("evaluate batch size 0", lambda: ncf.evaluate(MF, SPLIT.test, batch_size=0), "batch_size must be positive"),
    ("split seed -1", lambda: ncf.leave_one_out(DATA, num_negatives=5, seed=-1),
     "seed must be a whole number from 0 to 4,294,967,295, got -1"),
    ("split seed 2**70", lambda: ncf.leave_one_out(DATA, num_negatives=5, seed=2**70),
     "seed must be a whole number from 0 to 4,294,967,295"),
    ("synthetic seed -1", lambda: ncf.synthetic(seed=-1), "seed must be a whole number from 0"),
    ("TrainConfig seed -1", lambda: ncf.TrainConfig(seed=-1), "seed must be a whole number from 0"),
    ("TrainConfig seed 1.5", lambda: ncf.TrainConfig(seed=1.5), "seed must be a whole number, got 1.5"),
]


@pytest.mark.parametrize(("name", "call", "says"), LIBRARY, ids=[c[0] for c in LIBRARY])
def test_library_wrong_types_and_ranges_say_what_is_wrong(name: str, call: Callable[[], object], says: str) -> None:
    with pytest.raises(NCFError) as err:
        call()
    assert says in str(err.value), str(err.value)
    assert not isinstance(err.value, (AttributeError, TypeError)), type(err.value)
    record("clear error")


def test_the_recommendations_are_unchanged_for_ordinary_k(run_dir: Path) -> None:
    from ncf.app.artifact import Run

    run = Run.load(run_dir)
    wide = ncf.recommend(run.model, [3], k=10**15, exclude=run.seen)
    narrow = ncf.recommend(run.model, [3], k=5, exclude=run.seen)
    assert np.array_equal(wide.ids[0, :5], narrow.ids[0]), (wide.ids[0, :5], narrow.ids[0])
    record("correct result")
