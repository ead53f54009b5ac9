"""A failed run can be retried, and an option that a run would ignore is an error.

The retry rule (:func:`ncf.app.run_rules.check_fresh`): a run that failed (``run.json`` status
``failed``) or never reached a checkpoint is replaced by a plain re-run with any options; a
finished run, or an interrupted one with a checkpoint to resume, only with ``--force``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests_hostile_tally import record

from ncf.cli import main


def _train(data: Path, out: Path, *extra: str) -> object:
    return CliRunner().invoke(main, ["train", str(data), "--model", "mf", "--dim", "8", "--spectral-weight", "0",
                                     "-q", "--out", str(out), *extra])


def _info(out: Path) -> dict[str, object]:
    info = json.loads((out / "run.json").read_text())
    assert isinstance(info, dict)
    return info


@pytest.fixture()
def diverged(neumf_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    # plain SGD at lr 1e4 on the seeded synthetic data: epoch 1 is finite (and checkpointed), epoch 2 is not
    res = _train(neumf_dir, out, "--epochs", "4", "--optimizer", "sgd", "--lr", "1e4", "--checkpoint-every", "1")
    assert res.exit_code == 1, res.output  # type: ignore[attr-defined]
    assert "loss became nan in epoch 2; lower the learning rate" in res.stderr  # type: ignore[attr-defined]
    assert (out / "checkpoint" / "checkpoint.pt").is_file()
    return out


def test_a_diverged_run_is_recorded_as_failed_and_a_plain_rerun_replaces_it(diverged: Path, neumf_dir: Path) -> None:
    info = _info(diverged)
    assert info["status"] == "failed" and "loss became" in str(info["failure"]), info
    res = _train(neumf_dir, diverged, "--epochs", "1", "--lr", "0.01")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    info = _info(diverged)
    assert info["status"] == "done" and "failure" not in info and info["options"]["lr"] == 0.01, info  # type: ignore[index]
    record("correct result")


def test_resuming_a_failed_run_says_to_train_it_again(diverged: Path, neumf_dir: Path) -> None:
    res = _train(neumf_dir, diverged, "--resume", "--lr", "0.01")
    assert res.exit_code == 2
    line = res.stderr.strip()  # type: ignore[attr-defined]
    assert line.startswith(f"error: {diverged}: this run failed (loss became") and line.endswith(
        "train it again without --resume, with new options: the failed run is replaced"), line
    record("clear error")


def test_a_finished_run_is_replaced_only_with_force(neumf_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _train(neumf_dir, out, "--epochs", "1").exit_code == 0  # type: ignore[attr-defined]
    (out / "index-info.json").write_text("{}")  # an index of the old model must not survive it
    res = _train(neumf_dir, out, "--epochs", "1", "--lr", "0.02")
    assert res.exit_code == 2 and res.stderr.strip() == (  # type: ignore[attr-defined]
        f"error: {out} already holds a finished run; use --force to replace it or another --out")
    assert _info(out)["options"]["lr"] != 0.02  # type: ignore[index]
    res = _train(neumf_dir, out, "--epochs", "1", "--lr", "0.02", "--force")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert _info(out)["options"]["lr"] == 0.02 and not (out / "index-info.json").exists()  # type: ignore[index]
    record("correct result")


def test_an_interrupted_run_with_a_checkpoint_is_kept_unless_forced(neumf_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _train(neumf_dir, out, "--epochs", "2", "--checkpoint-every", "1").exit_code == 0  # type: ignore[attr-defined]
    info = _info(out)
    info["status"] = "training"  # as a killed run leaves it: a checkpoint, not finished
    (out / "run.json").write_text(json.dumps(info))
    assert (out / "checkpoint" / "checkpoint.pt").is_file()
    res = _train(neumf_dir, out, "--epochs", "1")
    assert res.exit_code == 2 and "use --resume to continue it, --force to start over" in res.stderr  # type: ignore[attr-defined]
    both = _train(neumf_dir, out, "--epochs", "1", "--resume", "--force")
    assert both.exit_code == 2 and "give one of them" in both.stderr  # type: ignore[attr-defined]
    assert _train(neumf_dir, out, "--epochs", "1", "--force").exit_code == 0  # type: ignore[attr-defined]
    assert _info(out)["status"] == "done"
    record("correct result")


@pytest.mark.parametrize(("args", "says"), [
    (["--model", "popularity", "--loss", "bpr"], "--loss does not apply to model 'popularity': it is fitted in "
                                                 "closed form"),
    (["--model", "spectral", "--epochs", "5"], "--epochs does not apply to model 'spectral': it is fitted in "
                                               "closed form"),
    (["--model", "spectral", "--lr", "0.1"], "--lr does not apply to model 'spectral'"),
    (["--model", "mf", "--protocol", "random"], "--protocol does not apply: DATA ships its own train/test split"),
    (["--model", "mf", "--test-fraction", "0.5"], "--test-fraction does not apply: DATA ships its own train/test"),
])
def test_an_option_the_run_would_ignore_is_an_error(neumf_dir: Path, tmp_path: Path, args: list[str],
                                                    says: str) -> None:
    res = CliRunner().invoke(main, ["train", str(neumf_dir), *args, "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: " + says.replace("DATA", str(neumf_dir))), res.stderr
    assert not (tmp_path / "out").exists()
    record("clear error")


def test_an_ignored_option_in_a_config_file_is_an_error_too(neumf_dir: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "popularity"\nbatch-size = 512\n')
    res = CliRunner().invoke(main, ["train", str(neumf_dir), "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "--batch-size does not apply to model 'popularity'" in res.stderr, res.stderr
    record("clear error")


def test_closed_form_options_that_apply_still_work(neumf_dir: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["train", str(neumf_dir), "--model", "spectral", "--spectral-rank", "8",
                                    "--seed", "3", "-q", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert _info(tmp_path / "out")["options"]["seed"] == 3  # type: ignore[index]
    record("correct result")


def test_reloads_are_counted_by_outcome(neumf_dir: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving.app import ServeConfig, create_app

    out = tmp_path / "run"
    assert _train(neumf_dir, out, "--epochs", "1").exit_code == 0  # type: ignore[attr-defined]
    client = TestClient(create_app(out, ServeConfig(api_key="k")))

    def counts() -> dict[str, float]:
        text = client.get("/metrics").text  # open, like /health: no key needed
        return {line.split('"')[1]: float(line.split()[-1]) for line in text.splitlines()
                if line.startswith("ncf_reloads_total{")}

    assert counts() == {"ok": 0.0, "refused": 0.0}
    for _ in range(2):
        assert client.post("/admin/reload", headers={"X-API-Key": "k"}).status_code == 200
    assert client.post("/admin/reload", headers={"X-API-Key": "k"}, json={"path": str(tmp_path / "nope")}
                       ).status_code == 409
    assert counts() == {"ok": 2.0, "refused": 1.0}
    record("correct result")
