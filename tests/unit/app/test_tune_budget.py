"""ncf tune --time-budget: the study ends within the budget plus one batch and one evaluation, and
the trial running at the deadline counts with its best epoch so far."""

from __future__ import annotations

import time
from datetime import datetime

import optuna
import pytest

from ncf.app import RunSpec
from ncf.app.tune import tune, tune_auto
from ncf.training import Trainer

BATCH_SECONDS = 0.2


@pytest.fixture
def slow_batches(monkeypatch):
    """Every training batch takes at least BATCH_SECONDS: an epoch of ~33 batches lasts ~7 s."""
    real = Trainer._step

    def step(self, run, batch):
        time.sleep(BATCH_SECONDS)
        return real(self, run, batch)

    monkeypatch.setattr(Trainer, "_step", step)


def test_a_budget_shorter_than_an_epoch_cuts_the_trial_and_keeps_it(neumf_dir, tmp_path, slow_batches):
    base = RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "loss": "bpr", "batch-size": 256}))
    budget = 3.0
    started, wall = time.monotonic(), datetime.now()
    result = tune(base, tmp_path / "study", trials=None, time_budget=budget)
    elapsed = time.monotonic() - started
    study = optuna.load_study(study_name="ncf-tune", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    ran = [t for t in study.trials if t.state.name != "WAITING"]
    assert len(ran) == 1 and ran[0].state.name == "COMPLETE"  # stopped, not pruned and not failed
    assert ran[0].user_attrs["deadline"] is True and ran[0].user_attrs["best_epoch"] == 1
    # the trial ended within the budget plus one batch and one evaluation (with room for a busy machine)
    assert (ran[0].datetime_complete - wall).total_seconds() < budget + BATCH_SECONDS + 1.0
    assert elapsed < budget + 5.0  # and the files written after it
    assert result.best_epoch == 1 and result.epochs == 1 and result.trials == 1
    assert RunSpec.from_sources(config_file=result.config_path).train.epochs == 1


def test_auto_splits_one_budget_among_the_families(neumf_dir, tmp_path, slow_batches):
    budget = 5.0
    started = time.monotonic()
    result = tune_auto({"data": str(neumf_dir), "batch-size": 512}, tmp_path / "auto", trials=None,
                       time_budget=budget)
    elapsed = time.monotonic() - started
    families = {f.model: f for f in result.families}
    # spectral is fitted first (not cut); mf, neumf and fpmc then share what is left, in order: each
    # trial runs into its share's end (an epoch is ~3 s) and is cut there, so one trial per family
    assert families["spectral"].trials >= 1 and families["mf"].trials == 1
    for name in ("neumf", "fpmc"):  # run in its share, or skipped once the budget is spent
        assert families[name].trials == 1 or families[name].note == "skipped: no time left in the budget"
    ran = {m: f.best_value for m, f in families.items() if f.best_value is not None}
    assert result.model == max(ran, key=lambda m: ran[m]) and result.best_value == max(ran.values())
    assert elapsed < budget + BATCH_SECONDS + 3.0  # each share ends at its deadline; the last at the budget
