"""Per-user order of interactions: each interaction's previous item and each user's latest item.

Sequence-aware models (:class:`ncf.models.FPMC`) learn from transitions ``previous -> next``.
Order is by timestamp, ties broken by row order (the order of the source file), and by row
order alone when the data has no timestamps. ``-1`` marks "no previous item".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ncf.data.interactions import Interactions

__all__ = ["latest_items", "previous_items"]


def _time_order(data: Interactions) -> npt.NDArray[np.int64]:
    rows = np.arange(len(data), dtype=np.int64)
    if data.timestamps is None:
        return np.lexsort((rows, data.users)).astype(np.int64)
    return np.lexsort((rows, data.timestamps, data.users)).astype(np.int64)


def previous_items(data: Interactions) -> npt.NDArray[np.int64]:
    """``prev[r]``: the item the same user interacted with just before row ``r``, or -1."""
    order = _time_order(data)
    users, items = data.users[order], data.items[order]
    prev_sorted = np.full(len(order), -1, dtype=np.int64)
    if len(order) > 1:
        same_user = users[1:] == users[:-1]
        prev_sorted[1:][same_user] = items[:-1][same_user]
    prev = np.empty_like(prev_sorted)
    prev[order] = prev_sorted
    return prev


def latest_items(data: Interactions) -> npt.NDArray[np.int64]:
    """``(num_users,)`` each user's latest item in ``data``, or -1 for users without any."""
    order = _time_order(data)
    users, items = data.users[order], data.items[order]
    last = np.full(data.num_users, -1, dtype=np.int64)
    if len(order):
        is_last = np.r_[users[1:] != users[:-1], True]
        last[users[is_last]] = items[is_last]
    return last
