"""Run settings as frozen, validated dataclasses; ``from_dict`` rejects unknown keys.

Each settable field carries its command-line metadata (:func:`option`): the option name, a
one-line help and the allowed values. The application layer (:mod:`ncf.app.spec`) builds the
``ncf train`` options and the TOML keys from these fields, so a setting is written once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ncf.errors import ConfigError, did_you_mean

T = TypeVar("T")

LOSSES = ("bpr", "bce", "mse", "softmax")
SAMPLERS = ("uniform", "popularity")
OPTIMIZERS = ("adam", "adamw", "sparse_adam", "adagrad", "sgd")
LR_SCHEDULES = ("constant", "linear", "cosine")
EVAL_PROTOCOLS = ("sampled", "full")
#: Metrics a validation run can stop on, by protocol (``auc`` has no cut-off).
STOP_METRICS = {"sampled": ("hr", "ndcg", "mrr"), "full": ("hr", "recall", "precision", "ndcg", "mrr", "map")}
#: The validation metric when none is given: the papers' headline metric of each protocol.
DEFAULT_METRIC = {"sampled": "ndcg@10", "full": "recall@20"}

#: Field metadata key holding an :class:`OptionInfo`.
OPTION = "ncf_option"


@dataclass(frozen=True)
class OptionInfo:
    """Command-line metadata of a settings field.

    ``name`` is the long option and TOML key (default: the field name with ``-`` for ``_``);
    ``choices`` the allowed values (a tuple, or a callable giving them late, e.g. from a
    registry); ``cli=False`` keeps a field out of the command line and the config files.
    """

    help: str
    name: str | None = None
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    cli: bool = True

    def allowed(self) -> tuple[str, ...] | None:
        if self.choices is None:
            return None
        return tuple(self.choices() if callable(self.choices) else self.choices)


def option(
    default: Any,
    help: str,
    *,
    name: str | None = None,
    choices: tuple[str, ...] | Callable[[], Sequence[str]] | None = None,
    cli: bool = True,
) -> Any:
    """A dataclass field with a default and its :class:`OptionInfo`."""
    return dataclasses.field(default=default, metadata={OPTION: OptionInfo(help, name, choices, cli)})


def internal(default: Any) -> Any:
    """A field that is not a user-facing option (set by code, not by flags or files)."""
    return option(default, "", cli=False)


def check_choice(value: str, choices: Sequence[str], what: str) -> None:
    """ConfigError naming the allowed values (and the closest one) unless ``value`` is one."""
    if value not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(choices)}; got {value!r}{did_you_mean(value, choices)}")


#: The one rule for whole numbers at the edges: a count or size (epochs, dimensions, batch
#: sizes, negatives, threads, k) is at most what a signed 32-bit int holds, the widest that
#: torch, numpy and the index libraries take everywhere; a seed is in numpy's 0 .. 2**32 - 1.
MAX_COUNT = 2**31 - 1
MAX_SEED = 2**32 - 1


def check_whole(name: str, value: Any, *, lo: int = 0, hi: int = MAX_COUNT) -> int:
    """``value`` as an int when it is a whole number in ``[lo, hi]``, else a ConfigError
    naming ``name`` and the range (never a bool, a float or text)."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if not lo <= number <= hi:
        raise ConfigError(f"{name} must be a whole number from {lo:,} to {hi:,}, got {number:,}")
    return number


def check_type(value: Any, expected: type | tuple[type, ...], what: str) -> None:
    """ConfigError naming ``what``, the expected type and the type given, unless ``value`` is an
    instance of ``expected``: a wrong argument type says so at the call, not as an
    AttributeError from deep inside."""
    if not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        shown = f" {value!r}" if isinstance(value, (str, int, float)) and len(repr(value)) <= 40 else ""
        raise ConfigError(f"{what} must be {names}, got {type(value).__name__}{shown}")


def check_finite(values: dict[str, float | None]) -> None:
    """ConfigError for the first NaN or infinite value (``None`` passes)."""
    for key, value in values.items():
        if value is not None and not math.isfinite(float(value)):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")


