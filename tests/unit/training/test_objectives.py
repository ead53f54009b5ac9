"""Objectives against naive references computed pair by pair with ``model.score``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ncf import FPMC, GMF, MLP, MatrixFactorization, NeuMF, TrainConfig
from ncf.data.interactions import Interactions
from ncf.data.sequences import previous_items
from ncf.data.synthetic import synthetic
from ncf.sampling import PositiveSet, item_log_frequency
from ncf.training.objectives import BCE, BPR, MSE, Batch, Softmax, make_objective


@pytest.fixture(scope="module")
def train() -> Interactions:
    return synthetic(num_users=60, num_items=40, seed=2).interactions


def _batch(train: Interactions, b: int = 24, k: int = 3, m: int = 0, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(train), b, replace=False)
    return Batch(
        users=torch.from_numpy(train.users[rows]),
        items=torch.from_numpy(train.items[rows]),
        negatives=torch.from_numpy(rng.integers(0, train.num_items, (b, k))),
        extra=torch.from_numpy(rng.integers(0, train.num_items, m)) if m else None,
    )


def _score(model: torch.nn.Module, user: int, item: int) -> float:
    return float(model.score(torch.tensor([user]), torch.tensor([item]))[0])  # type: ignore[operator]


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _ref_pairwise(model: torch.nn.Module, batch: Batch, loss: str) -> float:
    assert batch.negatives is not None
    b, k = batch.negatives.shape
    terms, pos_terms = [], []
    for r in range(b):
        u = int(batch.users[r])
        sp = _score(model, u, int(batch.items[r]))
        pos_terms.append(_softplus(-sp))
        for j in range(k):
            sn = _score(model, u, int(batch.negatives[r, j]))
            terms.append(_softplus(sn - sp) if loss == "bpr" else _softplus(sn))
    if loss == "bpr":
        return sum(terms) / len(terms)
    return (sum(pos_terms) + sum(terms)) / (b * (1 + k))


def _ref_l2(model: MatrixFactorization, batch: Batch, with_negatives: bool) -> float:
    """sum over rows of |u|^2 + |v_pos|^2 (+ mean over the row's negatives of |v_neg|^2), / B."""
    total = 0.0
    for r in range(len(batch)):
        u = model.user_vectors(batch.users[r : r + 1])[0]
        total += float(u.pow(2).sum()) + float(model.item_vectors(batch.items[r : r + 1])[0].pow(2).sum())
        if with_negatives:
            assert batch.negatives is not None
            negs = model.item_vectors(batch.negatives[r])
            total += float(negs.pow(2).sum()) / negs.shape[0]
    return total / len(batch)


@pytest.mark.parametrize("loss", ["bpr", "bce"])
def test_pairwise_factorized_matches_reference(train: Interactions, loss: str) -> None:
    torch.manual_seed(0)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)
    batch = _batch(train)
    objective = BPR() if loss == "bpr" else BCE()
    with torch.no_grad():
        ref = _ref_pairwise(model, batch, loss)
        assert objective(model, batch).item() == pytest.approx(ref, rel=1e-5)
        reg = _ref_l2(model, batch, with_negatives=True)
        got = (BPR(l2=0.1) if loss == "bpr" else BCE(l2=0.1))(model, batch).item()
    assert reg > 0
    assert got == pytest.approx(ref + 0.1 * reg, rel=1e-5)


@pytest.mark.parametrize("model_cls", [NeuMF, MLP])
def test_pairwise_non_factorized_matches_reference(train: Interactions, model_cls: type) -> None:
    torch.manual_seed(0)
    model = model_cls(train.num_users, train.num_items)
    batch = _batch(train, k=4, seed=1)
    with torch.no_grad():
        for loss, objective in (("bpr", BPR()), ("bce", BCE(l2=0.5))):  # l2 is for vectors: ignored here
            assert objective(model, batch).item() == pytest.approx(_ref_pairwise(model, batch, loss), rel=1e-5)


