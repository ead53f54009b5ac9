"""Hooks into :meth:`Trainer.fit <ncf.training.Trainer.fit>`: progress display, log file, user code.

A callback is a :class:`Callback` (override the hooks you need) or a plain function of an
:class:`~ncf.training.EpochLog`, called after each epoch. The trainer calls, in order:

``on_fit_start(FitStart)`` -> per epoch ``on_epoch_start(epoch)``, ``on_batch_end(BatchEnd)``
after each step, ``on_epoch_end(EpochEnd)`` after validation and checkpointing -> and
``on_fit_end(History | None)`` at the end, also when training raised (``None`` then).

With ``Trainer(cost_model=True)``, ``FitStart.cost`` holds the fit's
:class:`~ncf.training.cost.StepCost`: :class:`LoggingCallback` and :class:`ProgressBar` print its
line at the start and, after each epoch's line, the arithmetic rate the epoch achieved and its
share of the measured matmul peak; :class:`JsonlLogger` adds them to each line (``gflops``,
``peak_share``).

The trainer always installs :class:`LoggingCallback` (one INFO record per epoch on the
``ncf.training.epochs`` logger), :class:`ProgressBar` when ``TrainConfig.show_progress`` is
set and :class:`JsonlLogger` when ``fit`` gets a ``log_path``; they run before the user's callbacks.
In a DDP job (:mod:`ncf.training.distributed`) these three run on rank 0 only, and the user's
callbacks on every rank: ``FitStart.rank`` and ``FitStart.is_main`` say which one a callback
runs on. Every rank sees the same :class:`EpochEnd` values except ``log.seconds`` (its own
time); the loss is the mean over all ranks' batches.
The library never prints: the progress display writes to stderr only when stderr is a
terminal (or in a notebook), and configures no logging handler.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from torch import Tensor

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.training.cost import StepCost
from ncf.training.history import EpochLog, History

__all__ = [
    "BatchEnd",
    "Callback",
    "CallbackLike",
    "CallbackList",
    "EpochEnd",
    "FitStart",
    "JsonlLogger",
    "LoggingCallback",
    "ProgressBar",
    "as_callback",
    "default_callbacks",
    "epoch_gflops",
    "epoch_rate",
    "epoch_summary",
]

logger = logging.getLogger("ncf.training")


@dataclass(frozen=True)
class FitStart:
    """What a fit is about to do.

    Attributes
    ----------
    first_epoch : int
        Number (from 1) of the first epoch this fit trains; above 1 when resumed.
    max_epochs : int
        The last epoch, unless early stopping ends training before it.
    early_stopping : bool
        Whether training may stop before ``max_epochs`` (``epochs=None`` with validation).
    num_batches, num_samples : int
        Batches and positives per epoch.
    metric : str or None
        The validation metric (``"ndcg@10"``), None without validation.
    logs : tuple of EpochLog
        Epochs done before a resume.
    rank, world_size : int
        This process's rank in a DDP job and the number of processes (0 and 1 in a single
        process); ``num_batches`` is per rank, ``num_samples`` counts every rank's positives.
    cost : StepCost or None
        FLOPs per step and epoch against the measured matmul peak (``Trainer(cost_model=True)``;
        rank 0 only in a DDP job), else None.
    """

    first_epoch: int
    max_epochs: int
    early_stopping: bool
    num_batches: int
    num_samples: int
    metric: str | None
    logs: tuple[EpochLog, ...] = ()
    rank: int = 0
    world_size: int = 1
    cost: StepCost | None = None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the process that validates and writes), or a single process."""
        return self.rank == 0


