"""Averaging row-sparse embedding gradients over the ranks of a DDP job, outside DDP's reducer.

With torch 2.13 and gloo, a model that mixes ``nn.Embedding(sparse=True)`` tables with dense
parameters (MF with biases: four sparse tables and a dense global bias) corrupts the heap
inside DDP's backward pass in about one run in ten (``malloc(): unaligned tcache chunk
detected``, or a segfault; reproduced with plain torch, no ncf code). So
:meth:`~ncf.training.distributed.DistributedContext.wrap` hides those tables from DDP and the
trainer calls :func:`all_reduce_sparse_gradients` after each backward pass: every rank's rows
and values are gathered with three ``all_gather`` calls of dense tensors (counts, row ids,
values of all tables packed together) and summed into one coalesced sparse gradient per table,
divided by the world size as DDP does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["all_reduce_sparse_gradients"]


def _all_gather_flat(out: Tensor, tensor: Tensor, group: dist.ProcessGroup | None) -> None:
    """Every rank's ``tensor`` concatenated into ``out`` (torch 2.13 renamed the call)."""
    gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
    gather(out, tensor, group=group)


def _rows(grad: Tensor | None, param: Tensor) -> tuple[Tensor, Tensor]:
    """The row ids ``(n,)`` and the flattened values ``(n * width,)`` of one sparse gradient."""
    if grad is None:
        return (torch.zeros(0, dtype=torch.long, device=param.device),
                torch.zeros(0, dtype=param.dtype, device=param.device))
    g = grad.coalesce()
    return g.indices()[0], g.values().reshape(-1)


def all_reduce_sparse_gradients(params: Sequence[Tensor], world_size: int,
                                group: dist.ProcessGroup | None = None) -> None:
    """Replace each parameter's gradient by its mean over the ranks (every rank calls this).

    Sparse gradients (and missing ones, as empty) are gathered row-wise; a dense gradient on
    such a parameter (a model that read the whole table) is all-reduced as it is. Every rank
    must pass the same parameters in the same order, with the same gradient layouts.
    """
    sparse = [p for p in params if p.grad is None or p.grad.is_sparse]
    for p in params:
        if p.grad is not None and not p.grad.is_sparse:
            dist.all_reduce(p.grad, group=group)
            p.grad.div_(world_size)
    if not sparse or world_size == 1:
        return
    device = sparse[0].device
    widths = torch.tensor([p[0].numel() if p.dim() > 1 else 1 for p in sparse], dtype=torch.long, device=device)
    parts = [_rows(p.grad, p) for p in sparse]
    counts = torch.tensor([len(ids) for ids, _ in parts], dtype=torch.long, device=device)
    all_counts = torch.empty(world_size * len(sparse), dtype=torch.long, device=device)
    _all_gather_flat(all_counts, counts, group=group)
    all_counts = all_counts.view(world_size, len(sparse))
    num_ids = int(all_counts.sum(1).max())
    num_values = int((all_counts * widths).sum(1).max())
    ids = torch.zeros(num_ids, dtype=torch.long, device=device)
    values = torch.zeros(num_values, dtype=sparse[0].dtype, device=device)
    local_ids = torch.cat([i for i, _ in parts])
    local_values = torch.cat([v for _, v in parts])
    ids[: len(local_ids)] = local_ids
    values[: len(local_values)] = local_values
    all_ids = torch.empty(world_size * num_ids, dtype=torch.long, device=device)
    all_values = torch.empty(world_size * num_values, dtype=values.dtype, device=device)
    _all_gather_flat(all_ids, ids, group=group)
    _all_gather_flat(all_values, values, group=group)
    all_ids, all_values = all_ids.view(world_size, num_ids), all_values.view(world_size, num_values)
    counts_l = all_counts.tolist()  # (world, tables) as Python ints: slicing below needs no tensor reads
    widths_l = widths.tolist()
    id_start = (torch.cumsum(all_counts, 1) - all_counts).tolist()  # where each table's rows begin
    value_start = (torch.cumsum(all_counts * widths, 1) - all_counts * widths).tolist()
    for t, p in enumerate(sparse):
        width = widths_l[t]
        rows = [all_ids[r, id_start[r][t]: id_start[r][t] + counts_l[r][t]] for r in range(world_size)]
        vals = [all_values[r, value_start[r][t]: value_start[r][t] + counts_l[r][t] * width]
                for r in range(world_size)]
        row_ids = torch.cat(rows)
        if row_ids.numel() == 0:
            p.grad = None
            continue
        dense_shape = p.shape
        v = torch.cat(vals).reshape(len(row_ids), *dense_shape[1:]) / world_size
        p.grad = torch.sparse_coo_tensor(row_ids[None], v, dense_shape, check_invariants=False).coalesce()
