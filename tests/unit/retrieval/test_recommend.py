"""recommend: top-k unseen items, scalar and batch, and the exclusion forms it accepts."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from fake_models import FixedMF

from ncf.data.interactions import Interactions
from ncf.errors import DataError
from ncf.retrieval import as_exclusion_matrix, recommend


def _train(num_users: int = 6, num_items: int = 15, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(num_users), 4)
    items = np.concatenate([rng.choice(num_items, 4, replace=False) for _ in range(num_users)])
    return Interactions.from_arrays(users, items, num_users=num_users, num_items=num_items)


def test_recommend_scalar_and_batch_exclude_seen_items() -> None:
    train = _train()
    model = FixedMF(6, 15, seed=9)
    ids, scores = recommend(model, 2, k=4, exclude=train)
    assert ids.shape == (4,) and scores.shape == (4,)
    assert not set(ids.tolist()) & set(train.items[train.users == 2].tolist())
    # the same as ranking by hand: every unseen item by score, best first
    full = (model.p[2] @ model.q.T).detach().numpy()
    full[train.items[train.users == 2]] = -np.inf
    np.testing.assert_array_equal(ids, np.argsort(-full, kind="stable")[:4])
    batch = recommend(model, [2, 3], k=4, exclude=train)
    assert batch.ids.shape == (2, 4)
    np.testing.assert_array_equal(batch.ids[0], ids)
    with pytest.raises(DataError):
        recommend(model, 6, k=3)


def test_short_rows_are_padded() -> None:
    train = _train(num_users=2, num_items=5)
    ids, scores = recommend(FixedMF(2, 5, seed=1), [0], k=3, exclude=train)
    assert (ids[0] == -1).sum() == 2 and np.isneginf(scores[0][ids[0] == -1]).all()


def test_exclusion_forms_agree() -> None:
    a, b = _train(seed=1), _train(seed=2)
    one = as_exclusion_matrix([a, b], (6, 15))
    mat = sp.csr_matrix((np.ones(len(a) + len(b)), (np.r_[a.users, b.users], np.r_[a.items, b.items])), shape=(6, 15))
    assert one is not None
    np.testing.assert_array_equal(one.toarray() > 0, mat.toarray() > 0)
    with pytest.raises(DataError, match="covers 6 users x 15 items"):
        as_exclusion_matrix(a, (7, 15))
    with pytest.raises(DataError, match="must be Interactions"):
        as_exclusion_matrix([np.zeros(3)], (6, 15))
