"""Row-sparse optimizers agree with torch's reference implementations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ncf.training.optim import RowAdagrad, RowAdam


def _run(opt_factory, sparse: bool, steps: int = 5) -> torch.Tensor:
    torch.manual_seed(0)
    emb = nn.Embedding(20, 4, sparse=sparse)
    opt = opt_factory(emb.parameters())
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        idx = torch.randint(0, 20, (12,), generator=gen)  # repeated rows included
        loss = (emb(idx) ** 2).sum() + emb(idx).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return emb.weight.detach().clone()


def test_row_adam_matches_sparse_adam():
    ours = _run(lambda p: RowAdam(p, lr=0.01), sparse=True)
    ref = _run(lambda p: torch.optim.SparseAdam(list(p), lr=0.01), sparse=True)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_row_adagrad_matches_dense_adagrad_on_touched_rows():
    ours = _run(lambda p: RowAdagrad(p, lr=0.1), sparse=True, steps=1)
    ref = _run(lambda p: torch.optim.Adagrad(p, lr=0.1), sparse=False, steps=1)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factory", [lambda p: RowAdam(p, lr=0.01), lambda p: RowAdagrad(p, lr=0.1)])
def test_dense_gradients_also_work(factory):
    w = _run(factory, sparse=False)
    assert torch.isfinite(w).all()
