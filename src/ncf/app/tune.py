"""``ncf tune``: search a model's hyper-parameters on a validation split carved from train.

The test part of the data is dropped as soon as the split exists: every trial trains on the
training rows minus a validation carve and is scored on that carve only. A study runs so:

1. The search space follows the options a model uses (``ModelSpec.used_options``) and the loss, never a
   model's name: width, layers, dropout, temperature, spectral rank; learning rate, L2,
   negatives (sampled losses) and batch size (trained models). Options the user fixed on the
   command line or in ``--config`` (``RunSpec.explicit``) are not searched and keep their value.
2. A new study's first trial is the model's defaults (its ``defaults/<model>.toml``); then come
   the published recipes that fit the model and loss (:data:`RECIPES`: Rendle et al. 2020 for
   MF, He et al. 2017 for GMF, MLP and NeuMF) or, for the spectral model, the power-of-two ranks
   its default rank is chosen among, cheapest first (:func:`recipe_cost`). After them Optuna's
   TPE sampler proposes.
3. A Hyperband pruner stops weak trials on their per-epoch validation curve: epochs are the
   resource (from 1 epoch up to the run's max-epochs, reduction factor 3), so a trial costs what
   its validation curve earns.
4. ``time_budget`` is one deadline for the study: no trial starts after it, and the trial running
   at it stops at its next batch (:class:`~ncf.training.Trainer`'s ``deadline``), is validated
   once and counts with its best epoch so far. The study ends within the budget plus one batch
   and one evaluation (a closed-form fit cannot be cut: for those, plus one fit).
5. ``DIR/best.toml`` (the best trial as a config that ``ncf train --config`` takes, with
   ``epochs`` for the refit on all of the training data: :func:`ncf.app.refit.refit_epochs`),
   ``trials.tsv`` and ``trials.png`` are rewritten whenever a new best trial finishes, and once
   more when SIGINT or SIGTERM stops the study, so a killed study still leaves its best. The
   study lives in ``DIR/study.db`` (SQLite): an interrupted search resumes where it stopped.

:func:`tune_auto` (``ncf tune --model auto``) searches several model families within one budget:
the closed-form ``spectral`` first (cheap: a few ranks), then ``mf``, ``neumf`` and, when the
timestamps carry order (:func:`has_order`), ``fpmc``; each in ``DIR/<model>/`` as above, all on
the same validation carve. With a budget, ``spectral`` may use a tenth of it (and 5 trials,
unless ``trials`` says otherwise); each trained family then gets an equal share of the time left
when it starts, so time a family leaves unused passes on to the next, and the last one ends at
the budget. Without a budget every family runs ``trials`` trials. The family whose best trial
has the highest validation value is written to ``DIR/best.toml`` (with its ``model``), and
``DIR/chosen.json`` lists each family's best value (or why it was skipped).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from ncf._io import atomic_write, check_output
from ncf._types import PathLike
from ncf.app.datasets import load_data
from ncf.app.fitting import build_model
from ncf.app.refit import refit_epochs
from ncf.app.spec import OPTIONS, RunSpec, read_toml
from ncf.app.splitting import scaled_batch
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError, TrainingDivergedError, first_line
from ncf.models.base import ClosedForm
from ncf.models.spectral import rank_candidates

logger = logging.getLogger(__name__)

STUDY_FILE = "study.db"
STUDY_NAME = "ncf-tune"
BEST_FILE = "best.toml"
CHOSEN_FILE = "chosen.json"
#: MLP / tower widths searched; the first four are He et al. 2017's towers for 8, 16, 32 and 64
#: predictive factors (each layer halves the one before).
LAYER_CHOICES = ("32,16,8", "64,32,16", "128,64,32", "256,128,64", "32,16", "128,64")
BATCH_CHOICES = (256, 512, 1024, 2048, 4096)
#: ``ncf tune --model auto``: the families it tries, in this order (``fpmc`` only on ordered data).
AUTO = "auto"
AUTO_FAMILIES = ("spectral", "mf", "neumf", "fpmc")
#: ``--model auto`` skips a pair-scoring model (NeuMF) when one full-ranking validation would score
#: more (user, item) pairs than this (Yelp's carve: 588M; ML-100K's sampled protocol: none).
MAX_PAIR_SCORING = 50_000_000
#: ``--model auto`` with a time budget: the share of it a closed-form family may use, and its trials.
CLOSED_FORM_SHARE = 0.1
CLOSED_FORM_TRIALS = 5


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("ncf tune needs the tune extra: pip install 'ncf[tune]'") from None
    return optuna


@dataclass(frozen=True)
class FamilyResult:
    """``--model auto``: how one model family did (``best_value`` None when it was skipped or no
    trial finished; ``note`` says why)."""

    model: str
    best_value: float | None
    trials: int = 0
    seconds: float = 0.0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "best_value": self.best_value, "trials": self.trials,
                "seconds": round(self.seconds, 2), "note": self.note}


@dataclass(frozen=True)
class TuneResult:
    """What a search found: the best validation value, its options and where the files are.

    ``best_epoch`` is the best trial's best epoch (None for a closed-form model) and ``epochs``
    the refit's epoch count written to ``best.toml``; ``model`` the tuned model (with
    ``--model auto`` the chosen one, and ``families`` how each family did).
    """

    out: Path
    metric: str
    best_value: float
    best_options: dict[str, Any]
    trials: int
    pruned: int
    config_path: Path
    model: str = ""
    best_epoch: int | None = None
    epochs: int | None = None
    families: tuple[FamilyResult, ...] = ()

    def summary(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in sorted(self.best_options.items()))
        at = f" at epoch {self.best_epoch}" if self.best_epoch is not None else ""
        lines = []
        if self.families:
            lines.append(f"model auto: chose {self.model}; best validation {self.metric} of each family: "
                         f"{_families_line(self.families)}")
        lines.append(f"{self.trials} trials ({self.pruned} pruned); best validation {self.metric} = "
                     f"{self.best_value:.4f}{at} with {params or 'the defaults'}")
        refit = f" (ncf train --config it: {self.epochs} epochs on all of the training data)" if self.epochs else ""
        lines.append(f"best config: {self.config_path}{refit}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """What ``ncf tune --json`` prints."""
        out: dict[str, Any] = {"model": self.model, "metric": self.metric, "best_value": self.best_value,
                               "best_options": self.best_options, "best_epoch": self.best_epoch,
                               "epochs": self.epochs, "trials": self.trials, "pruned": self.pruned,
                               "config": str(self.config_path)}
        if self.families:
            out["chosen"] = self.model
            out["families"] = [f.to_json() for f in self.families]
        return out


def _families_line(families: Sequence[FamilyResult]) -> str:
    """``spectral 0.3819; mf 0.4012; fpmc: skipped: ...``: each family's best validation value."""
    return "; ".join(f"{f.model} {f.best_value:.4f}" if f.best_value is not None else f"{f.model}: {f.note}"
                     for f in families)


