"""``ncf similar``: the command line, the library and the server give the same answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ncf import Recommender
from ncf.app import RunSpec, train
from ncf.cli import main


@pytest.fixture(scope="module")
def run_dir(neumf_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("similar") / "run"
    train(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "loss": "bpr", "dim": 8, "epochs": 2,
                                      "spectral-weight": 0})), out, show_progress=False)
    return out


def test_cli_library_and_server_agree(run_dir):
    res = CliRunner().invoke(main, ["similar", str(run_dir), "i7", "i12", "--k", "5", "--json"])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    rec = Recommender.load(run_dir)
    lib = rec.similar_items(["i7", "i12"], 5)
    assert [row["item"] for row in cli] == ["i7", "i12"]
    for row, want in zip(cli, lib, strict=True):
        assert row["source"] == "similar" and row["model_version"] == rec.version
        assert [r["item"] for r in row["items"]] == list(want.items)
        assert [r["score"] for r in row["items"]] == pytest.approx(list(want.scores))
        assert row["item"] not in [r["item"] for r in row["items"]]
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ncf.serving.app import create_app

    served = TestClient(create_app(run_dir)).get("/similar-items", params={"item": "i7", "k": 5}).json()
    assert {k: v for k, v in served.items() if k != "items"} == {k: v for k, v in cli[0].items() if k != "items"}
    assert [r["item"] for r in served["items"]] == [r["item"] for r in cli[0]["items"]]
    # one query or two in a matrix product: the same scores up to float rounding
    assert [r["score"] for r in served["items"]] == pytest.approx([r["score"] for r in cli[0]["items"]])


def test_plain_output_and_errors(run_dir):
    res = CliRunner().invoke(main, ["similar", str(run_dir), "i7", "--k", "3"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "like i7:" and len(lines) == 4
    assert [line.split()[0] for line in lines[1:]] == ["1.", "2.", "3."]
    bad = CliRunner().invoke(main, ["similar", str(run_dir), "no-such-item"])
    assert bad.exit_code == 1 and bad.stderr.strip() == "error: unknown item 'no-such-item'", bad.stderr
    assert CliRunner().invoke(main, ["similar", str(run_dir)]).exit_code == 2  # ITEM... is required
