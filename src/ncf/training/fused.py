"""Fused training steps for matrix factorisation: the batch's rows only, updated in place.

The ordinary step (:meth:`Trainer._step <ncf.training.trainer.Trainer>`) runs the objective on
the model, lets autograd write a gradient for each embedding table (dense: a zero-filled copy of
the whole table; sparse: a COO tensor that the optimizer coalesces) and then calls the
optimizer. For a batch of 2,048 Gowalla positives that is two 40k x 64 tables rewritten per step
for a few thousand touched rows. A fused step computes the gradients of the **gathered rows**
and applies the row-wise optimizer update (:meth:`RowAdam.update_rows
<ncf.training.optim.RowAdam.update_rows>`, :meth:`RowAdagrad.update_rows
<ncf.training.optim.RowAdagrad.update_rows>`, plain SGD) to those rows only; rows a batch
holds twice get their summed gradient, exactly as the sparse gradient's coalesce gives.

Where the rows go, per table:

- :class:`RowUpdate` (sparse tables under the row optimizers, or plain SGD on any table): the
  row optimizer's ``update_rows`` on the unique rows — no COO gradient, no coalesce;
- :class:`DenseRows` (dense tables under Adam, AdamW, Adagrad: optimizers that move rows without
  a gradient too): the rows are added into a persistent ``.grad`` buffer, the ordinary
  optimizer steps, and only the touched rows are zeroed again — the same update without the
  zero-fill of a full-size gradient per lookup.

How the row gradients are computed, per model and loss:

- :class:`HandBPRStep` (MF with or without biases, not cosine; BPR or BCE with sampled
  negatives): scores, loss and gradients written by hand, no autograd graph;
- :class:`HandSoftmaxStep` (MF without biases, cosine or not; in-batch softmax): the same over
  the batch's distinct items, the accidental hits placed by coordinates;
- :class:`RowAutogradStep` (any :class:`~ncf.models.MatrixFactorization`, cosine included; BPR,
  BCE or in-batch softmax; where no hand-written step applies): the batch's rows are gathered
  into leaf tensors (the unique rows for a :class:`RowUpdate`, so autograd sums repeats), the
  objective's own ``vector_loss`` runs on them and autograd gives their gradients. The global
  bias (a dense parameter) keeps its ordinary optimizer step. On dense tables it is taken only
  when the tables hold more rows than a batch looks up (measured: faster on Gowalla, slower on
  ML-100K).

The result is the ordinary step's, to float rounding (``tests/unit/training/test_fused.py``).
The optimizer state stays where the optimizer keeps it, so checkpoints, resume, the learning-rate
schedule and a fall back to the ordinary step all see one optimizer.
:func:`make_fused_step` returns None, with the reason logged, for anything else (other models and
losses, gradient clipping; the trainer also keeps the ordinary step under mixed precision, for
sequence context and in a DDP job). ``Trainer(fused=False)`` or ``NCF_FUSED=0`` turns fused
steps off. Measurements: ``benchmarks/bench_fused_step.py``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ncf.config import TrainConfig
from ncf.models.base import Model
from ncf.models.mf import MatrixFactorization
from ncf.nn.blocks import sparse_parameters
from ncf.training.objectives import BCE, BPR, Batch, Objective, Softmax, _Pairwise
from ncf.training.optim import RowAdagrad, RowAdam

__all__ = ["DenseRows", "FusedStep", "HandBPRStep", "HandSoftmaxStep", "RowAutogradStep", "RowUpdate",
           "fused_support", "make_fused_step"]

logger = logging.getLogger(__name__)


class RowUpdate:
    """Row-local update of one table: its row optimizer's ``update_rows``, or plain SGD."""

    def __init__(self, table: Tensor, optimizer: torch.optim.Optimizer) -> None:
        self.table = table
        self.optimizer = optimizer
        # the group's position, not the dict: load_state_dict (resume) replaces the dicts
        group = _group(optimizer, table)
        self.group_index = next(i for i, g in enumerate(optimizer.param_groups) if g is group)

    @torch.no_grad()
    def rows(self, idx: Tensor, grad: Tensor) -> None:
        """Update rows ``idx`` (unique) of the table with their summed gradients ``grad``."""
        opt = self.optimizer
        group = opt.param_groups[self.group_index]
        if isinstance(opt, RowAdam | RowAdagrad):
            opt.update_rows(self.table, idx, grad, group)
        else:  # plain SGD (checked by fused_support)
            self.table.index_add_(0, idx, grad.mul(-group["lr"]))

    @torch.no_grad()
    def add_rows(self, index: Tensor, grads: Tensor) -> None:
        """Sum the row gradients ``grads`` of rows ``index`` (repeats allowed) and update them."""
        uniq, inverse = torch.unique(index, return_inverse=True)
        summed = grads.new_zeros((uniq.shape[0], grads.shape[1])).index_add_(0, inverse, grads)
        self.rows(uniq, summed)


