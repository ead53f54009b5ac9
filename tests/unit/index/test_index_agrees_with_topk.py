"""One rule for ``k`` beyond the catalogue: ``ncf.retrieval.topk`` (the exact path) and every
index kind return ``min(k, N)`` columns, each row ``min(k, available)`` items, then id -1 /
score -inf; with exclusions the two give the same ids in the same places."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from fake_models import FixedMF
from index_data import ALL_KINDS, WEAK, build

from ncf.retrieval import topk

USERS, ITEMS = 6, 30
EXACT_KINDS = ("exact", "flat")  # the others may order near-equal scores differently


def _exclusions() -> sp.csr_matrix:
    """User 0 nothing, 1 one item, 2 half, 3 all but 2, 4 every item, 5 all but 1."""
    rows = {0: [], 1: [7], 2: list(range(0, ITEMS, 2)), 3: list(range(2, ITEMS)), 4: list(range(ITEMS)),
            5: list(range(1, ITEMS))}
    r = np.concatenate([np.full(len(v), u) for u, v in rows.items()]).astype(np.int64)
    c = np.concatenate([np.asarray(v, dtype=np.int64) for v in rows.values()])
    return sp.csr_matrix((np.ones(r.size, dtype=bool), (r, c)), shape=(USERS, ITEMS))


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("k", [5, ITEMS - 1, ITEMS, ITEMS + 1, 1000, 10**15])
def test_exact_path_and_index_give_the_same_shape_and_ids(kind: str, k: int) -> None:
    model = FixedMF(USERS, ITEMS, dim=8, seed=3)
    users = np.arange(USERS)
    mask = _exclusions()
    exact = topk(model, users, k=k, exclude=mask, scan="float32")
    with torch.no_grad():
        vectors = model.user_vectors().numpy()
        items = model.item_vectors().numpy()
    index = build(kind, items, **WEAK[kind])  # weak settings: the exclusion fallback must still be exact
    seen = [mask.indices[mask.indptr[u]:mask.indptr[u + 1]].astype(np.int64) for u in users]
    found = index.search(vectors, k, exclude=seen)
    width = min(k, ITEMS)
    assert exact.ids.shape == exact.scores.shape == found.ids.shape == found.scores.shape == (USERS, width)
    available = ITEMS - np.diff(mask.indptr)
    for u in users:
        want = min(k, int(available[u]))
        for top in (exact, found):
            assert (top.ids[u, :want] >= 0).all() and (top.ids[u, want:] == -1).all()
            assert np.isneginf(top.scores[u, want:]).all() and np.isfinite(top.scores[u, :want]).all()
    if kind in EXACT_KINDS:  # the same ids in the same order (random float scores: no ties)
        np.testing.assert_array_equal(found.ids, exact.ids)
        np.testing.assert_allclose(found.scores, exact.scores, rtol=1e-4, atol=1e-4)
    elif k >= ITEMS:  # an approximate kind: every available item, in some order
        np.testing.assert_array_equal(np.sort(found.ids, axis=1), np.sort(exact.ids, axis=1))
    assert (exact.ids[4] == -1).all()  # everything excluded: a row of padding, not an error
