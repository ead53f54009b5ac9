"""The one interface over nearest-neighbour indexes of item vectors, and what every kind shares.

:class:`Index` owns everything that is not specific to a backend: checking vectors and
queries, the ``"cosine"`` metric (vectors normalised at build, queries at search), exclusion
and allow-lists with a guarantee (the sets themselves: :mod:`ncf.index.idsets`), and saving and
loading (the directory format: :mod:`ncf.index.storage`). A backend implements the
hooks ``_build`` (fill the index from checked, normalised vectors), ``_search`` (its own,
possibly approximate, top-``fetch`` per query), ``_exhaustive`` (an exact top-k over what it
stores, with a per-query deny matrix), ``_vectors`` (the stored vectors of some ids),
``_write``/``_read`` (its own file) and ``_params`` (its settings).

Exclusion and allow-lists
-------------------------
``exclude`` removes items per query (e.g. the user's seen items) and ``allow`` restricts a
query to a set of items. The result is ``min(k, N)`` columns wide (``N`` the indexed items:
a ``k`` beyond the catalogue is clamped, the rule of :func:`ncf.retrieval.topk`), and a row
always holds ``min(k, available)`` distinct items, none excluded, all allowed, sorted by
descending score, where ``available`` is the number of items the query may receive; the rest
of the row is padded with id ``-1`` and score ``-inf``. To keep that promise with an
approximate search:

1. rows with a small allow-list (at most :data:`ALLOW_SCAN_MAX` items, or
   :data:`ALLOW_SCAN_SHARE` of the index) are scored exactly against the allowed vectors;
2. other rows ask the backend for ``fetch = k + (excluded items)`` results (rounded up to a
   power of two; scaled by ``size / allowed`` under a large allow-list), drop excluded and
   disallowed ones and keep the first ``k`` left;
3. rows left with fewer than they need (the approximate search missed items) ask again with
   twice the ``fetch``, up to :data:`MAX_DOUBLINGS` times;
4. what is still short is answered exactly: ``_exhaustive`` for rows without an allow-list,
   exact scoring of the allowed vectors for the others.

Exact kinds (``exhaustive = True``) skip steps 2-3: their ``_exhaustive`` masks the excluded
items in the scan itself.
"""

from __future__ import annotations

import abc
import importlib
import logging
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf._checks import positive_int
from ncf._types import FloatArray, IntArray, PathLike
from ncf.errors import ConfigError, DataError, NotFittedError, did_you_mean
from ncf.index.idsets import IdSets, Sets, parse_sets
from ncf.index.storage import (
    FORMAT,
    FORMAT_VERSION,
    METADATA_FILE,
    backend_path,
    read_metadata,
    saved_params,
    write_index_dir,
)
from ncf.retrieval.topk import ExactScan, TopK

__all__ = [
    "ALLOW_SCAN_MAX",
    "ALLOW_SCAN_SHARE",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_DOUBLINGS",
    "METADATA_FILE",
    "METRICS",
    "IdSets",
    "Index",
    "Metric",
    "read_metadata",
]

logger = logging.getLogger(__name__)

Metric = Literal["dot", "cosine"]
METRICS: tuple[str, ...] = ("dot", "cosine")

#: Allow-lists up to this many items are scored exactly instead of searched.
ALLOW_SCAN_MAX = 8192
#: ... and so are allow-lists up to this share of the index.
ALLOW_SCAN_SHARE = 1.0 / 16.0
#: How often a short row asks the approximate search again (with twice the fetch) before it
#: is answered exactly.
MAX_DOUBLINGS = 2
#: Entries per step of the exact scoring of per-query allow-lists.
_ENTRY_BLOCK = 1 << 16

_I = TypeVar("_I", bound="Index")


#: How to install the optional index backends (FAISS, hnswlib, ScaNN, Annoy).
INSTALL_HINT = "pip install 'ncf[ann]'"


