"""Train / valid / test splits over one universe, with fixed evaluation negatives.

Every split keeps the input's universe (``num_users``, ``num_items``) and id maps, so all parts
share one index space, and the parts together are exactly the input rows (as a multiset).
When the input holds a repeated (user, item) pair (``duplicates="keep"``), all rows of that
pair go to one part (the part of its latest row, or for :func:`random_split` the part drawn
for the pair), so a pair never appears in two parts.

Negatives sampled here are "never interacted" items: distinct within a row, and never an item
the user has anywhere in the input (train, valid or test), as in the NeuMF protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ncf._rng import numpy_rng
from ncf.config import check_type
from ncf.data._plain import plain
from ncf.data.interactions import Interactions, Split
from ncf.data.pairs import PairSet, pair_keys
from ncf.data.sequences import time_order
from ncf.errors import ConfigError, DataError

__all__ = ["HoldoutRule", "holdout_rule", "leave_one_out", "random_split", "temporal_split", "validation_split"]

IntArray = npt.NDArray[np.int64]

# Part codes; a larger code is "later" (test wins over valid wins over train).
_TRAIN, _VALID, _TEST = 0, 1, 2


# ---------------------------------------------------------------------------- helpers
def _check_fraction(name: str, value: float, *, allow_zero: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (0.0 <= v < 1.0) or (v == 0.0 and not allow_zero):
        lo = "[0, 1)" if allow_zero else "(0, 1)"
        raise ConfigError(f"{name} must be in {lo}, got {plain(value)!r}")
    return v


def _check_num_negatives(num_negatives: int) -> int:
    try:
        ok = not isinstance(num_negatives, bool) and int(num_negatives) == num_negatives >= 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"num_negatives must be a non-negative integer, got {plain(num_negatives)!r}")
    return int(num_negatives)


def _pair_keys(data: Interactions) -> IntArray:
    return pair_keys(data.users, data.items, data.num_items)


def _pair_set(data: Interactions) -> PairSet:
    return PairSet(data.users, data.items, num_users=data.num_users, num_items=data.num_items)


def _round_half_up(x: npt.ArrayLike) -> IntArray:
    return np.asarray(np.floor(np.asarray(x, dtype=np.float64) + 0.5), dtype=np.int64)


def _harmonise_pairs(keys: IntArray, part: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
    """Give every row of a repeated pair the largest part code among that pair's rows."""
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    if ks.size < 2 or bool(np.all(ks[1:] != ks[:-1])):
        return part
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    group_max = np.maximum.reduceat(part[order], starts)
    sizes = np.diff(np.r_[starts, ks.size])
    out = np.empty_like(part)
    out[order] = np.repeat(group_max, sizes)
    return out


def _last_per_user(order: IntArray, users: IntArray, eligible: npt.NDArray[np.bool_]) -> IntArray:
    """Row index of the last eligible row of each user, given rows sorted by user then time."""
    sub = order[eligible[order]]
    su = users[sub]
    last = np.ones(sub.size, dtype=bool)
    last[:-1] = su[1:] != su[:-1]
    return sub[last]


def _unordered_users(data: Interactions, order: IntArray) -> npt.NDArray[np.bool_]:
    """Per user: True when the user has at least two rows and all of them share one timestamp
    (their timestamps carry no order). ``order``: rows sorted by user then time."""
    out = np.zeros(data.num_users, dtype=bool)
    ts = data.timestamps
    if ts is None or len(data) < 2:
        return out
    su = data.users[order]
    start = np.ones(su.size, dtype=bool)
    start[1:] = su[1:] != su[:-1]
    first = np.flatnonzero(start)
    last = np.append(first[1:], su.size) - 1
    st = ts[order]
    tied = (last > first) & (st[first] == st[last])
    out[su[first[tied]]] = True
    return out


