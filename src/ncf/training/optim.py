"""Row-sparse optimizers for embedding tables: only the rows a batch touched are updated.

A dense Adam step rewrites every row of every table (millions of floats) for each batch; with
``nn.Embedding(sparse=True)`` these optimizers touch only the batch's rows, which is what makes
large catalogs cheap per step. Dense gradients (e.g. a global bias) get the ordinary update.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


def _rows(grad: Tensor) -> tuple[Tensor, Tensor]:
    """Unique row indices and summed row gradients of a sparse (or dense) gradient."""
    if grad.is_sparse:
        g = grad.coalesce()
        return g.indices()[0], g.values()
    return torch.arange(grad.shape[0], device=grad.device), grad


class RowAdam(torch.optim.Optimizer):
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
            lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                idx, g = _rows(p.grad)
                m = state["exp_avg"]
                v = state["exp_avg_sq"]
                m_rows = m[idx].mul_(b1).add_(g, alpha=1 - b1)
                v_rows = v[idx].mul_(b2).addcmul_(g, g, value=1 - b2)
                m[idx] = m_rows
                v[idx] = v_rows
                step_size = lr * (1 - b2**t) ** 0.5 / (1 - b1**t)
                p.index_add_(0, idx, m_rows.div_(v_rows.sqrt_().add_(eps)), alpha=-step_size)


class RowAdagrad(torch.optim.Optimizer):
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
                state = self.state[p]
                if not state:
                    state["sum"] = torch.full_like(p, group["init"])
                idx, g = _rows(p.grad)
                acc = state["sum"]
                acc.index_add_(0, idx, g * g)
                p.index_add_(0, idx, g / acc[idx].sqrt_().add_(group["eps"]), alpha=-group["lr"])
