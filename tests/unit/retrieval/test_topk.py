"""Exact top-k: masking, -1 padding, chunking, factorized == generic, vs a naive argsort."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from fake_models import FixedMF
from torch import Tensor, nn

from ncf.errors import ConfigError, DataError, NCFError
from ncf.models.base import Model, is_factorized
from ncf.retrieval import TopK, topk


class Unfactorized(Model):
    """The same scores through the generic (non-factorized) path."""

    name = "unfactorized-topk"

    def __init__(self, inner: FixedMF) -> None:
        super().__init__(inner.num_users, inner.num_items)
        self.inner = inner

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        return self.inner.score(users, items)

    def get_config(self) -> dict[str, Any]:
        return {}


class TinyMLP(Model):
    """A nonlinear scorer (concatenated embeddings through a tanh layer)."""

    name = "tiny-mlp-topk"

    def __init__(self, num_users: int, num_items: int, dim: int = 4, seed: int = 0) -> None:
        super().__init__(num_users, num_items)
        g = torch.Generator().manual_seed(seed)
        self.p = nn.Parameter(torch.randn(num_users, dim, generator=g))
        self.q = nn.Parameter(torch.randn(num_items, dim, generator=g))
        self.w1 = nn.Parameter(torch.randn(2 * dim, 6, generator=g))
        self.w2 = nn.Parameter(torch.randn(6, generator=g))
        self.drop = nn.Dropout(0.5)  # must be inactive during ranking

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        users, items = torch.broadcast_tensors(users, items)
        x = torch.cat([self.p[users], self.q[items]], dim=-1)
        return self.drop(torch.tanh(x @ self.w1)) @ self.w2

    def get_config(self) -> dict[str, Any]:
        return {}


def naive_topk(
    model: Model, users: np.ndarray, k: int, exclude: sp.csr_matrix | None
) -> TopK:
    """Per-user loop: score every item, drop excluded ones, argsort descending."""
    model.eval()
    ids = np.full((users.size, k), -1, dtype=np.int64)
    scores = np.full((users.size, k), -np.inf, dtype=np.float32)
    with torch.no_grad():
        for row, u in enumerate(users):
            s = model.score(torch.tensor([int(u)]), torch.arange(model.num_items)).numpy()
            keep = np.ones(model.num_items, bool)
            if exclude is not None:
                keep[exclude[int(u)].indices] = False
            cand = np.flatnonzero(keep)
            order = cand[np.argsort(-s[cand], kind="stable")][:k]
            ids[row, : order.size] = order
            scores[row, : order.size] = s[order]
    return TopK(ids, scores)


def random_exclude(num_users: int, num_items: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((num_users, num_items)) < density).astype(np.float32))


@pytest.mark.parametrize("model_cls", ["mf", "unfactorized", "mlp"])
def test_matches_naive_reference(model_cls: str) -> None:
    mf = FixedMF(13, 37, seed=1)
    model: Model = {"mf": mf, "unfactorized": Unfactorized(mf), "mlp": TinyMLP(13, 37)}[
        model_cls
    ]
    exclude = random_exclude(13, 37, 0.3, seed=2)
    users = np.array([0, 5, 12, 5, 3])
    got = topk(model, users, k=6, exclude=exclude)
    ref = naive_topk(model, users, 6, exclude)
    np.testing.assert_array_equal(got.ids, ref.ids)
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-5, atol=1e-6)
    assert got.ids.dtype == np.int64 and got.scores.dtype == np.float32


def test_factorized_path_equals_generic_path() -> None:
    mf = FixedMF(20, 50, seed=3)
    assert is_factorized(mf) and not is_factorized(Unfactorized(mf))
    exclude = random_exclude(20, 50, 0.2, seed=4)
    users = np.arange(20)
    a = topk(mf, users, k=10, exclude=exclude)
    b = topk(Unfactorized(mf), users, k=10, exclude=exclude, item_batch_size=7)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size,item_batch_size", [(1, 1), (3, 5), (7, 100), (None, 2)])
def test_chunked_equals_unchunked(batch_size: int | None, item_batch_size: int) -> None:
    exclude = random_exclude(11, 23, 0.25, seed=5)
    users = np.arange(11)
    for model in (FixedMF(11, 23, seed=6), TinyMLP(11, 23, seed=7)):
        whole = topk(model, users, k=8, exclude=exclude, batch_size=1000)
        part = topk(
            model,
            users,
            k=8,
            exclude=exclude,
            batch_size=batch_size,
            item_batch_size=item_batch_size,
        )
        np.testing.assert_array_equal(whole.ids, part.ids)
        np.testing.assert_allclose(whole.scores, part.scores, rtol=1e-5, atol=1e-6)


def test_masked_items_never_returned_and_short_rows_padded() -> None:
    model = FixedMF(3, 6, seed=8)
    dense = np.zeros((3, 6), np.float32)
    dense[0, [0, 1, 2, 3]] = 1  # user 0 keeps items 4 and 5
    dense[1, :] = 1  # user 1 has nothing left
    ids, scores = topk(model, np.arange(3), k=4, exclude=sp.csr_matrix(dense))
    assert set(ids[0, :2].tolist()) == {4, 5}
    assert ids[0, 2:].tolist() == [-1, -1] and np.all(np.isneginf(scores[0, 2:]))
    assert ids[1].tolist() == [-1] * 4 and np.all(np.isneginf(scores[1]))
    assert -1 not in ids[2].tolist()
    assert np.all(np.diff(scores[2]) <= 0)


def test_k_larger_than_catalogue_is_clamped_to_it() -> None:
    model = FixedMF(2, 3, seed=9)
    for k in (5, 10**15):  # never an allocation of k columns (10**15: petabytes)
        ids, scores = topk(model, [0, 1], k=k)
        assert ids.shape == scores.shape == (2, 3)
        assert sorted(ids[0].tolist()) == [0, 1, 2] and np.isfinite(scores).all()


def test_empty_users_and_unpacking() -> None:
    top = topk(FixedMF(2, 3), np.array([], dtype=np.int64), k=2)
    ids, scores = top
    assert ids.shape == (0, 2) and scores.shape == (0, 2)
    assert top.ids is ids


@pytest.mark.parametrize("was_training", [True, False])
def test_restores_training_mode(was_training: bool) -> None:
    model = TinyMLP(4, 9)
    model.train(was_training)
    a = topk(model, np.arange(4), k=3)
    b = topk(model, np.arange(4), k=3)  # dropout off while ranking -> deterministic
    np.testing.assert_array_equal(a.ids, b.ids)
    assert model.training is was_training


def test_bad_arguments() -> None:
    model = FixedMF(4, 5)
    with pytest.raises(ConfigError):
        topk(model, [0], k=0)
    with pytest.raises(ConfigError):
        topk(model, [0], k=2, batch_size=0)
    with pytest.raises(DataError):
        topk(model, [4], k=2)
    with pytest.raises(DataError):
        topk(model, [[0]], k=2)
    with pytest.raises(DataError):
        topk(model, [0], k=2, exclude=sp.csr_matrix((4, 6)))


def test_nan_scores_raise() -> None:
    model = FixedMF(2, 4)
    with torch.no_grad():
        model.q[1, 0] = float("nan")
    with pytest.raises(NCFError, match="NaN"):
        topk(model, [0, 1], k=2)
