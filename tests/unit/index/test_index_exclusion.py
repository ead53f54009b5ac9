"""Exclusion and allow-lists with a guarantee: min(k, available) valid, distinct, sorted items.

Approximate kinds run with deliberately weak settings (``WEAK``), so that their search misses
items and the shared over-fetch / ask-again / exact-fallback logic in ``Index.search`` has to
keep the promise.
"""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from index_data import (
    ALL_KINDS,
    WEAK,
    brute_force,
    build,
    clustered_vectors,
    needs_faiss,
    random_vectors,
)

import ncf.index.base as base
from ncf.errors import DataError
from ncf.index import ExactIndex, Index

EXACT_KINDS = ("exact", "flat")


def sets_from(rows: list[set[int]], form: str, num: int, n: int) -> Any:
    """The same per-query id sets in one of the accepted forms."""
    if form == "csr":
        r = np.repeat(np.arange(num), [len(s) for s in rows])
        c = np.array([i for s in rows for i in sorted(s)], dtype=np.int64)
        return sp.csr_matrix((np.ones(r.size, np.float32), (r, c)), shape=(num, n))
    if form == "lists":
        return [np.array(sorted(s), dtype=np.int64) for s in rows]
    raise AssertionError(form)


def check_guarantee(
    index: Index,
    top: Any,
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    denied: list[set[int]],
    allowed: list[set[int] | None],
) -> None:
    """Every row: min(k, available) distinct valid items, best first, then -1 / -inf padding."""
    n = len(vectors)
    ids, scores = top
    assert ids.shape == scores.shape == (len(queries), min(k, n))
    for row in range(len(queries)):
        avail = set(range(n)) - denied[row]
        if allowed[row] is not None:
            avail &= allowed[row]  # type: ignore[operator]
        want = min(k, len(avail))
        got = ids[row, :want]
        assert (got >= 0).all(), (row, ids[row], want)
        assert (ids[row, want:] == -1).all() and np.isneginf(scores[row, want:]).all()
        assert np.isfinite(scores[row, :want]).all()
        assert len(set(got.tolist())) == want, "repeated items"
        assert set(got.tolist()) <= avail, "excluded or disallowed items"
        assert (np.diff(scores[row, :want]) <= 1e-6).all(), "not sorted best first"
    if index.kind in EXACT_KINDS:
        ref_ids, ref_scores = brute_force(vectors, queries, k, metric=index.metric, exclude=denied, allow=allowed)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ALL_KINDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_property_exclusion_and_allow_guarantee(kind: str, data: st.DataObject) -> None:
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    n = data.draw(st.integers(20, 160), label="n")
    d = data.draw(st.sampled_from([4, 8]), label="d")
    num = data.draw(st.integers(1, 6), label="queries")
    k = data.draw(st.integers(1, 40), label="k")
    metric = data.draw(st.sampled_from(["dot", "cosine"]), label="metric")
    deny_share = data.draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), label="deny share")
    deny_form = data.draw(st.sampled_from(["none", "csr", "lists", "shared"]), label="deny form")
    allow_form = data.draw(st.sampled_from(["none", "shared", "lists", "csr", "lists+none"]), label="allow form")
    allow_share = data.draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]), label="allow share")
    searched_allow = data.draw(st.booleans(), label="search large allow-lists")
    rng = np.random.default_rng(seed)
    vectors = (clustered_vectors if seed % 2 else random_vectors)(n, d, seed)
    queries = random_vectors(num, d, seed + 1)

    denied: list[set[int]] = [set() for _ in range(num)]
    exclude: Any = None
    if deny_form == "shared":
        shared = rng.choice(n, size=int(deny_share * n), replace=False)
        exclude = shared
        denied = [set(shared.tolist()) for _ in range(num)]
    elif deny_form != "none":
        denied = [set(np.flatnonzero(rng.random(n) < deny_share).tolist()) for _ in range(num)]
        exclude = sets_from(denied, deny_form, num, n)

    allowed: list[set[int] | None] = [None] * num
    allow: Any = None
    if allow_form == "shared":
        shared = rng.choice(n, size=int(allow_share * n), replace=False)
        allow = shared.tolist()  # a plain list of ints: one allow-list for every query
        allowed = [set(allow) for _ in range(num)]
    elif allow_form != "none":
        allowed = [set(np.flatnonzero(rng.random(n) < allow_share).tolist()) for _ in range(num)]
        if allow_form == "lists+none":
            allowed[0] = None
            allow = [None if s is None else np.array(sorted(s), dtype=np.int64) for s in allowed]
        else:
            allow = sets_from([s or set() for s in allowed], allow_form, num, n)

    index = build(kind, vectors, metric, **WEAK[kind])
    limit, share = (0, 0.0) if searched_allow else (base.ALLOW_SCAN_MAX, base.ALLOW_SCAN_SHARE)
    with mock.patch.multiple(base, ALLOW_SCAN_MAX=limit, ALLOW_SCAN_SHARE=share):
        top = index.search(queries, k, exclude=exclude, allow=allow)
    check_guarantee(index, top, vectors, queries, k, denied, allowed)


@needs_faiss
def test_excluding_what_the_search_finds_falls_back_to_the_exact_answer(caplog: pytest.LogCaptureFixture) -> None:
    # one list of 16 probed per query: excluding each query's 60 best items leaves some rows
    # short even after asking twice more, and those get the exhaustive (every list) answer
    vectors = clustered_vectors(800, 8, seed=1)
    queries = clustered_vectors(12, 8, seed=2)
    index = build("ivf", vectors, nlist=16, nprobe=1)
    best, _ = brute_force(vectors, queries, 60)
    denied = [set(row.tolist()) for row in best]
    exhaustive_queries: list[np.ndarray] = []
    exhaustive = index._exhaustive

    def spy(q: np.ndarray, k: int, deny: Any) -> Any:
        exhaustive_queries.append(q.copy())
        return exhaustive(q, k, deny)

    with caplog.at_level(logging.DEBUG, logger="ncf.index.base"), mock.patch.object(index, "_exhaustive", spy):
        top = index.search(queries, 10, exclude=[row for row in best])
    check_guarantee(index, top, vectors, queries, 10, denied, [None] * 12)
    assert "answered exactly" in caplog.text
    fell_back = [r for r in range(12) if any((q == queries[r]).all(1).any() for q in exhaustive_queries)]
    assert 0 < len(fell_back) < 12
    ids, scores = brute_force(vectors, queries[fell_back], 10, exclude=[denied[r] for r in fell_back])
    np.testing.assert_array_equal(top.ids[fell_back], ids)
    np.testing.assert_allclose(top.scores[fell_back], scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_small_allow_lists_are_scored_exactly(kind: str) -> None:
    vectors = clustered_vectors(600, 8, seed=3)
    queries = clustered_vectors(8, 8, seed=4)
    index = build(kind, vectors, **WEAK[kind])
    rng = np.random.default_rng(5)
    per_query = [rng.choice(600, size=25, replace=False) for _ in range(8)]
    deny = [row[:5] for row in per_query]  # some allowed items are also excluded
    top = index.search(queries, 10, allow=per_query, exclude=deny)
    allowed: list[set[int] | None] = [set(r.tolist()) for r in per_query]
    denied = [set(r.tolist()) for r in deny]
    check_guarantee(index, top, vectors, queries, 10, denied, allowed)
    if kind != "ivfpq":  # scores of the stored (for ivfpq: quantized) vectors
        ids, scores = brute_force(vectors, queries, 10, exclude=denied, allow=allowed)
        np.testing.assert_array_equal(top.ids, ids)
        np.testing.assert_allclose(top.scores, scores, rtol=1e-4, atol=1e-4)
    shared = per_query[0]
    top = index.search(queries, 30, allow=shared)
    check_guarantee(index, top, vectors, queries, 30, [set()] * 8, [set(shared.tolist())] * 8)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_large_allow_lists_are_searched_and_completed(kind: str) -> None:
    vectors = random_vectors(500, 8, seed=6)
    queries = random_vectors(6, 8, seed=7)
    index = build(kind, vectors, **WEAK[kind])
    allow = np.arange(0, 500, 3)
    with mock.patch.multiple(base, ALLOW_SCAN_MAX=10, ALLOW_SCAN_SHARE=0.0):
        top = index.search(queries, 20, allow=allow, exclude=[allow[:r] for r in range(6)])
    check_guarantee(
        index, top, vectors, queries, 20, [set(allow[:r].tolist()) for r in range(6)], [set(allow.tolist())] * 6
    )


def test_the_forms_of_exclude_and_allow_agree() -> None:
    vectors = random_vectors(90, 5, seed=8)
    queries = random_vectors(4, 5, seed=9)
    index = ExactIndex(vectors)
    rows = [{1, 2, 3}, set(), {5, 80}, {7}]
    as_csr = index.search(queries, 7, exclude=sets_from(rows, "csr", 4, 90))
    as_lists = index.search(queries, 7, exclude=[sorted(r) for r in rows])
    as_lists_with_duplicates = index.search(queries, 7, exclude=[sorted(r) * 2 for r in rows])
    for other in (as_lists, as_lists_with_duplicates):
        np.testing.assert_array_equal(as_csr.ids, other.ids)
    shared = index.search(queries, 7, exclude=np.array([4, 9]))
    broadcast = index.search(queries, 7, exclude=[[4, 9]] * 4)
    np.testing.assert_array_equal(shared.ids, broadcast.ids)
    allowed = index.search(queries, 7, allow=[0, 1, 2, 3, 4])
    np.testing.assert_array_equal(allowed.ids, index.search(queries, 7, allow=[[0, 1, 2, 3, 4]] * 4).ids)


def test_rows_with_nothing_left_are_all_padding() -> None:
    index = ExactIndex(random_vectors(10, 3, seed=10))
    queries = random_vectors(3, 3, seed=11)
    top = index.search(queries, 4, exclude=[np.arange(10), None, np.arange(8)], allow=[None, [], None])
    assert (top.ids[0] == -1).all() and (top.ids[1] == -1).all()
    assert (top.ids[2, :2] >= 8).all() and (top.ids[2, 2:] == -1).all()
    empty_csr = sp.csr_matrix((3, 10))
    assert (index.search(queries, 4, allow=empty_csr).ids == -1).all()


@pytest.mark.parametrize(
    "exclude,match",
    [
        (sp.csr_matrix((2, 11)), "shape"),
        ([[1], [2], [3]], "3 id lists for 2 queries"),
        ([[1], [10]], "outside"),
        (np.array([-1]), "outside"),
        ([[0.5], [1]], "integer"),
        (np.array(3), "scalar"),
        (3, "int"),
        ([np.zeros((2, 2), np.int64), None], "1-D"),
    ],
)
def test_bad_id_sets(exclude: Any, match: str) -> None:
    index = ExactIndex(random_vectors(10, 3, seed=12))
    queries = random_vectors(2, 3, seed=13)
    with pytest.raises(DataError, match=match):
        index.search(queries, 2, exclude=exclude)
    with pytest.raises(DataError, match=match):
        index.search(queries, 2, allow=exclude)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_deny_set_as_large_as_the_catalogue_minus_k(kind: str) -> None:
    # a user who has seen all but 3 items gets exactly those 3, whatever the index
    vectors = random_vectors(300, 6, seed=14)
    queries = random_vectors(2, 6, seed=15)
    index = build(kind, vectors, **WEAK[kind])
    keep = np.array([17, 150, 299])
    seen = np.setdiff1d(np.arange(300), keep)
    top = index.search(queries, 5, exclude=[seen, seen[:10]])
    assert sorted(top.ids[0, :3].tolist()) == keep.tolist() and (top.ids[0, 3:] == -1).all()
    assert (top.ids[1] >= 0).all() and not set(top.ids[1].tolist()) & set(seen[:10].tolist())


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kinds_exact_fallback_is_exact_over_what_it_stores(kind: str) -> None:
    # the last step of the guarantee: exact top-k over the stored vectors (ivfpq: the decoded
    # ones), the deny rows masked, short rows padded
    vectors = clustered_vectors(400, 8, seed=16)
    queries = clustered_vectors(5, 8, seed=17)
    index = build(kind, vectors, **WEAK[kind])
    stored = index._vectors(np.arange(400))
    if kind != "ivfpq":
        np.testing.assert_array_equal(stored, vectors)
    denied = [set(range(r * 50)) for r in range(5)]
    denied[4] = set(range(395))  # 5 items left, k = 12
    deny = sets_from(denied, "csr", 5, 400).astype(bool)
    got = index._exhaustive(queries, 12, deny)
    ids, scores = brute_force(stored, queries, 12, exclude=denied)
    np.testing.assert_allclose(got.scores, scores, rtol=1e-4, atol=1e-3 if kind == "ivfpq" else 1e-4)
    if kind == "ivfpq":  # coarse codes: many decoded vectors tie, so only the scores are unique
        check_guarantee(index, got, vectors, queries, 12, denied, [None] * 5)
        mine = np.einsum("rkd,rd->rk", stored[np.maximum(got.ids, 0)], queries)
        np.testing.assert_allclose(mine[got.ids >= 0], got.scores[got.ids >= 0], rtol=1e-4, atol=1e-3)
    else:
        np.testing.assert_array_equal(got.ids, ids)
    assert (got.ids[4, 5:] == -1).all()
