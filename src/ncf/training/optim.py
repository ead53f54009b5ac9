"""Optimizers of a model and the learning-rate schedule.

:func:`make_optimizers` gives a model's sparse embedding tables a row-sparse optimizer and its
dense parameters an ordinary one. A dense Adam step rewrites every row of every table
(millions of floats) for each batch; with ``nn.Embedding(sparse=True)`` the row optimizers
(:class:`RowAdam`, :class:`RowAdagrad`) touch only the batch's rows, which is what makes large
catalogs cheap per step. Dense gradients (e.g. a global bias) get the ordinary update.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ncf.config import TrainConfig
from ncf.errors import ConfigError
from ncf.nn.blocks import sparse_parameters

__all__ = ["RowAdagrad", "RowAdam", "lr_factor", "make_optimizers", "set_lr"]


def _rows(grad: Tensor) -> tuple[Tensor, Tensor]:
    """Unique row indices and summed row gradients of a sparse (or dense) gradient."""
    if grad.is_sparse:
        g = grad.coalesce()
        return g.indices()[0], g.values()
    return torch.arange(grad.shape[0], device=grad.device), grad


def _undecorated(name: str) -> Any:
    """``torch.optim.Optimizer.<name>`` without torch's ``_disable_dynamo`` wrapper (the function it
    wraps), or the method itself where a torch version does not wrap it."""
    method = getattr(torch.optim.Optimizer, name)
    return getattr(method, "__wrapped__", method)


class _RowOptimizer(torch.optim.Optimizer):
    """Base of the row optimizers: torch's bookkeeping methods called without their
    ``_disable_dynamo`` wrapper, whose first call imports ``torch._dynamo`` (about a second in a
    fresh process). These optimizers are plain Python and never compiled, so a run that uses only
    them starts without loading the compiler."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _undecorated("add_param_group")(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _undecorated("zero_grad")(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = _undecorated("state_dict")(self)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _undecorated("load_state_dict")(self, state_dict)


class RowAdam(_RowOptimizer):
    """Adam with lazy row updates for sparse gradients (moments of untouched rows are kept).

    Same update as :class:`torch.optim.SparseAdam` (bias correction with a per-parameter
    step count), implemented with a handful of fused index ops per table.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                idx, g = _rows(p.grad)
                self.update_rows(p, idx, g, group)

    @torch.no_grad()
    def update_rows(self, p: Tensor, idx: Tensor, g: Tensor, group: dict[str, Any] | None = None) -> None:
        """One Adam step of rows ``idx`` (unique) of ``p`` with their summed gradients ``g``.

        What :meth:`step` does for each parameter; the fused training step
        (:mod:`ncf.training.fused`) calls it with the rows it computed, without a ``.grad``.
        """
        if group is None:
            group = self.group_of(p)
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float64)
            state["exp_avg"] = torch.zeros_like(p)
            state["exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        t = float(state["step"])
        m = state["exp_avg"]
        v = state["exp_avg_sq"]
        # index_select / index_copy_ / index_add_ with alpha 1: measured 2-5x faster on CPU than
        # advanced indexing and index_add_ with a scale (benchmarks/bench_fused_step.py)
        m_rows = m.index_select(0, idx).mul_(b1).add_(g, alpha=1 - b1)
        v_rows = v.index_select(0, idx).mul_(b2).addcmul_(g, g, value=1 - b2)
        m.index_copy_(0, idx, m_rows)
        v.index_copy_(0, idx, v_rows)
        step_size = lr * (1 - b2**t) ** 0.5 / (1 - b1**t)
        p.index_add_(0, idx, m_rows.div_(v_rows.sqrt_().add_(eps)).mul_(-step_size))

    def group_of(self, p: Tensor) -> dict[str, Any]:
        """The parameter group holding ``p``."""
        return _group_of(self, p)


class RowAdagrad(_RowOptimizer):
    """Adagrad with row updates for sparse gradients (the classic choice for embeddings)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.05, eps: float = 1e-10,
                 initial_accumulator_value: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "eps": eps, "init": initial_accumulator_value})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                idx, g = _rows(p.grad)
                self.update_rows(p, idx, g, group)

    @torch.no_grad()
    def update_rows(self, p: Tensor, idx: Tensor, g: Tensor, group: dict[str, Any] | None = None) -> None:
        """One Adagrad step of rows ``idx`` (unique) of ``p`` with their summed gradients ``g``."""
        if group is None:
            group = self.group_of(p)
        state = self.state[p]
        if not state:
            state["sum"] = torch.full_like(p, group["init"])
        acc = state["sum"]
        acc.index_add_(0, idx, g * g)
        p.index_add_(0, idx, g / acc.index_select(0, idx).sqrt_().add_(group["eps"]) * -group["lr"])

    def group_of(self, p: Tensor) -> dict[str, Any]:
        """The parameter group holding ``p``."""
        return _group_of(self, p)


