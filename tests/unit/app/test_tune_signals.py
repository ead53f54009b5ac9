"""A study stopped by SIGTERM or SIGINT still leaves its best: best.toml, trials.tsv and the plot are
written before the signal does what it would have done, and the handlers from before come back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from ncf.app import RunSpec
from ncf.app.spec import read_toml
from ncf.app.tune import tune
from ncf.training import Trainer


class Stopped(Exception):
    pass


def _stop(signum, frame):
    raise Stopped(signum)


def _study(path):
    return optuna.load_study(study_name="ncf-tune", storage=f"sqlite:///{path / 'study.db'}")


def test_sigterm_mid_trial_writes_the_best_then_calls_the_previous_handler(neumf_dir, tmp_path, monkeypatch):
    fits: list[int] = []
    real_fit, real_step = Trainer.fit, Trainer._step

    def fit(self, *args, **kwargs):
        fits.append(1)
        return real_fit(self, *args, **kwargs)

    def step(self, run, batch):
        if len(fits) == 2:  # the second trial, after its first batch
            signal.raise_signal(signal.SIGTERM)
        return real_step(self, run, batch)

    monkeypatch.setattr(Trainer, "fit", fit)
    monkeypatch.setattr(Trainer, "_step", step)
    base = RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "loss": "bpr", "max-epochs": 2}))
    before_int = signal.getsignal(signal.SIGINT)
    before = signal.signal(signal.SIGTERM, _stop)
    try:
        with pytest.raises(Stopped):
            tune(base, tmp_path, trials=5)
        assert signal.getsignal(signal.SIGTERM) is _stop and signal.getsignal(signal.SIGINT) is before_int
    finally:
        signal.signal(signal.SIGTERM, before)
    trials = [t for t in _study(tmp_path).trials if t.state.name != "WAITING"]
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]  # the interrupted trial is recorded
    rows = (tmp_path / "trials.tsv").read_text().splitlines()
    assert len(rows) == 3 and rows[2].split("\t")[1] == "fail"  # written after the signal
    spec = RunSpec.from_sources(config_file=tmp_path / "best.toml")
    assert {k: spec.value(k) for k in trials[0].params} == trials[0].params
    assert (tmp_path / "trials.png").is_file()


def test_a_killed_ncf_tune_leaves_the_best_finished_trial(neumf_dir, tmp_path):
    out = tmp_path / "study"
    env = {**os.environ, "NCF_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ncf", "tune", str(neumf_dir), "--model", "mf", "--loss", "bpr", "--max-epochs", "6",
         "--trials", "200", "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        limit = time.monotonic() + 60
        while not (out / "best.toml").exists() and proc.poll() is None and time.monotonic() < limit:
            time.sleep(0.05)
        assert (out / "best.toml").exists(), proc.communicate(timeout=30)
        time.sleep(0.5)  # into a later trial
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGTERM, err.decode()  # it ends as SIGTERM ends a process
    trials = [t for t in _study(out).trials if t.state.name != "WAITING"]
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    written = read_toml(out / "best.toml")
    assert {k: written[k] for k in best.params} == best.params  # the best finished trial
    assert f"trial {best.number}," in (out / "best.toml").read_text()
    spec = RunSpec.from_sources(config_file=out / "best.toml")
    assert spec.model.name == "mf" and spec.train.epochs == best.user_attrs["best_epoch"]
    rows = (out / "trials.tsv").read_text().splitlines()
    assert len(rows) == 1 + len(trials)  # every trial, the interrupted one too


def test_a_signal_masked_by_the_storage_error_it_caused_still_counts(monkeypatch):
    """SIGTERM inside Optuna's SQLite commit surfaces as "database is locked", not as the
    interrupt: the files are still saved and the previous handler still runs."""
    from ncf.app.tune import _saving_on_signals

    saved: list[bool] = []
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with pytest.raises(Stopped), _saving_on_signals(lambda: saved.append(True)):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler raises here
            except KeyboardInterrupt as exc:  # what a storage layer would turn into its own error
                raise RuntimeError("database is locked") from exc
        assert saved == [True]
        assert signal.getsignal(signal.SIGTERM) is _stop  # restored
        with pytest.raises(RuntimeError, match="locked"), _saving_on_signals(lambda: saved.append(True)):
            raise RuntimeError("database is locked")  # no signal: an error is an error
        assert saved == [True]
    finally:
        signal.signal(signal.SIGTERM, previous)
