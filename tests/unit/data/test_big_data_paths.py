"""The faster large-data paths give exactly the results of the simple ones they replace.

* leave-one-out's (user, timestamp, item) order: one argsort of packed keys = ``np.lexsort``,
  ties (repeated rows) included, integer and float timestamps, and lexsort where keys do not fit;
* the uniform sampler's blocked draws = one draw of all cells (same generator stream);
* the in-batch accidental-hit mask = dense membership, also for ids outside the catalogue.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data.interactions import Interactions
from ncf.data.sequences import time_order
from ncf.data.splits import leave_one_out
from ncf.sampling import PositiveSet, UniformSampler

sampling = importlib.import_module("ncf.sampling")


def lexsorted(data: Interactions) -> np.ndarray:
    return np.lexsort((data.items, data.timestamps, data.users))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 300),
    num_users=st.integers(1, 20),
    num_items=st.integers(1, 30),
    span=st.sampled_from([1, 5, 1000, 2**40, 2**62]),
    floats=st.booleans(),
)
def test_packed_order_is_lexsort(seed: int, n: int, num_users: int, num_items: int, span: int, floats: bool) -> None:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, n)
    items = rng.integers(0, num_items, n)
    ts = rng.integers(-(span // 2), span - span // 2, n, dtype=np.int64)  # small spans: many ties
    timestamps = ts.astype(np.float64) / 7.0 if floats else ts
    data = Interactions.from_arrays(users, items, num_users=num_users, num_items=num_items,
                                    timestamps=timestamps, duplicates="keep")
    np.testing.assert_array_equal(time_order(data), lexsorted(data))


def test_packed_order_repeated_rows_keep_input_order() -> None:
    users = np.array([1, 0, 1, 1, 0, 1])
    items = np.array([2, 0, 2, 1, 0, 2])
    ts = np.array([5, 3, 5, 5, 3, 4])
    data = Interactions.from_arrays(users, items, num_users=2, num_items=3, timestamps=ts, duplicates="keep")
    assert time_order(data).tolist() == [1, 4, 5, 3, 0, 2] == lexsorted(data).tolist()


def test_packed_order_falls_back_to_lexsort_when_keys_do_not_fit() -> None:
    # 2**31 users x 2**31 items leave one bit for the timestamps: lexsort does the work
    rng = np.random.default_rng(0)
    users = rng.integers(0, 2**31, 50)
    items = rng.integers(0, 2**31, 50)
    ts = rng.integers(0, 10**9, 50)
    data = Interactions(users, items, 2**31, 2**31, ts)
    np.testing.assert_array_equal(time_order(data), lexsorted(data))
    data = Interactions(users, items, 2**32, 2**32, ts)  # no bit left at all
    np.testing.assert_array_equal(time_order(data), lexsorted(data))


def test_leave_one_out_holds_out_the_lexsort_latest() -> None:
    rng = np.random.default_rng(3)
    users = rng.integers(0, 40, 2000)
    items = rng.integers(0, 300, 2000)
    ts = rng.integers(0, 50, 2000)  # many equal timestamps: ties go to the larger item
    data = Interactions.from_arrays(users, items, num_users=40, num_items=300, timestamps=ts, duplicates="keep_last")
    split = leave_one_out(data, num_negatives=5, seed=1)
    order = lexsorted(data)
    last = np.ones(order.size, dtype=bool)
    last[:-1] = data.users[order][1:] != data.users[order][:-1]
    want = {(int(data.users[r]), int(data.items[r])) for r in order[last]}
    assert set(zip(split.test.users.tolist(), split.test.items.tolist(), strict=True)) == want


@pytest.mark.parametrize("block", [1, 3, 8, 1000])
def test_uniform_sampler_blocks_draw_what_one_block_draws(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    rng = np.random.default_rng(0)
    data = Interactions.from_arrays(rng.integers(0, 30, 400), rng.integers(0, 50, 400), num_users=30,
                                    num_items=50, duplicates="keep_last")
    sampler = UniformSampler(data, 3)
    users = rng.integers(0, 30, 77)
    want = sampler.sample(users, np.random.default_rng(5))  # default: one block for these 231 cells
    monkeypatch.setattr(sampling, "SAMPLE_BLOCK_CELLS", block)
    got = sampler.sample(users, np.random.default_rng(5))
    np.testing.assert_array_equal(got, want)
    assert not PositiveSet(data).contains(users[:, None], got).any()
    again = np.random.default_rng(5)
    sampler.sample(users, again)
    assert again.random() == np.random.default_rng(5).random(77 * 3 + 1)[-1]  # the stream moved by 231 draws


def test_batch_mask_ignores_ids_outside_the_catalogue() -> None:
    data = Interactions.from_arrays([0, 0, 1], [0, 2, 1], num_users=2, num_items=3)
    ps = PositiveSet(data)
    users = torch.tensor([0, 1, 0])
    cols = torch.tensor([-1, 0, 3, 2, 1, 2])
    got = ps.batch_mask(users, cols)
    assert torch.equal(got, ps.contains_torch(users[:, None], cols[None, :]))
    assert got.tolist()[0] == [False, True, False, True, False, True]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), batch=st.integers(1, 64), extra=st.integers(0, 20))
def test_batch_mask_on_heavy_users_equals_dense_membership(seed: int, batch: int, extra: int) -> None:
    # users with many positives (the rows a heavy-tailed log samples most)
    rng = np.random.default_rng(seed)
    num_users, num_items = 8, 60
    degrees = rng.integers(0, num_items, num_users)
    users = np.repeat(np.arange(num_users), degrees)
    items = np.concatenate([rng.choice(num_items, size=d, replace=False) for d in degrees])
    ps = PositiveSet(Interactions.from_arrays(users, items, num_users=num_users, num_items=num_items))
    u = torch.from_numpy(rng.integers(0, num_users, batch))
    c = torch.from_numpy(np.concatenate([rng.integers(0, num_items, batch), rng.integers(0, num_items, extra)]))
    assert torch.equal(ps.batch_mask(u, c), ps.contains_torch(u[:, None], c[None, :]))


def reference_k_core_rows(data: Interactions, uk: int, ik: int) -> np.ndarray:
    """The rows a k-core keeps, recounting every round until a round drops nothing."""
    rows = np.arange(len(data))
    while rows.size:
        u, i = data.users[rows], data.items[rows]
        keep = (np.bincount(u, minlength=data.num_users)[u] >= uk) & (np.bincount(i, minlength=data.num_items)[i] >= ik)
        if keep.all():
            break
        rows = rows[keep]
    return rows


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(0, 400),
    num_users=st.integers(1, 40),
    num_items=st.integers(1, 40),
    uk=st.integers(0, 8),
    ik=st.integers(0, 8),
)
def test_k_core_with_updated_counts_keeps_the_recounted_rows(
    seed: int, n: int, num_users: int, num_items: int, uk: int, ik: int
) -> None:
    from ncf.data.filters import k_core

    rng = np.random.default_rng(seed)
    ts = rng.integers(0, 100, n)
    data = Interactions.from_arrays(rng.integers(0, num_users, n), rng.integers(0, num_items, n), num_users=num_users,
                                    num_items=num_items, timestamps=ts, duplicates="keep")
    rows = reference_k_core_rows(data, uk, ik)
    core = k_core(data, user_k=uk, item_k=ik)
    assert len(core) == rows.size
    np.testing.assert_array_equal(core.timestamps, ts[rows])
    np.testing.assert_array_equal(core.user_map.decode(core.users), data.users[rows])
    np.testing.assert_array_equal(core.item_map.decode(core.items), data.items[rows])
