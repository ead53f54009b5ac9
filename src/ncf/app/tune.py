"""``ncf tune``: search a model's hyper-parameters on a validation split carved from train.

The test part of the data is dropped as soon as the split exists: every trial trains on the
training rows minus a validation carve and is scored on that carve only. Trials are proposed by
Optuna's TPE sampler and stopped early by a median pruner on the per-epoch validation curve;
the study lives in ``DIR/study.db`` (SQLite), so an interrupted search resumes where it stopped.
The best trial is written as a TOML config that ``ncf train --config`` takes, beside a trials
table and a plot.

The search space follows the options a model uses (``spec_options``) and the loss, never a
model's name: width, layers, dropout, temperature, spectral rank; learning rate, L2, negatives
(sampled losses) and batch size (trained models).
"""

from __future__ import annotations

import csv
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.app.jobs import build_model, load_data, make_split
from ncf.app.spec import OPTIONS, RunSpec
from ncf.data.interactions import Split
from ncf.errors import ConfigError
from ncf.models.base import ClosedForm

logger = logging.getLogger(__name__)

STUDY_FILE = "study.db"
STUDY_NAME = "ncf-tune"
LAYER_CHOICES = ("32,16", "64,32,16", "128,64", "128,64,32", "256,128,64")
BATCH_CHOICES = (256, 512, 1024, 2048, 4096)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("ncf tune needs the tune extra: pip install 'ncf[tune]'") from None
    return optuna


@dataclass(frozen=True)
class TuneResult:
    """What a search found: the best validation value, its options and where the files are."""

    out: Path
    metric: str
    best_value: float
    best_options: dict[str, Any]
    trials: int
    pruned: int
    config_path: Path

    def summary(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.best_options.items()))
        return (f"{self.trials} trials ({self.pruned} pruned); best validation {self.metric} = {self.best_value:.4f} "
                f"with {params}\nbest config: {self.config_path}")


def search_space(spec: RunSpec, num_items: int) -> dict[str, Callable[[Any], Any]]:
    """Option key -> a function of an Optuna trial that suggests its value."""
    used = spec.model.model_class.spec_options or frozenset()
    space: dict[str, Callable[[Any], Any]] = {}
    if "dim" in used:
        space["dim"] = lambda t: t.suggest_int("dim", 8, 256, log=True)
    if "layers" in used:
        space["layers"] = lambda t: t.suggest_categorical("layers", LAYER_CHOICES)
    if "dropout" in used:
        space["dropout"] = lambda t: t.suggest_float("dropout", 0.0, 0.5)
    if "spectral_rank" in used:
        top = max(8, min(2048, num_items // 2))
        space["spectral-rank"] = lambda t: t.suggest_int("spectral-rank", min(8, top), top, log=True)
    if spec.closed_form:
        return space
    if spec.train.loss == "softmax" or "temperature" in used:
        space["temperature"] = lambda t: t.suggest_float("temperature", 0.02, 1.0, log=True)
    space["lr"] = lambda t: t.suggest_float("lr", 1e-4, 5e-2, log=True)
    space["l2"] = lambda t: t.suggest_float("l2", 1e-7, 1e-1, log=True)
    if spec.train.loss in ("bpr", "bce"):
        space["negatives"] = lambda t: t.suggest_int("negatives", 1, 16, log=True)
    space["batch-size"] = lambda t: t.suggest_categorical("batch-size", BATCH_CHOICES)
    return space


def parse_duration(text: str | None) -> float | None:
    """``"90s"``, ``"10m"``, ``"2h"`` or plain seconds -> seconds."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m:
        raise ConfigError(f"time budget must look like 90s, 10m or 2h, got {text!r}")
    value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]
    if value <= 0:
        raise ConfigError("the time budget must be positive")
    return value


def tuning_split(spec: RunSpec, dataset: Any) -> Split:
    """(train minus a validation carve, validation): the test part is dropped here, unread."""
    from ncf.data.splits import validation_split

    split: Split | None = dataset.split
    if split is None:
        negatives = spec.split.test_negatives if spec.split.protocol == "loo" else 0
        split = make_split(dataset.interactions, spec.split.protocol, negatives=negatives, seed=spec.train.seed,
                           test_fraction=spec.split.test_fraction)
    train, test_negatives = split.train, split.test_negatives
    del split  # nothing below may see the test rows
    sampled = test_negatives is not None
    negs = int(max((row >= 0).sum() for row in test_negatives)) if test_negatives is not None else 0
    fit, valid, valid_negs = validation_split(train, method="loo" if sampled else "random",
                                              fraction=spec.split.valid_fraction, num_negatives=negs,
                                              seed=spec.train.seed)
    # the validation rows take the place of the test part: a trial can only ever score them
    return Split(fit, valid, None, valid_negs, None)


def tune(base: RunSpec, out: PathLike, *, trials: int | None = 20, time_budget: float | None = None,
         show_progress: bool = False) -> TuneResult:
    """Search ``base``'s model hyper-parameters; resumes the study in ``out`` when one exists."""
    optuna = _optuna()
    if trials is not None and trials < 1:
        raise ConfigError("trials must be at least 1")
    if base.data.source is None:
        raise ConfigError("missing data: ncf tune <dataset|path> --model X --out DIR")
    base.check_runtime()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    dataset = load_data(base.data.source, format=base.data.format, path=base.data.path)
    split = tuning_split(base, dataset)
    features = (dataset.user_features, dataset.item_features)
    del dataset
    space = search_space(base, split.num_items)
    if not space:
        raise ConfigError(f"model {base.model.name!r} has no hyper-parameters to tune")
    metric = base.trainer_config().for_validation(sampled=split.test_negatives is not None).metric
    assert metric is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY_NAME, storage=f"sqlite:///{root / STUDY_FILE}", load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=base.train.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2),
    )
    done = sum(1 for t in study.trials if t.state.is_finished())
    remaining = None if trials is None else max(0, trials - done)

    def objective(trial: Any) -> float:
        params = {key: suggest(trial) for key, suggest in space.items()}
        spec = base.replace(**params)
        t0 = time.perf_counter()
        try:
            return _run_trial(spec, split, features, metric, trial, optuna, False)  # the study has its own bar
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - t0)

    if remaining != 0:
        study.optimize(objective, n_trials=remaining, timeout=time_budget, catch=(ConfigError,),
                       show_progress_bar=show_progress and sys.stderr.isatty())
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        raise ConfigError("no trial finished (all pruned or failed); widen the budget or check the options")
    best = study.best_trial
    best_options = {k: v for k, v in best.params.items()}
    config_path = _write_best(root, base, best_options, metric, best.value, best.number)
    _write_table(root, study, space)
    _plot(root, study, metric)
    pruned = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    return TuneResult(root, metric, float(best.value), best_options, len(study.trials), pruned, config_path)


