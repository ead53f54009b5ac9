"""Splits: no leakage, nothing lost, universe kept, valid negatives, seeded determinism."""

from __future__ import annotations

from collections import Counter
from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split
from ncf.data.splits import leave_one_out, random_split, temporal_split, validation_split
from ncf.errors import ConfigError, DataError

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def interactions(
    draw: st.DrawFn, *, timestamps: str | None = None, repeats: bool = True
) -> Interactions:
    """Small random interaction sets: optional timestamps (with ties), optional repeated pairs."""
    nu = draw(st.integers(1, 8))
    ni = draw(st.integers(2, 25))
    cells = draw(st.lists(st.integers(0, nu * ni - 1), unique=True, max_size=min(nu * ni, 60)))
    if repeats and cells and draw(st.booleans()):
        cells = cells + draw(st.lists(st.sampled_from(cells), max_size=5))
    arr = np.asarray(cells, dtype=np.int64)
    kind = (
        timestamps
        if timestamps is not None
        else draw(st.sampled_from(["none", "distinct", "ties"]))
    )
    ts = None
    if kind == "distinct":
        ts = np.asarray(draw(st.permutations(list(range(arr.size)))), dtype=np.int64) * 10
    elif kind == "ties":
        ts = np.asarray(
            draw(st.lists(st.integers(0, 3), min_size=arr.size, max_size=arr.size)), dtype=np.int64
        )
    umap = IdMap(np.char.add("u", np.arange(nu).astype(str))) if draw(st.booleans()) else None
    return Interactions(arr // ni, arr % ni, nu, ni, ts, None, umap, None)


def rows(data: Interactions) -> Counter[tuple[int, int, int]]:
    ts = data.timestamps if data.timestamps is not None else np.full(len(data), -1)
    return Counter(
        zip(data.users.tolist(), data.items.tolist(), np.asarray(ts).tolist(), strict=True)
    )


def pairs(data: Interactions) -> set[tuple[int, int]]:
    return set(zip(data.users.tolist(), data.items.tolist(), strict=True))


def check_split(data: Interactions, split: Split, k: int) -> None:
    """Properties every split must have."""
    parts = [split.train, split.test] + ([split.valid] if split.valid is not None else [])
    for part in parts:
        assert part.shape == data.shape
        assert part.user_map is data.user_map and part.item_map is data.item_map
    # union of the parts is the input multiset
    assert sum((rows(p) for p in parts), Counter()) == rows(data)
    # no pair in two parts
    assert not pairs(split.train) & pairs(split.test)
    if split.valid is not None:
        assert not pairs(split.train) & pairs(split.valid)
        assert not pairs(split.valid) & pairs(split.test)
    positives = pairs(data)
    for part, neg in ((split.test, split.test_negatives), (split.valid, split.valid_negatives)):
        if part is None:
            assert neg is None
            continue
        if k == 0:
            assert neg is None
            continue
        assert neg is not None and neg.shape == (len(part), k) and neg.dtype == np.int64
        for user, row in zip(part.users.tolist(), neg.tolist(), strict=True):
            assert len(set(row)) == k  # distinct within the row
            assert all(0 <= item < data.num_items for item in row)
            assert not any((user, item) in positives for item in row)  # never a positive anywhere


def too_few_negatives(data: Interactions, users: np.ndarray, k: int) -> bool:
    degree = np.bincount(
        np.unique(data.users * data.num_items + data.items) // data.num_items,
        minlength=data.num_users,
    )
    return bool(users.size) and bool(np.any(data.num_items - degree[users] < k))


def same(a: Split, b: Split) -> bool:
    def eq(x: np.ndarray | None, y: np.ndarray | None) -> bool:
        return (x is None and y is None) or (
            x is not None and y is not None and np.array_equal(x, y)
        )

    parts = [(a.train, b.train), (a.test, b.test)] + (
        [(a.valid, b.valid)] if a.valid is not None else []
    )
    return (
        all(eq(p.users, q.users) and eq(p.items, q.items) for p, q in parts)
        and eq(a.test_negatives, b.test_negatives)
        and eq(a.valid_negatives, b.valid_negatives)
    )


# --------------------------------------------------------------------------- leave_one_out
def naive_loo_pairs(data: Interactions) -> dict[int, int | None]:
    """Reference for data with timestamps: user -> held-out item (latest, larger item on ties);
    None for a user whose rows all share one timestamp (no order: any of its items may go)."""
    best: dict[int, tuple[int, int]] = {}
    items_of: dict[int, set[int]] = {}
    times_of: dict[int, set[int]] = {}
    assert data.timestamps is not None
    for u, i, t in zip(
        data.users.tolist(), data.items.tolist(), data.timestamps.tolist(), strict=True
    ):
        items_of.setdefault(u, set()).add(i)
        times_of.setdefault(u, set()).add(t)
        if u not in best or (t, i) > best[u]:
            best[u] = (t, i)
    return {u: (best[u][1] if len(times_of[u]) > 1 else None) for u in best if len(items_of[u]) >= 2}


def assert_held_out(got: dict[int, int], expected: dict[int, int | None], data: Interactions) -> None:
    assert sorted(got) == sorted(expected)
    for u, item in got.items():
        if expected[u] is None:
            assert item in set(data.items[data.users == u].tolist())
        else:
            assert item == expected[u]


@SETTINGS
@given(data=interactions(), k=st.integers(0, 4), seed=st.integers(0, 3), valid=st.booleans())
def test_leave_one_out_properties(data: Interactions, k: int, seed: int, valid: bool) -> None:
    degree = np.bincount(
        np.unique(data.users * data.num_items + data.items) // data.num_items,
        minlength=data.num_users,
    )
    held = np.flatnonzero(degree >= 2)
    if too_few_negatives(data, held, k):
        with pytest.raises(DataError, match="negatives"):
            leave_one_out(data, num_negatives=k, seed=seed, valid=valid)
        return
    split = leave_one_out(data, num_negatives=k, seed=seed, valid=valid)
    check_split(data, split, k)
    assert same(split, leave_one_out(data, num_negatives=k, seed=seed, valid=valid))
    # one held-out pair per user with >= 2 items (>= 3 for valid); users with 1 item stay in train
    test_pairs = pairs(split.test)
    assert sorted(u for u, _ in test_pairs) == held.tolist()
    if valid:
        assert split.valid is not None
        assert sorted(u for u, _ in pairs(split.valid)) == np.flatnonzero(degree >= 3).tolist()
    else:
        assert split.valid is None
    if data.timestamps is not None:
        assert_held_out(dict(test_pairs), naive_loo_pairs(data), data)
        if split.valid is not None:  # valid is the latest of what remains after the test pair
            rest = data.select(
                ~np.isin(
                    data.users * data.num_items + data.items,
                    [u * data.num_items + i for u, i in test_pairs],
                )
            )
            expected = naive_loo_pairs(rest)
            for u in expected:  # a user with order in the whole data keeps it in the rest
                if expected[u] is None and len(set(data.timestamps[data.users == u].tolist())) > 1:
                    expected[u] = max(zip(rest.timestamps[rest.users == u].tolist(),
                                          rest.items[rest.users == u].tolist(), strict=True))[1]
            assert_held_out(dict(pairs(split.valid)), expected, rest)
    assert np.all(np.diff(split.test.users) >= 0)  # sorted by user


def test_leave_one_out_tie_break_and_single_users() -> None:
    data = Interactions.from_arrays(
        [0, 0, 0, 1, 2, 2, 2], [3, 1, 2, 0, 5, 4, 6], timestamps=[5, 9, 9, 1, 2, 2, 1], num_items=8
    )
    split = leave_one_out(data, num_negatives=2, seed=0)
    assert split.test.users.tolist() == [0, 2]
    assert split.test.items.tolist() == [2, 5]  # ties on the latest time: larger item wins
    assert 1 in split.train.users.tolist()  # a user with one interaction stays in train
    assert split.test_negatives is not None and split.test_negatives.shape == (2, 2)


def test_leave_one_out_without_timestamps_is_seeded_random() -> None:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(50), 10)
    items = np.concatenate([rng.choice(100, 10, replace=False) for _ in range(50)])
    data = Interactions.from_arrays(users, items, num_items=100)
    a, b = (
        leave_one_out(data, num_negatives=20, seed=1),
        leave_one_out(data, num_negatives=20, seed=2),
    )
    assert same(a, leave_one_out(data, num_negatives=20, seed=1))
    assert not np.array_equal(a.test.items, b.test.items)
    assert not np.array_equal(a.test_negatives, b.test_negatives)