def import_backend(module: str, needs: str) -> Any:
    """The optional backend ``module``, or a ConfigError saying ``needs`` and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{needs}: {INSTALL_HINT}") from exc


class Index(abc.ABC):
    """Nearest-neighbour search over item vectors by inner product or cosine similarity.

    Build it from an ``(N, d)`` matrix, search it with ``(B, d)`` queries; every kind returns
    :class:`~ncf.retrieval.TopK` rows sorted best first and padded with id ``-1`` / score
    ``-inf``. Make one with :func:`ncf.index.make_index` or a kind's class; read a saved one
    with :func:`ncf.index.load_index`.

    Parameters
    ----------
    vectors : (N, d) float array, optional
        Build the index at once (same as calling :meth:`build`).
    metric : {"dot", "cosine"}
        ``"dot"`` ranks by inner product; ``"cosine"`` normalises the vectors at build and the
        queries at search, so scores are cosine similarities.
    """

    #: Registry name of the kind (``make_index(kind)``).
    kind: ClassVar[str]
    #: The backend's file inside a saved index directory.
    backend_file: ClassVar[str]
    #: Whether ``_search`` is exact (no over-fetching or retries needed).
    exhaustive: ClassVar[bool] = False
    #: Constructor keywords of the kind (build settings and query-time defaults).
    PARAMS: ClassVar[tuple[str, ...]] = ()
    #: The subset of :attr:`PARAMS` that may change after build or load.
    QUERY_PARAMS: ClassVar[tuple[str, ...]] = ()
    #: The query-time setting ``ncf index bench`` sweeps for this kind, and its values (None:
    #: the kind has no speed/recall knob).
    SWEEP: ClassVar[tuple[str | None, tuple[Any, ...]]] = (None, (None,))

    def __init__(self, vectors: npt.ArrayLike | torch.Tensor | None = None, *, metric: str = "dot") -> None:
        if metric not in METRICS:
            raise ConfigError(f"metric must be 'dot' or 'cosine', got {metric!r}{did_you_mean(metric, METRICS)}")
        self.metric: Metric = cast(Metric, metric)
        self._size = 0
        self._dim = 0
        self._built = False
        if vectors is not None:
            self.build(vectors)

    # ------------------------------------------------------------------ public surface
    @property
    def size(self) -> int:
        """Number of indexed vectors ``N`` (ids are ``0 .. N-1``, the rows of the matrix)."""
        return self._size

    @property
    def dim(self) -> int:
        """Vector dimension ``d``."""
        return self._dim

    @property
    def is_built(self) -> bool:
        return self._built

    @property
    def params(self) -> dict[str, Any]:
        """The kind's settings (resolved at build, e.g. ``nlist``), as saved in ``index.json``."""
        return self._params()

    def set_query_params(self, **params: Any) -> None:
        """Change query-time settings (:attr:`QUERY_PARAMS`, e.g. ``nprobe`` or ``ef_search``).

        Raises
        ------
        ConfigError
            A name that is not a query-time setting of this kind, or a bad value.
        """
        for name, value in params.items():
            if name not in self.QUERY_PARAMS:
                hint = did_you_mean(name, self.QUERY_PARAMS) if self.QUERY_PARAMS else ""
                allowed = ", ".join(self.QUERY_PARAMS) or "none"
                raise ConfigError(
                    f"{name!r} is not a query-time setting of the {self.kind!r} index "
                    f"(it has: {allowed}){hint}"
                )
            setattr(self, name, value)

    def __repr__(self) -> str:
        state = f"size={self._size}, dim={self._dim}" if self._built else "not built"
        settings = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}(metric={self.metric!r}, {state}{', ' if settings else ''}{settings})"

    def build(self: _I, vectors: npt.ArrayLike | torch.Tensor) -> _I:
        """Index ``vectors`` (replacing what was indexed); item ``i`` is row ``i``.

        Parameters
        ----------
        vectors : (N, d) float array or tensor
            Finite values; converted to float32 (and normalised for ``"cosine"``).

        Returns
        -------
        Index
            ``self``, so that ``make_index("hnsw").build(vectors)`` chains.

        Raises
        ------
        DataError
            Not a non-empty 2-D array of finite numbers.
        ConfigError
            A setting that does not fit the data (e.g. ``nlist`` above ``N``).
        """
        mat = _as_matrix(vectors, "vectors")
        if mat.shape[0] == 0 or mat.shape[1] == 0:
            raise DataError(f"vectors must be a non-empty (N, d) matrix, got shape {mat.shape}", field="vectors")
        if self.metric == "cosine":
            mat = _normalise(mat)
        self._build(mat)
        self._size, self._dim = int(mat.shape[0]), int(mat.shape[1])
        self._built = True
        return self

    def search(
        self,
        queries: npt.ArrayLike | torch.Tensor,
        k: int,
        *,
        exclude: IdSets = None,
        allow: IdSets = None,
    ) -> TopK:
        """The ``k`` best items for each query, ``exclude``'s removed, within ``allow``.

        Parameters
        ----------
        queries : (B, d) float array or tensor
            One query vector per row (normalised here for ``"cosine"``).
        k : int
            Items per query (``>= 1``).
        exclude : optional
            Items not to return, per query: a scipy sparse ``(B, N)`` matrix whose stored
            entries are the excluded ``(query, item)`` pairs, a sequence of ``B`` id arrays
            (``None`` = nothing), or one 1-D id array excluded for every query.
        allow : optional
            Items that may be returned, in the same forms (a per-query ``None`` = any item; a
            sparse row without entries allows nothing).

        Returns
        -------
        TopK
            ``ids`` ``(B, min(k, N))`` int64 and ``scores`` of the same shape, float32, best
            first: a ``k`` beyond the catalogue is clamped to it, as :func:`ncf.retrieval.topk`
            does. Each row holds ``min(k, available)`` distinct valid items, ``available`` being
            the items neither excluded nor outside ``allow``; the rest of the row is id ``-1``,
            score ``-inf``.

        Raises
        ------
        NotFittedError
            The index was not built or loaded.
        ConfigError
            ``k`` not a positive integer.
        DataError
            Queries of the wrong shape or not finite; ids outside ``[0, N)``; sets of the
            wrong shape or length.
        """
        self._require_built()
        # one rule with ncf.retrieval.topk: the result is min(k, N) wide (a longer list does not
        # exist); rows with fewer available items are padded with id -1 / score -inf
        k = min(positive_int("k", k), self._size)
        q = self._prepare_queries(queries)
        num, n = int(q.shape[0]), self._size
        ids = np.full((num, k), -1, dtype=np.int64)
        scores = np.full((num, k), -np.inf, dtype=np.float32)
        deny = parse_sets(exclude, num, n, "exclude")
        allowed = parse_sets(allow, num, n, "allow")
        if num == 0:
            return TopK(ids, scores)
        with torch.inference_mode():
            if deny is None and allowed is None:
                if self.exhaustive:
                    self._store_exhaustive(q, np.arange(num), k, None, ids, scores)
                    return TopK(ids, scores)
                width = min(k, n)
                cand, cand_scores = self._search(q, width)
                ids[:, :width], scores[:, :width] = cand, cand_scores
                if bool((cand >= 0).all()):  # the common case: nothing to filter, nothing missed
                    return TopK(ids, scores)
            self._search_sets(q, k, deny, allowed, ids, scores)
        return TopK(ids, scores)

    def _search_sets(
        self,
        q: FloatArray,
        k: int,
        deny: Sets | None,
        allowed: Sets | None,
        ids: IntArray,
        scores: FloatArray,
    ) -> None:
        """Search with exclusion and allow-lists (the steps of the module notes)."""
        num, n = int(q.shape[0]), self._size
        deny_count = deny.count(num) if deny is not None else np.zeros(num, dtype=np.int64)
        available = n - deny_count
        has_allow = allowed.has_rows(num) if allowed is not None else np.zeros(num, dtype=bool)
        allow_size = np.zeros(num, dtype=np.int64)
        if allowed is not None:
            allowed = allowed.minus(deny)  # what each row may receive
            allow_size = allowed.count(num)
            available = np.where(has_allow, allow_size, available)
        need = np.minimum(k, available)

        scan_limit = max(ALLOW_SCAN_MAX, int(n * ALLOW_SCAN_SHARE))
        exact_allow = has_allow & (need > 0) & ((allow_size <= scan_limit) | self.exhaustive)
        if exact_allow.any():
            self._score_allowed(q, np.flatnonzero(exact_allow), k, cast(Sets, allowed), ids, scores)
        rows = np.flatnonzero((need > 0) & ~exact_allow)
        if rows.size == 0:
            return
        if self.exhaustive:  # rows without an allow-list: the scan masks the excluded items
            self._store_exhaustive(q, rows, k, deny, ids, scores)
            return
        short = self._search_filtered(q, rows, k, need, deny, deny_count, allowed, allow_size, ids, scores)
        if short.size:
            logger.debug(
                "%s index: %d of %d rows answered exactly (the search missed items they need)",
                self.kind,
                short.size,
                rows.size,
            )
            without_allow = short[~has_allow[short]]
            with_allow = short[has_allow[short]]
            if without_allow.size:
                self._store_exhaustive(q, without_allow, k, deny, ids, scores)
            if with_allow.size:
                self._score_allowed(q, with_allow, k, cast(Sets, allowed), ids, scores)

    def save(self, path: PathLike) -> Path:
        """Write the index to directory ``path`` atomically: ``index.json`` + the backend file.

        ``index.json`` records the kind, metric, settings, size, dimension, format version and
        the SHA-256 of the backend file, which :meth:`load` verifies. An existing directory at
        ``path`` is replaced only once the new one is complete.

        Returns
        -------
        Path
            ``path``.
        """
        self._require_built()
        return write_index_dir(path, kind=self.kind, metric=self.metric, size=self._size, dim=self._dim,
                               params=self._params(), backend_file=self.backend_file, write_backend=self._write,
                               backend_version=self._backend_version)

    @classmethod
    def load(cls: type[_I], path: PathLike) -> _I:
        """Read an index saved by :meth:`save` as this kind (``load_index`` reads any kind).

        Raises
        ------
        DataError
            Not an ncf index directory, another kind, a newer format, a missing or corrupt
            backend file (checksum mismatch), or a file whose contents disagree with
            ``index.json``.
        ConfigError
            The kind's package (faiss, hnswlib) is not installed.
        """
        if not hasattr(cls, "kind"):
            raise TypeError("Index.load needs a concrete kind; use ncf.index.load_index(path)")
        meta = read_metadata(path)
        if meta["kind"] != cls.kind:
            raise DataError(
                f"holds a {meta['kind']!r} index, not {cls.kind!r}; use ncf.index.load_index",
                path=path,
            )
        cls._require_backend()
        return cls._from_saved(Path(path), meta)

    # ------------------------------------------------------------------ backend hooks
    @abc.abstractmethod
    def _params(self) -> dict[str, Any]:
        """The kind's settings, JSON-compatible, accepted back by its constructor."""

    @abc.abstractmethod
    def _build(self, vectors: FloatArray) -> None:
        """Fill the backend from checked, C-contiguous float32 (normalised if cosine) vectors."""

    @abc.abstractmethod
    def _search(self, queries: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
        """The backend's top-``fetch`` ``(ids, scores)`` per query, best first, -1 padded.

        ``1 <= fetch <= size``. May miss items (approximate kinds) but must not repeat one.
        """

    @abc.abstractmethod
    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        """Exact top-``k`` over everything stored; ``deny`` ``(B, N)`` rows masked per query."""

    @abc.abstractmethod
    def _vectors(self, ids: IntArray) -> FloatArray:
        """The stored vectors of ``ids`` ``(n, d)`` float32 (what the backend scores with)."""

    @abc.abstractmethod
    def _write(self, path: Path) -> None:
        """Write the backend's own file."""

    @abc.abstractmethod
    def _read(self, path: Path, size: int, dim: int) -> None:
        """Read the backend's own file; raise DataError if it does not hold ``size`` x ``dim``."""

    def _backend_version(self) -> str:
        return "ncf"

    @classmethod
    def _require_backend(cls) -> None:
        """Raise ConfigError (with the install hint) when the kind's package is missing."""
        return None  # the exact kind needs no extra package

    # ------------------------------------------------------------------ shared helpers for backends
    def _exhaustive_by_fetch(
        self,
        queries: FloatArray,
        k: int,
        deny: sp.csr_matrix | None,
        search: Any,
    ) -> TopK:
        """Exact top-``k`` from an exact ``search(queries, fetch)``: fetch ``k`` + excluded, filter."""
        num, n = queries.shape[0], self._size
        ids = np.full((num, k), -1, dtype=np.int64)
        scores = np.full((num, k), -np.inf, dtype=np.float32)
        sets = parse_sets(deny, num, n, "exclude")
        count = sets.count(num) if sets is not None else np.zeros(num, np.int64)
        need = np.minimum(k, n - count)
        fetch = np.minimum(n, k + count)
        for f in np.unique(fetch[need > 0]):
            rows = np.flatnonzero((fetch == f) & (need > 0))
            cand, cand_scores = search(queries[rows], int(f))
            done = _take_valid(rows, cand, cand_scores, need, sets, None, ids, scores)
            if not done.all():  # an exact search returns every item when fetch reaches N
                raise RuntimeError(f"the {self.kind!r} backend's exhaustive search returned too few items")
        return TopK(ids, scores)

    def _exhaustive_by_chunks(
        self,
        queries: FloatArray,
        k: int,
        deny: sp.csr_matrix | None,
        chunk_vectors: Any,
        chunk: int = 1 << 16,
    ) -> TopK:
        """Exact top-``k`` by scanning ``chunk_vectors(start, stop)`` blocks of the stored vectors."""
        n = self._size
        q = torch.from_numpy(np.ascontiguousarray(queries))
        parts_ids: list[IntArray] = []
        parts_scores: list[FloatArray] = []
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            block = np.ascontiguousarray(chunk_vectors(start, stop), dtype=np.float32)
            sub = deny[:, start:stop].tocsr() if deny is not None else None
            top = ExactScan(torch.from_numpy(block), scan="float32").topk(q, min(k, stop - start), exclude=sub)
            parts_ids.append(np.where(top.ids >= 0, top.ids + start, -1))
            parts_scores.append(top.scores)
        return _merge_topk(np.concatenate(parts_ids, axis=1), np.concatenate(parts_scores, axis=1), k)

    # ------------------------------------------------------------------ internals
    def _require_built(self) -> None:
        if not self._built:
            raise NotFittedError(f"the {self.kind!r} index is empty; call build(vectors) or load(path) first")

    def _prepare_queries(self, queries: npt.ArrayLike | torch.Tensor) -> FloatArray:
        q = _as_matrix(queries, "queries")
        if q.shape[1] != self._dim:
            raise DataError(
                f"queries have dimension {q.shape[1]} but the index holds {self._dim}-d vectors",
                field="queries",
            )
        return _normalise(q) if self.metric == "cosine" else q

    def _search_filtered(
        self,
        q: FloatArray,
        rows: IntArray,
        k: int,
        need: IntArray,
        deny: Sets | None,
        deny_count: IntArray,
        allowed: Sets | None,
        allow_size: IntArray,
        ids: IntArray,
        scores: FloatArray,
    ) -> IntArray:
        """Steps 2-3 of the module notes; returns the rows still short (sorted)."""
        n = self._size
        base = (k + deny_count[rows]).astype(np.float64)
        has = allowed.has_rows(len(need))[rows] if allowed is not None else np.zeros(rows.size, bool)
        scale = np.where(has, n / np.maximum(allow_size[rows], 1), 1.0)
        wanted = np.ceil(base * scale).astype(np.int64)
        # rows that filter nothing fetch exactly k; the others a power of two (few groups)
        fetch = np.minimum(n, np.where(wanted > k, _pow2_ceil(wanted), k))
        pending = rows
        answered_exactly: list[IntArray] = []
        for attempt in range(MAX_DOUBLINGS + 1):
            short_rows: list[IntArray] = []
            short_fetch: list[IntArray] = []
            for f in np.unique(fetch):
                group = pending[fetch == f]
                cand, cand_scores = self._search(q[group], int(f))
                done = _take_valid(group, cand, cand_scores, need, deny, allowed, ids, scores)
                short_rows.append(group[~done])
                short_fetch.append(np.full(int((~done).sum()), f, dtype=np.int64))
            pending = np.concatenate(short_rows)
            previous = np.concatenate(short_fetch)
            if pending.size == 0 or attempt == MAX_DOUBLINGS:
                break
            # a row that already fetched every item cannot gain from asking again
            again = previous < n
            answered_exactly.append(pending[~again])
            pending, fetch = pending[again], np.minimum(n, 2 * previous[again])
            if pending.size == 0:
                break
        return np.sort(np.concatenate([*answered_exactly, pending]))

    def _store_exhaustive(
        self,
        q: FloatArray,
        rows: IntArray,
        k: int,
        deny: Sets | None,
        ids: IntArray,
        scores: FloatArray,
    ) -> None:
        """Write the backend's exact answer for ``rows`` (sorted), their excluded items masked."""
        mask = deny.to_csr(rows) if deny is not None else None
        top = self._exhaustive(q[rows], k, mask)
        ids[rows] = top.ids
        scores[rows] = top.scores

    def _score_allowed(
        self,
        q: FloatArray,
        rows: IntArray,
        k: int,
        allowed: Sets,
        ids: IntArray,
        scores: FloatArray,
    ) -> None:
        """Exact top-``k`` of ``rows`` (sorted) among their allowed items (``allowed`` has the
        excluded items removed already: see :meth:`Sets.minus`)."""
        if allowed.shared is not None:
            shared = allowed.shared
            vecs = torch.from_numpy(np.ascontiguousarray(self._vectors(shared), dtype=np.float32))
            # a shared list minus per-query exclusions: those come back as a mask over it
            mask = allowed.removed_csr(rows) if allowed.removed is not None else None
            top = ExactScan(vecs, scan="float32").topk(torch.from_numpy(np.ascontiguousarray(q[rows])), k, exclude=mask)
            ids[rows] = np.where(top.ids >= 0, shared[np.maximum(top.ids, 0)], -1)
            scores[rows] = top.scores
            return
        n = self._size
        keys = allowed.keys_of(rows)
        local = np.searchsorted(rows, keys // n)
        cols = keys % n
        uniq, inv = np.unique(cols, return_inverse=True)
        allowed_vecs = np.ascontiguousarray(self._vectors(uniq), dtype=np.float32)
        entry = np.empty(cols.size, dtype=np.float32)
        qr = q[rows]
        for s in range(0, cols.size, _ENTRY_BLOCK):
            e = slice(s, s + _ENTRY_BLOCK)
            entry[e] = np.einsum("ij,ij->i", qr[local[e]], allowed_vecs[inv[e]])
        order = np.lexsort((-entry, local))  # by row, then descending score
        starts = np.searchsorted(local, np.arange(rows.size))
        rank = np.arange(cols.size) - starts[local]
        keep = rank < k
        picked = order[keep]
        out_rows = rows[local[picked]]
        ids[out_rows, rank[keep]] = cols[picked]
        scores[out_rows, rank[keep]] = entry[picked]

    @classmethod
    def _from_saved(cls: type[_I], path: Path, meta: dict[str, Any]) -> _I:
        backend = backend_path(path, meta, cls.backend_file)
        params = saved_params(path, meta, cls.kind, cls.PARAMS)
        try:
            obj = cls(metric=meta["metric"], **params)
        except ConfigError as exc:
            raise DataError(f"index.json has invalid settings: {exc}", path=path) from exc
        obj._read(backend, int(meta["size"]), int(meta["dim"]))
        obj._size, obj._dim = int(meta["size"]), int(meta["dim"])
        obj._built = True
        return obj


# ---------------------------------------------------------------------------- arrays
def _as_matrix(values: npt.ArrayLike | torch.Tensor, what: str) -> FloatArray:
    """A C-contiguous float32 ``(n, d)`` copy-if-needed of ``values``; finite, real."""
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu", torch.float32).numpy()
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise DataError(f"{what} must be a 2-D (n, d) array, got shape {arr.shape}", field=what)
    if arr.size and arr.dtype.kind not in "fiu":
        raise DataError(f"{what} must be real numbers, got dtype {arr.dtype}", field=what)
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if out.size and not np.isfinite(out).all():
        raise DataError(f"{what} contain NaN or infinite values", field=what)
    return out


def _normalise(mat: FloatArray) -> FloatArray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return np.ascontiguousarray(mat / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def _pow2_ceil(values: IntArray) -> IntArray:
    """The smallest power of two ``>= values`` (elementwise, values >= 1)."""
    v = np.maximum(values, 1)
    return cast(IntArray, (1 << np.ceil(np.log2(v)).astype(np.int64)).astype(np.int64))


def _merge_topk(cand: IntArray, cand_scores: FloatArray, k: int) -> TopK:
    """Top-``k`` per row of merged candidate lists (-1 / -inf padded)."""
    num = cand.shape[0]
    ids = np.full((num, k), -1, dtype=np.int64)
    scores = np.full((num, k), -np.inf, dtype=np.float32)
    width = min(k, cand.shape[1])
    if num == 0 or width == 0:
        return TopK(ids, scores)
    order = np.argsort(-cand_scores, axis=1, kind="stable")[:, :width]
    top_scores = np.take_along_axis(cand_scores, order, axis=1)
    top_ids = np.take_along_axis(cand, order, axis=1)
    top_ids[top_scores == -np.inf] = -1
    ids[:, :width] = top_ids
    scores[:, :width] = top_scores
    return TopK(ids, scores)


def _take_valid(
    rows: IntArray,
    cand: IntArray,
    cand_scores: FloatArray,
    need: IntArray,
    deny: Sets | None,
    allowed: Sets | None,
    ids: IntArray,
    scores: FloatArray,
) -> npt.NDArray[np.bool_]:
    """Write the first ``need[row]`` valid candidates of each row that has them; which did.

    ``allowed`` may restrict only some rows (``has``); the others take any item.
    """
    valid = cand >= 0
    row_grid = np.broadcast_to(rows[:, None], cand.shape)
    if deny is not None:
        valid &= ~deny.contains(row_grid, cand)
    if allowed is not None:
        valid &= allowed.contains(row_grid, cand) | ~allowed.has_rows(len(need))[rows][:, None]
    rank = np.cumsum(valid, axis=1)
    want = need[rows]
    done = rank[:, -1] >= want if rank.shape[1] else want <= 0
    keep = valid & (rank <= want[:, None]) & done[:, None]
    r, c = np.nonzero(keep)
    pos = rank[r, c] - 1
    ids[rows[r], pos] = cand[r, c]
    scores[rows[r], pos] = cand_scores[r, c]
    return done
