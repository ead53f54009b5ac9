"""A cost model of training steps: FLOPs per epoch against this machine's measured matmul rate.

:func:`step_flops` counts one forward and backward pass of an objective on a batch with torch's
:class:`~torch.utils.flop_counter.FlopCounterMode`; :func:`matmul_peak` times a square matrix
product at the current thread count. :class:`StepCost` puts them together: the arithmetic floor
of an epoch (its FLOPs at the peak rate), and the share of that peak an epoch achieved. It says
how far a step is from being bound by arithmetic, not why (memory traffic, gathers, Python).

Example
-------
>>> cost = estimate_cost(model, objective, batch, steps_per_epoch=396)     # doctest: +SKIP
>>> cost.describe()                                                        # doctest: +SKIP
'cost model: 1.27 TFLOP per epoch (3.2 GFLOP/step x 396 steps); float32 matmul rate 196 GFLOP/s (1024^3, 2 threads) -> arithmetic floor 6.5 s/epoch'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["MATMUL_N", "StepCost", "estimate_cost", "matmul_peak", "step_flops"]

aten = torch.ops.aten

#: Side of the timed square product.
MATMUL_N = 1024

#: Measured peaks of this process: (dtype, n, threads, device) -> GFLOP/s.
_PEAKS: dict[tuple[str, int, int, str], float] = {}


def _device(device: torch.device | str | None) -> torch.device:
    d = torch.device("cpu" if device is None else device)
    if d.type == "cuda" and d.index is None:
        d = torch.device("cuda", torch.cuda.current_device())
    return d


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_seconds(a: Tensor, b: Tensor, repeats: int) -> float:
    """The fastest of ``repeats`` timed ``torch.mm(a, b)``, after one untimed warm-up."""
    torch.mm(a, b)
    _sync(a.device)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        _sync(a.device)
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_peak(dtype: torch.dtype = torch.float32, *, n: int = MATMUL_N, repeats: int = 3,
                device: torch.device | str | None = None) -> float:
    """This machine's measured matrix-product rate in GFLOP/s: the best of ``repeats`` timed
    ``torch.mm`` of two ``n x n`` matrices (``2 n^3`` FLOPs), at ``torch.get_num_threads()``.

    Measured once per ``(dtype, n, threads, device)`` in a process and kept (about 0.1 s on
    two CPU cores at the defaults).
    """
    if n < 1 or repeats < 1:
        raise ValueError(f"n and repeats must be >= 1, got n={n!r}, repeats={repeats!r}")
    dev = _device(device)
    key = (str(dtype).removeprefix("torch."), int(n), torch.get_num_threads(), str(dev))
    if key not in _PEAKS:
        gen = torch.Generator(device=dev).manual_seed(0)  # torch's global random state stays as it is
        a, b = (torch.rand(n, n, device=dev, generator=gen).to(dtype) for _ in range(2))
        _PEAKS[key] = 2.0 * n**3 / _best_seconds(a, b, repeats) / 1e9
    return _PEAKS[key]


def _numel(shape: Any) -> int:
    return math.prod(shape) if isinstance(shape, torch.Size | tuple | list) else 1


def _mul_flop(a_shape: Any, b_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """One FLOP per output element (broadcasting included)."""
    return _numel(out_shape)


def _sum_flop(a_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """One FLOP per input element."""
    return _numel(a_shape)


#: FlopCounterMode counts matrix products only; factorized models score pairs as
#: ``(u * v).sum(-1)``. Keyed by op packet, as the counter looks formulas up.
_ELEMENTWISE = {aten.mul: _mul_flop, aten.sum: _sum_flop}


def step_flops(model: nn.Module, objective: Callable[[Any, Any], Tensor], batch: Any) -> float:
    """FLOPs of one forward and backward pass of ``objective(model, batch)``.

    Counted by :class:`~torch.utils.flop_counter.FlopCounterMode`: matrix products (``mm``,
    ``addmm``, ``bmm``, convolutions, attention) plus elementwise multiplies (one per output
    element) and sum reductions (one per input element); other elementwise ops count nothing.
    The model runs in training mode; gradients come from :func:`torch.autograd.grad`, so no
    ``.grad`` is written, no parameter moves and torch's random state is left as it was.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    was_training = model.training
    first = next(model.parameters(), None)
    forked = [_device(first.device)] if first is not None and first.device.type == "cuda" else []
    counter = FlopCounterMode(display=False, custom_mapping=_ELEMENTWISE)
    try:
        model.train()
        with torch.random.fork_rng(devices=forked), counter:
            loss = objective(model, batch)
            if params and loss.requires_grad:
                torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        model.train(was_training)
    return float(counter.get_total_flops())