def _ref_softmax(
    model: torch.nn.Module, batch: Batch, probs: torch.Tensor | None, positives: PositiveSet | None,
    temperature: float, num_items: int, logq_weight: float = 1.0,
) -> float:
    """Row by row: logits s/T - w log(B p + M / n) over the candidates that are no hit of the row."""
    cols = [int(i) for i in batch.items] + ([] if batch.extra is None else [int(i) for i in batch.extra])
    b, m = len(batch), len(cols) - len(batch)
    total = 0.0
    for r in range(b):
        user, own = int(batch.users[r]), int(batch.items[r])
        logits = []
        for c, item in enumerate(cols):
            hit = item == own or (positives is not None and bool(positives.contains(user, item)))
            if c != r and hit:
                continue
            s = _score(model, user, item) / temperature
            if probs is not None:
                s -= logq_weight * math.log(b * float(probs[item]) + m / num_items)
            logits.append((c, s))
        top = max(s for _, s in logits)
        lse = top + math.log(sum(math.exp(s - top) for _, s in logits))
        total += lse - dict(logits)[r]
    return total / b


@pytest.mark.parametrize("extra", [0, 5])
def test_softmax_factorized_matches_reference(train: Interactions, extra: int) -> None:
    torch.manual_seed(0)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)
    batch = _batch(train, b=32, m=extra, seed=2)
    probs = torch.from_numpy(item_log_frequency(train)).exp()
    positives = PositiveSet(train)
    with torch.no_grad():
        got = Softmax(probs, temperature=0.3, logq_weight=0.8, positives=positives)(model, batch).item()
        ref = _ref_softmax(model, batch, probs, positives, 0.3, train.num_items, logq_weight=0.8)
        assert got == pytest.approx(ref, rel=1e-5)
        # without the correction and the positives, only repeats of the row's own item are masked
        got = Softmax(probs, temperature=0.3, logq=False)(model, batch).item()
        assert got == pytest.approx(_ref_softmax(model, batch, None, None, 0.3, train.num_items), rel=1e-5)
        # bfloat16 logits: the same loss to bfloat16 precision, but really computed in it
        bf16 = Softmax(probs, temperature=0.3, logq_weight=0.8, positives=positives, bf16=True)(model, batch).item()
        assert bf16 == pytest.approx(ref, rel=2e-2) and bf16 != ref
        # the penalty: user and positive vectors, per row
        l2 = Softmax(probs, temperature=0.3, logq_weight=0.8, positives=positives, l2=0.1)(model, batch).item()
        assert l2 == pytest.approx(ref + 0.1 * _ref_l2(model, batch, with_negatives=False), rel=1e-5)


def test_softmax_masks_other_positives_of_the_user(train: Interactions) -> None:
    torch.manual_seed(0)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=8)
    batch = _batch(train, b=32, seed=3)
    probs = torch.from_numpy(item_log_frequency(train)).exp()
    with torch.no_grad():
        masked = Softmax(probs, positives=PositiveSet(train))(model, batch).item()
        unmasked = Softmax(probs)(model, batch).item()
    assert masked != pytest.approx(unmasked)  # the batch holds other positives of its users


@pytest.mark.parametrize("model_cls", [NeuMF, GMF])
def test_softmax_of_any_model_matches_reference(train: Interactions, model_cls: type) -> None:
    torch.manual_seed(0)
    model = model_cls(train.num_users, train.num_items)
    batch = _batch(train, b=20, m=4, seed=4)
    probs = torch.from_numpy(item_log_frequency(train)).exp()
    positives = PositiveSet(train)
    with torch.no_grad():
        got = Softmax(probs, temperature=0.5, positives=positives)(model, batch).item()
        ref = _ref_softmax(model, batch, probs, positives, 0.5, train.num_items)
    assert got == pytest.approx(ref, rel=1e-5)