def _time_order(data: Interactions, rng: np.random.Generator) -> IntArray:
    """Rows sorted by (user, timestamp, item) as :func:`ncf.data.sequences.time_order` sorts them
    (the sequence models' order); by (user, random key) for a user whose timestamps carry no
    order (none at all, or all of the user's rows at one timestamp)."""
    if data.timestamps is None:
        return np.lexsort((rng.random(len(data)), data.users)).astype(np.int64)
    order = time_order(data)
    unordered = _unordered_users(data, order)
    if not bool(unordered.any()):
        return order  # no random draw: splits of ordered data are what they always were
    key = np.empty(len(data), dtype=np.float64)
    key[order] = np.arange(len(data), dtype=np.float64)
    rows = unordered[data.users]
    key[rows] = rng.random(int(rows.sum()))
    return np.lexsort((key, data.users)).astype(np.int64)


@dataclass(frozen=True)
class HoldoutRule:
    """Which interaction a leave-one-out split holds out per user, and why (``run.json`` says it)."""

    rule: str  # "latest", "random" or "mixed"
    reason: str

    def describe(self) -> str:
        return f"{self.rule} item per user ({self.reason})"


def holdout_rule(data: Interactions) -> HoldoutRule:
    """How :func:`leave_one_out` chooses each user's held-out item on ``data``: the latest when
    timestamps order the user's items, a seeded random item when they carry no order."""
    if data.timestamps is None:
        return HoldoutRule("random", "no timestamps")
    multi = np.bincount(data.users, minlength=data.num_users) >= 2
    unordered = _unordered_users(data, time_order(data))
    n_multi, n_unordered = int(multi.sum()), int(unordered.sum())
    if n_unordered == 0:
        return HoldoutRule("latest", "timestamps order each user's items; same-second ties go to the larger item index")
    if data.timestamps.size and data.timestamps.min() == data.timestamps.max():
        return HoldoutRule("random", "all timestamps are equal, so they carry no order")
    if n_unordered == n_multi:
        return HoldoutRule("random", "each user's timestamps are all equal, so they carry no order")
    return HoldoutRule("mixed", f"{n_unordered} of {n_multi} users have all their timestamps equal: a random "
                                "item for them, the latest for the others")


def _describe_user(data: Interactions, user: int) -> str:
    if data.user_map is not None:
        return f"user {user} (raw id {plain(data.user_map.decode(user))!r})"
    return f"user {user}"


def _first_occurrences(values: IntArray, bound: int) -> npt.NDArray[np.bool_]:
    """Mask of the first occurrence of each value within its row (values in ``[0, bound)``).

    One flat argsort of ``(row, value, column)`` keys: much faster than many short row sorts.
    """
    b, m = values.shape
    rows = np.arange(b, dtype=np.int64)[:, None]
    cols = np.arange(m, dtype=np.int64)[None, :]
    keys = ((rows * bound + values) * m + cols).ravel()
    order = np.argsort(keys)
    pair = keys[order] // m
    first = np.ones(keys.size, dtype=bool)
    first[1:] = pair[1:] != pair[:-1]
    fresh = np.empty(keys.size, dtype=bool)
    fresh[order] = first
    return fresh.reshape(b, m)


def _distinct_ranks(avail: IntArray, k: int, rng: np.random.Generator) -> IntArray:
    """``(B, k)`` distinct integers per row, row ``b`` uniform from ``[0, avail[b])``.

    Rows with a small range take the first ``k`` of a random permutation; the others draw with
    replacement and drop repeats (first occurrence kept), topping up only unfinished rows.
    """
    out = np.empty((avail.size, k), dtype=np.int64)
    small = avail < 4 * k
    if bool(small.any()):
        a = avail[small]
        width = int(a.max())
        noise = rng.random((a.size, width))
        noise[np.arange(width)[None, :] >= a[:, None]] = np.inf
        out[small] = np.argsort(noise, axis=1, kind="stable")[:, :k]
    rows = np.flatnonzero(~small)
    extra = k // 4 + 8
    cand = np.empty((rows.size, 0), dtype=np.int64)
    while rows.size:
        a = avail[rows][:, None]
        draws = np.floor(rng.random((rows.size, k + extra)) * a).astype(np.int64)
        cand = np.concatenate([cand, np.minimum(draws, a - 1)], axis=1)
        fresh = _first_occurrences(cand, int(a.max()))
        counts = fresh.sum(axis=1)
        done = counts >= k
        if bool(done.any()):
            f = fresh[done]
            running = np.cumsum(f.ravel()).reshape(f.shape)
            running -= (running[:, -1] - counts[done])[:, None]  # cumulative count within the row
            out[rows[done]] = cand[done][f & (running <= k)].reshape(-1, k)
        rows, cand = rows[~done], cand[~done]
    return out


