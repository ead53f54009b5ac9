"""Filters that shrink an interaction set: the k-core used to preprocess most benchmarks."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ncf.config import check_type
from ncf.data._plain import plain
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions
from ncf.errors import ConfigError

__all__ = ["k_core"]


def _compact(
    kept: npt.NDArray[np.int64], size: int, old_map: IdMap | None
) -> tuple[npt.NDArray[np.int64], IdMap]:
    """Old index -> new index lookup (-1 where dropped) and the IdMap of the kept ids."""
    lookup = np.full(size, -1, dtype=np.int64)
    lookup[kept] = np.arange(kept.size, dtype=np.int64)
    raw = old_map.raw_ids[kept] if old_map is not None else kept
    return lookup, IdMap(raw)


def k_core(
    data: Interactions,
    k: int = 5,
    *,
    user_k: int | None = None,
    item_k: int | None = None,
) -> Interactions:
    """Largest subset in which every user and every item has at least ``k`` interactions.

    Users and items below the threshold are dropped repeatedly (dropping a user can push an
    item below the threshold and vice versa) until nothing changes. The result is the unique
    maximal k-core: every round removes only rows that no k-core can contain. Each round is
    one pass over the surviving rows (the counts are updated by the dropped rows), so the cost is
    O(N) per round, and the final pass that would find nothing to drop is skipped.

    Parameters
    ----------
    data : Interactions
    k : int, default 5
        Threshold for both sides unless overridden.
    user_k, item_k : int, optional
        Separate thresholds for users and items (default ``k``).

    Returns
    -------
    Interactions
        The surviving rows (input order kept, timestamps and weights carried), re-indexed to a
        compact universe of the surviving users and items. Its ``user_map``/``item_map`` hold
        the surviving raw ids (a subset of the input's maps); when the input has no map, the
        new map's raw ids are the *input indices*, so results can still be traced back.

    Raises
    ------
    ConfigError
        If a threshold is not a non-negative integer.

    Notes
    -----
    Counts are rows, so a repeated (user, item) pair (``duplicates="keep"``) counts once per
    row.

    Examples
    --------
    >>> core = k_core(data, k=5)               # doctest: +SKIP
    >>> core.user_map.decode([0, 1])           # raw ids of the first two kept users
    """
    check_type(data, Interactions, "data")
    uk = k if user_k is None else user_k
    ik = k if item_k is None else item_k
    for name, value in (("k", k), ("user_k", uk), ("item_k", ik)):
        try:
            ok = not isinstance(value, bool) and int(value) == value and value >= 0
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ConfigError(f"{name} must be a non-negative integer, got {plain(value)!r}")
    uk, ik = int(uk), int(ik)

    rows = np.arange(len(data), dtype=np.int64)
    users, items = data.users, data.items
    ucount = np.bincount(users, minlength=data.num_users)
    icount = np.bincount(items, minlength=data.num_items)
    while rows.size:
        keep = (ucount[users] >= uk) & (icount[items] >= ik)
        if bool(keep.all()):
            break
        dropped = ~keep
        # the counts of the surviving rows, by subtracting the dropped rows' (not by recounting)
        ucount = ucount - np.bincount(users[dropped], minlength=data.num_users)
        icount = icount - np.bincount(items[dropped], minlength=data.num_items)
        rows, users, items = rows[keep], users[keep], items[keep]
        # no user or item left with a count in (0, k): the next pass would keep every row, so it
        # is skipped (on logs that need one round this halves the work)
        if not bool(((ucount > 0) & (ucount < uk)).any() or ((icount > 0) & (icount < ik)).any()):
            break

    kept_users = np.flatnonzero(np.bincount(users, minlength=data.num_users)).astype(np.int64)
    kept_items = np.flatnonzero(np.bincount(items, minlength=data.num_items)).astype(np.int64)
    ulookup, umap = _compact(kept_users, data.num_users, data.user_map)
    ilookup, imap = _compact(kept_items, data.num_items, data.item_map)
    return Interactions(
        ulookup[users],
        ilookup[items],
        int(kept_users.size),
        int(kept_items.size),
        None if data.timestamps is None else data.timestamps[rows],
        None if data.weights is None else data.weights[rows],
        umap,
        imap,
    )
