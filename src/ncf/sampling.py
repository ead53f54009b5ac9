"""Negative sampling for implicit feedback: uniform, popularity-weighted and hard negatives.

Every sampler answers ``sample(users, rng) -> (B, k)`` item indices that are never a training
positive of the row's user, and ``log_probability(items)`` (the proposal's log q, used for the
logQ correction of sampled softmax). All work is vectorised over the batch; membership tests
go through :class:`PositiveSet`, a sorted array of ``user * num_items + item`` keys.

::

    PositiveSet(train)                      contains / contains_torch / positives_of
    UniformSampler(train, k)                uniform over the user's non-positives (exact)
    PopularitySampler(train, k, alpha)      q(i) ∝ count(i) ** alpha, rejection of positives
    HardNegativeSampler(train, k, ...)      a share from per-user candidates, rest from a base
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf.data._plain import plain
from ncf.data.interactions import Interactions
from ncf.data.pairs import PairSet
from ncf.errors import ConfigError, DataError, UnknownIdError

__all__ = [
    "HardNegativeSampler",
    "NegativeSampler",
    "PopularitySampler",
    "PositiveSet",
    "UniformSampler",
    "item_log_frequency",
]

logger = logging.getLogger(__name__)

#: Negatives drawn per block by :class:`UniformSampler` (2**21 cells: 16 MiB per int64 temporary).
#: Measured on a 5M-row MovieLens-shaped log (20M negatives): blocks keep the sampling's peak
#: memory at a few blocks instead of ~8 arrays of all cells, and its time linear in the cells.
SAMPLE_BLOCK_CELLS = 1 << 21

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


# ---------------------------------------------------------------------------- positive set
class PositiveSet(PairSet):
    """The set of (user, item) training pairs, for fast vectorised membership tests.

    A :class:`~ncf.data.pairs.PairSet` built from training data, plus the torch-side lookups
    the trainer needs (:meth:`contains_torch`, :meth:`batch_mask`).

    Parameters
    ----------
    data : Interactions or scipy.sparse matrix
        Training interactions, or a ``(num_users, num_items)`` user x item matrix whose stored
        non-zero entries are the positives.

    Notes
    -----
    Pairs are stored once each as sorted int64 keys ``user * num_items + item``; a lookup is a
    binary search (``np.searchsorted`` / ``torch.searchsorted``). Indices outside the universe
    (including the ``-1`` padding of candidate lists) are never contained.
    """

    def __init__(self, data: Interactions | sp.spmatrix | sp.sparray) -> None:
        if isinstance(data, Interactions):
            users, items = data.users, data.items
            num_users, num_items = data.num_users, data.num_items
        elif sp.issparse(data):
            coo = sp.coo_matrix(data)
            nz = coo.data != 0
            users = coo.row[nz].astype(np.int64)
            items = coo.col[nz].astype(np.int64)
            num_users, num_items = (int(s) for s in coo.shape)
        else:
            raise DataError(
                f"PositiveSet needs Interactions or a sparse matrix, got {type(data).__name__}"
            )
        super().__init__(users, items, num_users=num_users, num_items=num_items)
        self._torch_keys: dict[str, torch.Tensor] = {}
        self._csr: tuple[IntArray, IntArray] | None = None  # each user's positives: (indptr, items), int64
        self._torch_rows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # the same on other devices
        self._column_lock = threading.Lock()
        # batch_hits' item -> column tables (-1: absent): the compiled CPU walk's, and per other device
        self._column_table: npt.NDArray[np.int32] | None = None
        self._columns: dict[str, torch.Tensor] = {}

    def positives_of(self, user: int) -> IntArray:
        """Sorted positive items of one user."""
        return self.items_of(user)

    def nth_negative(self, users: IntArray, ranks: IntArray) -> IntArray:
        """The ``ranks``-th (0-based) non-positive item of each user, elementwise.

        See :meth:`~ncf.data.pairs.PairSet.nth_absent`: ``ranks`` must lie in
        ``[0, num_items - degree(user))``; ``users`` broadcasts against ``ranks``.
        """
        return self.nth_absent(users, ranks)

    def contains_torch(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Torch version of :meth:`contains` on the inputs' device (bool tensor)."""
        u, i = users.long(), items.long()
        device = u.device
        keys = self._torch_keys.get(str(device))
        if keys is None:
            keys = torch.from_numpy(self.keys.copy()).to(device)
            self._torch_keys[str(device)] = keys
        inside = (u >= 0) & (u < self.num_users) & (i >= 0) & (i < self.num_items)
        if keys.numel() == 0:
            return torch.zeros_like(inside)
        q = u * max(self.num_items, 1) + i  # broadcasts like the inputs
        pos = torch.searchsorted(keys, q.contiguous()).clamp_(max=keys.numel() - 1)
        found: torch.Tensor = (keys[pos] == q) & inside
        return found

    def batch_mask(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` bool: is ``items[c]`` a positive of ``users[b]``? For in-batch softmax.

        Same answer as ``contains_torch(users[:, None], items[None, :])`` but sparse
        (:meth:`batch_hits` on the distinct items, spread back over repeated columns).
        """
        uniq, inverse = torch.unique(items.long(), return_inverse=True)
        rows, cols = self.batch_hits(users, uniq)
        mask = torch.zeros((users.numel(), uniq.numel()), dtype=torch.bool, device=uniq.device)
        mask[rows, cols] = True
        return mask[:, inverse]

    def batch_hits(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Where ``items[c]`` is a positive of ``users[b]``: the ``(b, c)`` coordinates, rows ascending.

        ``items`` must be distinct; ids outside ``[0, num_items)`` are never positives. Within a
        row the hits come in the order of the user's positives (item ascending). Both tensors are
        int64, on the inputs' device. The walk visits only the batch users' positives (``sum of
        degrees`` lookups instead of ``B * C`` binary searches), which is what keeps accidental-hit
        removal cheap for large batches; each positive finds its column in a ``(num_items,)``
        table of the batch's columns, one gather where a binary search cost several (measured on
        a MovieLens-25M-shaped log, 450-1,000 positives per user). The table is kept between
        calls (reset after each), so a large catalogue costs no fill per batch.

        On CPU the walk is one compiled loop (numba, :func:`_batch_hits_kernel`), several times
        faster than the chain of torch ops it replaces; other devices run the same walk as torch
        ops (:meth:`_batch_hits_torch`), with identical answers.
        A user outside ``[0, num_users)`` raises :class:`~ncf.errors.UnknownIdError` on CPU.
        """
        if users.device.type != "cpu":
            return self._batch_hits_torch(users, items)
        u = users.long().contiguous().numpy()
        cols = items.long().contiguous().numpy()
        csr = self._csr_rows()
        kernel = _batch_hits_kernel()
        with self._column_lock:
            table = self._column_table
            if table is None:
                table = self._column_table = np.full(self.num_items, -1, dtype=np.int32)
            rows, hit_cols, bad = kernel(u, cols, csr[0], csr[1], table)
        if bad >= 0:
            raise UnknownIdError(f"user index {int(u[bad])} out of range [0, {self.num_users})")
        return torch.from_numpy(rows), torch.from_numpy(hit_cols)

    def _csr_rows(self) -> tuple[IntArray, IntArray]:
        """Each user's positives as contiguous int64 CSR arrays ``(indptr, items)``, built once."""
        if self._csr is None:
            # own copies: the pair set's arrays are read-only, which torch.from_numpy refuses to share
            self._csr = (np.array(self.indptr, dtype=np.int64), np.array(self.items(), dtype=np.int64))
        return self._csr

    def _batch_hits_torch(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`batch_hits` as torch ops on the inputs' device (the path for CUDA)."""
        u, cols = users.long(), items.long()
        device = u.device
        key = str(device)
        cache = self._torch_rows.get(key)
        if cache is None:
            indptr_np, items_np = self._csr_rows()
            cache = self._torch_rows[key] = (torch.from_numpy(indptr_np).to(device),
                                             torch.from_numpy(items_np).to(device))
        indptr, indices = cache
        start = indptr[u]
        degree = indptr[u + 1] - start
        ends = torch.cumsum(degree, 0)
        total = int(ends[-1]) if ends.numel() else 0
        inside = (cols >= 0) & (cols < self.num_items)  # other ids are never positives
        if not total or not bool(inside.any()):
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty.clone()
        with self._column_lock:
            column = self._columns.get(key)
            if column is None:
                column = self._columns[key] = torch.full((self.num_items,), -1, dtype=torch.int32, device=device)
            present = cols[inside]
            column[present] = torch.arange(cols.numel(), dtype=torch.int32, device=device)[inside]
            try:
                # position of each visited positive in `indices`: its user's start plus its offset
                where = torch.repeat_interleave(start - (ends - degree), degree, output_size=total)
                where += torch.arange(total, device=device)
                at = torch.index_select(column, 0, torch.index_select(indices, 0, where))
            finally:
                column[present] = -1
        hit = torch.nonzero(at >= 0).squeeze(1)
        rows = torch.searchsorted(ends, hit, right=True)  # the batch row of each hit
        return rows, torch.index_select(at, 0, hit).long()


def _batch_hits_walk(
    users: IntArray, items: IntArray, indptr: IntArray, indices: IntArray, column: npt.NDArray[np.int32]
) -> tuple[IntArray, IntArray, int]:
    """The loop of :meth:`PositiveSet.batch_hits`, compiled by :func:`_batch_hits_kernel`.

    ``column`` (``(num_items,)``, all ``-1``) gets each in-range item's column before the walk
    and is reset after it. Returns ``(rows, cols, -1)``, or empty arrays and the first row whose
    user lies outside ``[0, len(indptr) - 1)`` (the table then untouched).
    """
    num_users = indptr.shape[0] - 1
    num_items = column.shape[0]
    total = 0
    for r in range(users.shape[0]):
        user = users[r]
        if user < 0 or user >= num_users:
            return np.empty(0, np.int64), np.empty(0, np.int64), r
        total += indptr[user + 1] - indptr[user]
    rows = np.empty(total, np.int64)  # at most one hit per visited positive
    cols = np.empty(total, np.int64)
    for c in range(items.shape[0]):
        item = items[c]
        if 0 <= item < num_items:
            column[item] = c
    n = 0
    for r in range(users.shape[0]):
        user = users[r]
        for p in range(indptr[user], indptr[user + 1]):
            col = column[indices[p]]
            if col >= 0:
                rows[n] = r
                cols[n] = col
                n += 1
    for c in range(items.shape[0]):
        item = items[c]
        if 0 <= item < num_items:
            column[item] = -1
    return rows[:n].copy(), cols[:n].copy(), -1


@functools.cache
def _batch_hits_kernel() -> Callable[..., tuple[IntArray, IntArray, int]]:
    """:func:`_batch_hits_walk` compiled by numba, imported here (not with the package: ~0.2 s).

    ``cache=True`` keeps the machine code under ``__pycache__``, so a new process loads it
    instead of compiling again; ``nogil`` lets other threads run during the walk.
    """
    import numba

    kernel: Callable[..., tuple[IntArray, IntArray, int]] = numba.njit(cache=True, nogil=True)(_batch_hits_walk)
    return kernel


# ---------------------------------------------------------------------------- protocol
@runtime_checkable
class NegativeSampler(Protocol):
    """What the trainer needs from a negative sampler."""

    num_negatives: int

    def sample(
        self, users: IntArray, rng: np.random.Generator, *, num_negatives: int | None = None
    ) -> IntArray:
        """``(B, k)`` negatives, none of them a training positive of the row's user."""
        ...

    def log_probability(self, items: npt.ArrayLike) -> FloatArray:
        """Log proposal probability ``log q(item)`` of each item."""
        ...


def _check_k(value: Any, name: str = "num_negatives", minimum: int = 1) -> int:
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= minimum
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {plain(value)!r}")
    return int(value)


def _as_float(value: Any) -> float:
    """``float(value)``, or NaN (which every range check rejects) for a non-number."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _check_train(train: object) -> None:
    if not isinstance(train, Interactions):
        raise DataError(f"samplers are built from Interactions, got {type(train).__name__}")


class _Sampler:
    """Shared plumbing: positives, argument checks, the 'user has no negatives' guard."""

    def __init__(self, train: Interactions, num_negatives: int) -> None:
        _check_train(train)
        self.num_negatives = _check_k(num_negatives)
        self.positives = PositiveSet(train)
        self._user_map = train.user_map
        self._samplable = self._samplable_counts()

    @property
    def num_items(self) -> int:
        return self.positives.num_items

    @property
    def num_users(self) -> int:
        return self.positives.num_users

    def _samplable_counts(self) -> IntArray:
        """Per user, how many items this sampler can return."""
        return np.asarray(self.positives.num_items - self.positives.degrees(), dtype=np.int64)

    def _describe(self, user: int) -> str:
        if self._user_map is not None:
            return f"user {user} (raw id {plain(self._user_map.decode(user))!r})"
        return f"user {user}"

    def _prepare(self, users: npt.ArrayLike, num_negatives: int | None) -> tuple[IntArray, int]:
        u = np.asarray(users)
        if u.ndim != 1 or (u.size and u.dtype.kind not in "iu"):
            raise DataError(
                f"users must be a 1-D integer array, got shape {u.shape} dtype {u.dtype}"
            )
        u = u.astype(np.int64, copy=False)
        if u.size and (int(u.min()) < 0 or int(u.max()) >= self.num_users):
            bad = int(u[(u < 0) | (u >= self.num_users)][0])
            raise UnknownIdError(f"user index {bad} out of range [0, {self.num_users})")
        k = self.num_negatives if num_negatives is None else _check_k(num_negatives, minimum=0)
        if u.size and k:
            empty = self._samplable[u] <= 0
            if bool(empty.any()):
                bad = int(u[np.flatnonzero(empty)[0]])
                raise DataError(
                    f"{self._describe(bad)} has no item this sampler can return as a negative "
                    "(it interacted with every candidate item); drop such users from training"
                )
        return u, k

    def sample(
        self, users: IntArray, rng: np.random.Generator, *, num_negatives: int | None = None
    ) -> IntArray:
        """Draw negatives for each user.

        Parameters
        ----------
        users : (B,) int64
            User index of each row (repeats allowed).
        rng : numpy.random.Generator
            Source of randomness; the same seed gives the same negatives.
        num_negatives : int, optional
            Columns to draw (default: the sampler's ``num_negatives``).

        Returns
        -------
        (B, k) int64
            Item indices, none of them a training positive of the row's user (repeats within
            a row are possible: draws are independent).

        Raises
        ------
        DataError
            If a user has no item that can be returned.
        """
        u, k = self._prepare(users, num_negatives)
        if u.size == 0 or k == 0:
            return np.zeros((u.size, k), dtype=np.int64)
        return self._draw(u, k, rng)

    def _draw(self, users: IntArray, k: int, rng: np.random.Generator) -> IntArray:
        raise NotImplementedError

    def log_probability(self, items: npt.ArrayLike) -> FloatArray:
        raise NotImplementedError


class UniformSampler(_Sampler):
    """Uniform negatives: each of the user's non-positive items is equally likely.

    Parameters
    ----------
    train : Interactions
        Training positives; never returned as negatives of their user.
    num_negatives : int
        Columns per row (``k``).

    Notes
    -----
    This is exactly the distribution of rejection sampling (draw uniform items, redraw the
    positives) but needs no redraw loop: a uniform rank ``j`` among the user's
    ``num_items - degree`` non-positives is mapped to its item with one ``searchsorted``
    (:meth:`PositiveSet.nth_negative`), so the cost does not grow for heavy users.

    Examples
    --------
    >>> sampler = UniformSampler(split.train, num_negatives=4)                  # doctest: +SKIP
    >>> sampler.sample(split.train.users[:1024], np.random.default_rng(0)).shape  # (1024, 4)
    """

    def _draw(self, users: IntArray, k: int, rng: np.random.Generator) -> IntArray:
        # In blocks of rows: ``rng.random`` continues one stream across calls, so the draws (and
        # the result) are those of a single call, while the temporaries (uniforms, ranks, the
        # sorted lookup keys) stay at one block, and each block's binary searches sort only its
        # own queries (sorting all of them at once grew as n log n and cost most of the time).
        out = np.empty((users.size, k), dtype=np.int64)
        rows = max(1, SAMPLE_BLOCK_CELLS // max(k, 1))
        for lo in range(0, users.size, rows):
            u = users[lo : lo + rows]
            avail = self._samplable[u][:, None]
            ranks = np.minimum((rng.random((u.size, k)) * avail).astype(np.int64), avail - 1)
            out[lo : lo + rows] = self.positives.nth_negative(u[:, None], ranks)
        return out

    def log_probability(self, items: npt.ArrayLike) -> FloatArray:
        """``-log(num_items)`` for every item (the proposal before excluding positives)."""
        shape = np.shape(items)
        return np.full(shape, -math.log(max(self.num_items, 1)), dtype=np.float32)


class PopularitySampler(_Sampler):
    """Popularity-weighted negatives: ``q(i) ∝ count(i) ** alpha`` (word2vec's 0.75).

    Parameters
    ----------
    train : Interactions
        Training positives: their item counts define the weights, and they are never
        returned as negatives of their user.
    num_negatives : int
    alpha : float, default 0.75
        Exponent; 0 gives uniform over items seen in training, 1 proportional to counts.
    max_rounds : int, default 32
        Rejection rounds (draw every cell from ``q``, redraw only the cells that hit a
        positive) before the few remaining cells are drawn exactly from ``q`` restricted to
        the user's non-positives.

    Notes
    -----
    Items never seen in training have weight 0 and are never sampled. Draws are inverse-CDF
    lookups on the cumulative weights, accelerated by a guide table.
    """

    def __init__(
        self, train: Interactions, num_negatives: int, alpha: float = 0.75, *, max_rounds: int = 32
    ) -> None:
        a = _as_float(alpha)
        if not math.isfinite(a) or a < 0:
            raise ConfigError(f"alpha must be a finite number >= 0, got {plain(alpha)!r}")
        self.alpha = a
        self.max_rounds = _check_k(max_rounds, "max_rounds")
        _check_train(train)
        counts = np.bincount(train.items, minlength=train.num_items).astype(np.float64)
        weights = np.zeros_like(counts)
        seen = counts > 0
        weights[seen] = counts[seen] ** a
        self._weights = weights
        self._cdf = np.cumsum(weights)
        self._total = float(self._cdf[-1]) if self._cdf.size else 0.0
        self._last = int(np.flatnonzero(weights)[-1]) if bool((weights > 0).any()) else 0
        # guide table: bucket b of [0, total) starts its search at the answer for bucket b - 1
        # (one bucket early, so float rounding of the bucket index can never overshoot)
        buckets = 2 * max(weights.size, 1)
        self._scale = buckets / self._total if self._total > 0 else 0.0
        bucket_start = np.maximum(np.arange(buckets) - 1, 0) * (self._total / buckets)
        self._guide = np.searchsorted(self._cdf, bucket_start, side="right").astype(np.int64)
        super().__init__(train, num_negatives)

    def _samplable_counts(self) -> IntArray:
        pos = self.positives
        n = np.int64(max(pos.num_items, 1))
        live = self._weights > 0
        hit = np.bincount(pos.keys // n, weights=live[pos.keys % n], minlength=pos.num_users)
        return np.asarray(int(live.sum()) - np.rint(hit).astype(np.int64), dtype=np.int64)

    def _propose(self, size: tuple[int, ...], rng: np.random.Generator) -> IntArray:
        """Draw from ``q`` by inverse CDF: ``searchsorted(cdf, u * total, side="right")``.

        A guide table (2 buckets per item) gives each draw a starting index at most a step or
        two below the answer, so a few vectorised forward steps replace a cache-unfriendly
        binary search; draws still unresolved after 16 steps (long runs of zero-weight items)
        fall back to ``np.searchsorted``. The result equals plain inverse-CDF sampling.
        """
        r = (rng.random(size) * self._total).reshape(-1)
        cdf, last = self._cdf, self._cdf.size - 1
        bucket = np.minimum((r * self._scale).astype(np.int64), self._guide.size - 1)
        idx = self._guide[bucket]
        active = np.flatnonzero((cdf[np.minimum(idx, last)] <= r) & (idx < last))
        for _ in range(16):
            if active.size == 0:
                break
            idx[active] += 1
            moved = idx[active]
            active = active[(cdf[moved] <= r[active]) & (moved < last)]
        if active.size:
            idx[active] = np.searchsorted(cdf, r[active], side="right")
        return np.asarray(np.minimum(idx, self._last).reshape(size), dtype=np.int64)

    def _draw(self, users: IntArray, k: int, rng: np.random.Generator) -> IntArray:
        out = self._propose((users.size, k), rng)
        rows, cols = np.nonzero(self.positives.contains(users[:, None], out))
        for _ in range(self.max_rounds):
            if rows.size == 0:
                return out
            redraw = self._propose((rows.size,), rng)
            out[rows, cols] = redraw
            bad = self.positives.contains(users[rows], redraw)
            rows, cols = rows[bad], cols[bad]
        if rows.size:
            logger.debug("popularity sampler: %d cells drawn by the exact fallback", rows.size)
            out[rows, cols] = self._exact(users[rows], rng)
        return np.asarray(out, dtype=np.int64)

    def _exact(self, users: IntArray, rng: np.random.Generator) -> IntArray:
        """One draw per cell from ``q`` restricted to the user's non-positives (dense rows)."""
        n = self.num_items
        out = np.empty(users.size, dtype=np.int64)
        step = max(1, (1 << 22) // max(n, 1))
        for lo in range(0, users.size, step):  # chunks of cells bound the dense memory
            u = users[lo : lo + step]
            w = np.broadcast_to(self._weights, (u.size, n)).copy()
            w[self.positives.contains(u[:, None], np.arange(n)[None, :])] = 0.0
            cdf = np.cumsum(w, axis=1)
            r = rng.random(u.size) * cdf[:, -1]  # q restricted to the user's non-positives
            out[lo : lo + step] = np.argmax(cdf > r[:, None], axis=1)
        return out

    def log_probability(self, items: npt.ArrayLike) -> FloatArray:
        """``log(count ** alpha / sum)``; ``-inf`` for items never seen in training."""
        w = self._weights[np.asarray(items, dtype=np.int64)]
        total = self._total
        with np.errstate(divide="ignore"):
            return np.asarray(
                np.log(w / total) if total > 0 else np.full(w.shape, -np.inf), dtype=np.float32
            )


class HardNegativeSampler(_Sampler):
    """Mix of hard negatives (from per-user candidate lists) and base-sampler negatives.

    Parameters
    ----------
    train : Interactions
    num_negatives : int
        Columns per row; ``round(hard_fraction * num_negatives)`` (half up) of them are hard.
    hard_fraction : float, default 0.5
        In [0, 1].
    base : NegativeSampler, optional
        Supplies the other columns (and rows whose user has no usable candidate); default
        ``UniformSampler(train, num_negatives)``. It must be built on the same universe.

    Notes
    -----
    The trainer calls :meth:`set_candidates` each epoch with every user's current top-N
    non-interacted items. Until then every column comes from ``base``. Hard draws are
    uniform over the user's valid candidates (with replacement); ``-1`` padding and any
    training positive in a candidate list are discarded when the list is set.
    """

    def __init__(
        self,
        train: Interactions,
        num_negatives: int,
        *,
        hard_fraction: float = 0.5,
        base: NegativeSampler | None = None,
    ) -> None:
        super().__init__(train, num_negatives)
        h = _as_float(hard_fraction)
        if not 0.0 <= h <= 1.0:
            raise ConfigError(f"hard_fraction must be in [0, 1], got {plain(hard_fraction)!r}")
        self.hard_fraction = h
        self.num_hard = int(math.floor(h * self.num_negatives + 0.5))
        self.base: NegativeSampler = UniformSampler(train, num_negatives) if base is None else base
        base_items = getattr(self.base, "num_items", self.num_items)
        if base_items != self.num_items:
            raise ConfigError(f"base sampler has {base_items} items, expected {self.num_items}")
        self._candidates: IntArray | None = None
        self._num_valid: IntArray | None = None

    @property
    def candidates(self) -> IntArray | None:
        """Current candidates, valid ones first in each row (``-1`` after them), or None."""
        return self._candidates

    def set_candidates(self, candidates: npt.ArrayLike) -> None:
        """Install each user's hard-negative candidates for the coming epoch.

        Parameters
        ----------
        candidates : (num_users, N) int64
            Row ``u`` lists user ``u``'s candidate items, padded with ``-1``.

        Raises
        ------
        DataError
            If the shape or the item range is wrong.
        """
        c = np.asarray(candidates)
        if c.ndim != 2 or c.shape[0] != self.num_users or (c.size and c.dtype.kind not in "iu"):
            raise DataError(
                f"candidates must be a (num_users={self.num_users}, N) integer array, "
                f"got shape {c.shape} dtype {c.dtype}"
            )
        c = c.astype(np.int64, copy=False)
        if c.size and (int(c.min()) < -1 or int(c.max()) >= self.num_items):
            raise DataError(f"candidate items must be in [0, {self.num_items}) or -1 (padding)")
        users = np.arange(self.num_users, dtype=np.int64)[:, None]
        valid = (c >= 0) & ~self.positives.contains(users, c)
        order = np.argsort(~valid, axis=1, kind="stable")
        packed = np.take_along_axis(c, order, axis=1)
        num_valid = valid.sum(axis=1).astype(np.int64)
        packed[np.arange(c.shape[1])[None, :] >= num_valid[:, None]] = -1
        packed.setflags(write=False)
        self._candidates = packed
        self._num_valid = num_valid

    def _draw(self, users: IntArray, k: int, rng: np.random.Generator) -> IntArray:
        num_hard = min(k, int(math.floor(self.hard_fraction * k + 0.5)))
        if self._candidates is None or self._num_valid is None or num_hard == 0:
            return self.base.sample(users, rng, num_negatives=k)
        out = np.empty((users.size, k), dtype=np.int64)
        if k > num_hard:
            out[:, num_hard:] = self.base.sample(users, rng, num_negatives=k - num_hard)
        nv = self._num_valid[users]
        has = nv > 0
        cols = (rng.random((users.size, num_hard)) * nv[:, None]).astype(np.int64)
        cols = np.minimum(cols, np.maximum(nv - 1, 0)[:, None])
        out[:, :num_hard] = self._candidates[users[:, None], cols]
        if not bool(has.all()):
            rows = np.flatnonzero(~has)
            out[rows, :num_hard] = self.base.sample(users[rows], rng, num_negatives=num_hard)
        return out

    def log_probability(self, items: npt.ArrayLike) -> FloatArray:
        """The base sampler's ``log q``: hard candidates are per user, not one fixed proposal."""
        return self.base.log_probability(items)


# ---------------------------------------------------------------------------- logQ
def item_log_frequency(train: Interactions, *, min_count: float = 1.0) -> FloatArray:
    """Log of each item's share of the training positives, for in-batch logQ correction.

    With in-batch negatives an item appears as a negative in proportion to its frequency, so
    the sampled-softmax logits subtract ``log q(i)`` (Yi et al., "Sampling-bias-corrected
    neural modeling for large corpus item recommendations", RecSys 2019).

    Parameters
    ----------
    train : Interactions
    min_count : float, default 1.0
        Floor on the count, so unseen items get ``log(min_count / N)`` instead of ``-inf``.

    Returns
    -------
    (num_items,) float32
        ``log(max(count(i), min_count) / len(train))``.

    Raises
    ------
    DataError
        If ``train`` is empty.
    """
    if not (_as_float(min_count) > 0 and math.isfinite(_as_float(min_count))):
        raise ConfigError(f"min_count must be a positive number, got {plain(min_count)!r}")
    if len(train) == 0:
        raise DataError("cannot compute item frequencies of an empty interaction set")
    counts = np.bincount(train.items, minlength=train.num_items).astype(np.float64)
    return np.log(np.maximum(counts, float(min_count)) / len(train)).astype(np.float32)