class DenseRows:
    """A dense table under an optimizer that moves every row (Adam, Adagrad, momentum): the batch's
    row gradients are added into a persistent ``.grad`` buffer, the optimizer steps as usual, and
    only the touched rows are zeroed again — the ordinary step's update without its zero-fill of
    the whole gradient each step (nor autograd's sum of one full-size gradient per lookup)."""

    def __init__(self, table: Tensor) -> None:
        self.table = table
        self.buffer = torch.zeros_like(table)
        self.touched: list[Tensor] = []

    @torch.no_grad()
    def rows(self, idx: Tensor, grad: Tensor) -> None:
        self.add_rows(idx, grad)

    @torch.no_grad()
    def add_rows(self, index: Tensor, grads: Tensor) -> None:
        self.buffer.index_add_(0, index, grads)
        self.touched.append(index)

    def attach(self) -> None:
        """Give the table its gradient (before the optimizer steps)."""
        self.table.grad = self.buffer

    @torch.no_grad()
    def clear(self) -> None:
        """Zero the rows this step touched (after the optimizer stepped)."""
        for index in self.touched:
            self.buffer.index_put_((index,), self.buffer.new_zeros(()))
        self.touched.clear()


def _group(optimizer: torch.optim.Optimizer, p: Tensor) -> dict[str, Any]:
    return next(g for g in optimizer.param_groups if any(q is p for q in g["params"]))


def _owner(p: Tensor, optimizers: Sequence[torch.optim.Optimizer]) -> torch.optim.Optimizer | None:
    owners = [o for o in optimizers if any(q is p for g in o.param_groups for q in g["params"])]
    return owners[0] if len(owners) == 1 else None


