"""Per-user order of interactions: each interaction's previous item and each user's latest item.

Sequence-aware models (:class:`ncf.models.FPMC`) learn from transitions ``previous -> next``.
Order is by timestamp, and interactions in the same second go in increasing item index: the
rule :func:`ncf.data.leave_one_out` uses to choose each user's held-out (latest) item, so the
transitions a model trains on, the validation item carved from train and the context a model
ranks in (the latest known item) all follow one order, whatever the order of the rows in the
source file. Without timestamps the order is the row order. ``-1`` marks "no previous item".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ncf.data.interactions import Interactions

__all__ = ["latest_items", "previous_items", "time_order"]


def time_order(data: Interactions) -> npt.NDArray[np.int64]:
    """Row indices sorted by user, then time: timestamp, then item index (same-second ties), then
    row; by row alone without timestamps. One rule for the splits and the sequence models."""
    rows = np.arange(len(data), dtype=np.int64)
    if data.timestamps is None:
        return np.lexsort((rows, data.users)).astype(np.int64)
    return np.lexsort((rows, data.items, data.timestamps, data.users)).astype(np.int64)


def previous_items(data: Interactions) -> npt.NDArray[np.int64]:
    """``prev[r]``: the item the same user interacted with just before row ``r``, or -1."""
    order = time_order(data)
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
    order = time_order(data)
    users, items = data.users[order], data.items[order]
    last = np.full(data.num_users, -1, dtype=np.int64)
    if len(order):
        is_last = np.r_[users[1:] != users[:-1], True]
        last[users[is_last]] = items[is_last]
    return last