# ---------------------------------------------------------------------- the search space
@dataclass(frozen=True)
class Param:
    """One searched option: an Optuna distribution; calling it with a trial suggests a value.

    ``choices`` makes it categorical; else ``low``..``high`` (``integer``, on a ``log`` scale).
    """

    name: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def __call__(self, trial: Any) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.name, self.choices)
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def fit(self, value: Any) -> Any:
        """``value`` as this parameter holds it: clamped into the range (``l2 = 0`` becomes the
        range's low end), the nearest numeric choice; None when it has no place here."""
        if value is None:
            return None
        if self.choices:
            v = _param_value(value)
            if v in self.choices:
                return v
            numeric = [c for c in self.choices if isinstance(c, (int, float))]
            if numeric and isinstance(v, (int, float)) and not isinstance(v, bool):
                return min(numeric, key=lambda c: (abs(math.log(c / v)) if v > 0 and c > 0 else abs(c - v), c))
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        v = min(max(float(value), self.low), self.high)
        return int(round(v)) if self.integer else v


def _param_value(value: Any) -> Any:
    """An option value as the search holds it: layers ``(64, 32, 16)`` as ``"64,32,16"``."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(int(v)) for v in value)
    return value


def _with(choices: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    """``choices`` plus ``value`` (the model's default) when it is not among them."""
    v = _param_value(value)
    return choices if v is None or v in choices else (*choices, v)


def _full_space(spec: RunSpec, num_items: int) -> dict[str, Param]:
    used = spec.model.used_options
    space: dict[str, Param] = {}
    if "dim" in used:
        space["dim"] = Param("dim", 8, 256, log=True, integer=True)
    if "layers" in used:
        space["layers"] = Param("layers", choices=_with(LAYER_CHOICES, spec.model.layers))
    if "dropout" in used:
        space["dropout"] = Param("dropout", 0.0, 0.5)
    if "spectral_rank" in used:
        top = max(8, min(2048, num_items // 2))
        space["spectral-rank"] = Param("spectral-rank", min(8, top), top, log=True, integer=True)
    if spec.closed_form:
        return space
    if spec.train.loss == "softmax" or "temperature" in used:
        space["temperature"] = Param("temperature", 0.02, 1.0, log=True)
    space["lr"] = Param("lr", 1e-4, 5e-2, log=True)
    space["l2"] = Param("l2", 1e-7, 1e-1, log=True)
    if spec.train.loss in ("bpr", "bce"):
        space["negatives"] = Param("negatives", 1, 16, log=True, integer=True)
    space["batch-size"] = Param("batch-size", choices=_with(BATCH_CHOICES, spec.train.batch_size))
    return space


def search_space(spec: RunSpec, num_items: int) -> dict[str, Param]:
    """Option key -> the :class:`Param` that suggests its value (a function of an Optuna trial).

    Options the user fixed (``spec.explicit``: the command line and ``--config``) are left out:
    every trial keeps their value.
    """
    return {key: p for key, p in _full_space(spec, num_items).items() if key not in spec.explicit}


def resolved_values(spec: RunSpec, space: Mapping[str, Param]) -> dict[str, Any]:
    """The values ``spec`` trains with for the searched keys (the model's defaults unless set),
    placed inside the search space."""
    out: dict[str, Any] = {}
    for key, param in space.items():
        value = spec.value(key)
        if key == "temperature" and value is None:
            value = 1.0  # the trainer's default scale of the logits
        fitted = param.fit(value)
        if fitted is not None:
            out[key] = fitted
    return out


@dataclass(frozen=True)
class Recipe:
    """Settings published for a model: enqueued as a trial when the model and loss fit."""

    name: str
    models: frozenset[str]
    losses: frozenset[str]
    options: Mapping[str, Any] = field(default_factory=dict)


def _he2017(factors: int) -> Recipe:
    # He et al. 2017 (NeuMF), section 4: 4 negatives, batch 256, lr 0.001; "predictive factors"
    # 8/16/32/64 are GMF's dim and the last layer of the MLP tower, which halves at each layer.
    return Recipe(f"He et al. 2017, {factors} predictive factors", frozenset({"gmf", "mlp", "neumf"}),
                  frozenset({"bce", "bpr"}),
                  {"dim": factors, "layers": f"{4 * factors},{2 * factors},{factors}", "negatives": 4,
                   "batch-size": 256, "lr": 0.001})


#: Published settings the search tries right after the defaults (where model and loss fit).
RECIPES: tuple[Recipe, ...] = (
    # Rendle et al. 2020, "Neural Collaborative Filtering vs. Matrix Factorization Revisited": dot-product MF
    Recipe("Rendle et al. 2020", frozenset({"mf"}), frozenset({"bpr", "bce"}),
           {"dim": 192, "negatives": 8, "lr": 0.002, "l2": 0.005}),
    *(_he2017(f) for f in (8, 16, 32, 64)),
)


def recipe_cost(values: Mapping[str, Any]) -> float:
    """A rough cost of a trial's epoch, to order the enqueued trials: the positives' work grows
    with ``1 + negatives`` and the width (dim, layers, spectral rank), and small batches add
    steps (``1 + 1024 / batch``)."""
    width = float(values.get("dim", 0) or 0) + float(values.get("spectral-rank", 0) or 0)
    layers = values.get("layers")
    if isinstance(layers, str):
        width += sum(int(x) for x in layers.split(",") if x)
    negatives = float(values.get("negatives", 1) or 0)
    batch = float(values.get("batch-size", 1024) or 1024)
    return (1.0 + negatives) * max(width, 1.0) * (1.0 + 1024.0 / batch)


#: Spectral ranks a new study tries first (cheapest first): the powers of two that ``ncf train``
#: chooses the default rank among, inside the searched range.
SPECTRAL_RANKS = tuple(rank_candidates(1 << 30, 1 << 30))  # 16, 32, ..., 1024: the ranks `ncf train` tries


def first_trials(spec: RunSpec, space: Mapping[str, Param], *,
                 prefer_rank: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(origin, params) of the trials a new study starts with: the model's defaults, then the
    recipes of :data:`RECIPES` that fit the model and loss (and the :data:`SPECTRAL_RANKS` when
    the spectral rank is searched), cheapest first; fixed options and duplicates left out, every
    value inside the search space.

    A default chosen from the data (the spectral rank: None) has no value to enqueue: the
    defaults trial holds the other options, and none at all when nothing else is searched.
    ``prefer_rank`` (the rank ``ncf train`` would choose on this carve) puts the spectral ranks
    in order of their distance to it, so the first trial is the default's choice.
    """
    defaults = resolved_values(spec, space)
    out = [("defaults", defaults)] if defaults else []
    candidates = [(recipe.name, recipe.options) for recipe in RECIPES
                  if spec.model.name in recipe.models and spec.train.loss in recipe.losses]
    if "spectral-rank" in space:
        rank = space["spectral-rank"]
        candidates += [(f"spectral rank {r}", {"spectral-rank": r}) for r in SPECTRAL_RANKS
                       if rank.low <= r <= rank.high]
    recipes: list[tuple[str, dict[str, Any]]] = []
    for name, options in candidates:
        params = dict(defaults)
        for key, value in options.items():
            fitted = space[key].fit(value) if key in space else None
            if fitted is not None:
                params[key] = fitted
        if params and all(params != seen for _, seen in out + recipes):
            recipes.append((name, params))
    recipes.sort(key=lambda r: recipe_cost({**_cost_base(spec), **r[1]}))
    if prefer_rank is not None:  # stable: among equal distances the cheaper rank first
        recipes.sort(key=lambda r: abs(math.log2(r[1].get("spectral-rank", prefer_rank) / prefer_rank)))
    return out + recipes


def _cost_base(spec: RunSpec) -> dict[str, Any]:
    """The cost inputs of ``spec`` itself (for the options a recipe leaves as they are)."""
    used = spec.model.used_options
    base: dict[str, Any] = {"negatives": spec.train.num_negatives if spec.train.loss in ("bpr", "bce") else 0,
                            "batch-size": spec.train.batch_size}
    if "dim" in used:
        base["dim"] = spec.model.dim
    if "layers" in used:
        base["layers"] = _param_value(spec.model.layers)
    return base


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


def has_order(data: Interactions) -> bool:
    """Whether timestamps order the users' items (some user's are not all equal): what a sequence
    model such as FPMC needs; the splits' own rule (:func:`ncf.data.splits.holdout_rule`)."""
    from ncf.data.splits import holdout_rule

    return holdout_rule(data).rule in ("latest", "mixed")


def tuning_split(spec: RunSpec, dataset: Any) -> Split:
    """(train minus a validation carve, the carve): the test part is dropped here, unread.

    The carve is ``ncf train``'s (:func:`ncf.app.splitting.run_split` with ``keep_test=False``):
    ``valid`` and ``valid_negatives`` hold it, and ``test`` is an empty part with no negatives, so
    a trial can only ever score the carve.
    """
    from ncf.app.splitting import run_split

    split, _ = run_split(spec, dataset, keep_test=False)
    if split.valid is None or len(split.test) or split.test_negatives is not None:
        raise RuntimeError("the tuning split must hold a validation carve and no test rows")
    return split


def _carve(split: Split) -> tuple[Interactions, np.ndarray | None]:
    """The tuning split's validation carve and its sampled negatives (None: full ranking)."""
    if split.valid is None:
        raise RuntimeError("the tuning split has no validation carve")
    return split.valid, split.valid_negatives


#: Called with one plain line per finished, pruned or failed trial (``ncf tune`` off a terminal).
OnTrial = Callable[[str], None]


def tune(base: RunSpec, out: PathLike, *, trials: int | None = 20, time_budget: float | None = None,
         show_progress: bool = False, on_trial: OnTrial | None = None) -> TuneResult:
    """Search ``base``'s model hyper-parameters; resumes the study in ``out`` when one exists.

    Parameters
    ----------
    base : RunSpec
        The data, split and fixed options; its ``explicit`` options are not searched.
    trials : int or None
        Trials in all, those of an earlier run of the study included (None: until the budget).
    time_budget : float, optional
        Seconds for the whole call (data loading included): the trial running at the end stops
        at its next batch and counts with its best epoch so far; no trial starts after it.
    show_progress : bool
        Optuna's progress bar, on a terminal only.
    on_trial : callable, optional
        Gets one line per finished, pruned or failed trial (number, state, validation value,
        best epoch, seconds, parameters).

    Raises
    ------
    ConfigError
        Without the tune extra, without data, for a model with nothing to search or every
        searched option fixed, or when no trial finishes.
    """
    started = time.monotonic()
    optuna = _optuna()
    _check_limits(trials, time_budget)
    if base.data.source is None:
        raise ConfigError("missing data: ncf tune <dataset|path> --model X --out DIR")
    base.check_runtime()
    _check_space(base)
    root = check_output(out, [Path(s) for s in (base.data.source, base.data.path) if s and Path(s).exists()])
    root.mkdir(parents=True, exist_ok=True)
    dataset = load_data(base.data.source, format=base.data.format, path=base.data.path)
    split = tuning_split(base, dataset)
    features = (dataset.user_features, dataset.item_features)
    del dataset
    study = _Study(base, root, split, features, _metric(base, split), optuna)
    deadline = None if time_budget is None else started + time_budget
    with _saving_on_signals(study.save):
        study.run(trials, deadline, show_progress=show_progress, on_trial=on_trial)
    return study.result()


def tune_auto(options: Mapping[str, Any], out: PathLike, *, config_file: PathLike | None = None,
              trials: int | None = 20, time_budget: float | None = None, show_progress: bool = False,
              on_trial: OnTrial | None = None) -> TuneResult:
    """``ncf tune --model auto``: tune each model family that fits the data, keep the best.

    ``options`` (option key -> value, None = not given) and ``config_file`` are what
    ``RunSpec.from_sources`` takes, without a model (``model = "auto"`` is dropped; the file's
    model gives way to auto). The families are :data:`AUTO_FAMILIES` in order: one that refuses
    a fixed option (or has every searched option fixed) is skipped, and ``fpmc`` runs only when
    the training data's timestamps carry order (:func:`has_order`); a pair-scoring model (NeuMF) is
    skipped when one full-ranking validation would score more than :data:`MAX_PAIR_SCORING` (user,
    item) pairs. Each family is a study of its own in
    ``out/<model>/`` on the same validation carve. With ``time_budget``, a closed-form family
    gets at most :data:`CLOSED_FORM_SHARE` of it (and :data:`CLOSED_FORM_TRIALS` trials unless
    ``trials`` is given), and each trained family an equal share of the time left when it
    starts; without one, every family runs ``trials`` trials. ``out/best.toml`` is the best
    family's best trial (with ``model``), ``out/chosen.json`` each family's best validation
    value; both are rewritten after each family and on SIGINT/SIGTERM.
    """
    started = time.monotonic()
    optuna = _optuna()
    _check_limits(trials, time_budget)
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if config_file is not None:
        sources.append((str(config_file), {k: v for k, v in read_toml(Path(config_file)).items() if k != "model"}))
    given = {k.replace("_", "-"): v for k, v in options.items()}
    if given.get("model") not in (None, AUTO):
        raise ConfigError(f"--model auto chooses the model itself; got model {given['model']!r} too")
    sources.append(("", {k: v for k, v in given.items() if k != "model"}))
    specs: dict[str, RunSpec] = {}
    notes: dict[str, str] = {}
    for name in AUTO_FAMILIES:
        try:
            specs[name] = RunSpec.from_options(*sources, ("--model auto", {"model": name}))
        except ConfigError as exc:
            notes[name] = f"skipped: {exc}"
    if not specs:
        raise ConfigError("--model auto: no model family takes these options (" + "; ".join(
            f"{k} {v}" for k, v in notes.items()) + ")")
    for name, spec in list(specs.items()):
        try:
            _check_space(spec)
        except ConfigError as exc:
            del specs[name]
            notes[name] = f"skipped: {exc}"
    if not specs:
        raise ConfigError("--model auto: no model family is left to search (" + "; ".join(
            f"{k} {v}" for k, v in notes.items()) + ")")
    base = next(iter(specs.values()))
    if base.data.source is None:
        raise ConfigError("missing data: ncf tune <dataset|path> --model auto --out DIR")
    base.check_runtime()
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    dataset = load_data(base.data.source, format=base.data.format, path=base.data.path)
    split = tuning_split(base, dataset)  # the split options are the same for every family
    features = (dataset.user_features, dataset.item_features)
    del dataset
    if "fpmc" in specs and not has_order(split.train):
        del specs["fpmc"]
        notes["fpmc"] = "skipped: the timestamps carry no order for a sequence model"
    if not specs:
        raise ConfigError("--model auto: the only family left is fpmc, and the timestamps carry no order")
    for name in [n for n in specs if not _scores_by_dot_product(specs[n])]:
        pairs = _full_ranking_pairs(split)
        if pairs > MAX_PAIR_SCORING:
            del specs[name]
            notes[name] = (f"skipped: its full-ranking validation scores every (user, item) pair through an MLP "
                           f"({pairs / 1e6:,.0f}M pairs per evaluation, above {MAX_PAIR_SCORING / 1e6:,.0f}M)")
    auto = _Auto(root, _metric(base, split), notes)
    deadline = None if time_budget is None else started + time_budget
    with _saving_on_signals(auto.save):
        names = list(specs)
        for i, name in enumerate(names):
            spec = specs[name]
            if deadline is not None and deadline <= time.monotonic():
                notes[name] = "skipped: no time left in the budget"
                continue
            study = _Study(spec, root / name, split, features, auto.metric, optuna)
            auto.start(name, study)
            family_deadline, family_trials = deadline, trials
            if deadline is not None and time_budget is not None:  # this family's share of the time left
                left = deadline - time.monotonic()
                trained_left = [n for n in names[i:] if not specs[n].closed_form]
                if spec.closed_form:
                    share = min(left, CLOSED_FORM_SHARE * time_budget) if trained_left else left
                    family_trials = trials if trials is not None else CLOSED_FORM_TRIALS
                else:
                    share = left / len(trained_left)
                family_deadline = time.monotonic() + share
            prefixed = None if on_trial is None else _prefixed(on_trial, name)
            study.run(family_trials, family_deadline, show_progress=show_progress, on_trial=prefixed,
                      at_least_one=True)
            auto.finish(name)
    return auto.result()


def _scores_by_dot_product(spec: RunSpec) -> bool:
    """Whether the model ranks a catalogue by one matrix product (factorized), not pair by pair."""
    from ncf.models.base import Factorized

    return issubclass(spec.model.model_class, Factorized)


def _full_ranking_pairs(split: Split) -> int:
    """(user, item) pairs one full-ranking validation scores (0 under the sampled protocol)."""
    valid, valid_negs = _carve(split)
    if valid_negs is not None:
        return 0
    return int(np.unique(valid.users).size * split.num_items)


def _prefixed(on_trial: OnTrial, name: str) -> OnTrial:
    return lambda line: on_trial(f"{name}: {line}")


def _check_limits(trials: int | None, time_budget: float | None) -> None:
    if trials is not None and trials < 1:
        raise ConfigError("trials must be at least 1")
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise ConfigError("the time budget must be positive")
    if trials is None and time_budget is None:
        raise ConfigError("give a number of trials, a time budget or both")


def _check_space(spec: RunSpec) -> None:
    full = _full_space(spec, 0)  # which keys are searched does not depend on the data
    if not full:
        raise ConfigError(f"model {spec.model.name!r} has no hyper-parameters to tune")
    if not search_space(spec, 0):
        fixed = ", ".join(f"--{k}" for k in full)
        raise ConfigError(f"every option ncf tune searches for model {spec.model.name!r} is fixed by the command "
                          f"line or --config ({fixed}); leave one of them out, or train with ncf train")


def _metric(spec: RunSpec, split: Split) -> str:
    metric = spec.trainer_config().for_validation(sampled=_carve(split)[1] is not None).metric
    if metric is None:  # for_validation always names one
        raise RuntimeError("no validation metric")
    return metric


# ---------------------------------------------------------------------- one study
def _ran(trials: Sequence[Any]) -> list[Any]:
    """The trials that ran or run (not those enqueued and still waiting)."""
    return [t for t in trials if t.state.name != "WAITING"]


def _best(trials: Sequence[Any]) -> Any:
    """The best finished trial (the first of equals), or None."""
    best = None
    for t in trials:
        if t.state.name == "COMPLETE" and t.value is not None and (best is None or t.value > best.value):
            best = t
    return best


@dataclass
class _Outcome:
    """What a trial's training said besides its value (kept when it is pruned or stopped)."""

    best_epoch: int | None = None
    cut: bool = False


class _Study:
    """One Optuna study in ``root``: its space, its first trials, the objective and the files."""

    def __init__(self, spec: RunSpec, root: Path, split: Split, features: Any, metric: str, optuna: Any) -> None:
        self.spec, self.root, self.split, self.features, self.metric = spec, root, split, features, metric
        self.optuna = optuna
        self.space = search_space(spec, split.num_items)
        self.rows = (len(split.train), len(split.train) + len(_carve(split)[0]))  # carved, all training rows
        root.mkdir(parents=True, exist_ok=True)
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures get our one line, not a traceback
        self.study = optuna.create_study(
            study_name=STUDY_NAME, storage=f"sqlite:///{root / STUDY_FILE}", load_if_exists=True,
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=spec.train.seed),
            pruner=optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=spec.train.epochs or spec.train.max_epochs, reduction_factor=3),
        )
        if not self.study.trials:  # a new study: the defaults first (as `ncf train` resolves them), then the recipes
            resolved, _ = scaled_batch(spec, len(split.train))
            prefer = self._default_rank() if "spectral-rank" in self.space and spec.model.name == "spectral" else None
            for origin, params in first_trials(resolved, self.space, prefer_rank=prefer):
                self.study.enqueue_trial(params, user_attrs={"origin": origin}, skip_if_exists=True)

    def _default_rank(self) -> int:
        """The spectral rank ``ncf train`` chooses on this carve (one SVD, scored by truncation)."""
        from ncf.app.blend import choose_spectral_rank

        chosen = choose_spectral_rank(self.spec.replace(**{"spectral-rank": None}), self.split)
        return int(chosen["chosen"])

    def run(self, trials: int | None, deadline: float | None, *, show_progress: bool,
            on_trial: OnTrial | None, at_least_one: bool = False) -> None:
        """Run trials until ``trials`` have finished or ``deadline`` passes (``at_least_one``:
        start one trial even when it has, which then stops after a batch and one evaluation)."""
        done = sum(1 for t in self.study.trials if t.state.is_finished())
        remaining = None if trials is None else max(0, trials - done)
        timeout = None if deadline is None else deadline - time.monotonic()
        if remaining == 0:
            return
        if timeout is not None and timeout <= 0:
            if not at_least_one:
                return
            remaining, timeout = 1, None
        self.study.optimize(self._objective(deadline), n_trials=remaining, timeout=timeout,
                            catch=(ConfigError, TrainingDivergedError), callbacks=[self._after_trial(on_trial)],
                            show_progress_bar=show_progress and sys.stderr.isatty())

    def _objective(self, deadline: float | None) -> Callable[[Any], float]:
        def objective(trial: Any) -> float:
            params = {key: suggest(trial) for key, suggest in self.space.items()}
            spec = self.spec.replace(**params)
            outcome = _Outcome()
            t0 = time.perf_counter()
            try:
                return _run_trial(spec, self.split, self.features, self.metric, trial, self.optuna, deadline,
                                  outcome)
            except (ConfigError, TrainingDivergedError) as exc:
                trial.set_user_attr("error", first_line(exc))
                raise
            finally:
                trial.set_user_attr("seconds", time.perf_counter() - t0)
                if outcome.best_epoch is not None:
                    trial.set_user_attr("best_epoch", outcome.best_epoch)
                if outcome.cut:
                    trial.set_user_attr("deadline", True)

        return objective

    def _after_trial(self, on_trial: OnTrial | None) -> Callable[[Any, Any], None]:
        def after(study: Any, trial: Any) -> None:
            trials = study.get_trials(deepcopy=False)
            best = _best(trials)
            if best is not None and best.number == trial.number:
                self.save()  # a new best: best.toml, the table and the plot
            else:
                _write_table(self.root, trials, list(self.space))
            if on_trial is not None:
                on_trial(_trial_line(trial, self.metric, best))

        return after

    def save(self) -> Path | None:
        """Write ``best.toml`` (when a trial finished), ``trials.tsv`` and ``trials.png``; the path
        of ``best.toml`` or None."""
        trials = self.study.get_trials(deepcopy=False)
        best = _best(trials)
        path = None if best is None else self.write_best(self.root, best)
        _write_table(self.root, trials, list(self.space))
        _plot(self.root, trials, self.metric)
        return path

    def best_epoch(self, best: Any) -> tuple[int | None, int | None]:
        """(best epoch, refit epochs) of trial ``best``; (None, None) for a closed-form model."""
        epoch = best.user_attrs.get("best_epoch")
        if self.spec.closed_form or not epoch:
            return None, None
        if "epochs" in self.spec.explicit:
            return int(epoch), self.spec.train.epochs
        return int(epoch), refit_epochs(int(epoch), *self.rows)

    def write_best(self, root: Path, best: Any, note: Sequence[str] = ()) -> Path:
        best_epoch, epochs = self.best_epoch(best)
        return _write_best(root, self.spec, dict(best.params), self.metric, float(best.value), best.number,
                           best_epoch=best_epoch, epochs=epochs, rows=self.rows, note=note)

    def result(self) -> TuneResult:
        path = self.save()
        trials = _ran(self.study.get_trials(deepcopy=False))
        best = _best(trials)
        if best is None or path is None:
            raise ConfigError("no trial finished (all pruned or failed); widen the budget or check the options")
        best_epoch, epochs = self.best_epoch(best)
        return TuneResult(self.root, self.metric, float(best.value), dict(best.params), len(trials),
                          sum(1 for t in trials if t.state.name == "PRUNED"), path, model=self.spec.model.name,
                          best_epoch=best_epoch, epochs=epochs)


class _Auto:
    """``--model auto``'s families: their studies, and the choice written after each."""

    def __init__(self, root: Path, metric: str, notes: dict[str, str]) -> None:
        self.root, self.metric, self.notes = root, metric, notes
        self.studies: dict[str, _Study] = {}
        self.seconds: dict[str, float] = {}
        self.current: str | None = None
        self._t0 = 0.0

    def start(self, name: str, study: _Study) -> None:
        self.studies[name] = study
        self.current = name
        self._t0 = time.perf_counter()

    def finish(self, name: str) -> None:
        self.seconds[name] = time.perf_counter() - self._t0
        self.studies[name].save()
        self.current = None
        self.save_choice()

    def families(self) -> list[FamilyResult]:
        out = []
        for name in AUTO_FAMILIES:
            study = self.studies.get(name)
            if study is None:
                if name in self.notes:
                    out.append(FamilyResult(name, None, note=self.notes[name]))
                continue
            trials = _ran(study.study.get_trials(deepcopy=False))
            best = _best(trials)
            seconds = self.seconds.get(name, time.perf_counter() - self._t0)
            note = "" if best is not None else "no trial finished"
            out.append(FamilyResult(name, None if best is None else float(best.value), len(trials), seconds, note))
        return out

    def _winner(self) -> tuple[str, Any] | None:
        chosen: tuple[str, Any] | None = None
        for name, study in self.studies.items():
            best = _best(study.study.get_trials(deepcopy=False))
            if best is not None and (chosen is None or best.value > chosen[1].value):
                chosen = (name, best)
        return chosen

    def save(self) -> Path | None:
        """The running family's files, then the choice (what SIGINT/SIGTERM leave behind)."""
        if self.current is not None:
            self.studies[self.current].save()
        return self.save_choice()

    def save_choice(self) -> Path | None:
        """``best.toml`` of the best family so far and ``chosen.json``; the path of ``best.toml``."""
        families = self.families()
        winner = self._winner()
        path = None
        why = "no family finished a trial"
        if winner is not None:
            name, best = winner
            why = (f"{name}'s best trial has the highest validation {self.metric} of the families' best "
                   f"trials ({_families_line(families)})")
            path = self.studies[name].write_best(self.root, best, note=[f"--model auto chose {name}: {why}."])
        chosen = {"chosen": None if winner is None else winner[0], "metric": self.metric,
                  "best_value": None if winner is None else float(winner[1].value), "why": why,
                  "families": [f.to_json() for f in families]}
        with atomic_write(self.root / CHOSEN_FILE, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(chosen, indent=2) + "\n")
        return path

    def result(self) -> TuneResult:
        path = self.save_choice()
        winner = self._winner()
        if winner is None or path is None:
            raise ConfigError("--model auto: no trial of any family finished; widen the budget or check the options")
        name, best = winner
        study = self.studies[name]
        best_epoch, epochs = study.best_epoch(best)
        everything = [t for s in self.studies.values() for t in _ran(s.study.get_trials(deepcopy=False))]
        return TuneResult(self.root, self.metric, float(best.value), dict(best.params), len(everything),
                          sum(1 for t in everything if t.state.name == "PRUNED"), path, model=name,
                          best_epoch=best_epoch, epochs=epochs, families=tuple(self.families()))


def _run_trial(spec: RunSpec, split: Split, features: Any, metric: str, trial: Any, optuna: Any,
               deadline: float | None, outcome: _Outcome) -> float:
    from ncf.evaluation import evaluate
    from ncf.training import Callback, EpochEnd, Trainer

    model = build_model(spec, split, features)
    valid, valid_negs = _carve(split)
    if isinstance(model, ClosedForm):  # one fit: it cannot be cut at the deadline
        model.fit(split.train)
        report = evaluate(model, valid, exclude=split.train, k=(int(metric.split("@")[1]),),
                          protocol="sampled" if valid_negs is not None else "full", negatives=valid_negs)
        return float(report.metrics[metric])

    class Report(Callback):
        def on_epoch_end(self, end: EpochEnd) -> None:
            outcome.best_epoch = end.best_epoch
            if end.stopped_at_deadline:  # a cut epoch is no rung of the pruner: the trial counts as it is
                return
            value = end.log.metrics.get(metric)
            if value is None:
                return
            trial.report(float(value), end.log.epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

    cfg = spec.trainer_config(show_progress=False)  # the study has its own bar
    history = Trainer(cfg, callbacks=[Report()], deadline=deadline).fit(
        model, split.train, valid=valid, valid_negatives=valid_negs)
    outcome.best_epoch, outcome.cut = history.best_epoch, history.stopped_at_deadline
    if history.best_metric is None or not math.isfinite(history.best_metric):
        raise optuna.TrialPruned()
    return float(history.best_metric)


# ---------------------------------------------------------------------- SIGINT and SIGTERM
class _Interrupted(KeyboardInterrupt):
    """Raised by the study's signal handler: unwinds the running trial (Optuna records it failed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _restore(handlers: Mapping[signal.Signals, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


@contextmanager
def _saving_on_signals(save: Callable[[], object]) -> Iterator[None]:
    """SIGINT or SIGTERM inside the block: stop the running trial, ``save`` the study's files,
    then do what the signal would have done (the handlers from before: SIGINT's raises
    KeyboardInterrupt, SIGTERM's default ends the process). The handlers are restored on the
    way out. Only in the main thread (where Python runs signal handlers); ignored signals stay
    ignored. The signal is remembered as well as raised: when it lands inside Optuna's storage
    commit, the error that escapes is SQLite's ("database is locked"), and it still counts as
    the signal."""
    previous: dict[signal.Signals, Any] = {}
    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise _Interrupted(signum)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(sig)
            if handler is signal.SIG_IGN or handler is None:  # None: installed outside Python; leave it
                continue
            previous[sig] = handler
            signal.signal(sig, interrupt)
    try:
        yield
    except Exception:
        if not received:
            raise
        _finish_interrupted(_Interrupted(received[0]), previous, save)
    except _Interrupted as exc:
        _finish_interrupted(exc, previous, save)
    finally:
        _restore(previous)


def _finish_interrupted(exc: _Interrupted, previous: dict[signal.Signals, Any], save: Callable[[], object]) -> None:
    """After a signal: restore the handlers (a second signal acts at once), save the study's files,
    then act as the signal would have (see :func:`_saving_on_signals`)."""
    handlers = dict(previous)
    previous.clear()
    _restore(handlers)
    try:
        save()
    except Exception as err:  # the files of the last best stay as they were (written atomically)
        logger.warning("could not write the study's files after %s: %s", exc, err)
    handler = handlers.get(signal.Signals(exc.signum), signal.SIG_DFL)
    if handler is signal.SIG_DFL:
        os.kill(os.getpid(), exc.signum)  # the default action: the process ends by this signal
    elif callable(handler):
        handler(exc.signum, None)
    raise KeyboardInterrupt(str(exc)) from None  # the handler from before let us live: still stop here


# ---------------------------------------------------------------------- files
def _write_best(root: Path, spec: RunSpec, params: dict[str, Any], metric: str, value: float, number: int, *,
                best_epoch: int | None, epochs: int | None, rows: tuple[int, int], note: Sequence[str] = ()) -> Path:
    options = {k: v for k, v in spec.to_options().items() if k in spec.explicit and k not in ("data", "path")}
    options["model"] = spec.model.name
    if not spec.closed_form:
        options["loss"] = spec.train.loss
    options.update(params)
    at = f" at epoch {best_epoch}" if best_epoch is not None else ""
    lines = ["# Chosen by ncf tune on a validation split carved from the training data (the test part was",
             f"# never read): trial {number}, validation {metric} = {value:.4f}{at}.",
             *("# " + line for text in note for line in textwrap.wrap(text, 94))]
    if epochs is not None:
        options["epochs"] = epochs
        lines += ["# The refit: `ncf train DATA --config best.toml` then trains on all of the training data",
                  f"# ({rows[1]:,} rows, no validation carve) for epochs = {epochs}."]
        lines.append("# (The command line or --config fixed the epochs.)" if "epochs" in spec.explicit else
                     f"# (The best epoch on the {rows[0]:,} carved rows, carried over by ncf.app.refit.refit_epochs.)")
    lines.append("")
    for key in OPTIONS:
        if key in options and options[key] is not None:
            lines.append(f"{key} = {_toml(options[key])}")
    path = root / BEST_FILE
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


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _trial_line(trial: Any, metric: str, best: Any) -> str:
    """One plain line about a finished, pruned or failed trial."""
    state = trial.state.name.lower()
    if trial.user_attrs.get("deadline"):
        state += ", stopped at the deadline"
    value = trial.value
    if value is None and trial.intermediate_values:
        value = max(trial.intermediate_values.values())
    parts = [f"trial {trial.number} {state}"]
    if value is not None:
        epoch = trial.user_attrs.get("best_epoch")
        parts.append(f"{metric} {value:.4f}" + (f" at epoch {epoch}" if epoch is not None else ""))
    if "error" in trial.user_attrs:
        parts.append(str(trial.user_attrs["error"]))
    parts.append(f"{trial.user_attrs.get('seconds', 0.0):.1f} s")
    params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    line = "; ".join(parts) + (f" ({params})" if params else "")
    if best is not None:
        line += f"; best {best.value:.4f} (trial {best.number})"
    return line


def _rows(trials: Sequence[Any], keys: list[str]) -> Iterator[list[Any]]:
    for t in trials:
        yield [t.number, t.state.name.lower(), "" if t.value is None else f"{t.value:.6f}",
               f"{t.user_attrs.get('seconds', float('nan')):.1f}", t.user_attrs.get("best_epoch", ""),
               t.user_attrs.get("origin", "search"), *[t.params.get(k, "") for k in keys]]


def _write_table(root: Path, trials: Sequence[Any], keys: list[str]) -> None:
    trials = _ran(trials)
    with atomic_write(root / "trials.tsv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["trial", "state", "value", "seconds", "best_epoch", "origin", *keys])
        writer.writerows(_rows(trials, keys))


def _plot(root: Path, trials: Sequence[Any], metric: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib is not installed: no trials plot")
        return
    done = [t for t in _ran(trials) if t.value is not None]
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
