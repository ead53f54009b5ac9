"""Losses against naive per-element references, plus the logQ sign and accidental-hit masking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.losses import bce_loss, bpr_loss, in_batch_softmax_loss, mse_loss, softmax_loss


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


def _vecs(b: int, m: int = 0, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen), torch.randn(m, d, generator=gen)


def test_in_batch_matches_manual_logits() -> None:
    u, v, _ = _vecs(6)
    torch.testing.assert_close(in_batch_softmax_loss(u, v), softmax_loss(u @ v.T, torch.arange(6)))
    log_q = torch.log(torch.rand(6, generator=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(
        in_batch_softmax_loss(u, v, item_log_q=log_q), softmax_loss(u @ v.T, torch.arange(6), log_q=log_q)
    )


def test_in_batch_masks_duplicate_items_and_users() -> None:
    u, v, _ = _vecs(5)
    items = torch.tensor([3, 1, 3, 2, 1])
    dup = items[:, None] == items[None, :]
    expected = softmax_loss(u @ v.T, torch.arange(5), invalid=dup)
    torch.testing.assert_close(in_batch_softmax_loss(u, v, items=items), expected)
    users = torch.tensor([0, 0, 1, 2, 2])
    same = users[:, None] == users[None, :]
    torch.testing.assert_close(
        in_batch_softmax_loss(u, v, users=users), softmax_loss(u @ v.T, torch.arange(5), invalid=same)
    )
    acc = torch.zeros(5, 5, dtype=torch.bool)
    acc[0, 4] = True
    torch.testing.assert_close(
        in_batch_softmax_loss(u, v, items=items, accidental=acc),
        softmax_loss(u @ v.T, torch.arange(5), invalid=dup | acc),
    )


def test_in_batch_with_extra_negatives() -> None:
    u, v, e = _vecs(4, m=3)
    items = torch.tensor([5, 6, 7, 8])
    extra_items = torch.tensor([6, 9, 5])
    log_q = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    extra_log_q = torch.full((3,), math.log(0.1))
    got = in_batch_softmax_loss(
        u, v, items=items, item_log_q=log_q, extra_item_vecs=e, extra_log_q=extra_log_q, extra_items=extra_items
    )
    cols = torch.cat([items, extra_items])
    logits = u @ torch.cat([v, e]).T
    invalid = items[:, None] == cols[None, :]
    assert invalid[0, 6] and invalid[1, 4]
    expected = softmax_loss(logits, torch.arange(4), log_q=torch.cat([log_q, extra_log_q]), invalid=invalid)
    torch.testing.assert_close(got, expected)
    # without extra_items the extras are never masked
    torch.testing.assert_close(
        in_batch_softmax_loss(u, v, items=items, extra_item_vecs=e),
        softmax_loss(logits, torch.arange(4), invalid=torch.cat([invalid[:, :4], torch.zeros(4, 3, dtype=torch.bool)], 1)),
    )
    with pytest.raises(ValueError, match="both"):
        in_batch_softmax_loss(u, v, item_log_q=log_q, extra_item_vecs=e)
    with pytest.raises(ValueError):
        in_batch_softmax_loss(u, v, extra_log_q=extra_log_q)


def test_in_batch_gradients_finite() -> None:
    u, v, e = _vecs(8, m=4)
    u.requires_grad_(True)
    v.requires_grad_(True)
    items = torch.tensor([1, 1, 1, 2, 3, 3, 4, 5])  # many duplicates
    loss = in_batch_softmax_loss(u, v, items=items, extra_item_vecs=e, extra_items=torch.tensor([1, 2, 3, 4]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(u.grad).all() and torch.isfinite(v.grad).all()  # type: ignore[arg-type]
