"""ncf tune: searches on a validation carve of train only, resumes, and writes a usable config."""

from __future__ import annotations

import numpy as np
import pytest

import ncf.evaluation
from ncf.app import RunSpec
from ncf.app.jobs import build_model, load_data
from ncf.app.tune import parse_duration, search_space, tune, tuning_split
from ncf.data import read_neumf
from ncf.errors import ConfigError
from ncf.training import Trainer


def _base(data, **extra):
    return RunSpec.from_options(("t", {"data": str(data), "model": "mf", "loss": "bpr", "max-epochs": 3, **extra}))


def test_never_evaluates_on_the_test_split_and_beats_the_defaults(neumf_dir, tmp_path, monkeypatch):
    test = read_neumf(neumf_dir).split.test
    test_pairs = set(zip(test.users.tolist(), test.items.tolist(), strict=True))
    evaluated = []
    real = ncf.evaluation.evaluate

    def spy(model, rows, **kw):
        evaluated.append(set(zip(rows.users.tolist(), rows.items.tolist(), strict=True)))
        return real(model, rows, **kw)

    monkeypatch.setattr(ncf.evaluation, "evaluate", spy)
    result = tune(_base(neumf_dir), tmp_path / "study", trials=6)
    assert evaluated and all(not (pairs & test_pairs) for pairs in evaluated)
    # the best trial beats the default options on the same validation carve
    base = _base(neumf_dir)
    split = tuning_split(base, load_data(str(neumf_dir)))
    model = build_model(base, split, (None, None))
    default = Trainer(base.trainer_config(show_progress=False)).fit(
        model, split.train, valid=split.test, valid_negatives=split.test_negatives).best_metric
    assert result.best_value > default, (result.best_value, default)


def test_writes_a_config_train_accepts_and_resumes_the_study(neumf_dir, tmp_path):
    out = tmp_path / "study"
    first = tune(_base(neumf_dir), out, trials=3)
    spec = RunSpec.from_sources(config_file=first.config_path)
    assert spec.model.name == "mf" and spec.train.loss == "bpr"
    assert {k: spec.value(k) for k in first.best_options} == {
        k: (tuple(int(x) for x in v.split(",")) if k == "layers" else v) for k, v in first.best_options.items()}
    rows = (out / "trials.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:4] == ["trial", "state", "value", "seconds"] and len(rows) == 4
    again = tune(_base(neumf_dir), out, trials=5)  # two more, not five more
    assert again.trials == 5
    assert (out / "trials.png").stat().st_size > 1000


def test_search_space_follows_the_model_s_options():
    mf = search_space(RunSpec.from_options(("", {"model": "mf", "loss": "softmax"})), 100)
    assert {"dim", "lr", "l2", "temperature", "batch-size"} == set(mf)
    neumf = search_space(RunSpec.from_options(("", {"model": "neumf", "loss": "bce"})), 100)
    assert {"dim", "layers", "dropout", "negatives"} <= set(neumf) and "temperature" not in neumf
    spectral = search_space(RunSpec.from_options(("", {"model": "spectral"})), 1000)
    assert set(spectral) == {"spectral-rank"}


def test_durations_and_bad_budgets():
    assert parse_duration("90s") == 90 and parse_duration("10m") == 600 and parse_duration("2h") == 7200
    assert parse_duration("15") == 15 and parse_duration(None) is None
    for bad in ("ten minutes", "-5m", "0s"):
        with pytest.raises(ConfigError):
            parse_duration(bad)
    assert np.isfinite(parse_duration("1.5m") or np.nan)
