"""The jobs, called directly: train writes a run only once every option is known to be good."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncf.app import Run, RunDir, RunInfo, RunSpec, evaluate_run, recommend_run, train
from ncf.errors import ConfigError, TrainingDivergedError


def _spec(data, **options):
    base = {"data": str(data), "model": "mf", "loss": "bpr", "dim": 8, "epochs": 2, "batch-size": 256, "lr": 0.01}
    return RunSpec.from_options(("test", {**base, **options}))


def test_train_writes_the_layout_and_the_run_loads_once(neumf_dir, tmp_path):
    out = tmp_path / "run"
    result = train(_spec(neumf_dir), out, show_progress=False)
    assert result.run_dir == out and result.history is not None and len(result.history.epochs) == 2
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "done" and info["format_version"] == 2
    assert info["options"]["dim"] == 8 and info["options"]["layers"] == [64, 32, 16]
    for part in ("split/train", "split/test", "model/config.json", "checkpoint/checkpoint.pt", "log.jsonl"):
        assert (out / part).exists(), part
    run = Run.load(out)
    assert run.spec == result.spec
    assert run.seen is run.seen  # built once
    report = evaluate_run(run, k=[10], protocol="sampled")
    assert report.users == 300 and 0.0 < report.metrics["hr@10"] <= 1.0


def test_recommendations_exclude_everything_the_user_did(neumf_dir, tmp_path):
    out = tmp_path / "run"
    train(_spec(neumf_dir), out, show_progress=False)
    run = Run.load(out)
    users = run.decode_users(np.arange(5))
    recs = recommend_run(run, users, k=15)
    for r, user in enumerate(users):
        seen = set(run.seen[r].indices.tolist())
        items = run.encode_items([rec["item"] for rec in recs[user]])
        assert len(items) == 15 and not seen & set(items.tolist())
        scores = [rec["score"] for rec in recs[user]]
        assert scores == sorted(scores, reverse=True)


def test_an_option_error_found_after_reading_the_data_leaves_nothing(neumf_dir, tmp_path):
    out = tmp_path / "run"
    spec = _spec(neumf_dir, model="two-tower", loss="softmax", features=True)
    with pytest.raises(ConfigError, match="no side features"):
        train(spec, out, show_progress=False)
    assert not out.exists()
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("x")
    with pytest.raises(ConfigError):
        train(spec, keep, show_progress=False)
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]


def test_a_run_that_diverged_before_any_checkpoint_is_not_a_run(neumf_dir, tmp_path):
    out = tmp_path / "run"
    spec = _spec(neumf_dir, loss="bce", lr=1e30, optimizer="sgd", epochs=3)
    with pytest.raises(TrainingDivergedError) as err:
        train(spec, out, show_progress=False)
    assert "checkpoint" not in str(err.value) or (out / "checkpoint" / "checkpoint.pt").is_file()
    assert not out.exists()
    train(_spec(neumf_dir), out, show_progress=False)  # the same --out works at once


def test_a_directory_whose_training_never_started_is_reused(neumf_dir, tmp_path):
    out = tmp_path / "run"
    RunDir(out).write_info(RunInfo(options={"model": "mf"}))  # e.g. killed while reading data
    train(_spec(neumf_dir), out, show_progress=False)
    assert RunDir(out).read_info().status == "done"
    with pytest.raises(ConfigError, match="already holds a run"):
        train(_spec(neumf_dir), out, show_progress=False)


def test_resume_refusals(neumf_dir, tmp_path):
    spec = _spec(neumf_dir)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(spec, tmp_path / "none", resume=True)
    done = tmp_path / "done"
    train(spec, done, show_progress=False)
    with pytest.raises(ConfigError, match="already finished"):
        train(spec, done, resume=True)
    started = tmp_path / "started"
    RunDir(started).write_info(RunInfo(options=spec.to_options()))
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(spec, started, resume=True)
    (started / "checkpoint").mkdir()
    (started / "checkpoint" / "checkpoint.pt").write_bytes(b"")
    RunDir(started).save_split(Run.load(done).split)
    with pytest.raises(ConfigError, match="different options: lr"):
        train(_spec(neumf_dir, lr=0.5), started, resume=True)


def test_evaluate_on_the_validation_part_and_bad_requests(neumf_dir, tmp_path):
    out = tmp_path / "run"
    train(_spec(neumf_dir, epochs=None, **{"max-epochs": 2}), out, show_progress=False)
    run = Run.load(out)
    assert run.split.valid is not None
    valid = evaluate_run(run, k=[5], part="valid")
    assert valid.protocol == "sampled" and valid.users == len(run.split.valid)
    with pytest.raises(ConfigError, match="protocol"):
        evaluate_run(run, protocol="sideways")
    with pytest.raises(ConfigError, match="k must be positive"):
        recommend_run(run, run.decode_users(np.arange(1)), k=0)
