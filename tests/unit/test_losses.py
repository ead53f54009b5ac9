"""Losses against naive per-element references, plus the logQ sign and accidental-hit masking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.losses import (
    bce_loss,
    bpr_loss,
    in_batch_hits,
    in_batch_log_q,
    in_batch_softmax_loss,
    mse_loss,
    softmax_loss,
)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _ref_bpr(pos: np.ndarray, neg: np.ndarray) -> float:
    terms = [-math.log(_sigmoid(float(pos[b] - neg[b, j]))) for b in range(neg.shape[0]) for j in range(neg.shape[1])]
    return sum(terms) / len(terms)


def _ref_bce(pos: np.ndarray, neg: np.ndarray) -> float:
    terms = [-math.log(_sigmoid(float(p))) for p in pos]
    terms += [-math.log(1.0 - _sigmoid(float(n))) for n in neg.ravel()]
    return sum(terms) / len(terms)


def _ref_softmax(
    logits: np.ndarray, targets: np.ndarray, log_q: np.ndarray | None = None, invalid: np.ndarray | None = None
) -> float:
    total = 0.0
    for b in range(logits.shape[0]):
        row = [float(x) for x in logits[b]]
        if log_q is not None:
            q = log_q if log_q.ndim == 1 else log_q[b]
            row = [x - float(q[j]) for j, x in enumerate(row)]
        keep = [j for j in range(len(row)) if invalid is None or not invalid[b, j] or j == targets[b]]
        lse = math.log(sum(math.exp(row[j]) for j in keep))
        total += lse - float(row[int(targets[b])])
    return total / int(logits.shape[0])


scores = st.floats(-8, 8, allow_nan=False, width=32)


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 5), k=st.integers(1, 4), data=st.data())
def test_bpr_and_bce_match_reference(b: int, k: int, data: st.DataObject) -> None:
    pos = np.array(data.draw(st.lists(scores, min_size=b, max_size=b)), dtype=np.float32)
    neg = np.array(data.draw(st.lists(scores, min_size=b * k, max_size=b * k)), dtype=np.float32).reshape(b, k)
    p, n = torch.from_numpy(pos), torch.from_numpy(neg)
    assert bpr_loss(p, n).item() == pytest.approx(_ref_bpr(pos, neg), rel=1e-5, abs=1e-6)
    assert bce_loss(p, n).item() == pytest.approx(_ref_bce(pos, neg), rel=1e-5, abs=1e-6)


def test_one_negative_per_row_as_vector() -> None:
    pos, neg = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.0, 1.0, 3.0])
    assert torch.equal(bpr_loss(pos, neg), bpr_loss(pos, neg[:, None]))
    assert torch.equal(bce_loss(pos, neg), bce_loss(pos, neg[:, None]))
    with pytest.raises(ValueError):
        bpr_loss(pos, torch.zeros(2, 3))


def test_losses_are_stable_for_large_scores() -> None:
    pos = torch.tensor([200.0, -200.0], requires_grad=True)
    neg = torch.tensor([[-200.0], [200.0]], requires_grad=True)
    for fn in (bpr_loss, bce_loss):
        loss = fn(pos, neg)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()  # type: ignore[arg-type]


def test_mse_matches_reference() -> None:
    pred, target = torch.tensor([[1.0, 2.0], [0.0, -1.0]]), torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    assert mse_loss(pred, target).item() == pytest.approx((1 + 0 + 1 + 4) / 4)
    with pytest.raises(ValueError):
        mse_loss(pred, target[0])


def _random_case(b: int = 5, n: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, n, generator=gen) * 3, torch.randint(0, n, (b,), generator=gen)


def test_softmax_matches_reference() -> None:
    logits, targets = _random_case()
    gen = torch.Generator().manual_seed(1)
    log_q = torch.log(torch.rand(7, generator=gen) + 0.01)
    log_q_rows = torch.log(torch.rand(5, 7, generator=gen) + 0.01)
    invalid = torch.rand(5, 7, generator=gen) < 0.4
    ln, tn = logits.numpy(), targets.numpy()
    assert softmax_loss(logits, targets).item() == pytest.approx(_ref_softmax(ln, tn), rel=1e-5)
    assert softmax_loss(logits, targets, log_q=log_q).item() == pytest.approx(_ref_softmax(ln, tn, log_q.numpy()), rel=1e-5)
    assert softmax_loss(logits, targets, log_q=log_q_rows).item() == pytest.approx(
        _ref_softmax(ln, tn, log_q_rows.numpy()), rel=1e-5
    )
    got = softmax_loss(logits, targets, log_q=log_q, invalid=invalid).item()
    assert got == pytest.approx(_ref_softmax(ln, tn, log_q.numpy(), invalid.numpy()), rel=1e-5)


def test_logq_lowers_popular_items() -> None:
    # row 0's target is column 0; column 2 is a popular negative, column 1 a rare one
    logits = torch.tensor([[1.0, 0.5, 0.8]])
    target = torch.tensor([0])
    base = softmax_loss(logits, target)
    popular_neg = softmax_loss(logits, target, log_q=torch.log(torch.tensor([0.1, 0.1, 0.8])))
    assert popular_neg < base  # the popular negative's logit was lowered
    popular_target = softmax_loss(logits, target, log_q=torch.log(torch.tensor([0.8, 0.1, 0.1])))
    assert popular_target > base  # the correction applies to the target column too
    # a constant log_q shifts every logit equally: no change
    torch.testing.assert_close(softmax_loss(logits, target, log_q=torch.full((3,), -2.0)), base)
    # the corrected logits are exactly s - log q
    log_q = torch.log(torch.tensor([0.2, 0.3, 0.5]))
    torch.testing.assert_close(softmax_loss(logits, target, log_q=log_q), softmax_loss(logits - log_q, target))


def test_accidental_hits_equal_dropping_columns() -> None:
    logits, targets = _random_case(b=6, n=9, seed=3)
    invalid = torch.rand(6, 9, generator=torch.Generator().manual_seed(4)) < 0.5
    invalid[torch.arange(6), targets] = False
    masked = softmax_loss(logits, targets, invalid=invalid)
    per_row = []
    for b in range(6):
        keep = (~invalid[b]).nonzero().squeeze(1)
        new_target = int((keep == targets[b]).nonzero()[0, 0])
        per_row.append(torch.nn.functional.cross_entropy(logits[b, keep][None], torch.tensor([new_target])))
    torch.testing.assert_close(masked, torch.stack(per_row).mean())


def test_target_is_never_masked() -> None:
    logits, targets = _random_case()
    logits.requires_grad_(True)
    everything = torch.ones(5, 7, dtype=torch.bool)
    loss = softmax_loss(logits, targets, invalid=everything)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)  # only the target remains in each row
    loss.backward()
    assert torch.isfinite(logits.grad).all()  # type: ignore[arg-type]
    # marking the target alone changes nothing
    only_target = torch.zeros(5, 7, dtype=torch.bool)
    only_target[torch.arange(5), targets] = True
    torch.testing.assert_close(softmax_loss(logits, targets, invalid=only_target), softmax_loss(logits, targets))


def test_gradients_finite_with_mask_and_logq() -> None:
    logits, targets = _random_case(b=8, n=8, seed=7)
    logits.requires_grad_(True)
    invalid = torch.rand(8, 8, generator=torch.Generator().manual_seed(8)) < 0.7
    log_q = torch.log(torch.rand(8, generator=torch.Generator().manual_seed(9)) + 1e-3)
    softmax_loss(logits, targets, log_q=log_q, invalid=invalid).backward()
    grad = logits.grad
    assert grad is not None and torch.isfinite(grad).all()
    dropped = invalid.clone()
    dropped[torch.arange(8), targets] = False
    assert torch.all(grad[dropped] == 0)  # masked columns get no gradient


def test_softmax_shape_errors() -> None:
    logits, targets = _random_case()
    with pytest.raises(ValueError):
        softmax_loss(logits, targets[:3])
    with pytest.raises(ValueError):
        softmax_loss(logits, targets, log_q=torch.zeros(6))
    with pytest.raises(ValueError):
        softmax_loss(logits, targets, invalid=torch.zeros(5, 6, dtype=torch.bool))


def _ref_in_batch(
    u: np.ndarray,
    v: np.ndarray,
    items: np.ndarray | None = None,
    log_q: np.ndarray | None = None,
    accidental: np.ndarray | None = None,
    temperature: float = 1.0,
) -> float:
    """Row by row in float64: softmax of row b over the columns that are not a hit, target b."""
    b, n = u.shape[0], v.shape[0]
    total = 0.0
    for r in range(b):
        logits = []
        for c in range(n):
            s = float(np.dot(u[r].astype(np.float64), v[c].astype(np.float64))) / temperature
            if log_q is not None:
                s -= float(log_q[c])
            hit = c != r and (
                (items is not None and int(items[c]) == int(items[r])) or (accidental is not None and accidental[r, c])
            )
            if not hit:
                logits.append((c, s))
        m = max(s for _, s in logits)
        lse = m + math.log(sum(math.exp(s - m) for _, s in logits))
        total += lse - dict(logits)[r]
    return total / b


def _vecs(b: int, m: int = 0, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=gen), torch.randn(b + m, d, generator=gen)


def test_in_batch_matches_row_by_row_reference() -> None:
    u, v = _vecs(6, m=3)
    items = torch.tensor([3, 1, 3, 2, 1, 7, 1, 9, 3])  # repeats in the batch and among the extras
    log_q = torch.log(torch.rand(9, generator=torch.Generator().manual_seed(1)) + 0.05)
    acc = torch.rand(6, 9, generator=torch.Generator().manual_seed(2)) < 0.2
    un, vn = u.numpy(), v.numpy()
    cases = [
        ({}, {}),
        ({"items": items}, {"items": items.numpy()}),
        ({"log_q": log_q}, {"log_q": log_q.numpy()}),
        ({"accidental": acc}, {"accidental": acc.numpy()}),
        ({"temperature": 0.3}, {"temperature": 0.3}),
        (
            {"items": items, "log_q": log_q, "accidental": acc, "temperature": 0.5},
            {"items": items.numpy(), "log_q": log_q.numpy(), "accidental": acc.numpy(), "temperature": 0.5},
        ),
    ]
    for kwargs, ref_kwargs in cases:
        got = in_batch_softmax_loss(u, v, **kwargs).item()  # type: ignore[arg-type]
        assert got == pytest.approx(_ref_in_batch(un, vn, **ref_kwargs), rel=1e-5), kwargs  # type: ignore[arg-type]


def test_in_batch_masks_change_the_loss() -> None:
    # the reference would agree with a no-op mask if nothing were masked: make sure masking matters
    u, v = _vecs(5)
    items = torch.tensor([3, 1, 3, 2, 1])
    plain = in_batch_softmax_loss(u, v)
    assert in_batch_softmax_loss(u, v, items=items) < plain  # dropping columns lowers every row's loss
    assert in_batch_softmax_loss(u, v, items=torch.arange(5)) == plain  # no repeats: nothing masked


def test_in_batch_bf16_is_close_but_lower_precision() -> None:
    u, v = _vecs(64, m=16, d=32, seed=3)
    log_q = torch.log(torch.rand(80, generator=torch.Generator().manual_seed(4)) + 0.05)
    exact = in_batch_softmax_loss(u, v, log_q=log_q, temperature=0.2)
    bf16 = in_batch_softmax_loss(u, v, log_q=log_q, temperature=0.2, bf16=True)
    assert bf16.item() == pytest.approx(exact.item(), rel=2e-2)
    assert bf16.item() != exact.item()


def test_in_batch_log_q_is_the_expected_count() -> None:
    probs = torch.tensor([0.5, 0.25, 0.125, 0.125])
    torch.testing.assert_close(in_batch_log_q(probs, batch_size=8), torch.log(torch.tensor([4.0, 2.0, 1.0, 1.0])))
    # 10 uniform extras over 20 items add 0.5 to every column's expected count
    got = in_batch_log_q(probs, batch_size=8, num_extra=10, num_items=20, weight=0.5)
    torch.testing.assert_close(got, 0.5 * torch.log(torch.tensor([4.5, 2.5, 1.5, 1.5])))
    with pytest.raises(ValueError, match="num_items"):
        in_batch_log_q(probs, batch_size=8, num_extra=10)


def test_in_batch_hits() -> None:
    items = torch.tensor([3, 1, 3, 5, 1])  # 3 rows, 2 extras
    expected = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1], [1, 0, 1, 0, 0]], dtype=torch.bool)
    assert torch.equal(in_batch_hits(items, 3), expected)
    acc = torch.zeros(3, 5, dtype=torch.bool)
    acc[0, 3] = True
    assert torch.equal(in_batch_hits(items, 3, accidental=acc), expected | acc)
    with pytest.raises(ValueError):
        in_batch_hits(items, 6)


def test_in_batch_gradients_finite_with_duplicates() -> None:
    u, v = _vecs(8, m=4)
    u.requires_grad_(True)
    v.requires_grad_(True)
    items = torch.tensor([1, 1, 1, 2, 3, 3, 4, 5, 1, 2, 3, 4])  # many duplicates
    loss = in_batch_softmax_loss(u, v, items=items, log_q=torch.zeros(12))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(u.grad).all() and torch.isfinite(v.grad).all()  # type: ignore[arg-type]


def test_in_batch_shape_errors() -> None:
    u, v = _vecs(4, m=2)
    with pytest.raises(ValueError):
        in_batch_softmax_loss(u, v[:3])  # fewer candidates than rows
    with pytest.raises(ValueError):
        in_batch_softmax_loss(u, v, log_q=torch.zeros(4))
    with pytest.raises(ValueError):
        in_batch_softmax_loss(u, v, items=torch.arange(4))
    with pytest.raises(ValueError):
        in_batch_softmax_loss(u, v, accidental=torch.zeros(4, 4, dtype=torch.bool))