def _sequences() -> tuple[Interactions, np.ndarray]:
    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(20), 6)
    items = rng.integers(0, 30, users.size)
    times = np.tile(np.arange(6), 20)
    data = Interactions(users, items, 20, 30, times, rng.integers(1, 6, users.size).astype(np.float32))
    return data, previous_items(data)


def test_sequence_aware_rows_are_scored_after_their_previous_item() -> None:
    data, prev = _sequences()
    torch.manual_seed(0)
    model = FPMC(20, 30, embedding_dim=4)
    model.set_context(data)  # the context a batch without previous items would use
    users, items = torch.tensor(data.users[:12]), torch.tensor(data.items[:12])
    previous = torch.tensor(prev[:12])
    negs = torch.randint(0, 30, (12, 2), generator=torch.Generator().manual_seed(0))
    ratings = torch.tensor(data.weights[:12])  # type: ignore[index]
    with torch.no_grad():
        pos = model.score_in_context(users, items, previous)
        neg = model.score_in_context(users[:, None], negs, previous[:, None])
        ref = torch.nn.functional.softplus(neg - pos[:, None]).mean().item()
        got = BPR()(model, Batch(users, items, negatives=negs, previous=previous)).item()
        assert got == pytest.approx(ref, rel=1e-5)
        assert got != pytest.approx(BPR()(model, Batch(users, items, negatives=negs)).item())
        mse = MSE()(model, Batch(users, items, ratings=ratings, previous=previous)).item()
        assert mse == pytest.approx(((pos - ratings) ** 2).mean().item(), rel=1e-5)


def test_previous_items_need_a_sequence_aware_model(train: Interactions) -> None:
    model = MatrixFactorization(train.num_users, train.num_items)
    batch = _batch(train)
    with pytest.raises(ValueError, match="sequence-aware"):
        BPR()(model, Batch(batch.users, batch.items, negatives=batch.negatives, previous=batch.items))


def test_mse_matches_reference(train: Interactions) -> None:
    torch.manual_seed(0)
    model = GMF(train.num_users, train.num_items, embedding_dim=4)
    batch = _batch(train)
    ratings = torch.linspace(1, 5, len(batch))
    with torch.no_grad():
        ref = sum((_score(model, int(u), int(i)) - float(r)) ** 2
                  for u, i, r in zip(batch.users, batch.items, ratings, strict=True)) / len(batch)
        got = MSE()(model, Batch(batch.users, batch.items, ratings=ratings)).item()
    assert got == pytest.approx(ref, rel=1e-5)


def test_missing_batch_fields_are_errors(train: Interactions) -> None:
    model = MatrixFactorization(train.num_users, train.num_items)
    batch = Batch(torch.tensor([0, 1]), torch.tensor([2, 3]))
    with pytest.raises(ValueError, match="negatives"):
        BPR()(model, batch)
    with pytest.raises(ValueError, match="ratings"):
        MSE()(model, batch)
    with pytest.raises(ValueError):
        BPR(l2=-1.0)


def test_make_objective_follows_the_config(train: Interactions) -> None:
    assert isinstance(make_objective(TrainConfig(loss="bpr", l2=0.1), train), BPR)
    assert make_objective(TrainConfig(loss="bce", l2=0.1), train).l2 == 0.1  # type: ignore[attr-defined]
    assert isinstance(make_objective(TrainConfig(loss="mse"), train), MSE)
    cfg = TrainConfig(loss="softmax", temperature=0.2, logq_weight=0.5, softmax_bf16=True,
                      remove_accidental_hits=False)
    soft = make_objective(cfg, train)
    assert isinstance(soft, Softmax)
    assert (soft.temperature, soft.logq_weight, soft.bf16, soft.positives) == (0.2, 0.5, True, None)
    expected = torch.from_numpy(np.bincount(train.items, minlength=train.num_items) / len(train)).float()
    torch.testing.assert_close(soft.item_probs, expected)
    assert "Softmax(" in repr(soft)
