"""Leave-one-out on timestamps that carry no order: a seeded random item, never the highest index."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data.interactions import Interactions
from ncf.data.splits import holdout_rule, leave_one_out, validation_split


def _log(num_users: int = 300, per_user: int = 12, num_items: int = 200, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(num_users), per_user)
    items = np.concatenate([rng.choice(num_items, per_user, replace=False) for _ in range(num_users)])
    ts = rng.permutation(users.size).astype(np.int64) * 7 + 1_000_000
    return Interactions.from_arrays(users, items, timestamps=ts, num_items=num_items)


def _max_index_share(data: Interactions, held: Interactions) -> float:
    top = np.zeros(data.num_users, dtype=np.int64)
    np.maximum.at(top, data.users, data.items)
    return float(np.mean(held.items == top[held.users]))


@pytest.mark.parametrize("kind", ["all equal", "per user equal"])
def test_timestamps_without_order_hold_out_a_random_item(kind):
    data = _log()
    ts = np.zeros(len(data), dtype=np.int64) if kind == "all equal" else data.users.astype(np.int64) * 1000
    flat = dataclasses.replace(data, timestamps=ts)
    rule = holdout_rule(flat)
    assert rule.rule == "random" and "no order" in rule.reason
    split = leave_one_out(flat, num_negatives=5, seed=0)
    # by item index every held-out item would be its user's largest; a random one is so 1 time in 12
    assert _max_index_share(flat, split.test) < 0.2
    other = leave_one_out(flat, num_negatives=5, seed=1)
    assert not np.array_equal(split.test.items, other.test.items)  # seeded, not fixed
    fit, valid, _ = validation_split(split.train, method="loo", num_negatives=5, seed=0)
    assert _max_index_share(split.train, valid) < 0.2


def test_ordered_timestamps_keep_the_latest_item_and_draw_nothing():
    data = _log()
    assert holdout_rule(data).rule == "latest"
    split = leave_one_out(data, num_negatives=5, seed=3)
    latest = {}
    for u, i, t in zip(data.users.tolist(), data.items.tolist(), data.timestamps.tolist(), strict=True):
        if u not in latest or t > latest[u][0]:
            latest[u] = (t, i)
    assert split.test.items.tolist() == [latest[u][1] for u in split.test.users.tolist()]


def test_mixed_order_is_random_only_for_the_users_without_order():
    data = _log(num_users=100)
    ts = data.timestamps.copy()
    flat_users = np.arange(50)
    ts[np.isin(data.users, flat_users)] = 5
    mixed = dataclasses.replace(data, timestamps=ts)
    rule = holdout_rule(mixed)
    assert rule.rule == "mixed" and "50 of 100" in rule.reason
    split = leave_one_out(mixed, num_negatives=5, seed=0)
    ordered = split.test.users >= 50
    ref = leave_one_out(data, num_negatives=5, seed=0)
    assert np.array_equal(split.test.items[ordered], ref.test.items[ref.test.users >= 50])
    assert _max_index_share(mixed, split.test.select(~ordered)) < 0.3


def test_no_timestamps_rule():
    data = dataclasses.replace(_log(num_users=10), timestamps=None)
    assert holdout_rule(data).rule == "random"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 50), per_user=st.integers(2, 6))
def test_every_item_of_a_user_without_order_can_be_held_out(seed, per_user):
    """Over seeds the held-out item of a flat-timestamp user covers its items (no fixed choice)."""
    users = np.zeros(per_user, dtype=np.int64)
    items = np.arange(per_user, dtype=np.int64)
    data = Interactions.from_arrays(users, items, timestamps=np.zeros(per_user, dtype=np.int64),
                                    num_items=per_user + 1)
    seen = {int(leave_one_out(data, num_negatives=0, seed=seed + 1000 * s).test.items[0]) for s in range(12 * per_user)}
    assert seen == set(range(per_user))