def from_dict(cls: type[T], values: dict[str, Any], *, what: str = "config") -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys raise ConfigError with a hint."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in values:
        if key not in names:
            raise ConfigError(f"unknown {what} key {key!r}{did_you_mean(key, names)}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from exc


def parse_metric(metric: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; ConfigError for anything else."""
    name, _, kk = str(metric).partition("@")
    if not kk.isdigit() or int(kk) <= 0:
        raise ConfigError(f"metric must look like 'ndcg@10', got {metric!r}")
    known = sorted({m for ms in STOP_METRICS.values() for m in ms})
    check_choice(name, known, "the metric's name")
    return name, int(kk)


@dataclass(frozen=True)
class TrainConfig:
    """How to train a model: loss, negatives, optimisation, validation and stopping.

    ``epochs=None`` trains up to ``max_epochs`` and stops early when the validation
    ``metric`` has not improved for ``patience`` evaluations (the best weights are kept).
    ``metric`` and ``eval_protocol`` default to the validation data's protocol: sampled
    (NDCG@10) when the validation rows come with sampled negatives, else full ranking
    (Recall@20). ``lr_schedule`` "linear" or "cosine" decays the learning rate per step from
    ``lr`` towards 0 over ``epochs`` (or ``max_epochs`` when stopping early). ``softmax_bf16``
    computes the in-batch softmax logits of factorized models as a bfloat16 product (about 2x
    faster on CPUs with AVX512-BF16 at width >= 128); the loss itself stays float32. The
    reported softmax loss of a row whose positive's probability is below the smallest normal
    float32 (about 1e-38) is capped at about 87 by the fused step (its gradient stays exact).
    ``logq_weight`` scales the logQ correction (0 = none, 1 = the unbiased full correction).
    """

    loss: str = option("bpr", "Training objective (bpr/bce: sampled negatives; softmax: in-batch; mse: ratings).",
                       choices=LOSSES)
    epochs: int | None = option(None, "Fixed number of epochs (no early stopping). Default: stop early on validation.")
    max_epochs: int = option(100, "Upper bound on epochs when stopping early.")
    batch_size: int = option(2048, "Positives per batch.")
    lr: float = option(1e-3, "Learning rate.")
    scale_batch: bool = option(False, "Grow the batch with the training rows (a power of two near rows/96, never "
                                      "below --batch-size) and the learning rate with its square root; off when "
                                      "--batch-size or --lr is given.")
    lr_schedule: str = option("constant", "Learning-rate decay towards 0 over the epochs.", choices=LR_SCHEDULES)
    weight_decay: float = option(0.0, "Optimizer weight decay (dense parameters).")
    l2: float = option(0.0, "L2 penalty on the batch's embeddings.")
    optimizer: str = option("adam", "Optimizer (sparse_adam/adagrad: row-sparse embedding updates).",
                            choices=OPTIMIZERS)
    num_negatives: int = option(4, "Sampled negatives per positive (bpr/bce).", name="negatives")
    sampler: str = option("uniform", "How bpr/bce negatives are drawn.", choices=SAMPLERS)
    popularity_alpha: float = option(0.75, "Popularity sampler: exponent on item counts.")
    hard_negatives: float = option(0.0, "Share of negatives mined from the model's top items each epoch.")
    hard_candidates: int = option(100, "Hard negatives: top items per user to mine from.")
    extra_negatives: int = option(0, "Softmax: uniform negatives shared by each batch.")
    temperature: float = internal(1.0)
    logq: bool = option(True, "Softmax: logQ correction of the in-batch sampling bias.")
    logq_weight: float = option(1.0, "Softmax: scale of the logQ correction (1 = full).")
    remove_accidental_hits: bool = option(True, "Softmax: mask in-batch columns that are positives of the row's user.")
    eval_every: int = option(1, "Validate every N epochs.")
    patience: int = option(3, "Early stopping: validations without improvement before stopping.")
    metric: str | None = option(None, "Validation metric, e.g. ndcg@10 (default: ndcg@10 sampled, recall@20 full).")
    eval_k: tuple[int, ...] | None = internal(None)
    eval_protocol: str | None = internal(None)
    grad_clip: float | None = option(None, "Clip the gradient norm to this value.")
    checkpoint_every: int = option(1, "Write the resumable checkpoint every N epochs.")
    seed: int = option(0, "Seed of the split, the initialisation and every epoch's sampling.")
    device: str = option("auto", "auto (CUDA when available), cpu, cuda or cuda:N.")
    amp: bool = option(True, "CUDA: mixed precision (bfloat16 where supported).")
    softmax_bf16: bool = option(False, "Softmax: bfloat16 logits for factorized models (about 2x faster on "
                                       "AVX512-BF16 CPUs).")
    show_progress: bool = internal(True)

    def __post_init__(self) -> None:
        check_choice(self.loss, LOSSES, "loss")
        check_choice(self.sampler, SAMPLERS, "sampler")
        check_choice(self.optimizer, OPTIMIZERS, "optimizer")
        check_choice(self.lr_schedule, LR_SCHEDULES, "lr_schedule")
        if self.eval_protocol is not None:
            check_choice(self.eval_protocol, EVAL_PROTOCOLS, "eval_protocol")
        check_finite({"lr": self.lr, "weight_decay": self.weight_decay, "l2": self.l2,
                      "popularity_alpha": self.popularity_alpha, "temperature": self.temperature,
                      "logq_weight": self.logq_weight, "grad_clip": self.grad_clip,
                      "hard_negatives": self.hard_negatives})
        for key in ("epochs", "max_epochs", "batch_size", "num_negatives", "hard_candidates", "extra_negatives",
                    "eval_every", "patience", "checkpoint_every", "seed"):
            value = getattr(self, key)
            if value is not None:
                lo = 0 if key in ("seed", "num_negatives", "extra_negatives") else 1
                check_whole(key, value, lo=lo, hi=MAX_SEED if key == "seed" else MAX_COUNT)
        checks = {
            "max_epochs": self.max_epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "l2": self.l2 >= 0,
            "num_negatives": self.num_negatives >= (1 if self.loss in ("bpr", "bce") else 0),
            "hard_negatives": 0.0 <= self.hard_negatives <= 1.0,
            "hard_candidates": self.hard_candidates >= 1,
            "extra_negatives": self.extra_negatives >= 0,
            "temperature": self.temperature > 0,
            "popularity_alpha": self.popularity_alpha >= 0,
            "logq_weight": self.logq_weight >= 0,
            "eval_every": self.eval_every >= 1,
            "patience": self.patience >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
            "seed": self.seed >= 0,
        }
        if self.epochs is not None:
            checks["epochs"] = self.epochs >= 1
        if self.grad_clip is not None:
            checks["grad_clip"] = self.grad_clip > 0
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"invalid {key}: {getattr(self, key)!r}")
        if self.device != "auto":
            check_device_name(self.device)
        if self.metric is not None:
            name, k = parse_metric(self.metric)
            if self.eval_protocol is not None:
                check_choice(name, STOP_METRICS[self.eval_protocol], f"a {self.eval_protocol}-protocol metric")
        if self.eval_k is not None:
            object.__setattr__(self, "eval_k", tuple(int(k) for k in self.eval_k))
            if any(k <= 0 for k in self.eval_k):
                raise ConfigError(f"eval_k must be positive, got {self.eval_k}")
            if self.metric is not None and parse_metric(self.metric)[1] not in self.eval_k:
                object.__setattr__(self, "eval_k", tuple(sorted({*self.eval_k, parse_metric(self.metric)[1]})))

    def for_validation(self, *, sampled: bool) -> TrainConfig:
        """This config with the validation protocol, metric and cut-offs filled in.

        ``sampled``: whether the validation rows come with sampled negatives.
        """
        protocol = self.eval_protocol or ("sampled" if sampled else "full")
        metric = self.metric or DEFAULT_METRIC[protocol]
        name, k = parse_metric(metric)
        check_choice(name, STOP_METRICS[protocol], f"a {protocol}-protocol metric")
        eval_k = tuple(sorted({*(self.eval_k or ()), k}))
        return dataclasses.replace(self, eval_protocol=protocol, metric=metric, eval_k=eval_k)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["eval_k"] = None if self.eval_k is None else list(self.eval_k)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        v = dict(values)
        if v.get("eval_k") is not None:
            v["eval_k"] = tuple(v["eval_k"])
        return from_dict(cls, v, what="train config")


def check_device_name(name: str) -> None:
    """ConfigError unless ``name`` is ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    base, _, index = str(name).partition(":")
    if base not in ("cpu", "cuda", "mps") or (index and not index.isdigit()) or (index and base != "cuda"):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps; got {name!r}"
                          f"{did_you_mean(base, ('auto', 'cpu', 'cuda', 'mps'))}")
