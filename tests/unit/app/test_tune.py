"""ncf tune: searches on a validation carve of train only, resumes, and writes a usable config; the
defaults come first, then the published recipes; options the user fixed stay fixed."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

import ncf.evaluation
from ncf.app import RunSpec
from ncf.app.datasets import load_data
from ncf.app.fitting import build_model
from ncf.app.refit import refit_epochs
from ncf.app.tune import (
    LAYER_CHOICES,
    RECIPES,
    first_trials,
    parse_duration,
    recipe_cost,
    resolved_values,
    search_space,
    tune,
    tuning_split,
)
from ncf.cli import main
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
    # trial 0 is the default options (the same value on the same carve), and a later trial beats them
    base = _base(neumf_dir)
    split = tuning_split(base, load_data(str(neumf_dir)))
    model = build_model(base, split, (None, None))
    default = Trainer(base.trainer_config(show_progress=False)).fit(
        model, split.train, valid=split.valid, valid_negatives=split.valid_negatives).best_metric
    study = optuna.load_study(study_name="ncf-tune", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    assert study.trials[0].user_attrs["origin"] == "defaults"
    assert study.trials[0].value == pytest.approx(default)
    assert result.best_value > default, (result.best_value, default)


def test_writes_a_config_train_accepts_and_resumes_the_study(neumf_dir, tmp_path):
    out = tmp_path / "study"
    first = tune(_base(neumf_dir), out, trials=3)
    spec = RunSpec.from_sources(config_file=first.config_path)
    assert spec.model.name == "mf" and spec.train.loss == "bpr" and first.model == "mf"
    assert {k: spec.value(k) for k in first.best_options} == {
        k: (tuple(int(x) for x in v.split(",")) if k == "layers" else v) for k, v in first.best_options.items()}
    # the refit: all of the training rows, no carve, for the best epoch carried over
    split = tuning_split(_base(neumf_dir), load_data(str(neumf_dir)))
    assert first.best_epoch is not None and 1 <= first.best_epoch <= 3
    assert spec.train.epochs == first.epochs == refit_epochs(first.best_epoch, len(split.train),
                                                            len(split.train) + len(split.valid))
    # no early stopping; a carve only to choose mf's spectral share, then the refit for those epochs
    assert spec.train.epochs is not None and spec.wants_validation() == spec.model.chooses_spectral_weight
    text = first.config_path.read_text()
    assert "ncf train DATA --config best.toml` then trains on all of the training data" in text
    assert f"epochs = {first.epochs}\n" in text
    rows = (out / "trials.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:6] == ["trial", "state", "value", "seconds", "best_epoch", "origin"]
    assert len(rows) == 4  # the recipes still waiting in the queue are not rows
    again = tune(_base(neumf_dir), out, trials=5)  # two more, not five more
    assert again.trials == 5
    assert (out / "trials.png").stat().st_size > 1000


def test_ncf_train_with_best_toml_trains_the_chosen_options_for_the_refit_epochs(neumf_dir, tmp_path):
    result = tune(_base(neumf_dir, **{"max-epochs": 2}), tmp_path / "study", trials=1)
    run = CliRunner().invoke(main, ["train", str(neumf_dir), "--config", str(result.config_path), "--out",
                                    str(tmp_path / "run"), "--json"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["model"] == "mf" and report["epochs"] == result.epochs  # fixed epochs: no early stopping
    options = json.loads((tmp_path / "run" / "run.json").read_text())["options"]
    assert {k: options[k] for k in result.best_options} == result.best_options
    assert options["epochs"] == result.epochs and options["valid"] in (None, False)


def test_fixed_options_stay_fixed_and_all_fixed_is_an_error(neumf_dir, tmp_path):
    base = _base(neumf_dir, dim=16, lr=0.01)  # given like --dim 16 --lr 0.01
    assert not {"dim", "lr"} & set(search_space(base, 100))
    result = tune(base, tmp_path / "study", trials=3)
    study = optuna.load_study(study_name="ncf-tune", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    ran = [t for t in study.trials if t.state.is_finished()]
    assert len(ran) == 3 and all(not {"dim", "lr"} & set(t.params) and "l2" in t.params for t in ran)
    spec = RunSpec.from_sources(config_file=result.config_path)
    assert spec.model.dim == 16 and spec.train.lr == 0.01
    spectral = RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "spectral", "spectral-rank": 16}))
    with pytest.raises(ConfigError, match="every option ncf tune searches .* is fixed"):
        tune(spectral, tmp_path / "other", trials=1)
    with pytest.raises(ConfigError, match="no hyper-parameters"):
        tune(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "popularity"})), tmp_path / "p", trials=1)


def test_the_defaults_are_trial_0_then_the_recipes(neumf_dir, tmp_path):
    lines: list[str] = []
    tune(_base(neumf_dir), tmp_path / "study", trials=2, on_trial=lines.append)
    study = optuna.load_study(study_name="ncf-tune", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    # mf's defaults for bpr (ncf/app/defaults/mf.toml), then Rendle et al. 2020
    assert study.trials[0].params == {"dim": 128, "lr": 0.002, "l2": 0.001, "negatives": 8, "batch-size": 1024}
    assert study.trials[1].params == {"dim": 192, "lr": 0.002, "l2": 0.005, "negatives": 8, "batch-size": 1024}
    assert [t.user_attrs["origin"] for t in study.trials[:2]] == ["defaults", "Rendle et al. 2020"]
    # one plain line per trial: number, state, value, best epoch, seconds, parameters
    assert len(lines) == 2 and lines[0].startswith("trial 0 complete; ndcg@10 0.")
    assert " at epoch " in lines[0] and " s (dim=128, lr=0.002, l2=0.001, negatives=8, batch-size=1024)" in lines[0]


def test_recipes_fit_the_space_and_come_cheapest_first():
    neumf = RunSpec.from_options(("", {"model": "neumf", "loss": "bce"}))
    space = search_space(neumf, 1000)
    trials = first_trials(neumf, space)
    assert trials[0] == ("defaults", resolved_values(neumf, space))
    assert [name for name, _ in trials[1:]] == [f"He et al. 2017, {f} predictive factors" for f in (8, 16, 32, 64)]
    costs = [recipe_cost(params) for _, params in trials[1:]]
    assert costs == sorted(costs)
    assert trials[1][1]["dim"] == 8 and trials[1][1]["layers"] == "32,16,8" and trials[1][1]["batch-size"] == 256
    for spec in (neumf, RunSpec.from_options(("", {"model": "mf", "loss": "bpr"})),
                 RunSpec.from_options(("", {"model": "mlp", "loss": "bce"}))):
        space = search_space(spec, 1000)
        for recipe in RECIPES:
            if spec.model.name in recipe.models:
                for key, value in recipe.options.items():  # inside the distributions as published
                    if key in space:
                        assert space[key].fit(value) == value, (spec.model.name, key, value)
        for _, params in first_trials(spec, space):
            assert all(space[k].fit(v) == v for k, v in params.items())
    assert {"32,16,8", "64,32,16", "128,64,32", "256,128,64"} <= set(LAYER_CHOICES)
    # fixed options stay out of the recipes too; softmax gets no recipe of the sampled losses
    fixed = RunSpec.from_options(("", {"model": "mf", "loss": "bpr", "dim": 32}))
    assert all("dim" not in params for _, params in first_trials(fixed, search_space(fixed, 1000)))
    softmax = RunSpec.from_options(("", {"model": "mf", "loss": "softmax"}))
    assert [name for name, _ in first_trials(softmax, search_space(softmax, 1000))] == ["defaults"]
    # the spectral rank's default is chosen from the data: the study starts with the powers of two
    spectral = RunSpec.from_options(("", {"model": "spectral"}))
    assert [p for _, p in first_trials(spectral, search_space(spectral, 200))] == [
        {"spectral-rank": 16}, {"spectral-rank": 32}, {"spectral-rank": 64}]
    # the trainer's l2 default (0) is not on the log scale: it starts at the range's low end
    gmf = RunSpec.from_options(("", {"model": "gmf", "loss": "bce"}))
    assert resolved_values(gmf, search_space(gmf, 1000))["l2"] == 1e-7


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


def test_a_spectral_study_starts_at_the_rank_ncf_train_would_choose(neumf_dir, tmp_path):
    import optuna

    from ncf.app.blend import choose_spectral_rank

    base = RunSpec.from_options(("test", {"data": str(neumf_dir), "model": "spectral"}))
    tune(base, tmp_path / "s", trials=2)
    split = tuning_split(base, load_data(str(neumf_dir)))
    chosen = choose_spectral_rank(base, split)["chosen"]
    study = optuna.load_study(study_name="ncf-tune", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    assert study.trials[0].params["spectral-rank"] == chosen


def _events_table(small_data, path):
    """The synthetic interactions as a raw table (no published split: ``ncf train`` makes one)."""
    data = small_data.interactions
    path.write_text("user,item,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for u, i, t in zip(data.users, data.items, data.timestamps, strict=True)))
    return path


@pytest.mark.parametrize("protocol", ["published", "random"])  # sampled (NeuMF files) and full-ranking carves
def test_the_tuner_scores_ncf_trains_carve_held_in_valid(neumf_dir, small_data, tmp_path, protocol):
    from ncf.app.splitting import run_split

    if protocol == "published":
        base = RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "spectral"}))
    else:
        table = _events_table(small_data, tmp_path / "events.csv")
        base = RunSpec.from_options(("t", {"data": str(table), "model": "spectral", "protocol": "random"}))
    dataset = load_data(base.data.source)
    tuned = tuning_split(base, dataset)
    trained, carve = run_split(base.replace(valid=True), dataset)  # the carve `ncf train --valid` makes
    assert carve is not None and tuned.valid is not None and trained.valid is not None
    assert len(tuned.test) == 0 and tuned.test_negatives is None  # the test part is dropped, unread
    for mine, theirs in ((tuned.train, trained.train), (tuned.valid, trained.valid)):
        assert np.array_equal(mine.users, theirs.users) and np.array_equal(mine.items, theirs.items)
    if protocol == "published":
        assert tuned.valid_negatives is not None and trained.valid_negatives is not None
        assert np.array_equal(tuned.valid_negatives, trained.valid_negatives)
    else:
        assert tuned.valid_negatives is None and trained.valid_negatives is None
    # every trial's value is its model's metric on that same carve
    tune(base, tmp_path / "study", trials=3)
    study = optuna.load_study(study_name="ncf-tune", storage=f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    metric = base.trainer_config().for_validation(sampled=trained.valid_negatives is not None).metric
    assert metric is not None
    for trial in study.trials:
        if trial.state.name != "COMPLETE":
            continue
        spec = base.replace(**trial.params)
        model = build_model(spec, trained, (None, None))
        model.fit(trained.train)
        report = ncf.evaluation.evaluate(
            model, trained.valid, exclude=trained.train, k=(int(metric.split("@")[1]),),
            protocol="sampled" if trained.valid_negatives is not None else "full", negatives=trained.valid_negatives)
        assert trial.value == report.metrics[metric]