@pytest.mark.parametrize(
    ("num_items", "k", "limit"),
    [(20, 5, 45.0), (60, 5, 100.0), (400, 30, 500.0)],  # permutation and draw-and-dedupe regimes
)
def test_negatives_are_uniform_over_non_interacted_items(
    num_items: int, k: int, limit: float
) -> None:
    num_users = 3000
    users = np.repeat(np.arange(num_users), 3)
    items = np.tile([0, 7, 13], num_users)
    ts = np.tile([1, 2, 3], num_users)
    split = leave_one_out(
        Interactions.from_arrays(users, items, timestamps=ts, num_items=num_items),
        num_negatives=k,
        seed=0,
    )
    assert split.test_negatives is not None
    counts = np.bincount(split.test_negatives.ravel(), minlength=num_items)
    assert counts[[0, 7, 13]].sum() == 0
    observed = np.delete(counts, [0, 7, 13])
    expected = num_users * k / observed.size
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < limit  # p ~ 1e-4 for num_items - 4 degrees of freedom
    assert all(len(set(row)) == k for row in split.test_negatives.tolist())
    first = np.bincount(split.test_negatives[:, 0], minlength=num_items)  # order is random too
    assert np.delete(first, [0, 7, 13]).min() > 0 or num_items > 100


def test_negatives_when_almost_every_item_was_seen() -> None:
    # user 0 has seen all but 3 items: the negatives are exactly those 3
    data = Interactions.from_arrays(
        np.r_[np.zeros(47, dtype=np.int64), [1, 1]], np.r_[np.arange(47), [0, 1]], num_items=50
    )
    split = leave_one_out(data, num_negatives=3, seed=0)
    assert sorted(split.test_negatives[0].tolist()) == [47, 48, 49]  # type: ignore[index]
    with pytest.raises(DataError, match="user 0 .*only 3 items"):
        leave_one_out(data, num_negatives=4)
    named = Interactions(data.users, data.items, 2, 50, user_map=IdMap(["alice", "bob"]))
    with pytest.raises(DataError, match="alice"):
        leave_one_out(named, num_negatives=4)


