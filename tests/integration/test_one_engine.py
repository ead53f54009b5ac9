"""``ncf recommend``, the library and the server rank through one engine: the same lists, also
after ``ncf index build`` puts an approximate index in the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import ncf
from ncf.app import RunSpec, recommend_run, train
from ncf.cli import main


@pytest.fixture(scope="module")
def run_dir(neumf_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("engine") / "run"
    train(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "loss": "bpr", "dim": 8, "epochs": 2,
                                      "spectral-weight": 0})), out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def indexed_run(run_dir, tmp_path_factory) -> Path:
    """The run with a coarse IVF index (one list of 16 searched): approximate on purpose."""
    out = tmp_path_factory.mktemp("engine-ivf") / "run"
    shutil.copytree(run_dir, out)
    res = CliRunner().invoke(main, ["index", "build", str(out), "--kind", "ivf", "--param", "nlist=16",
                                    "--param", "nprobe=1", "-q"])
    assert res.exit_code == 0, res.output
    return out


def _cli(run: Path, users: list[str], *extra: str) -> dict[str, list[str]]:
    args = ["recommend", str(run), *[a for u in users for a in ("--user", u)], "--k", "5", "--json", *extra]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return {user: [r["item"] for r in rows] for user, rows in json.loads(res.stdout).items()}


def _server(run: Path, users: list[str], index: str | None = "auto") -> dict[str, list[str]]:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ncf.serving.app import ServeConfig, create_app

    with TestClient(create_app(run, ServeConfig(index=index))) as client:
        out = {}
        for user in users:
            answer = client.get("/recommend", params={"user": user, "k": 5})
            assert answer.status_code == 200, answer.text
            out[user] = [r["item"] for r in answer.json()["items"]]
        return out


def test_cli_library_and_server_give_the_same_lists_through_an_index(indexed_run):
    users = [str(u) for u in ncf.Run.load(indexed_run).decode_users(np.arange(40))]
    cli = _cli(indexed_run, users)
    server = _server(indexed_run, users)
    lib = {u: list(r.items) for u, r in zip(users, ncf.Recommender.load(indexed_run).recommend(users, 5), strict=True)}
    assert cli == server == lib
    exact = _cli(indexed_run, users, "--index", "none")
    assert exact == _server(indexed_run, users, index=None)
    # the test means something only if the index ranks differently from the exact scan
    assert any(exact[u] != cli[u] for u in users)


def test_recommend_run_is_the_recommender(run_dir):
    users = [str(u) for u in ncf.Run.load(run_dir).decode_users(np.arange(10))]
    got = recommend_run(run_dir, users, k=7, chunk=3)  # several chunks give the lists of one call
    want = ncf.Recommender.load(run_dir).recommend(users, 7)
    assert list(got) == users
    for user, res in zip(users, want, strict=True):
        assert [r["item"] for r in got[user]] == list(res.items)
        assert [r["score"] for r in got[user]] == pytest.approx(list(res.scores))


def test_ncf_recommend_says_how_it_ranked_and_exact_forces_the_scan(indexed_run, run_dir):
    user = str(ncf.Run.load(indexed_run).decode_users(np.arange(1))[0])
    args = ["recommend", str(indexed_run), "--user", user, "--k", "5"]
    by_index = CliRunner().invoke(main, args)
    exact = CliRunner().invoke(main, [*args, "--exact"])
    assert by_index.exit_code == exact.exit_code == 0, by_index.output
    assert "ranking: ivf index" in by_index.stderr and str(indexed_run / "index") in by_index.stderr
    assert "ranking: exact search over the item vectors" in exact.stderr
    # --exact is --index none; --json keeps stderr quiet
    as_json = [*args, "--json"]
    exact_json = CliRunner().invoke(main, [*as_json, "--exact"])
    none_json = CliRunner().invoke(main, [*as_json, "--index", "none"])
    assert json.loads(exact_json.stdout) == json.loads(none_json.stdout) and exact_json.stderr == ""
    built = CliRunner().invoke(main, ["recommend", str(run_dir), "--user", user, "--k", "5"])
    assert "exact search over the item vectors (no " in built.stderr and "ncf index build" in built.stderr
    assert "ranking:" not in CliRunner().invoke(main, [*args, "-q"]).stderr
    unknown = CliRunner().invoke(main, ["recommend", str(indexed_run), "--user", "no-such-user"])
    assert unknown.exit_code == 1 and "ranking:" not in unknown.stderr  # the error is the only line
    refused = CliRunner().invoke(main, [*args, "--exact", "--index", str(indexed_run / "index")])
    assert refused.exit_code == 2 and "--exact ranks without an index" in refused.stderr
