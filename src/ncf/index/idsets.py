"""The sparse id-set algebra behind ``exclude`` and ``allow`` of :meth:`Index.search
<ncf.index.base.Index.search>`.

:func:`parse_sets` turns any accepted form (:data:`IdSets`) into a :class:`Sets`: one sorted id
array shared by every query, or per-query sets kept as sorted keys ``row * n + id``. The
operations the search needs are vectorised over a whole ``(row, id)`` grid: membership
(:meth:`Sets.contains`), sizes (:meth:`Sets.count`), difference (:meth:`Sets.minus`) and the
CSR masks the exact scans take (:meth:`Sets.to_csr`, :meth:`Sets.removed_csr`).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ncf._types import IntArray
from ncf.errors import DataError

__all__ = ["IdSets", "Sets", "parse_sets"]

#: What ``exclude`` and ``allow`` accept: a scipy sparse ``(B, N)`` matrix (stored entries
#: are the ids), one id array shared by every query, or one id array (or None) per query.
IdSets: TypeAlias = sp.spmatrix | sp.sparray | npt.ArrayLike | Sequence[npt.ArrayLike | None] | None


def _member_sorted(values: IntArray, probe: IntArray) -> npt.NDArray[np.bool_]:
    """Which ``probe`` entries are in the sorted array ``values``."""
    if values.size == 0:
        return np.zeros(probe.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(values, probe), values.size - 1)
    return cast(npt.NDArray[np.bool_], values[pos] == probe)


@dataclass(frozen=True)
class Sets:
    """Parsed ``exclude``/``allow``: one sorted id array for every query, or per-query sets.

    Per-query sets are kept as one sorted array of unique keys ``row * n + id``, so that a
    membership test for any ``(row, id)`` grid is one ``searchsorted``. ``removed`` (keys
    again) marks items taken out of a shared list for some rows (``minus``).
    """

    n: int
    shared: IntArray | None = None
    keys: IntArray | None = None
    has: npt.NDArray[np.bool_] | None = None  # per-query: False where the caller gave None
    removed: IntArray | None = None

    def has_rows(self, num: int) -> npt.NDArray[np.bool_]:
        return self.has if self.has is not None else np.ones(num, dtype=bool)

    def count(self, num: int) -> IntArray:
        """The size of each row's set."""
        if self.shared is not None:
            out = np.full(num, self.shared.size, dtype=np.int64)
            if self.removed is not None:
                out -= np.bincount(self.removed // self.n, minlength=num).astype(np.int64)
            return out
        keys = cast(IntArray, self.keys)
        return np.bincount(keys // self.n, minlength=num).astype(np.int64)

    def contains(self, rows: IntArray, ids: IntArray) -> npt.NDArray[np.bool_]:
        """Whether ``ids[j]`` is in the set of row ``rows[j]`` (same shapes; -1 is in none)."""
        if self.shared is not None:
            hit = _member_sorted(self.shared, ids)
            if self.removed is not None:
                hit &= ~_member_sorted(self.removed, rows * self.n + ids)
        else:
            hit = _member_sorted(cast(IntArray, self.keys), rows * self.n + ids)
        return hit & (ids >= 0)

    def minus(self, other: Sets | None) -> Sets:
        """These sets without ``other``'s items, row by row."""
        if other is None:
            return self
        if self.shared is not None:
            # the items of other's rows that lie in the shared list, as removal keys
            if other.shared is not None:
                return Sets(self.n, shared=self.shared[~_member_sorted(other.shared, self.shared)], has=self.has)
            okeys = cast(IntArray, other.keys)
            inside = okeys[_member_sorted(self.shared, okeys % self.n)]
            return Sets(self.n, shared=self.shared, has=self.has, removed=inside)
        keys = cast(IntArray, self.keys)
        keep = ~other.contains(keys // self.n, keys % self.n)
        return Sets(self.n, keys=keys[keep], has=self.has)

    def keys_of(self, rows: IntArray) -> IntArray:
        """The per-query keys of ``rows`` (sorted)."""
        keys = cast(IntArray, self.keys)
        return keys[_member_sorted(rows, keys // self.n)]

    def to_csr(self, rows: IntArray) -> sp.csr_matrix:
        """The sets of ``rows`` (sorted) as a boolean ``(len(rows), n)`` CSR matrix."""
        if self.shared is not None and self.removed is None:
            indptr = np.arange(rows.size + 1, dtype=np.int64) * self.shared.size
            data = np.ones(rows.size * self.shared.size, dtype=bool)
            return sp.csr_matrix((data, np.tile(self.shared, rows.size), indptr), shape=(rows.size, self.n))
        keys = self.keys_of(rows)
        local = np.searchsorted(rows, keys // self.n)
        indptr = np.searchsorted(local, np.arange(rows.size + 1))
        return sp.csr_matrix((np.ones(keys.size, dtype=bool), keys % self.n, indptr), shape=(rows.size, self.n))

    def removed_csr(self, rows: IntArray) -> sp.csr_matrix:
        """``removed`` for ``rows`` (sorted), columns numbered by position in ``shared``."""
        shared = cast(IntArray, self.shared)
        removed = cast(IntArray, self.removed)
        keys = removed[_member_sorted(rows, removed // self.n)]
        local = np.searchsorted(rows, keys // self.n)
        cols = np.searchsorted(shared, keys % self.n)
        indptr = np.searchsorted(local, np.arange(rows.size + 1))
        return sp.csr_matrix((np.ones(keys.size, dtype=bool), cols, indptr), shape=(rows.size, shared.size))


def _check_ids(arr: npt.NDArray[Any], n: int, what: str) -> IntArray:
    if arr.ndim != 1:
        raise DataError(f"{what} ids must be 1-D arrays, got shape {arr.shape}", field=what)
    if arr.size and arr.dtype.kind not in "iu":
        raise DataError(f"{what} must hold integer item ids, got dtype {arr.dtype}", field=what)
    ids = arr.astype(np.int64, copy=False)
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
        raise DataError(f"{what} holds item ids outside the index's range [0, {n})", field=what)
    return ids


def parse_sets(value: IdSets, num: int, n: int, what: str) -> Sets | None:
    """``exclude``/``allow`` in one of their accepted forms -> :class:`Sets`."""
    if value is None:
        return None
    if sp.issparse(value):
        mat = sp.csr_matrix(value)
        if tuple(mat.shape) != (num, n):
            raise DataError(
                f"{what} has shape {tuple(mat.shape)} but there are {num} queries x {n} items", field=what
            )
        rows = np.repeat(np.arange(num, dtype=np.int64), np.diff(mat.indptr))
        return Sets(n, keys=np.unique(rows * n + mat.indices.astype(np.int64)))
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype != object:
        return Sets(n, shared=np.unique(_check_ids(value, n, what)))
    if isinstance(value, np.ndarray) and value.ndim == 0:
        raise DataError(f"{what} must be an id array or one per query, got a scalar", field=what)
    if isinstance(value, (numbers.Number, str, bytes)):
        raise DataError(f"{what} must be an id array or one per query, got {type(value).__name__}", field=what)
    items = list(cast(Sequence[Any], value))
    if all(isinstance(x, numbers.Integral) for x in items):  # one list of ids for every query
        return Sets(n, shared=np.unique(_check_ids(np.asarray(items, dtype=np.int64), n, what)))
    if len(items) != num:
        raise DataError(f"{what} has {len(items)} id lists for {num} queries", field=what)
    has = np.array([x is not None for x in items], dtype=bool)
    parts: list[IntArray] = []
    for row, x in enumerate(items):
        arr = np.asarray(x if x is not None else [], dtype=None)
        if arr.size or arr.ndim != 1:
            parts.append(row * n + _check_ids(arr, n, what))
    keys = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
    return Sets(n, keys=keys, has=None if has.all() else has)