# --------------------------------------------------------------------------- temporal_split
@SETTINGS
@given(
    data=interactions(timestamps="ties"),
    tf=st.floats(0.05, 0.6),
    vf=st.sampled_from([0.0, 0.1, 0.3]),
    k=st.integers(0, 2),
)
def test_temporal_split_properties(data: Interactions, tf: float, vf: float, k: int) -> None:
    try:
        split = temporal_split(data, test_fraction=tf, valid_fraction=vf, num_negatives=k)
    except DataError:
        assert k > 0
        return
    check_split(data, split, k)
    assert (split.valid is not None) == (vf > 0)
    repeated = len(pairs(data)) < len(data)
    if len(split.test) and len(split.train) and not repeated:
        assert split.train.timestamps.max() < split.test.timestamps.min()  # type: ignore[union-attr]
        if split.valid is not None and len(split.valid):
            assert split.train.timestamps.max() < split.valid.timestamps.min()  # type: ignore[union-attr]
            assert split.valid.timestamps.max() < split.test.timestamps.min()  # type: ignore[union-attr]
    if not repeated:
        assert len(split.test) <= int(np.floor(tf * len(data) + 0.5))


def test_temporal_split_cut_and_ties() -> None:
    ts = np.arange(10) * 100
    data = Interactions.from_arrays(np.arange(10) % 3, np.arange(10), timestamps=ts)
    split = temporal_split(data, test_fraction=0.2, valid_fraction=0.2)
    assert split.test.timestamps.tolist() == [800, 900]  # type: ignore[union-attr]
    assert split.valid.timestamps.tolist() == [600, 700]  # type: ignore[union-attr]
    # events at the cut time go to the earlier part
    tied = Interactions.from_arrays(np.arange(4), np.arange(4), timestamps=[1, 2, 2, 2])
    assert len(temporal_split(tied, test_fraction=0.5).test) == 0
    assert len(temporal_split(tied, test_fraction=0.75).test) == 3


