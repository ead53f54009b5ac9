"""Run settings as frozen, validated dataclasses; ``from_dict`` rejects unknown keys."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, TypeVar

from ncf.errors import ConfigError

T = TypeVar("T")

LOSSES = ("bpr", "bce", "mse", "softmax")
SAMPLERS = ("uniform", "popularity")
OPTIMIZERS = ("adam", "adamw", "sparse_adam", "adagrad", "sgd")
LR_SCHEDULES = ("constant", "linear", "cosine")


def did_you_mean(word: str, options: Any) -> str:
    """A ' (did you mean X?)' hint, or '' when nothing is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


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


@dataclass(frozen=True)
class TrainConfig:
    """How to train a model: loss, negatives, optimisation, validation and stopping.

    ``epochs=None`` trains up to ``max_epochs`` and stops early when the validation
    ``metric`` has not improved for ``patience`` evaluations (the best weights are kept).
    ``lr_schedule`` "linear" or "cosine" decays the learning rate per step from ``lr`` towards
    0 over ``epochs`` (or ``max_epochs`` when stopping early). ``softmax_bf16`` computes the
    in-batch softmax logits of factorized models as a bfloat16 product (about 2x faster on
    CPUs with AVX512-BF16 at width >= 128); the loss itself stays float32. ``logq_weight``
    scales the logQ correction (0 = none, 1 = the unbiased full correction).
    """

    loss: str = "bpr"
    epochs: int | None = None
    max_epochs: int = 100
    batch_size: int = 2048
    lr: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    l2: float = 0.0
    optimizer: str = "adam"
    num_negatives: int = 4
    sampler: str = "uniform"
    popularity_alpha: float = 0.75
    hard_negatives: float = 0.0
    hard_candidates: int = 100
    extra_negatives: int = 0
    temperature: float = 1.0
    logq: bool = True
    logq_weight: float = 1.0
    remove_accidental_hits: bool = True
    eval_every: int = 1
    patience: int = 3
    metric: str = "ndcg@10"
    eval_k: tuple[int, ...] = (10,)
    eval_protocol: str = "sampled"
    grad_clip: float | None = None
    checkpoint_every: int = 1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    softmax_bf16: bool = False
    show_progress: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}{did_you_mean(self.loss, LOSSES)}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
                f"{did_you_mean(self.lr_schedule, LR_SCHEDULES)}"
            )
        if self.eval_protocol not in ("sampled", "full"):
            raise ConfigError(f"eval_protocol must be 'sampled' or 'full', got {self.eval_protocol!r}")
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
            "logq_weight": self.logq_weight >= 0,
            "eval_every": self.eval_every >= 1,
            "patience": self.patience >= 1,
            "checkpoint_every": self.checkpoint_every >= 1,
        }
        if self.epochs is not None:
            checks["epochs"] = self.epochs >= 1
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"invalid {key}: {getattr(self, key)!r}")
        object.__setattr__(self, "eval_k", tuple(int(k) for k in self.eval_k))
        if any(k <= 0 for k in self.eval_k):
            raise ConfigError(f"eval_k must be positive, got {self.eval_k}")
        name, _, kk = self.metric.partition("@")
        if not kk.isdigit() or int(kk) <= 0:
            raise ConfigError(f"metric must look like 'ndcg@10', got {self.metric!r}")
        if int(kk) not in self.eval_k:
            object.__setattr__(self, "eval_k", tuple(sorted({*self.eval_k, int(kk)})))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["eval_k"] = list(self.eval_k)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        v = dict(values)
        if "eval_k" in v:
            v["eval_k"] = tuple(v["eval_k"])
        return from_dict(cls, v, what="train config")