def _row_local(table: Tensor, opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt`` leaves rows without a gradient untouched (row optimizers, plain SGD)."""
    if isinstance(opt, RowAdam | RowAdagrad):
        return True
    if type(opt) is torch.optim.SGD:
        group = _group(opt, table)
        return bool(group["momentum"] == 0 and group["weight_decay"] == 0 and not group["maximize"])
    return False


def _tables(model: MatrixFactorization) -> list[Tensor]:
    tables = [model.user_embedding.weight, model.item_embedding.weight]
    if model.user_bias is not None and model.item_bias is not None:
        tables += [model.user_bias.weight, model.item_bias.weight]
    return tables


def _sparse_tables(model: MatrixFactorization) -> set[int]:
    return {id(p) for p in sparse_parameters(model).values()}


def fused_support(model: Model, objective: Objective, optimizers: Sequence[torch.optim.Optimizer],
                  config: TrainConfig) -> str | None:
    """Why a fused step cannot train ``model`` under ``objective`` and ``optimizers`` (None: it can)."""
    if type(model) is not MatrixFactorization:
        return f"no fused step for {type(model).__name__}"
    if type(objective) not in (BPR, BCE, Softmax):
        return f"no fused step for loss {objective.name!r}"
    if config.grad_clip is not None:
        return "gradient clipping needs the whole gradient"
    sparse = _sparse_tables(model)
    for table in _tables(model):
        opt = _owner(table, optimizers)
        if opt is None:
            return "a table is not in exactly one optimizer"
        if id(table) in sparse and not _row_local(table, opt):
            return f"{type(opt).__name__} on a sparse table"
    return None


class FusedStep(abc.ABC):
    """One training step of a batch: loss, gradients of the batch's rows, optimizer update."""

    def __init__(self, model: MatrixFactorization, objective: Objective,
                 optimizers: Sequence[torch.optim.Optimizer]) -> None:
        self.model = model
        self.objective = objective
        sparse = _sparse_tables(model)
        self.sinks: dict[int, RowUpdate | DenseRows] = {}
        for table in _tables(model):
            opt = _owner(table, optimizers)
            assert opt is not None
            # sparse tables and row-local optimizers: the rows alone; else the optimizer's own step
            row = id(table) in sparse or _row_local(table, opt)
            self.sinks[id(table)] = RowUpdate(table, opt) if row else DenseRows(table)
        self.dense_tables = [s for s in self.sinks.values() if isinstance(s, DenseRows)]
        row_ids = {i for i, s in self.sinks.items() if isinstance(s, RowUpdate)}
        # optimizers stepped as usual: those of dense tables and of other parameters (the global
        # bias); tables updated by rows never get a .grad, so such an optimizer leaves them alone
        self.stepped = [o for o in optimizers if any(id(q) not in row_ids for g in o.param_groups for q in g["params"])]
        self.others = [p for p in model.parameters() if p.requires_grad and id(p) not in self.sinks]

    def sink(self, table: Tensor) -> RowUpdate | DenseRows:
        return self.sinks[id(table)]

    def begin(self) -> None:
        """Before the gradients: the other parameters' gradients are cleared."""
        for p in self.others:
            p.grad = None

    def finish(self) -> None:
        """After every table's rows are in: step the ordinary optimizers, clear dense rows."""
        if not self.stepped:
            return
        for t in self.dense_tables:
            t.attach()
        for opt in self.stepped:
            opt.step()
        for t in self.dense_tables:
            t.clear()

    @abc.abstractmethod
    def __call__(self, batch: Batch) -> Tensor:
        """Train on ``batch``; returns its loss (a detached scalar)."""


class HandBPRStep(FusedStep):
    """MF (with or without biases, not cosine) under BPR or BCE: scores, loss and gradients by
    hand, no autograd graph.

    With biases the score is ``p . q + b_u + b_i + g`` and the L2 penalty is that of the
    objective on the model's vectors ``[p, 1, b_u + g]`` and ``[q, b_i, 1]``, constants included.
    """

    def __init__(self, model: MatrixFactorization, objective: Objective,
                 optimizers: Sequence[torch.optim.Optimizer]) -> None:
        super().__init__(model, objective, optimizers)
        if not isinstance(objective, BPR | BCE):
            raise TypeError("HandBPRStep trains BPR or BCE")
        if model.normalize:
            raise TypeError("HandBPRStep does not train cosine MF")
        self.pairwise: _Pairwise = objective
        self.bce = isinstance(objective, BCE)
        self._blocks: dict[tuple[int, ...], Tensor] = {}

    def _scratch(self, like: Tensor) -> Tensor:
        """A ``like``-shaped block reused by every step of that shape (the epoch's last batch may
        be shorter: a second one)."""
        key = tuple(like.shape)
        block = self._blocks.get(key)
        if block is None or block.dtype != like.dtype or block.device != like.device:
            block = self._blocks[key] = torch.empty_like(like)
        return block

    def _sink_items(self, table: Tensor, items: Tensor, neg_flat: Tensor, g_p: Tensor, g_n: Tensor) -> None:
        sink = self.sink(table)
        if isinstance(sink, DenseRows):  # no need of one index: two scatters, no copies
            sink.add_rows(items, g_p)
            sink.add_rows(neg_flat, g_n)
        else:
            sink.add_rows(torch.cat([items, neg_flat]), torch.cat([g_p, g_n]))

    @torch.no_grad()
    def __call__(self, batch: Batch) -> Tensor:
        users, items, negatives = batch.users, batch.items, batch.negatives
        if negatives is None:
            raise ValueError(f"{self.objective.name} needs sampled negatives (batch.negatives)")
        model = self.model
        wu, wi = model.user_embedding.weight, model.item_embedding.weight
        b, k = negatives.shape
        d = wu.shape[1]
        neg_flat = negatives.reshape(-1)
        u = wu.index_select(0, users)
        vp = wi.index_select(0, items)
        vn = wi.index_select(0, neg_flat).view(b, k, d)
        pos = (u * vp).sum(-1)
        # products and sums, not bmm (measured 1.5-3x slower at these shapes), in a scratch block
        # kept between steps: a fresh (B, k, d) temporary of megabytes each time made ML-100K epochs
        # (batch 1024, 8 negatives, d 128) swing between 0.4 and 1.4 s
        tmp = self._scratch(vn)
        neg = torch.mul(u.unsqueeze(1), vn, out=tmp).sum(-1)
        biased = model.user_bias is not None and model.item_bias is not None and model.global_bias is not None
        if biased:
            assert model.user_bias is not None and model.item_bias is not None and model.global_bias is not None
            bu = model.user_bias.weight.index_select(0, users).squeeze(1) + model.global_bias  # b_u + g
            bp = model.item_bias.weight.index_select(0, items).squeeze(1)
            bn = model.item_bias.weight.index_select(0, neg_flat).view(b, k)
            pos = pos + bu + bp
            neg = neg + bu.unsqueeze(1) + bn
        if self.bce:  # (sum softplus(-pos) + sum softplus(neg)) / (B (1 + k))
            scale = 1.0 / (b * (1 + k))
            loss = (torch.nn.functional.softplus(-pos).sum() + torch.nn.functional.softplus(neg).sum()) * scale
            g_pos = torch.sigmoid(pos).sub_(1.0).mul_(scale)
            g_neg = torch.sigmoid(neg).mul_(scale)
        else:  # mean softplus(neg - pos) over B k pairs
            diff = neg - pos.unsqueeze(1)
            loss = torch.nn.functional.softplus(diff).mean()
            g_neg = torch.sigmoid(diff).mul_(1.0 / (b * k))
            g_pos = -g_neg.sum(1)
        # d loss / d rows
        g_u = torch.mul(vn, g_neg.unsqueeze(2), out=tmp).sum(1).add_(vp * g_pos.unsqueeze(1))
        g_vp = u * g_pos.unsqueeze(1)
        g_vn = torch.mul(u.unsqueeze(1), g_neg.unsqueeze(2), out=tmp).view(b * k, d)  # consumed below
        l2 = self.pairwise.l2
        c = 2.0 * l2 / b
        if l2 > 0:
            loss = loss + l2 * (u.pow(2).sum() + vp.pow(2).sum() + vn.pow(2).sum() / k) / b
            g_u.add_(u, alpha=c)
            g_vp.add_(vp, alpha=c)
            g_vn.add_(vn.view(b * k, d), alpha=c / k)
        self.sink(wu).add_rows(users, g_u)
        self._sink_items(wi, items, neg_flat, g_vp, g_vn)
        if biased:
            assert model.user_bias is not None and model.item_bias is not None and model.global_bias is not None
            g_bu = g_pos + g_neg.sum(1)  # d loss / d (b_u + g), per row
            g_bp, g_bn = g_pos.clone(), g_neg.reshape(-1).clone()
            if l2 > 0:  # |[p, 1, b_u + g]|^2 and |[q, b_i, 1]|^2: the constant ones count in the loss
                loss = loss + l2 * (bu.pow(2).sum() + bp.pow(2).sum() + bn.pow(2).sum() / k + 2.0 * b + b) / b
                g_bu.add_(bu, alpha=c)
                g_bp.add_(bp, alpha=c)
                g_bn.add_(bn.reshape(-1), alpha=c / k)
            self.sink(model.user_bias.weight).add_rows(users, g_bu.unsqueeze(1))
            self._sink_items(model.item_bias.weight, items, neg_flat, g_bp.unsqueeze(1), g_bn.unsqueeze(1))
            model.global_bias.grad = g_bu.sum().reshape(model.global_bias.shape)
        self.finish()
        return loss


class HandSoftmaxStep(FusedStep):
    """MF without biases (cosine or not) under the in-batch softmax: loss and gradients by hand,
    over the batch's **distinct** candidate items.

    A candidate item held by ``c`` columns enters each row's softmax ``c`` times unless masked,
    so the logits over the distinct items carry ``+ log c`` (the row's own positive counts once:
    its other copies are hits), and accidental hits are placed straight from
    :meth:`PositiveSet.batch_hits <ncf.sampling.PositiveSet.batch_hits>`. The loss and gradients
    equal those of :class:`~ncf.training.objectives.Softmax` over all columns (to float
    rounding); the three products run in bfloat16 with ``bf16``, as autograd would run them.
    """

    def __init__(self, model: MatrixFactorization, objective: Objective,
                 optimizers: Sequence[torch.optim.Optimizer]) -> None:
        super().__init__(model, objective, optimizers)
        if not isinstance(objective, Softmax):
            raise TypeError("HandSoftmaxStep trains the in-batch softmax")
        if model.use_bias:
            raise TypeError("HandSoftmaxStep trains MF without biases")
        self.softmax: Softmax = objective

    @staticmethod
    def _rows(table: Tensor, index: Tensor, normalize: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """Distinct rows of ``index``, the inverse map, each one's count, their vectors and (cosine)
        their norms."""
        uniq, inverse, counts = torch.unique(index, return_inverse=True, return_counts=True)
        rows = table.index_select(0, uniq)
        if not normalize:
            return uniq, inverse, counts, rows, None
        norms = torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_min_(1e-12)  # F.normalize's eps
        return uniq, inverse, counts, rows.div_(norms), norms

    @torch.no_grad()
    def __call__(self, batch: Batch) -> Tensor:
        model, obj = self.model, self.softmax
        wu, wi = model.user_embedding.weight, model.item_embedding.weight
        b = len(batch)
        cols = obj.columns(batch)
        u_idx, u_inv, _, un, u_norm = self._rows(wu, batch.users, model.normalize)
        i_idx, i_inv, counts, vn, v_norm = self._rows(wi, cols, model.normalize)
        us = un.index_select(0, u_inv).mul_(1.0 / obj.temperature)  # (B, d): the rows' u / T
        log_count = counts.to(vn.dtype).log_()
        log_q = obj.log_q(batch, i_idx)
        bias = log_count if log_q is None else log_count - log_q  # per distinct item
        if obj.bf16:
            us_mm, v_mm = us.bfloat16(), vn.bfloat16()
            logits = torch.mm(us_mm, v_mm.T).float().add_(bias)
        else:
            us_mm, v_mm = us, vn
            logits = torch.addmm(bias.unsqueeze(0), us, vn.T)
        target = i_inv[:b].unsqueeze(1)  # each row's positive among the distinct items
        own = logits.gather(1, target).sub_(log_count.index_select(0, i_inv[:b]).unsqueeze(1))
        if obj.positives is not None:
            rows, hit_cols = obj.positives.batch_hits(batch.users, i_idx)
            logits.index_put_((rows, hit_cols), logits.new_tensor(float("-inf")))
        logits.scatter_(1, target, own)  # the positive counts once, never masked
        # torch's softmax runs row by row in cache (one pass over the logits where max, exp, sum
        # and divide took one each); the loss is -log p(positive), p floored at the smallest
        # normal float so that a row whose positive is that unlikely reports a finite loss (its
        # gradient is exact either way)
        grad = torch.softmax(logits, dim=1)
        loss = grad.gather(1, target).clamp_min_(torch.finfo(grad.dtype).tiny).log_().mean().neg_()
        grad.scatter_add_(1, target, grad.new_full((b, 1), -1.0))  # B x d loss / d logits
        g_mm = grad.bfloat16() if obj.bf16 else grad
        g_u = torch.mm(g_mm, v_mm).float().mul_(1.0 / (obj.temperature * b))  # d loss / d u, per row
        g_v = torch.mm(g_mm.T, us_mm).float().mul_(1.0 / b)  # d loss / d v, per distinct item
        if obj.l2 > 0:  # l2 (|u_b|^2 + |v_pos(b)|^2) / B
            c = 2.0 * obj.l2 / b
            pos = vn.index_select(0, i_inv[:b])
            loss = loss + obj.l2 * (us.pow(2).sum() * obj.temperature**2 + pos.pow(2).sum()) / b
            g_u.add_(us, alpha=c * obj.temperature)
            g_v.index_add_(0, i_inv[:b], pos, alpha=c)
        g_un = un.new_zeros(un.shape).index_add_(0, u_inv, g_u)
        self._apply(wu, u_idx, un, u_norm, g_un)
        self._apply(wi, i_idx, vn, v_norm, g_v)
        self.finish()
        return loss

    def _apply(self, table: Tensor, idx: Tensor, vectors: Tensor, norms: Tensor | None, grad: Tensor) -> None:
        """Hand the distinct rows' gradients to the table's sink, through the normalisation."""
        if norms is not None:  # d/dp of p / |p|: (g - n (n . g)) / |p|
            grad = grad.sub_(vectors * (vectors * grad).sum(1, keepdim=True)).div_(norms)
        self.sink(table).rows(idx, grad)


class _Gathered:
    """The rows of one table that a batch touches, as a leaf tensor that takes a gradient.

    ``unique``: each touched row once (autograd sums the gradients of its repeats: what a row
    optimizer needs); else one row per lookup (a dense ``.grad`` buffer sums them with
    ``index_add_``, so no sort is needed).
    """

    def __init__(self, table: Tensor, index: Tensor, *, unique: bool) -> None:
        self.table = table
        self.shape = index.shape
        flat = index.reshape(-1)
        self.inverse: Tensor | None = None
        if unique:
            self.rows_index, self.inverse = torch.unique(flat, return_inverse=True)
        else:
            self.rows_index = flat
        with torch.no_grad():
            self.rows = table.index_select(0, self.rows_index)
        self.rows.requires_grad_(True)

    def lookup(self) -> Tensor:
        """The rows at the batch's index, in its shape (differentiable w.r.t. :attr:`rows`)."""
        rows = self.rows if self.inverse is None else self.rows.index_select(0, self.inverse)
        return rows.view(*self.shape, self.table.shape[1])

    def apply(self, sink: RowUpdate | DenseRows) -> None:
        grad = self.rows.grad
        assert grad is not None
        if self.inverse is None:
            sink.add_rows(self.rows_index, grad)
        else:
            sink.rows(self.rows_index, grad)


class RowAutogradStep(FusedStep):
    """Any MF and BPR, BCE or in-batch softmax: autograd on the batch's unique rows only."""

    def _side(self, factors: Tensor, biases: Tensor | None, index: Tensor) -> tuple[list[_Gathered], Tensor, Tensor | None]:
        f = _Gathered(factors, index, unique=isinstance(self.sink(factors), RowUpdate))
        b = None if biases is None else _Gathered(biases, index, unique=isinstance(self.sink(biases), RowUpdate))
        return [f] if b is None else [f, b], f.lookup(), None if b is None else b.lookup()

    def __call__(self, batch: Batch) -> Tensor:
        model, objective = self.model, self.objective
        ub = None if model.user_bias is None else model.user_bias.weight
        ib = None if model.item_bias is None else model.item_bias.weight
        gathered, pu, bu = self._side(model.user_embedding.weight, ub, batch.users)
        u = model.user_vectors_from(pu, bu)
        if isinstance(objective, Softmax):
            cols = objective.columns(batch)
            g_items, qi, bi = self._side(model.item_embedding.weight, ib, cols)
            loss = objective.vector_loss(u, model.item_vectors_from(qi, bi), batch, cols)
        else:
            assert isinstance(objective, _Pairwise)
            negatives = batch.negatives
            if negatives is None:
                raise ValueError(f"{objective.name} needs sampled negatives (batch.negatives)")
            table = model.item_embedding.weight
            if isinstance(self.sink(table), DenseRows):  # separate leaves: no slicing (whose
                # backward zero-fills the whole block) and the buffer sums what both touch
                g_items, qp, bp = self._side(table, ib, batch.items)
                g_negs, qn, bn = self._side(table, ib, negatives)
                g_items += g_negs
                vp, vn = model.item_vectors_from(qp, bp), model.item_vectors_from(qn, bn)
            else:  # one leaf of unique rows: each row's summed gradient, one row update
                b = len(batch)
                g_items, qi, bi = self._side(table, ib, torch.cat([batch.items, negatives.reshape(-1)]))
                v = model.item_vectors_from(qi, bi)
                vp, vn = v[:b], v[b:].view(*negatives.shape, -1)
            loss = objective.vector_loss(u, vp, vn)
        self.begin()
        gathered += g_items
        torch.autograd.backward([loss])
        for g in gathered:
            g.apply(self.sink(g.table))
        self.finish()
        return loss.detach()


def make_fused_step(model: Model, objective: Objective, optimizers: Sequence[torch.optim.Optimizer],
                    config: TrainConfig, *, hand: bool = True) -> FusedStep | None:
    """The fused step for this model, loss and optimizers, or None (logged) when there is none.

    ``hand=False`` takes :class:`RowAutogradStep` wherever the model and optimizers allow (for
    measurements and tests); by default :class:`HandBPRStep` or :class:`HandSoftmaxStep` where
    one applies, and :class:`RowAutogradStep` on dense tables only where it is measured faster
    (:func:`_dense_rows_pay`).
    """
    problem = fused_support(model, objective, optimizers, config)
    if problem is not None:
        logger.debug("ordinary training step: %s", problem)
        return None
    assert isinstance(model, MatrixFactorization)
    if hand and isinstance(objective, BPR | BCE) and not model.normalize:
        logger.debug("fused training step: hand-written %s gradients of the batch's rows", objective.name)
        return HandBPRStep(model, objective, optimizers)
    step: FusedStep
    if hand and isinstance(objective, Softmax) and not model.use_bias:
        step = HandSoftmaxStep(model, objective, optimizers)
        kind = "hand-written in-batch softmax gradients of the batch's distinct rows"
    else:
        step = RowAutogradStep(model, objective, optimizers)
        kind = f"autograd on the batch's rows ({objective.name})"
    if hand and step.dense_tables and not _dense_rows_pay(model, config):
        logger.debug("ordinary training step: the tables are small against the batch's lookups")
        return None
    logger.debug("fused training step: %s", kind)
    return step


def _dense_rows_pay(model: MatrixFactorization, config: TrainConfig) -> bool:
    """Whether :class:`RowAutogradStep` on dense tables beats the ordinary step: when the tables
    hold more rows than a batch looks up. Measured (benchmarks/bench_fused_step.py, 2 threads):
    Gowalla (70,839 rows; batch 8192 x 4 negatives: 49,152 lookups) 15-20% faster; ML-100K
    (2,625 rows; batch 1024 x 8 negatives: 10,240 lookups) 10-20% slower. The hand-written step
    and row optimizers on sparse tables do not depend on it."""
    per_row = 2 + (config.num_negatives if config.loss in ("bpr", "bce") else 0)
    lookups = config.batch_size * per_row + (config.extra_negatives if config.loss == "softmax" else 0)
    return model.num_users + model.num_items > lookups