def test_temporal_split_requires_timestamps_and_valid_fractions() -> None:
    data = Interactions.from_arrays([0, 1], [0, 1])
    with pytest.raises(DataError, match="timestamps"):
        temporal_split(data)
    timed = Interactions.from_arrays([0, 1], [0, 1], timestamps=[1, 2])
    for kwargs in (
        {"test_fraction": 0.0},
        {"test_fraction": 1.0},
        {"test_fraction": 0.6, "valid_fraction": 0.4},
    ):
        with pytest.raises(ConfigError):
            temporal_split(timed, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- random_split
@SETTINGS
@given(
    data=interactions(),
    tf=st.floats(0.05, 0.6),
    vf=st.sampled_from([0.0, 0.2]),
    k=st.integers(0, 2),
    seed=st.integers(0, 3),
)
def test_random_split_properties(
    data: Interactions, tf: float, vf: float, k: int, seed: int
) -> None:
    try:
        split = random_split(data, test_fraction=tf, valid_fraction=vf, num_negatives=k, seed=seed)
    except DataError:
        assert k > 0
        return
    check_split(data, split, k)
    assert same(
        split, random_split(data, test_fraction=tf, valid_fraction=vf, num_negatives=k, seed=seed)
    )
    # per user (distinct items): round(tf * n) test when possible, always >= 1 train item if n >= 2
    n = np.bincount(
        np.unique(data.users * data.num_items + data.items) // data.num_items,
        minlength=data.num_users,
    )
    n_train = np.zeros(data.num_users, dtype=np.int64)
    n_test = np.zeros(data.num_users, dtype=np.int64)
    for u, _ in pairs(split.train):
        n_train[u] += 1
    for u, _ in pairs(split.test):
        n_test[u] += 1
    expect = np.where(n >= 2, np.minimum(np.floor(tf * n + 0.5), n - 1), 0)
    assert np.array_equal(n_test, expect)
    assert np.all(n_train[n >= 1] >= 1)


def test_random_split_seeds_differ() -> None:
    rng = np.random.default_rng(0)
    cells = rng.choice(40 * 60, 800, replace=False)
    data = Interactions.from_arrays(cells // 60, cells % 60, num_items=60)
    a = random_split(data, seed=0, num_negatives=3)
    b = random_split(data, seed=1, num_negatives=3)
    assert pairs(a.test) != pairs(b.test)
    assert len(a.test) == len(b.test)


# --------------------------------------------------------------------------- validation_split
@SETTINGS
@given(data=interactions(), method=st.sampled_from(["loo", "random"]), k=st.integers(0, 2))
def test_validation_split_properties(
    data: Interactions, method: Literal["loo", "random"], k: int
) -> None:
    try:
        train, valid, neg = validation_split(
            data, method=method, fraction=0.3, num_negatives=k, seed=0
        )
    except DataError:
        assert k > 0
        return
    assert train.shape == valid.shape == data.shape
    assert rows(train) + rows(valid) == rows(data)
    assert not pairs(train) & pairs(valid)
    if k == 0:
        assert neg is None
    else:
        assert neg is not None and neg.shape == (len(valid), k)
        positives = pairs(data)
        assert not any(
            (u, i) in positives
            for u, row in zip(valid.users.tolist(), neg.tolist(), strict=True)
            for i in row
        )


def test_validation_split_rejects_unknown_method() -> None:
    data = Interactions.from_arrays([0, 0], [0, 1])
    with pytest.raises(ConfigError, match="loo"):
        validation_split(data, method="kfold")  # type: ignore[arg-type]


def test_messages_show_plain_python_values() -> None:
    data = Interactions.from_arrays(
        [0, 0, 0, 1, 1], [0, 1, 2, 0, 1], num_items=3, user_map=IdMap(np.array(["alice", "bob"]))
    )
    with pytest.raises(DataError) as err:
        leave_one_out(data, num_negatives=1)
    assert "raw id 'alice'" in str(err.value) and "np." not in str(err.value)
    with pytest.raises(ConfigError, match=r"got 2.5$"):
        leave_one_out(data, num_negatives=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"got 'x'$"):
        random_split(data, test_fraction="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"got 1.5$"):
        random_split(data, test_fraction=np.float64(1.5))  # type: ignore[arg-type]