def _group_of(opt: torch.optim.Optimizer, p: Tensor) -> dict[str, Any]:
    for group in opt.param_groups:
        if any(q is p for q in group["params"]):
            return group
    raise ValueError("the parameter is not in this optimizer")


def _adam(params: list[nn.Parameter], **kw: Any) -> torch.optim.Optimizer:
    """Adam with the fused kernel where this torch build has it (one pass over each tensor)."""
    try:
        return torch.optim.Adam(params, fused=True, **kw)
    except (RuntimeError, TypeError, ValueError):  # older torch or unsupported device
        return torch.optim.Adam(params, **kw)


def make_optimizers(model: nn.Module, config: TrainConfig) -> list[torch.optim.Optimizer]:
    """The optimizers of ``model``'s trainable parameters under ``config``.

    Weights of sparse ``nn.Embedding`` tables get :class:`RowAdam` (``adam``/``sparse_adam``),
    :class:`RowAdagrad` (``adagrad``) or SGD; the other parameters the optimizer named by
    ``config.optimizer`` with ``config.weight_decay`` (fused Adam where available).

    Returns
    -------
    list of torch.optim.Optimizer
        The sparse one first, when the model has sparse tables.

    Raises
    ------
    ConfigError
        If the optimizer cannot update sparse tables (``adamw``), or nothing is trainable.
    """
    sparse_ids = {id(p) for p in sparse_parameters(model).values()}
    params = [p for p in model.parameters() if p.requires_grad]
    sparse = [p for p in params if id(p) in sparse_ids]
    dense = [p for p in params if id(p) not in sparse_ids]
    name, lr = config.optimizer, config.lr
    opts: list[torch.optim.Optimizer] = []
    if sparse:
        if name not in ("sparse_adam", "adam", "adagrad", "sgd"):
            raise ConfigError(f"optimizer {name!r} cannot update sparse embeddings; use adam, sparse_adam, adagrad "
                              "or sgd, or a model without sparse embeddings")
        if name == "adagrad":
            opts.append(RowAdagrad(sparse, lr=lr))
        elif name == "sgd":
            opts.append(torch.optim.SGD(sparse, lr=lr))
        else:
            opts.append(RowAdam(sparse, lr=lr))
    if dense:
        if name in ("adam", "sparse_adam"):
            opts.append(_adam(dense, lr=lr, weight_decay=config.weight_decay))
        elif name == "adamw":
            opts.append(torch.optim.AdamW(dense, lr=lr, weight_decay=config.weight_decay))
        elif name == "adagrad":
            opts.append(torch.optim.Adagrad(dense, lr=lr, weight_decay=config.weight_decay))
        else:
            opts.append(torch.optim.SGD(dense, lr=lr, weight_decay=config.weight_decay))
    if not opts:
        raise ConfigError("the model has no trainable parameters")
    return opts


def lr_factor(schedule: str, progress: float) -> float:
    """Multiplier of the base learning rate at ``progress`` in [0, 1) of all training steps.

    ``constant``: 1; ``linear``: ``1 - progress``; ``cosine``: ``(1 + cos(pi progress)) / 2``.
    """
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def set_lr(optimizers: Sequence[torch.optim.Optimizer], lr: float) -> None:
    """Set the learning rate of every parameter group of ``optimizers``."""
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr
