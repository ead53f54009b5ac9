"""PairSet against a naive Python-set reference (hypothesis), plus edge cases and errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data.pairs import PairSet, pair_keys, searchsorted
from ncf.errors import DataError, UnknownIdError

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def pair_lists(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int]]]:
    nu = draw(st.integers(1, 6))
    ni = draw(st.integers(1, 7))
    pairs = draw(st.lists(st.tuples(st.integers(0, nu - 1), st.integers(0, ni - 1)), max_size=30))
    return nu, ni, pairs


def build(nu: int, ni: int, pairs: list[tuple[int, int]]) -> PairSet:
    users = np.array([u for u, _ in pairs], dtype=np.int64)
    items = np.array([i for _, i in pairs], dtype=np.int64)
    return PairSet(users, items, num_users=nu, num_items=ni)


@SETTINGS
@given(case=pair_lists(), seed=st.integers(0, 5))
def test_matches_a_python_set(case: tuple[int, int, list[tuple[int, int]]], seed: int) -> None:
    nu, ni, pairs = case
    ref = set(pairs)
    ps = build(nu, ni, pairs)
    assert len(ps) == len(ref)
    rng = np.random.default_rng(seed)
    users = rng.integers(-1, nu + 1, size=(25, 1))  # includes ids outside the universe
    items = rng.integers(-1, ni + 1, size=(1, 6))
    got = ps.contains(users, items)
    expected = np.array([[(int(u), int(i)) in ref for i in items[0]] for u in users[:, 0]])
    assert got.shape == (25, 6) and np.array_equal(got, expected)
    index = ps.index(users, items)
    assert np.array_equal(index >= 0, expected)
    assert np.array_equal(ps.keys[index[expected]], (users * ni + items)[expected])
    for u in range(nu):
        mine = sorted(i for uu, i in ref if uu == u)
        assert ps.items_of(u).tolist() == mine
        assert int(ps.degrees()[u]) == len(mine)
        absent = [i for i in range(ni) if (u, i) not in ref]
        assert ps.nth_absent(np.full(len(absent), u), np.arange(len(absent))).tolist() == absent
    assert sorted(zip(ps.users().tolist(), ps.items().tolist(), strict=True)) == sorted(ref)


@SETTINGS
@given(a=pair_lists(), b=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6)), max_size=30))
def test_difference_and_csr_match_python_sets(a: tuple[int, int, list[tuple[int, int]]], b: list[tuple[int, int]]) -> None:
    nu, ni, pairs = a
    other_pairs = [(u, i) for u, i in b if u < nu and i < ni]
    mine, other = build(nu, ni, pairs), build(nu, ni, other_pairs)
    diff = mine.difference(other)
    assert set(zip(diff.users().tolist(), diff.items().tolist(), strict=True)) == set(pairs) - set(other_pairs)
    rows = [u for u, _ in pairs]
    cols = [i for _, i in pairs]
    mat = sp.coo_matrix((np.zeros(len(pairs)), (rows, cols)), shape=(nu, ni))  # stored zeros count
    from_csr = PairSet.from_csr(mat.tocsr())
    assert np.array_equal(from_csr.keys, mine.keys)
    by_user = sorted(pairs, key=lambda pair: pair[0])  # stable: items stay unsorted, repeats kept
    indptr = np.r_[0, np.cumsum(np.bincount([u for u, _ in by_user], minlength=nu))]
    indices = np.array([i for _, i in by_user], dtype=np.int64)
    raw = sp.csr_matrix((np.ones(len(by_user)), indices, indptr), shape=(nu, ni))
    assert np.array_equal(PairSet.from_csr(raw).keys, mine.keys)


def test_keys_are_sorted_distinct_and_read_only() -> None:
    ps = PairSet([1, 0, 1, 1], [2, 3, 2, 0], num_users=2, num_items=4)
    assert ps.keys.tolist() == [3, 4, 6]
    assert not ps.keys.flags.writeable
    assert repr(ps) == "PairSet(3 pairs, 2 users x 4 items)"
    assert ps.indptr.tolist() == [0, 1, 3]


def test_empty_set_and_empty_universe() -> None:
    empty = PairSet([], [], num_users=3, num_items=0)
    assert len(empty) == 0 and not empty.contains([[0], [1]], [0, 1]).any()
    assert empty.degrees().tolist() == [0, 0, 0]
    assert empty.index([0], [0]).tolist() == [-1]


def test_out_of_range_pairs_are_refused_with_plain_values() -> None:
    with pytest.raises(DataError, match=r"^field 'items': item index 5 out of range \[0, 3\)$"):
        PairSet([0], [5], num_users=1, num_items=3)
    with pytest.raises(DataError, match="user index -1 out of range"):
        PairSet([-1], [0], num_users=1, num_items=3)
    with pytest.raises(DataError, match="differ in length"):
        PairSet([0, 1], [0], num_users=2, num_items=3)
    with pytest.raises(UnknownIdError, match="user index 2 out of range"):
        PairSet([0], [0], num_users=2, num_items=1).items_of(2)
    a = PairSet([0], [0], num_users=2, num_items=2)
    with pytest.raises(DataError, match="cannot be compared"):
        a.difference(PairSet([0], [0], num_users=2, num_items=3))


def test_pair_keys_and_sorted_queries() -> None:
    assert pair_keys([0, 1, 2], [1, 0, 2], 3).tolist() == [1, 3, 8]
    assert pair_keys([0, 1], [0, 0], 0).tolist() == [0, 1]  # stride is at least 1
    rng = np.random.default_rng(0)
    a = np.sort(rng.integers(0, 10**6, size=5000))
    for n in (10, 1 << 16):  # below and above the size where queries get sorted first
        v = rng.integers(0, 10**6, size=n)
        for side in ("left", "right"):
            assert np.array_equal(searchsorted(a, v, side=side), np.searchsorted(a, v, side=side))
    v2 = rng.integers(0, 10**6, size=(300, 300))
    assert np.array_equal(searchsorted(a, v2), np.searchsorted(a, v2))