def _run_trial(spec: RunSpec, split: Split, features: Any, metric: str, trial: Any, optuna: Any,
               show_progress: bool) -> float:
    from ncf.evaluation import evaluate
    from ncf.training import Callback, Trainer

    model = build_model(spec, split, features)
    valid, valid_negs = split.test, split.test_negatives  # the validation carve (see tuning_split)
    if isinstance(model, ClosedForm):
        model.fit(split.train)
        report = evaluate(model, valid, exclude=split.train, k=(int(metric.split("@")[1]),),
                          protocol="sampled" if valid_negs is not None else "full", negatives=valid_negs)
        return float(report.metrics[metric])

    class Report(Callback):
        def on_epoch_end(self, end: Any) -> None:
            value = end.log.metrics.get(metric)
            if value is None:
                return
            trial.report(float(value), end.log.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

    cfg = spec.trainer_config(show_progress=show_progress)
    history = Trainer(cfg, callbacks=[Report()]).fit(model, split.train, valid=valid, valid_negatives=valid_negs)
    if history.best_metric is None or not math.isfinite(history.best_metric):
        raise optuna.TrialPruned()
    return float(history.best_metric)


def _write_best(root: Path, base: RunSpec, params: dict[str, Any], metric: str, value: float, number: int) -> Path:
    options = {k: v for k, v in base.to_options().items() if k in base.explicit and k not in ("data", "path")}
    options.update(params)
    lines = ["# Chosen by ncf tune on a validation split carved from the training data (the test part was",
             f"# never read): trial {number}, validation {metric} = {value:.4f}.", ""]
    for key in OPTIONS:
        if key in options and options[key] is not None:
            lines.append(f"{key} = {_toml(options[key])}")
    path = root / "best.toml"
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    RunSpec.from_sources(config_file=path)  # it must load as it was written
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if re.fullmatch(r"\d+(,\d+)*", value):
            return "[" + ", ".join(value.split(",")) + "]"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _rows(study: Any, keys: list[str]) -> Iterator[list[Any]]:
    for t in study.trials:
        yield [t.number, t.state.name.lower(), "" if t.value is None else f"{t.value:.6f}",
               f"{t.user_attrs.get('seconds', float('nan')):.1f}", *[t.params.get(k, "") for k in keys]]


def _write_table(root: Path, study: Any, space: dict[str, Any]) -> None:
    keys = list(space)
    with atomic_write(root / "trials.tsv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["trial", "state", "value", "seconds", *keys])
        writer.writerows(_rows(study, keys))


def _plot(root: Path, study: Any, metric: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed: no trials plot")
        return
    done = [t for t in study.trials if t.value is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter([t.number for t in done], [t.value for t in done], s=14, label="trial")
    best, line = -math.inf, []
    for t in done:
        best = max(best, t.value)
        line.append(best)
    ax.step([t.number for t in done], line, where="post", color="C1", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {metric}")
    ax.legend(loc="lower right")
    fig.tight_layout()
    tmp = root / ".trials.png.tmp"
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(root / "trials.png")
