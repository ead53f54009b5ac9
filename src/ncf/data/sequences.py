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


def _bits(n: int) -> int:
    """Bits that hold the values ``0 .. n - 1``."""
    return max(1, int(n - 1).bit_length())


def time_order(data: Interactions) -> npt.NDArray[np.int64]:
    """Row indices sorted by user, then time: timestamp, then item index (same-second ties), then
    row; by row alone without timestamps. One rule for the splits and the sequence models.

    ``np.lexsort((rows, items, timestamps, users))``, by one argsort of packed int64 keys where they fit.

    The key packs ``user``, the timestamp's code and ``item`` into 63 bits, the timestamp's code
    preserving its order (``ts - min`` for integer timestamps of a small enough span, else its
    rank among the distinct timestamps). Distinct keys sort the same under any sort, so the
    fast unstable argsort gives lexsort's permutation; repeated keys (a repeated (user,
    timestamp, item) row) take a stable argsort, which orders them by position as lexsort
    does. Several times faster than lexsort at millions of rows (measured on a 5M-row
    MovieLens-shaped log: 1.0 s against 3.3 s), and lexsort remains where the key cannot fit.
    """
    users, items, ts = data.users, data.items, data.timestamps
    if ts is None:
        return np.argsort(users, kind="stable").astype(np.int64)
    if len(data) < 2:
        return np.arange(len(data), dtype=np.int64)
    room = 63 - _bits(data.num_users) - _bits(data.num_items)
    if room < 1:
        return np.lexsort((np.arange(len(data)), items, ts, users)).astype(np.int64)
    codes: npt.NDArray[np.int64] | None = None
    if ts.dtype.kind in "iu":
        lo, hi = int(ts.min()), int(ts.max())
        if hi - lo < 1 << room:
            codes = np.asarray(ts, dtype=np.int64) - np.int64(lo)
    if codes is None:
        distinct, rank = np.unique(ts, return_inverse=True)
        if _bits(distinct.size) > room:
            return np.lexsort((np.arange(len(data)), items, ts, users)).astype(np.int64)
        codes = rank.astype(np.int64, copy=False).reshape(-1)
    shift = _bits(data.num_items)
    key = (users << np.int64(room + shift)) | (codes << np.int64(shift)) | items
    del codes
    order = np.argsort(key)
    srt = key[order]
    if bool(np.any(srt[1:] == srt[:-1])):
        order = np.argsort(key, kind="stable")
    return order.astype(np.int64, copy=False)


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