@dataclass(frozen=True)
class BatchEnd:
    """After an optimizer step.

    Attributes
    ----------
    epoch, batch : int
        Epoch and batch numbers, from 1.
    num_batches : int
        Batches in the epoch.
    samples : int
        Positives trained on in this epoch so far (by all ranks of a DDP job, counting each
        rank's steps as done when this one's is).
    seconds : float
        Since the epoch started.
    lr : float
        The learning rate of this step.
    loss_sum : 0-d tensor
        Running sum of this epoch's batch losses, on the training device; read it with
        :meth:`mean_loss` (which waits for the device), not on every batch.
    """

    epoch: int
    batch: int
    num_batches: int
    samples: int
    seconds: float
    lr: float
    loss_sum: Tensor = field(repr=False)

    def mean_loss(self) -> float:
        """Mean batch loss of the epoch so far."""
        return float(self.loss_sum.item()) / self.batch

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class EpochEnd:
    """After an epoch, its validation and its checkpoint.

    Attributes
    ----------
    log : EpochLog
    max_epochs : int
    metric : str or None
        The validation metric; ``log.metrics[metric]`` when this epoch was validated.
    best_epoch, best_metric : int or None, float or None
        The best validation so far (this run and, when resumed, before).
    stopping : bool
        Training ends after this epoch (the last epoch, early stopping or the deadline).
    stopped_early : bool
        It ends because the metric stopped improving.
    stopped_at_deadline : bool
        It ends because the trainer's deadline passed: the epoch may be cut short, and it was
        validated whether or not it was due.
    """

    log: EpochLog
    max_epochs: int
    metric: str | None
    best_epoch: int | None
    best_metric: float | None
    stopping: bool
    stopped_early: bool
    stopped_at_deadline: bool = False


class Callback:
    """Base class of trainer callbacks: every hook does nothing; override the ones you need."""

    def on_fit_start(self, start: FitStart) -> None:
        """Before the first epoch."""

    def on_epoch_start(self, epoch: int) -> None:
        """Before epoch ``epoch`` (from 1) draws its batches."""

    def on_batch_end(self, batch: BatchEnd) -> None:
        """After each optimizer step (keep it cheap: it runs for every batch)."""

    def on_epoch_end(self, end: EpochEnd) -> None:
        """After the epoch, its validation and its checkpoint; raising stops training."""

    def on_fit_end(self, history: History | None) -> None:
        """At the end of ``fit``; ``history`` is None when training raised."""


#: What ``Trainer(callbacks=...)`` accepts: callbacks, or functions called with each EpochLog.
CallbackLike = Callback | Callable[[EpochLog], None]


class _EpochFunction(Callback):
    def __init__(self, fn: Callable[[EpochLog], None]) -> None:
        self.fn = fn

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.fn(end.log)

    def __repr__(self) -> str:
        return f"_EpochFunction({self.fn!r})"


def as_callback(callback: CallbackLike) -> Callback:
    """A :class:`Callback` as is; a function ``f(EpochLog)`` as a callback calling it after each epoch."""
    if isinstance(callback, Callback):
        return callback
    if callable(callback):
        return _EpochFunction(callback)
    raise TypeError(f"a callback is a Callback or a function of an EpochLog, got {type(callback).__name__}")


def _overrides(callback: Callback, hook: str) -> bool:
    return getattr(type(callback), hook) is not getattr(Callback, hook)


class CallbackList(Callback):
    """Calls each hook of several callbacks in order (the per-batch hook only where overridden)."""

    def __init__(self, callbacks: Iterable[CallbackLike]) -> None:
        self.callbacks = [as_callback(c) for c in callbacks]
        self._on_batch = [c for c in self.callbacks if _overrides(c, "on_batch_end")]

    @property
    def wants_batches(self) -> bool:
        """Whether any callback has an ``on_batch_end`` (the trainer skips building BatchEnd otherwise)."""
        return bool(self._on_batch)

    def on_fit_start(self, start: FitStart) -> None:
        for c in self.callbacks:
            c.on_fit_start(start)

    def on_epoch_start(self, epoch: int) -> None:
        for c in self.callbacks:
            c.on_epoch_start(epoch)

    def on_batch_end(self, batch: BatchEnd) -> None:
        for c in self._on_batch:
            c.on_batch_end(batch)

    def on_epoch_end(self, end: EpochEnd) -> None:
        for c in self.callbacks:
            c.on_epoch_end(end)

    def on_fit_end(self, history: History | None) -> None:
        for c in self.callbacks:
            c.on_fit_end(history)


#: Where :class:`LoggingCallback` writes; ``ncf train`` prints its records as plain lines when
#: stderr is not a terminal (a log file, CI), where the progress bar stays off.
epoch_logger = logging.getLogger("ncf.training.epochs")


