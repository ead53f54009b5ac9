"""previous_items / latest_items against a per-user Python reference, ties and no timestamps; the
splits and the sequence models order same-second interactions by one rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data import Interactions, latest_items, leave_one_out, previous_items


def reference(users, items, times, num_users):
    """Walk each user's rows in (time, item, row) order; (row) order without timestamps."""
    prev = np.full(len(users), -1)
    last = np.full(num_users, -1)
    for u in range(num_users):
        rows = [r for r in range(len(users)) if users[r] == u]
        rows.sort(key=lambda r: (times[r], items[r], r) if times is not None else (0, 0, r))
        for a, b in zip(rows[:-1], rows[1:], strict=True):
            prev[b] = items[a]
        if rows:
            last[u] = items[rows[-1]]
    return prev, last


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 3)), max_size=40),
    with_times=st.booleans(),
)
def test_matches_reference(rows, with_times):
    users = np.array([r[0] for r in rows], dtype=np.int64)
    items = np.array([r[1] for r in rows], dtype=np.int64)
    times = np.array([r[2] for r in rows], dtype=np.int64) if with_times else None  # many ties
    data = Interactions.from_arrays(users, items, timestamps=times, num_users=6, num_items=7, duplicates="keep")
    prev, last = reference(users, items, times, 6)
    np.testing.assert_array_equal(previous_items(data), prev)
    np.testing.assert_array_equal(latest_items(data), last)


def test_hand_computed_case():
    # user 0: t=5 item 3, t=1 item 4, t=5 item 2: the same-second pair goes in item order,
    # whatever the row order -> 4, 2, 3
    data = Interactions.from_arrays(
        np.array([0, 0, 1, 0]), np.array([3, 4, 1, 2]), timestamps=np.array([5, 1, 9, 5]),
        num_users=3, num_items=5, duplicates="keep",
    )
    np.testing.assert_array_equal(previous_items(data), [2, -1, -1, 4])
    np.testing.assert_array_equal(latest_items(data), [3, 1, -1])


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 9), st.integers(0, 2)), max_size=60, unique_by=lambda r: r[:2]),
    shuffle=st.randoms(use_true_random=False),
)
def test_splits_and_sequences_break_ties_alike(rows, shuffle):
    """The held-out item of leave-one-out (and of the validation carve) is the latest item by the
    order the sequence models train on, and after the carve the latest known item (the context a
    sequence model ranks in) is the validation item: the same rule on both sides, for any row order.
    A user whose timestamps are all one value has no order: the splits hold out a random item
    of theirs (never the highest index), so the rule is checked on the users with order."""
    shuffle.shuffle(rows)
    users = np.array([r[0] for r in rows], dtype=np.int64)
    items = np.array([r[1] for r in rows], dtype=np.int64)
    times = np.array([r[2] for r in rows], dtype=np.int64)  # many same-second ties
    data = Interactions.from_arrays(users, items, timestamps=times, num_users=5, num_items=10)
    ordered = np.array([np.unique(times[users == u]).size > 1 for u in range(5)])
    latest = latest_items(data)
    split = leave_one_out(data, num_negatives=0, valid=True)
    keep = ordered[split.test.users]
    np.testing.assert_array_equal(split.test.items[keep], latest[split.test.users[keep]])
    for u, i in zip(split.test.users[~keep], split.test.items[~keep], strict=True):
        assert i in items[users == u]
    known = split.train.concat(split.valid)
    keep = ordered[split.valid.users]
    np.testing.assert_array_equal(split.valid.items[keep], latest_items(known)[split.valid.users[keep]])
    np.testing.assert_array_equal(latest_items(known.concat(split.test))[ordered], latest[ordered])