def _sample_negatives(
    data: Interactions, users: IntArray, k: int, rng: np.random.Generator, pairs: PairSet | None = None
) -> IntArray:
    """``(len(users), k)`` distinct items per row, none of which the row's user has in ``data``.

    Uniform without replacement over the user's non-interacted items: rank ``j`` among a user's
    non-interacted items maps to item ``j + #{positives p_i : p_i - i <= j}`` (``p`` sorted),
    one ``searchsorted`` for all rows (:meth:`PairSet.nth_absent`). ``pairs``: ``data``'s pair
    set when the caller has it already.
    """
    pairs = _pair_set(data) if pairs is None else pairs
    degree = pairs.degrees()
    avail = data.num_items - degree[users]
    short = avail < k
    if bool(short.any()):
        bad = int(users[np.flatnonzero(short)[0]])
        raise DataError(
            f"{_describe_user(data, bad)} has only {data.num_items - int(degree[bad])} items it "
            f"never interacted with; cannot sample {k} distinct negatives (lower num_negatives)"
        )
    ranks = _distinct_ranks(avail, k, rng)
    return pairs.nth_absent(users[:, None], ranks)


def _assemble(
    data: Interactions,
    part: npt.NDArray[np.int8],
    *,
    order: IntArray,
    with_valid: bool,
    num_negatives: int,
    rng: np.random.Generator,
    pairs: PairSet | None = None,
) -> Split:
    """Build the Split: train rows in input order, valid/test rows in ``order``; negatives.

    With ``with_valid`` the split has a ``valid`` part even when it is empty. ``pairs``:
    ``data``'s pair set when the caller has it (then rows without a repeated pair skip the
    harmonisation, which would change nothing).
    """
    if pairs is None or len(pairs) < len(data):
        part = _harmonise_pairs(_pair_keys(data), part)
    ordered_part = part[order]
    train = data.select(part == _TRAIN)
    test = data.select(order[ordered_part == _TEST])
    valid = data.select(order[ordered_part == _VALID]) if with_valid else None
    test_neg = valid_neg = None
    if num_negatives > 0:
        test_neg = _sample_negatives(data, test.users, num_negatives, rng, pairs)
        if valid is not None:
            valid_neg = _sample_negatives(data, valid.users, num_negatives, rng, pairs)
    return Split(train, test, valid, test_neg, valid_neg)


# ---------------------------------------------------------------------------- public API
def leave_one_out(
    data: Interactions, *, num_negatives: int = 99, seed: int = 0, valid: bool = False
) -> Split:
    """Hold out each user's latest interaction as test (NeuMF / NCF protocol).

    Users with at least two distinct items give their latest interaction (by timestamp; ties
    go to the larger item index) to the test set; users with one item stay fully in train.
    Without timestamps, and for a user whose timestamps are all equal (they carry no order),
    the held-out interaction is chosen at random (seeded): never by item index, which would
    hold out a biased set. :func:`holdout_rule` says which rule applies to ``data``.

    Parameters
    ----------
    data : Interactions
    num_negatives : int, default 99
        Sampled negatives per test (and valid) row: distinct within the row and never an item
        the user interacted with anywhere in ``data``. 0 gives ``test_negatives=None``.
    seed : int, default 0
        Seeds the negatives (and the held-out choice when there are no timestamps).
    valid : bool, default False
        Also hold out each user's next-latest interaction as validation (users with at least
        three distinct items), with its own negatives.

    Returns
    -------
    Split
        Same universe and id maps as ``data``; test/valid rows sorted by user.

    Raises
    ------
    DataError
        If a held-out user has fewer than ``num_negatives`` non-interacted items.

    Examples
    --------
    >>> split = leave_one_out(data, num_negatives=99, seed=0)      # doctest: +SKIP
    >>> split.test_negatives.shape                                  # (len(split.test), 99)
    """
    check_type(data, Interactions, "data")
    k = _check_num_negatives(num_negatives)
    rng = numpy_rng(seed)
    keys = _pair_keys(data)
    pairs = _pair_set(data)
    distinct = pairs.degrees()
    order = _time_order(data, rng)
    users = data.users
    part = np.zeros(len(data), dtype=np.int8)
    held = np.zeros(len(data), dtype=bool)
    for code, min_items in ((_TEST, 2), (_VALID, 3)) if valid else ((_TEST, 2),):
        rows = _last_per_user(order, users, ~held)
        rows = rows[distinct[users[rows]] >= min_items]
        chosen = np.full(data.num_users, -1, dtype=np.int64)
        chosen[users[rows]] = keys[rows]
        mask = keys == chosen[users]
        part[mask] = code
        held |= mask
    return _assemble(data, part, order=order, with_valid=valid, num_negatives=k, rng=rng, pairs=pairs)


