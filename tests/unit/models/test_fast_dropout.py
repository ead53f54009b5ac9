"""FastDropout against its definition: drop rate, scaling, gradient, independence, seeding."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ncf.models import MLP, NeuMF
from ncf.nn.dropout import FastDropout, effective_p


def _sigma(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
def test_drop_rate_and_scale_match_the_definition(p: float) -> None:
    torch.manual_seed(0)
    x = torch.rand(1000, 1000) + 0.5  # no zeros: a zero in the output is a dropped element
    out = FastDropout(p)(x)
    dropped = out == 0
    rate = dropped.double().mean().item()
    q = effective_p(p)
    assert abs(q - p) <= 0.5 / 65536
    assert abs(rate - q) < 5 * _sigma(q, x.numel()), (rate, q)
    torch.testing.assert_close(out[~dropped], x[~dropped] / (1 - q))
    assert abs(out.mean().item() - x.mean().item()) < 0.01  # the expectation is the input


def test_neighbouring_elements_drop_independently() -> None:
    """Four elements share one 64-bit draw: their drops must still be independent (a lane read
    twice, or a missing top bit, would show here)."""
    torch.manual_seed(1)
    p = 0.5
    dropped = (FastDropout(p)(torch.ones(400_000, 4)) == 0).double()
    n = dropped.shape[0]
    for a in range(4):
        assert abs(dropped[:, a].mean().item() - p) < 5 * _sigma(p, n)
        for b in range(a + 1, 4):
            both = (dropped[:, a] * dropped[:, b]).mean().item()
            assert abs(both - p * p) < 5 * _sigma(p * p, n), (a, b, both)
    # every lane value is reachable at a small p too: p = 1/65536 drops about that share
    tiny = FastDropout(1 / 65536)(torch.ones(4_000_000)) == 0
    assert 20 < int(tiny.sum()) < 110  # expected 61


def test_gradient_is_the_mask_times_the_scale() -> None:
    torch.manual_seed(2)
    x = (torch.rand(300, 50) + 0.5).requires_grad_()
    out = FastDropout(0.3)(x)
    out.sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, (out != 0).float() / (1 - effective_p(0.3)))


def test_identity_in_eval_mode_and_at_p_zero_and_same_masks_for_the_same_seed() -> None:
    x = torch.randn(64, 32)
    drop = FastDropout(0.4)
    drop.eval()
    assert torch.equal(drop(x), x)
    assert torch.equal(FastDropout(0.0)(x), x)
    drop.train()
    torch.manual_seed(3)
    first = drop(x)
    torch.manual_seed(3)
    assert torch.equal(drop(x), first)
    assert not torch.equal(drop(x), first)


def test_towers_use_it_and_keep_the_plain_dropout_state() -> None:
    mlp = MLP(20, 30, embedding_dim=8, layers=(16, 8), dropout=0.2)
    neumf = NeuMF(20, 30, layers=(16, 8), dropout=0.2)
    for model in (mlp, neumf):
        drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
        assert drops and all(isinstance(m, FastDropout) for m in drops)
    assert set(NeuMF(20, 30, layers=(16, 8), dropout=0.0).state_dict()) == set(neumf.state_dict())
