"""Sets of (user, item) pairs as sorted int64 keys: one vectorised type for the whole package.

A pair is the key ``user * num_items + item``. A :class:`PairSet` is the sorted array of its
distinct keys, so a membership test is one binary search per query and each user's pairs form
one contiguous block (``indptr``, like a CSR row). Readers (repeated and overlapping pairs),
splits (each user's non-interacted items), negative samplers (:class:`ncf.PositiveSet` is a
:class:`PairSet`) and evaluation (excluded and relevant pairs) all use it.

Example
-------
>>> pairs = PairSet([0, 0, 1], [2, 0, 2], num_users=2, num_items=3)
>>> pairs.contains([0, 1, 1], [2, 0, 2]).tolist()
[True, False, True]
>>> pairs.degrees().tolist()
[2, 1]
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ncf.errors import DataError, UnknownIdError

__all__ = ["PairSet", "pair_keys", "searchsorted"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_SORT_QUERIES_FROM = 1 << 15


def pair_keys(users: npt.ArrayLike, items: npt.ArrayLike, num_items: int) -> IntArray:
    """Row-aligned keys ``user * max(num_items, 1) + item`` (not sorted, repeats kept).

    Parameters
    ----------
    users, items : int arrays of broadcastable shapes
    num_items : int
        The stride; every item must lie in ``[0, num_items)`` for keys to be distinct.
    """
    u = np.asarray(users, dtype=np.int64)
    i = np.asarray(items, dtype=np.int64)
    return np.asarray(u * np.int64(max(int(num_items), 1)) + i, dtype=np.int64)


def searchsorted(a: IntArray, v: IntArray, side: Literal["left", "right"] = "left") -> IntArray:
    """``np.searchsorted(a, v)`` that sorts large query batches first (same result, faster).

    Random queries into a large array miss the cache on every probe; sorted queries let numpy
    reuse the previous position, which is several times faster even counting the argsort.
    """
    flat = np.asarray(v).reshape(-1)
    if flat.size < _SORT_QUERIES_FROM:
        return np.asarray(np.searchsorted(a, v, side=side), dtype=np.int64)
    order = np.argsort(flat)
    out = np.empty(flat.size, dtype=np.int64)
    out[order] = np.searchsorted(a, flat[order], side=side)
    return out.reshape(np.shape(v))


def _unique_sorted(keys: IntArray) -> IntArray:
    """Sorted distinct keys (sort-based: faster than ``np.unique``'s hashing for int64 keys)."""
    srt = np.sort(keys)
    if srt.size > 1:
        srt = srt[np.r_[True, srt[1:] != srt[:-1]]]
    return srt


class PairSet:
    """Distinct (user, item) pairs over a fixed universe, with vectorised membership tests.

    Parameters
    ----------
    users, items : (N,) int
        The pairs (repeats allowed; each pair is stored once). Indices must lie in
        ``[0, num_users)`` and ``[0, num_items)``.
    num_users, num_items : int
        The universe.

    Raises
    ------
    DataError
        An index outside the universe, or arrays of different lengths.

    Notes
    -----
    Queries with an index outside the universe (including ``-1`` padding) are never
    contained, so padded candidate lists need no masking first.
    """

    def __init__(
        self, users: npt.ArrayLike, items: npt.ArrayLike, *, num_users: int, num_items: int
    ) -> None:
        u = np.asarray(users, dtype=np.int64).reshape(-1)
        i = np.asarray(items, dtype=np.int64).reshape(-1)
        nu, ni = int(num_users), int(num_items)
        if u.shape != i.shape:
            raise DataError(f"users and items differ in length ({u.size} and {i.size})")
        for name, arr, n in (("user", u, nu), ("item", i, ni)):
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= n):
                bad = int(arr[(arr < 0) | (arr >= n)][0])
                raise DataError(f"{name} index {bad} out of range [0, {n})", field=f"{name}s")
        self._setup(_unique_sorted(pair_keys(u, i, ni)), nu, ni)

    def _setup(self, keys: IntArray, num_users: int, num_items: int) -> None:
        keys.setflags(write=False)
        self._keys = keys
        self._num_users = num_users
        self._num_items = num_items
        self._stride = np.int64(max(num_items, 1))

    @classmethod
    def from_csr(cls, matrix: sp.spmatrix | sp.sparray) -> PairSet:
        """The stored entries of a ``(num_users, num_items)`` sparse matrix (zeros included)."""
        csr = sp.csr_matrix(matrix)
        nu, ni = (int(s) for s in csr.shape)
        rows = np.repeat(np.arange(nu, dtype=np.int64), np.diff(csr.indptr))
        keys = pair_keys(rows, csr.indices, ni)
        if keys.size > 1 and not bool(np.all(keys[1:] > keys[:-1])):
            keys = _unique_sorted(keys)  # unsorted indices or repeated entries
        out = PairSet.__new__(PairSet)
        out._setup(keys, nu, ni)
        return out

    # ------------------------------------------------------------------ views
    @property
    def num_users(self) -> int:
        return self._num_users

    @property
    def num_items(self) -> int:
        return self._num_items

    @property
    def keys(self) -> IntArray:
        """Sorted distinct ``user * num_items + item`` keys (read-only)."""
        return self._keys

    def __len__(self) -> int:
        return int(self._keys.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} pairs, {self._num_users} users x {self._num_items} items)"

    @functools.cached_property
    def indptr(self) -> IntArray:
        """``(num_users + 1,)``: user ``u``'s pairs are ``keys[indptr[u]:indptr[u + 1]]``."""
        bounds = np.arange(self._num_users + 1, dtype=np.int64) * self._stride
        out = np.asarray(np.searchsorted(self._keys, bounds), dtype=np.int64)
        out.setflags(write=False)
        return out

    def users(self) -> IntArray:
        """User of each stored pair, in key order."""
        return np.asarray(self._keys // self._stride, dtype=np.int64)

    def items(self) -> IntArray:
        """Item of each stored pair, in key order."""
        return np.asarray(self._keys % self._stride, dtype=np.int64)

    def degrees(self) -> IntArray:
        """Number of distinct items of each user, ``(num_users,)`` int64."""
        return np.asarray(np.diff(self.indptr), dtype=np.int64)

    def items_of(self, user: int) -> IntArray:
        """Sorted items of one user; UnknownIdError outside ``[0, num_users)``."""
        u = int(user)
        if not 0 <= u < self._num_users:
            raise UnknownIdError(f"user index {u} out of range [0, {self._num_users})")
        block = self._keys[self.indptr[u] : self.indptr[u + 1]]
        return np.asarray(block - np.int64(u) * self._stride, dtype=np.int64)

    # ------------------------------------------------------------------ queries
    def index(self, users: npt.ArrayLike, items: npt.ArrayLike) -> IntArray:
        """Position of each pair in :attr:`keys`, or -1 where absent; inputs broadcast."""
        u, i = np.broadcast_arrays(
            np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        )
        out = np.full(u.shape, -1, dtype=np.int64)
        if self._keys.size == 0:
            return out
        inside = (u >= 0) & (u < self._num_users) & (i >= 0) & (i < self._num_items)
        q = u * self._stride + i
        pos = np.minimum(searchsorted(self._keys, q), self._keys.size - 1)
        found = (self._keys[pos] == q) & inside
        out[found] = pos[found]
        return out

    def contains(self, users: npt.ArrayLike, items: npt.ArrayLike) -> BoolArray:
        """Whether each (user, item) pair is in the set; inputs broadcast against each other.

        Parameters
        ----------
        users, items : int arrays of broadcastable shapes, e.g. ``(B, 1)`` and ``(B, k)``

        Returns
        -------
        bool ndarray of the broadcast shape
        """
        u, i = np.broadcast_arrays(
            np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        )
        if self._keys.size == 0:
            return np.zeros(u.shape, dtype=bool)
        inside = (u >= 0) & (u < self._num_users) & (i >= 0) & (i < self._num_items)
        q = u * self._stride + i
        pos = np.minimum(searchsorted(self._keys, q), self._keys.size - 1)
        return np.asarray((self._keys[pos] == q) & inside)

    def difference(self, other: PairSet) -> PairSet:
        """The pairs of ``self`` that are not in ``other`` (same universe required)."""
        if (other.num_users, other.num_items) != (self._num_users, self._num_items):
            raise DataError(
                f"pair sets over {self._num_users} x {self._num_items} and "
                f"{other.num_users} x {other.num_items} users x items cannot be compared"
            )
        keys = self._keys
        if len(other) and keys.size:
            pos = np.minimum(searchsorted(other.keys, keys), other.keys.size - 1)
            keys = keys[other.keys[pos] != keys]
        out = PairSet.__new__(PairSet)
        out._setup(np.array(keys, dtype=np.int64), self._num_users, self._num_items)
        return out

    @functools.cached_property
    def _rank_index(self) -> IntArray:
        """Key of each pair's position among the user's absent items (see :meth:`nth_absent`)."""
        n = self._stride
        key_users = self._keys // n
        within = np.arange(self._keys.size, dtype=np.int64) - self.indptr[key_users]
        return np.asarray(key_users * (n + 1) + (self._keys % n - within), dtype=np.int64)

    def nth_absent(self, users: npt.ArrayLike, ranks: npt.ArrayLike) -> IntArray:
        """The ``ranks``-th (0-based) item *not* in the set for each user, elementwise.

        With a user's items sorted as ``p_0 < p_1 < ...``, the ``j``-th absent item is
        ``j + #{i : p_i - i <= j}``: one ``searchsorted`` for every cell. ``ranks`` must lie in
        ``[0, num_items - degree(user))``; ``users`` broadcasts against ``ranks``.
        """
        n = self._stride
        u = np.asarray(users, dtype=np.int64)
        r = np.asarray(ranks, dtype=np.int64)
        below = searchsorted(self._rank_index, u * (n + 1) + r, side="right") - self.indptr[u]
        return np.asarray(r + below, dtype=np.int64)