class LoggingCallback(Callback):
    """One INFO record per epoch on the ``ncf.training.epochs`` logger: the line
    :func:`epoch_summary` writes (``epoch 3/20: loss 0.2931, 12.3 s (81,234 pos/s); ndcg@10
    0.4123, best 0.4200 at epoch 2; eta 3:20``); the record's ``epoch_log`` attribute holds the
    :class:`EpochLog` as a dict. With a cost model (``FitStart.cost``), one record with
    :meth:`StepCost.describe <ncf.training.cost.StepCost.describe>` at the start and one with
    :func:`epoch_rate` after each epoch's."""

    def __init__(self) -> None:
        self._start: FitStart | None = None
        self._t0 = 0.0
        self._epochs_done = 0

    def on_fit_start(self, start: FitStart) -> None:
        self._start, self._t0, self._epochs_done = start, time.perf_counter(), 0
        if start.cost is not None and epoch_logger.isEnabledFor(logging.INFO):
            epoch_logger.info("%s", start.cost.describe(), extra={"cost": start.cost.to_dict()})

    def on_epoch_end(self, end: EpochEnd) -> None:
        self._epochs_done += 1
        if not epoch_logger.isEnabledFor(logging.INFO):
            return
        per_epoch = (time.perf_counter() - self._t0) / self._epochs_done
        early = self._start is not None and self._start.early_stopping
        line = epoch_summary(end, eta_seconds=per_epoch * (end.max_epochs - end.log.epoch), early_stopping=early)
        epoch_logger.info("%s", line, extra={"epoch_log": end.log.to_dict()})
        rate = epoch_rate(end.log, self._start)
        if rate is not None:
            epoch_logger.info("%s", rate)


class JsonlLogger(Callback):
    """Writes every epoch's :class:`EpochLog` as one JSON line to ``path``.

    The file is rewritten atomically after each epoch with all epochs so far, those before
    a resume included, so a killed run never leaves a partial line. With a cost model
    (``FitStart.cost``) each line also has ``gflops`` and ``peak_share`` (:func:`epoch_gflops`).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self._logs: list[EpochLog] = []
        self._start: FitStart | None = None

    def on_fit_start(self, start: FitStart) -> None:
        self._logs = list(start.logs)
        self._start = start

    def on_epoch_end(self, end: EpochEnd) -> None:
        self._logs.append(end.log)
        with atomic_write(self.path, "w", encoding="utf-8") as fh:
            for log in self._logs:
                row = log.to_dict()
                rate = epoch_gflops(log, self._start)
                if rate is not None:
                    row["gflops"], row["peak_share"] = rate
                fh.write(json.dumps(row) + "\n")

    def __repr__(self) -> str:
        return f"JsonlLogger({str(self.path)!r})"


def epoch_gflops(log: EpochLog, start: FitStart | None) -> tuple[float, float] | None:
    """The arithmetic rate of an epoch in GFLOP/s and its share of the matmul peak, from the
    fit's cost model (None without one); an epoch cut short counts the positives it trained on."""
    cost = None if start is None else start.cost
    if start is None or cost is None or log.seconds <= 0:
        return None
    epochs = log.samples_per_s * log.seconds / start.num_samples if start.num_samples else 1.0
    return cost.achieved_gflops(log.seconds, epochs=epochs), cost.peak_share(log.seconds, epochs=epochs)


def epoch_rate(log: EpochLog, start: FitStart | None) -> str | None:
    """The line after an epoch's with a cost model: ``'  arithmetic 7.04 GFLOP/s, 3.6% of the
    float32 matmul peak'`` (None without one)."""
    rate = epoch_gflops(log, start)
    if rate is None or start is None or start.cost is None:
        return None
    return f"  arithmetic {rate[0]:.3g} GFLOP/s, {rate[1]:.1%} of the {start.cost.dtype} matmul peak"


def _interval(seconds: float) -> str:
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def epoch_summary(end: EpochEnd, *, eta_seconds: float | None = None, early_stopping: bool = False) -> str:
    """One line about a finished epoch: loss, time, validation metric, best so far and ETA.

    >>> epoch_summary(end, eta_seconds=200)                                   # doctest: +SKIP
    'epoch 3/20: loss 0.2931, 12.3 s (81,234 pos/s); ndcg@10 0.4123, best 0.4200 at epoch 2; eta 3:20'
    """
    log = end.log
    parts = [f"epoch {log.epoch}/{end.max_epochs}: loss {log.loss:.4f}, {log.seconds:.1f} s "
             f"({log.samples_per_s:,.0f} pos/s)"]
    metric = end.metric
    if metric is not None and metric in log.metrics:
        text = f"{metric} {log.metrics[metric]:.4f}"
        if end.best_metric is not None and end.best_epoch is not None:
            text += f", best {end.best_metric:.4f} at epoch {end.best_epoch}"
        parts.append(text)
    if end.stopped_at_deadline:
        parts.append("stopping at the deadline")
    elif end.stopped_early:
        parts.append("stopping early")
    elif not end.stopping and eta_seconds is not None:
        parts.append(f"eta {'<=' if early_stopping else ''}{_interval(eta_seconds)}")
    return "; ".join(parts)