def temporal_split(
    data: Interactions,
    *,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.0,
    num_negatives: int = 0,
    seed: int = 0,
) -> Split:
    """Global cut by time: the latest ``test_fraction`` of events is test.

    The cut is the timestamp quantile at ``1 - test_fraction`` (and ``1 - test_fraction -
    valid_fraction`` for validation). Events at exactly a cut time go to the *earlier* part,
    so every test event is strictly later than every train event; with many ties the later
    part can be smaller than its fraction.

    Parameters
    ----------
    data : Interactions
        Must have timestamps.
    test_fraction : float, default 0.2
        In (0, 1).
    valid_fraction : float, default 0.0
        In [0, 1); with ``test_fraction`` below 1. When > 0 the split has a ``valid`` part.
    num_negatives : int, default 0
        Optional sampled negatives per test/valid row (as in :func:`leave_one_out`).
    seed : int, default 0
        Seeds the negatives.

    Returns
    -------
    Split
        Same universe and id maps; test/valid rows sorted by time.

    Raises
    ------
    DataError
        If ``data`` has no timestamps, or a user has too few non-interacted items.
    """
    check_type(data, Interactions, "data")
    if data.timestamps is None:
        raise DataError(
            "temporal_split needs timestamps; use random_split or leave_one_out", field="timestamps"
        )
    tf = _check_fraction("test_fraction", test_fraction, allow_zero=False)
    vf = _check_fraction("valid_fraction", valid_fraction, allow_zero=True)
    if tf + vf >= 1.0:
        raise ConfigError(f"test_fraction + valid_fraction must be below 1, got {tf + vf}")
    k = _check_num_negatives(num_negatives)
    ts = data.timestamps
    n = len(data)
    srt = np.sort(ts)

    def later_than(count_after: int) -> npt.NDArray[np.bool_]:
        # rows strictly later than the timestamp at sorted position n - count_after - 1
        if count_after <= 0:
            return np.zeros(n, dtype=bool)
        if count_after >= n:
            return np.ones(n, dtype=bool)
        return np.asarray(ts > srt[n - count_after - 1])

    n_test = int(_round_half_up(np.asarray(tf * n)))
    n_valid = int(_round_half_up(np.asarray((tf + vf) * n))) - n_test if vf > 0 else 0
    part = np.zeros(n, dtype=np.int8)
    part[later_than(n_test + n_valid)] = _VALID
    part[later_than(n_test)] = _TEST
    order = np.lexsort((data.items, data.users, ts)).astype(np.int64)
    rng = numpy_rng(seed)
    return _assemble(data, part, order=order, with_valid=vf > 0, num_negatives=k, rng=rng)


