"""What a fit records: one :class:`EpochLog` per epoch and the :class:`History` of a run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EpochLog", "History"]


@dataclass(frozen=True)
class EpochLog:
    """One epoch's record: mean loss, validation metrics (if evaluated), time and throughput.

    ``epoch`` counts from 1; ``seconds`` is the training time of the epoch (sampling and
    batches), ``eval_seconds`` the validation time after it; ``samples_per_s`` counts
    positives.
    """

    epoch: int
    loss: float
    seconds: float
    samples_per_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    eval_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class History:
    """What a fit did: per-epoch logs, the best epoch and its validation metric.

    ``stopped_early``: the metric stopped improving (patience); ``stopped_at_deadline``: the
    trainer's ``deadline`` passed, so the last epoch may be partial (its batches so far).
    """

    epochs: tuple[EpochLog, ...]
    best_epoch: int | None
    best_metric: float | None
    stopped_early: bool
    stopped_at_deadline: bool = False

    def __iter__(self) -> Iterator[EpochLog]:
        return iter(self.epochs)