def _si(value: float, unit: str) -> str:
    """``1.27e12, "FLOP"`` -> ``'1.27 TFLOP'``."""
    prefixes = ("", "K", "M", "G", "T", "P", "E")
    i = min(max(int(math.floor(math.log10(abs(value)) / 3)), 0), len(prefixes) - 1) if value else 0
    return f"{value / 1000**i:.3g} {prefixes[i]}{unit}"


def _seconds(s: float) -> str:
    if s >= 100:
        return f"{s:,.0f} s"
    return f"{s:.3g} s" if s >= 0.01 else f"{s * 1e3:.3g} ms"


@dataclass(frozen=True)
class StepCost:
    """FLOPs of a training step and epoch against the measured matmul rate.

    Attributes
    ----------
    flops_per_step : float
        One forward and backward pass on a full batch (:func:`step_flops`).
    steps_per_epoch : int
    peak_gflops : float
        :func:`matmul_peak` on the training device, in the training dtype.
    threads : int
        torch's threads when the peak was measured.
    dtype : str
        The peak's dtype (``"float32"``).
    matmul_n : int
        Side of the timed square product.
    device : str
        Where the peak was measured.
    """

    flops_per_step: float
    steps_per_epoch: int
    peak_gflops: float
    threads: int
    dtype: str
    matmul_n: int = MATMUL_N
    device: str = "cpu"

    @property
    def flops_per_epoch(self) -> float:
        return self.flops_per_step * self.steps_per_epoch

    @property
    def floor_seconds(self) -> float:
        """An epoch's FLOPs at the peak rate: no epoch of this model runs faster on arithmetic alone."""
        return self.flops_per_epoch / (self.peak_gflops * 1e9)

    def achieved_gflops(self, seconds: float, *, epochs: float = 1.0) -> float:
        """The arithmetic rate of ``epochs`` epochs (a part of one when cut short) done in ``seconds``."""
        return self.flops_per_epoch * epochs / seconds / 1e9 if seconds > 0 else 0.0

    def peak_share(self, seconds: float, *, epochs: float = 1.0) -> float:
        """:meth:`achieved_gflops` as a share of the peak (0.25: a quarter of it)."""
        return self.achieved_gflops(seconds, epochs=epochs) / self.peak_gflops

    def describe(self) -> str:
        """One line: FLOPs per epoch and step, the peak it was measured against, the floor."""
        where = f"{self.threads} thread{'s' * (self.threads != 1)}" if self.device == "cpu" else self.device
        return (f"cost model: {_si(self.flops_per_epoch, 'FLOP')} per epoch ({_si(self.flops_per_step, 'FLOP')}/step"
                f" x {self.steps_per_epoch:,} steps); {self.dtype} matmul rate {_si(self.peak_gflops * 1e9, 'FLOP/s')}"
                f" ({self.matmul_n}^3, {where}) -> arithmetic floor {_seconds(self.floor_seconds)}/epoch")

    def to_dict(self) -> dict[str, Any]:
        """The fields plus ``flops_per_epoch`` and ``floor_seconds`` (JSON-ready)."""
        return {**asdict(self), "flops_per_epoch": self.flops_per_epoch, "floor_seconds": self.floor_seconds}


def estimate_cost(model: nn.Module, objective: Callable[[Any, Any], Tensor], batch: Any, *, steps_per_epoch: int,
                  device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> StepCost:
    """The :class:`StepCost` of training ``model`` on batches like ``batch``, ``steps_per_epoch``
    per epoch; the peak is measured on ``device`` in ``dtype`` (default: the model's)."""
    first = next(model.parameters(), None)
    dev = _device(device if device is not None else (first.device if first is not None else None))
    dt = dtype if dtype is not None else (first.dtype if first is not None else torch.float32)
    return StepCost(
        flops_per_step=step_flops(model, objective, batch), steps_per_epoch=int(steps_per_epoch),
        peak_gflops=matmul_peak(dt, device=dev), threads=torch.get_num_threads(),
        dtype=str(dt).removeprefix("torch."), matmul_n=MATMUL_N, device=str(dev),
    )