def random_split(
    data: Interactions,
    *,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.0,
    num_negatives: int = 0,
    seed: int = 0,
) -> Split:
    """Per-user random ratio split: each user gives ``round(test_fraction * n)`` items to test.

    Works on distinct (user, item) pairs: a user with ``n >= 2`` items gets
    ``round(test_fraction * n)`` test and ``round(valid_fraction * n)`` valid items (half
    rounds up), reduced so that at least one item stays in train; users with one item stay in
    train. Vectorised: one random key per pair and its rank within the user.

    Parameters
    ----------
    data : Interactions
    test_fraction : float, default 0.2
        In (0, 1).
    valid_fraction : float, default 0.0
        In [0, 1); when > 0 the split has a ``valid`` part.
    num_negatives : int, default 0
        Optional sampled negatives per test/valid row (as in :func:`leave_one_out`).
    seed : int, default 0

    Returns
    -------
    Split
        Same universe and id maps; test/valid rows sorted by user.

    Raises
    ------
    DataError
        If a user has too few non-interacted items for ``num_negatives``.
    """
    check_type(data, Interactions, "data")
    tf = _check_fraction("test_fraction", test_fraction, allow_zero=False)
    vf = _check_fraction("valid_fraction", valid_fraction, allow_zero=True)
    if tf + vf >= 1.0:
        raise ConfigError(f"test_fraction + valid_fraction must be below 1, got {tf + vf}")
    k = _check_num_negatives(num_negatives)
    rng = numpy_rng(seed)
    keys = _pair_keys(data)
    n = max(data.num_items, 1)
    srt_rows = np.argsort(keys, kind="stable")
    srt_keys = keys[srt_rows]
    new = np.ones(keys.size, dtype=bool)
    new[1:] = srt_keys[1:] != srt_keys[:-1]
    uniq = srt_keys[new]
    inverse = np.empty(keys.size, dtype=np.int64)
    inverse[srt_rows] = np.cumsum(new) - 1
    pair_users = uniq // n
    order = np.lexsort((rng.random(uniq.size), pair_users))
    count = np.bincount(pair_users, minlength=data.num_users).astype(np.int64)
    first = np.cumsum(count) - count
    su = pair_users[order]
    rank = np.arange(uniq.size, dtype=np.int64) - first[su]
    room = np.maximum(count - 1, 0)
    n_test = np.minimum(_round_half_up(tf * count), room)
    n_valid = np.minimum(_round_half_up(vf * count), room - n_test)
    pair_part = np.empty(uniq.size, dtype=np.int8)
    pair_part[order] = np.where(
        rank < n_test[su], _TEST, np.where(rank < n_test[su] + n_valid[su], _VALID, _TRAIN)
    ).astype(np.int8)
    part = pair_part[inverse]
    row_order = np.lexsort((data.items, data.users)).astype(np.int64)
    return _assemble(data, part, order=row_order, with_valid=vf > 0, num_negatives=k, rng=rng)


def validation_split(
    train: Interactions,
    *,
    method: Literal["loo", "random"] = "loo",
    fraction: float = 0.1,
    num_negatives: int = 0,
    seed: int = 0,
) -> tuple[Interactions, Interactions, IntArray | None]:
    """Carve a validation set out of a training set (for early stopping).

    Parameters
    ----------
    train : Interactions
    method : {"loo", "random"}, default "loo"
        ``"loo"``: each user's latest interaction (random without timestamps), users with at
        least two items; ``"random"``: ``round(fraction * n)`` random items per user.
    fraction : float, default 0.1
        Used by ``"random"`` only; in (0, 1).
    num_negatives : int, default 0
        Negatives per validation row, never one of the user's ``train`` positives; 0 gives
        None.
    seed : int, default 0

    Returns
    -------
    train : Interactions
        The remaining training rows (same universe and maps).
    valid : Interactions
    valid_negatives : (len(valid), num_negatives) int64 or None
    """
    check_type(train, Interactions, "train")
    if method == "loo":
        split = leave_one_out(train, num_negatives=num_negatives, seed=seed)
    elif method == "random":
        split = random_split(train, test_fraction=fraction, num_negatives=num_negatives, seed=seed)
    else:
        raise ConfigError(f"unknown validation method {method!r}; use 'loo' or 'random'")
    return split.train, split.test, split.test_negatives