class ProgressBar(Callback):
    """A progress display for a terminal: tqdm on stderr.

    Each epoch gets a bar of its batches with the running mean loss and the throughput
    (positives per second), removed when the epoch ends; then one line with the epoch's
    loss, its validation metric, the best so far and an estimate of the time left for the
    remaining epochs (an upper bound when early stopping may end training sooner). Nothing
    is written when the output is not a terminal (a log file, a pipe, CI); in a notebook the
    bars are widgets.

    Parameters
    ----------
    file : text stream, optional
        Where to write (default: ``sys.stderr`` at the start of each fit).
    every : int, default 20
        Update the bar's loss every ``every`` batches (reading the loss waits for the GPU).
    mininterval : float, default 0.5
        Least seconds between redraws of the bar.
    """

    def __init__(self, *, file: TextIO | None = None, every: int = 20, mininterval: float = 0.5) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every!r}")
        self.file = file
        self.every = int(every)
        self.mininterval = float(mininterval)
        self._tqdm: Any = None
        self._out: TextIO | None = None
        self._bar: Any = None
        self._start: FitStart | None = None
        self._t0 = 0.0
        self._epochs_done = 0

    @property
    def enabled(self) -> bool:
        """Whether the current fit shows anything (set by ``on_fit_start``)."""
        return self._tqdm is not None

    def on_fit_start(self, start: FitStart) -> None:
        from tqdm.auto import tqdm

        out = self.file if self.file is not None else sys.stderr
        in_notebook = tqdm.__module__.startswith("tqdm.notebook")
        isatty = getattr(out, "isatty", None)
        shown = in_notebook or bool(callable(isatty) and isatty())
        self._tqdm = tqdm if shown else None
        self._out = None if in_notebook else out
        self._start = start
        self._t0 = time.perf_counter()
        self._epochs_done = 0
        if self._tqdm is not None and start.cost is not None:
            self._tqdm.write(start.cost.describe(), file=self._out)

    def on_epoch_start(self, epoch: int) -> None:
        if self._tqdm is None or self._start is None:
            return
        self._close_bar()
        self._bar = self._tqdm(
            total=self._start.num_batches, desc=f"epoch {epoch}/{self._start.max_epochs}", unit="batch",
            leave=False, mininterval=self.mininterval, file=self._out, disable=False,
        )

    def on_batch_end(self, batch: BatchEnd) -> None:
        bar = self._bar
        if bar is None or ((batch.batch - 1) % self.every and batch.batch != batch.num_batches):
            return
        bar.set_postfix(loss=f"{batch.mean_loss():.4f}", pos_s=f"{batch.samples_per_s:,.0f}", refresh=False)
        bar.update(batch.batch - bar.n)

    def on_epoch_end(self, end: EpochEnd) -> None:
        if self._tqdm is None or self._start is None:
            return
        self._close_bar()
        self._epochs_done += 1
        per_epoch = (time.perf_counter() - self._t0) / self._epochs_done
        eta = per_epoch * (end.max_epochs - end.log.epoch)
        line = epoch_summary(end, eta_seconds=eta, early_stopping=self._start.early_stopping)
        rate = epoch_rate(end.log, self._start)
        self._tqdm.write(line if rate is None else f"{line}\n{rate}", file=self._out)

    def on_fit_end(self, history: History | None) -> None:
        self._close_bar()
        self._tqdm = None

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def default_callbacks(*, show_progress: bool, log_path: PathLike | None) -> list[Callback]:
    """The callbacks a fit installs before the user's: logging, progress, log file."""
    out: list[Callback] = [LoggingCallback()]
    if log_path is not None:
        out.append(JsonlLogger(log_path))
    if show_progress:
        out.append(ProgressBar())
    return out

