"""k_core: the result is a k-core, the maximal one, and raw ids survive re-indexing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data.filters import k_core
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions
from ncf.errors import ConfigError


def naive_k_core(pairs: set[tuple[int, int]], uk: int, ik: int) -> set[tuple[int, int]]:
    """Reference: remove under-threshold users/items one at a time until stable."""
    pairs = set(pairs)
    while True:
        ucount: dict[int, int] = {}
        icount: dict[int, int] = {}
        for u, i in pairs:
            ucount[u] = ucount.get(u, 0) + 1
            icount[i] = icount.get(i, 0) + 1
        bad = {(u, i) for u, i in pairs if ucount[u] < uk or icount[i] < ik}
        if not bad:
            return pairs
        pairs -= bad


@st.composite
def interactions(draw: st.DrawFn) -> Interactions:
    nu = draw(st.integers(1, 12))
    ni = draw(st.integers(1, 12))
    cells = draw(st.lists(st.integers(0, nu * ni - 1), unique=True, max_size=nu * ni))
    cells_arr = np.asarray(cells, dtype=np.int64)
    users, items = cells_arr // ni, cells_arr % ni
    ts = np.arange(users.size, dtype=np.int64) * 7
    w = np.arange(users.size, dtype=np.float32) + 0.5
    umap = IdMap(np.char.add("user", np.arange(nu).astype(str)))
    imap = IdMap(np.arange(ni, dtype=np.int64) * 10 + 3)
    return Interactions(users, items, nu, ni, ts, w, umap, imap)


def raw_pairs(data: Interactions) -> set[tuple[object, object]]:
    assert data.user_map is not None and data.item_map is not None
    return set(
        zip(
            data.user_map.decode(data.users).tolist(),
            data.item_map.decode(data.items).tolist(),
            strict=True,
        )
    )


@settings(max_examples=80, deadline=None)
@given(data=interactions(), uk=st.integers(0, 4), ik=st.integers(0, 4))
def test_k_core_is_the_maximal_core(data: Interactions, uk: int, ik: int) -> None:
    core = k_core(data, user_k=uk, item_k=ik)
    # a k-core: every remaining user/item has enough rows; universe is compact
    if len(core):
        assert core.user_counts().min() >= uk
        assert core.item_counts().min() >= ik
    assert core.user_counts().min(initial=1) >= 1 and core.item_counts().min(initial=1) >= 1
    assert len(core.user_map) == core.num_users and len(core.item_map) == core.num_items
    # the maximal one: same pairs as the naive reference, compared through raw ids
    pairs = set(zip(data.users.tolist(), data.items.tolist(), strict=True))
    expected = naive_k_core(pairs, uk, ik)
    assert data.user_map is not None and data.item_map is not None
    expected_raw = {
        (data.user_map.decode(u).item(), data.item_map.decode(i).item()) for u, i in expected
    }
    assert raw_pairs(core) == expected_raw
    # timestamps and weights travel with their rows
    assert core.timestamps is not None and core.weights is not None
    src = {int(t): float(w) for t, w in zip(data.timestamps, data.weights, strict=True)}  # type: ignore[arg-type]
    assert all(src[int(t)] == float(w) for t, w in zip(core.timestamps, core.weights, strict=True))


def test_iterates_until_stable() -> None:
    # user 0 has 2 items; item 2 only from user 2; dropping user 2 (1 item) drops item 2 ...
    users = np.array([0, 0, 1, 1, 2, 3, 3])
    items = np.array([0, 1, 0, 1, 2, 2, 0])
    data = Interactions.from_arrays(users, items)
    core = k_core(data, k=2)
    assert sorted(
        zip(core.user_map.decode(core.users).tolist(), core.items.tolist(), strict=True)
    ) == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    # without input maps, the new maps hold the input indices
    assert core.user_map.raw_ids.tolist() == [0, 1]
    assert core.item_map.raw_ids.tolist() == [0, 1]
    assert core.shape == (2, 2)


def test_separate_thresholds_and_empty_result() -> None:
    data = Interactions.from_arrays([0, 0, 0, 1], [0, 1, 2, 0])
    assert len(k_core(data, user_k=3, item_k=1)) == 3
    empty = k_core(data, k=10)
    assert len(empty) == 0 and empty.shape == (0, 0)
    assert len(k_core(data, k=0)) == 4


def test_keeps_string_ids_and_rejects_bad_k() -> None:
    umap, users = IdMap.factorize(["a", "a", "b", "b", "c"])
    imap, items = IdMap.factorize(["x", "y", "x", "y", "x"])
    data = Interactions.from_arrays(users, items, user_map=umap, item_map=imap)
    core = k_core(data, k=2)
    assert core.user_map.raw_ids.tolist() == ["a", "b"]
    assert core.item_map.raw_ids.tolist() == ["x", "y"]
    with pytest.raises(ConfigError):
        k_core(data, k=-1)
    with pytest.raises(ConfigError):
        k_core(data, user_k=1.5)  # type: ignore[arg-type]
