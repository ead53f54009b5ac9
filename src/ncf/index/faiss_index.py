"""FAISS kinds: ``flat`` (exact), ``hnsw``, ``ivf`` (IVF-Flat) and ``ivfpq`` (IVF-PQ).

faiss is optional (``pip install 'ncf[ann]'``) and imported only when a FAISS index is made or
loaded. Every kind ranks by inner product (``METRIC_INNER_PRODUCT``; cosine indexes hold
normalised vectors). Query-time settings (``ef_search``, ``nprobe``) travel with each call as
faiss ``SearchParameters``, so one index can serve concurrent searches, and a search that
over-fetches gets an HNSW beam at least as wide as what it fetches.

IVF-PQ can re-rank (``rerank=r``): faiss's ``IndexRefine`` wraps the IVF-PQ index with a copy
of the vectors (``IndexRefineFlat``, float32, or an ``SQfp16`` scalar quantizer, float16),
fetches ``r`` times the results asked for by their PQ scores and re-scores those against the
copy. The copy is part of the faiss file, so it counts in the saved index's ``bytes``.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf._checks import optional_positive_int, positive_int
from ncf._types import FloatArray, IntArray
from ncf.errors import ConfigError, DataError, first_line
from ncf.index.base import Index, import_backend
from ncf.retrieval.topk import TopK

__all__ = ["FaissIndex", "FlatIndex", "HNSWIndex", "IVFIndex", "IVFPQIndex", "import_faiss"]


def import_faiss() -> Any:
    """The ``faiss`` module, or a ConfigError that says how to install it."""
    return import_backend("faiss", "FAISS indexes need the faiss-cpu package")


class FaissIndex(Index):
    """What the FAISS kinds share: building through ``index_factory``, search, file I/O."""

    backend_file = "index.faiss"
    #: The faiss class a saved file must hold.
    _faiss_class: str = "Index"

    def __init__(self, vectors: npt.ArrayLike | torch.Tensor | None = None, *, metric: str = "dot") -> None:
        self._faiss = import_faiss()
        self._index: Any = None
        super().__init__(vectors, metric=metric)

    # hooks for the kinds
    def _factory(self, n: int, d: int) -> str:
        raise NotImplementedError

    def _configure(self, index: Any) -> None:
        """Settings to apply between ``index_factory`` and ``train``/``add``."""

    def _training_set(self, vectors: FloatArray) -> FloatArray:
        return vectors

    def _search_params(self, fetch: int) -> Any:
        return None

    def _after_add(self, index: Any) -> None:
        """Work after ``add`` (e.g. the id -> list map that ``reconstruct`` needs)."""

    # Index hooks
    def _build(self, vectors: FloatArray) -> None:
        n, d = vectors.shape
        index = self._faiss.index_factory(int(d), self._factory(int(n), int(d)), self._faiss.METRIC_INNER_PRODUCT)
        self._configure(index)
        if not index.is_trained:
            index.train(self._training_set(vectors))
        index.add(vectors)
        self._after_add(index)
        self._index = index

    def _search(self, queries: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
        scores, ids = self._index.search(queries, fetch, params=self._search_params(fetch))
        return ids.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)

    def _vectors(self, ids: IntArray) -> FloatArray:
        out = self._index.reconstruct_batch(np.ascontiguousarray(ids, dtype=np.int64))
        return np.asarray(out, dtype=np.float32).reshape(ids.size, int(self._index.d))

    def _write(self, path: Path) -> None:
        self._faiss.write_index(self._index, str(path))

    def _read(self, path: Path, size: int, dim: int) -> None:
        try:
            index = self._faiss.read_index(str(path))
        except RuntimeError as exc:
            raise DataError(f"faiss cannot read this file ({first_line(exc)})", path=path) from exc
        expected = self._expected_class(index)
        if expected is not None:
            raise DataError(f"holds a faiss {type(index).__name__}, expected {expected}", path=path)
        if int(index.ntotal) != size or int(index.d) != dim:
            raise DataError(
                f"holds {index.ntotal} vectors of dimension {index.d}, index.json says {size} x {dim}", path=path
            )
        if int(index.metric_type) != int(self._faiss.METRIC_INNER_PRODUCT):
            raise DataError("holds a faiss index that does not rank by inner product", path=path)
        self._index = index
        self._loaded(index)

    def _expected_class(self, index: Any) -> str | None:
        """None when ``index`` (as read) is of the kind's faiss class, else the class expected."""
        return None if isinstance(index, getattr(self._faiss, self._faiss_class)) else self._faiss_class

    def _loaded(self, index: Any) -> None:
        """Restore settings that faiss does not save (query-time defaults)."""

    @classmethod
    def _require_backend(cls) -> None:
        import_faiss()

    def _backend_version(self) -> str:
        return f"faiss {getattr(self._faiss, '__version__', '?')}"

    def _flat_view(self, flat: Any) -> FloatArray:
        """The float32 vectors of a faiss ``IndexFlat`` as an ``(N, d)`` array, without a copy."""
        ptr = self._faiss.rev_swig_ptr(flat.get_xb(), int(flat.ntotal) * int(flat.d))
        return np.asarray(ptr).reshape(int(flat.ntotal), int(flat.d))

    def _exhaustive_flat(self, flat: Any, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        view = self._flat_view(flat)
        return self._exhaustive_by_chunks(queries, k, deny, lambda a, b: view[a:b], chunk=max(1, view.shape[0]))


class FlatIndex(FaissIndex):
    """FAISS ``IndexFlatIP``: exact brute force (a FAISS-side baseline for the benchmark)."""

    kind = "flat"
    exhaustive = False  # exact, but it filters by over-fetching like the other FAISS kinds
    _faiss_class = "IndexFlat"

    def __init__(self, vectors: npt.ArrayLike | torch.Tensor | None = None, *, metric: str = "dot") -> None:
        super().__init__(vectors, metric=metric)

    def _params(self) -> dict[str, Any]:
        return {}

    def _factory(self, n: int, d: int) -> str:
        return "Flat"

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        return self._exhaustive_flat(self._index, queries, k, deny)


class HNSWIndex(FaissIndex):
    """FAISS ``IndexHNSWFlat``: a navigable small-world graph over the full vectors.

    Parameters
    ----------
    vectors : (N, d) float array, optional
    metric : {"dot", "cosine"}
    M : int
        Graph neighbours per node (memory ~ ``N * M * 8`` bytes beyond the vectors).
    ef_construction : int
        Beam width while building (quality of the graph).
    ef_search : int
        Beam width while searching; settable after load. Recall grows and speed falls with it.
    """

    kind = "hnsw"
    PARAMS = ("M", "ef_construction", "ef_search")
    QUERY_PARAMS = ("ef_search",)
    SWEEP = ("ef_search", (16, 32, 64, 128, 256))
    _faiss_class = "IndexHNSWFlat"

    def __init__(
        self,
        vectors: npt.ArrayLike | torch.Tensor | None = None,
        *,
        metric: str = "dot",
        M: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
    ) -> None:
        self.M = positive_int("M", M)
        self.ef_construction = positive_int("ef_construction", ef_construction)
        self._ef_search = positive_int("ef_search", ef_search)
        super().__init__(vectors, metric=metric)

    @property
    def ef_search(self) -> int:
        """Beam width of a search (at least the number of results fetched)."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._ef_search = positive_int("ef_search", value)
        if self._index is not None:
            self._index.hnsw.efSearch = self._ef_search

    def _params(self) -> dict[str, Any]:
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self._ef_search}

    def _factory(self, n: int, d: int) -> str:
        return f"HNSW{self.M}"

    def _configure(self, index: Any) -> None:
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self._ef_search

    def _loaded(self, index: Any) -> None:
        if int(index.hnsw.nb_neighbors(1)) != self.M:
            raise DataError(f"the saved graph has M={index.hnsw.nb_neighbors(1)}, index.json says {self.M}")
        index.hnsw.efSearch = self._ef_search

    def _search_params(self, fetch: int) -> Any:
        return self._faiss.SearchParametersHNSW(efSearch=max(self._ef_search, fetch))

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        return self._exhaustive_flat(self._faiss.downcast_index(self._index.storage), queries, k, deny)


class _IVFBase(FaissIndex):
    """IVF kinds: a k-means coarse quantizer trained on a seeded sample, ``nprobe`` lists searched."""

    def __init__(
        self,
        vectors: npt.ArrayLike | torch.Tensor | None = None,
        *,
        metric: str = "dot",
        nlist: int | None = None,
        nprobe: int = 16,
        train_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self._nlist_arg = optional_positive_int("nlist", nlist)
        self.nlist = self._nlist_arg  # resolved at build when None
        self._nprobe = positive_int("nprobe", nprobe)
        self.train_size = optional_positive_int("train_size", train_size)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**31:
            raise ConfigError(f"seed must be an integer in [0, 2**31), got {seed!r}")
        self.seed: int = int(seed)
        super().__init__(vectors, metric=metric)

    @property
    def nprobe(self) -> int:
        """Inverted lists visited per query (capped at ``nlist``); settable after load."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._nprobe = positive_int("nprobe", value)
        if self._index is not None:
            ivf = self._ivf(self._index)
            ivf.nprobe = min(self._nprobe, int(ivf.nlist))

    def _ivf(self, index: Any) -> Any:
        """The IVF index itself (inside an ``IndexRefine`` when the kind re-ranks)."""
        return index

    def _params(self) -> dict[str, Any]:
        return {"nlist": self.nlist, "nprobe": self._nprobe, "train_size": self.train_size, "seed": self.seed}

    def _resolve_nlist(self, n: int) -> int:
        # default: about 4 sqrt(N) lists, each with at least 39 training points (faiss's minimum)
        self.nlist = self._nlist_arg or max(1, min(int(round(4 * math.sqrt(n))), n // 39))
        if self.nlist > n:
            raise ConfigError(f"nlist={self.nlist} exceeds the {n} vectors to index; use nlist <= {n}")
        return self.nlist

    def _min_train(self) -> int:
        return int(self.nlist or 1)

    def _training_set(self, vectors: FloatArray) -> FloatArray:
        n = vectors.shape[0]
        default = max(64 * int(self.nlist or 1), 16_384)
        size = min(n, self.train_size if self.train_size is not None else default)
        if size < self._min_train():
            raise ConfigError(
                f"the {self.kind!r} index needs at least {self._min_train()} training vectors, got {size}; "
                "raise train_size or lower nlist/nbits"
            )
        if size == n:
            return vectors
        rows = np.sort(np.random.default_rng(self.seed).choice(n, size=size, replace=False))
        return np.ascontiguousarray(vectors[rows])

    def _configure(self, index: Any) -> None:
        ivf = self._ivf(index)
        ivf.cp.seed = self.seed
        ivf.nprobe = min(self._nprobe, int(ivf.nlist))

    def _after_add(self, index: Any) -> None:
        if index is self._ivf(index):  # a re-ranking index reconstructs from its copy instead
            index.make_direct_map()  # reconstruct(id), for exact scoring of allow-lists

    def _loaded(self, index: Any) -> None:
        ivf = self._ivf(index)
        if int(ivf.nlist) != self.nlist:
            raise DataError(f"the saved index has nlist={ivf.nlist}, index.json says {self.nlist}")
        if index is ivf and int(ivf.direct_map.type) == 0:
            ivf.make_direct_map()
        ivf.nprobe = min(self._nprobe, int(ivf.nlist))

    def _search_params(self, fetch: int) -> Any:
        return self._faiss.SearchParametersIVF(nprobe=min(self._nprobe, int(self._ivf(self._index).nlist)))

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        every = self._faiss.SearchParametersIVF(nprobe=int(self._ivf(self._index).nlist))

        def search_all(q: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
            scores, ids = self._index.search(q, fetch, params=every)
            return ids.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)

        return self._exhaustive_by_fetch(queries, k, deny, search_all)


class IVFIndex(_IVFBase):
    """FAISS ``IndexIVFFlat``: vectors bucketed by a k-means coarse quantizer, full vectors kept.

    Parameters
    ----------
    vectors : (N, d) float array, optional
    metric : {"dot", "cosine"}
    nlist : int, optional
        Inverted lists (k-means centroids); default about ``4 sqrt(N)``.
    nprobe : int
        Lists searched per query; settable after load.
    train_size : int, optional
        Vectors sampled (with ``seed``) to train the quantizer; default
        ``max(64 nlist, 16384)`` capped at ``N``.
    seed : int
        Seeds the training sample and faiss's k-means.
    """

    kind = "ivf"
    PARAMS = ("nlist", "nprobe", "train_size", "seed")
    QUERY_PARAMS = ("nprobe",)
    SWEEP = ("nprobe", (1, 4, 16, 64))
    _faiss_class = "IndexIVFFlat"

    def _factory(self, n: int, d: int) -> str:
        return f"IVF{self._resolve_nlist(n)},Flat"


#: Precisions of IVF-PQ's re-ranking copy and the faiss factory suffix that stores them.
RERANK_DTYPES: dict[str, str] = {"float32": "RFlat", "float16": "Refine(SQfp16)"}


class IVFPQIndex(_IVFBase):
    """FAISS ``IndexIVFPQ``: IVF lists of product-quantized codes (``m`` bytes per vector at 8 bits).

    Without re-ranking, scores are the quantized (asymmetric) inner products, and so are those
    of the exact fallback and of allow-lists, which use the decoded vectors. With ``rerank=r``
    the index also keeps the vectors (faiss ``IndexRefine``): a search takes the ``r * fetch``
    best items by PQ score and re-scores them exactly against that copy, and the fallback and
    allow-lists score with the copy too.

    Parameters
    ----------
    vectors : (N, d) float array, optional
    metric : {"dot", "cosine"}
    nlist, nprobe, train_size, seed
        As for :class:`IVFIndex`.
    m : int, optional
        Sub-quantizers; must divide ``d``. Default: the largest divisor of ``d`` not above
        ``d / 2`` (two dimensions per code).
    nbits : int
        Bits per sub-quantizer code (needs ``2**nbits`` training vectors).
    rerank : int, optional
        Candidates per result re-scored exactly (faiss's ``k_factor``). ``None`` (default):
        no copy of the vectors is kept and scores stay quantized. Settable after build or load
        on an index built with it (not on one built without).
    rerank_dtype : {"float32", "float16"}
        Precision of the re-ranking copy: ``N * d * 4`` or ``N * d * 2`` bytes beyond the codes.
    """

    kind = "ivfpq"
    PARAMS = ("nlist", "nprobe", "m", "nbits", "train_size", "seed", "rerank", "rerank_dtype")
    QUERY_PARAMS = ("nprobe", "rerank")
    SWEEP = ("nprobe", (1, 4, 16, 64))
    _faiss_class = "IndexIVFPQ"

    def __init__(
        self,
        vectors: npt.ArrayLike | torch.Tensor | None = None,
        *,
        metric: str = "dot",
        nlist: int | None = None,
        nprobe: int = 16,
        m: int | None = None,
        nbits: int = 8,
        train_size: int | None = None,
        seed: int = 0,
        rerank: int | None = None,
        rerank_dtype: str = "float32",
    ) -> None:
        self._m_arg = optional_positive_int("m", m)
        self.m = self._m_arg  # resolved at build when None
        self.nbits = positive_int("nbits", nbits)
        if self.nbits > 16:
            raise ConfigError(f"nbits must be at most 16, got {nbits}")
        self._rerank = optional_positive_int("rerank", rerank)
        if rerank_dtype not in RERANK_DTYPES:
            raise ConfigError(f"rerank_dtype must be 'float32' or 'float16', got {rerank_dtype!r}")
        self.rerank_dtype = rerank_dtype
        super().__init__(vectors, metric=metric, nlist=nlist, nprobe=nprobe, train_size=train_size, seed=seed)

    @property
    def rerank(self) -> int | None:
        """Candidates per result re-scored exactly (None: no re-ranking)."""
        return self._rerank

    @rerank.setter
    def rerank(self, value: int) -> None:
        if self._index is not None and not self._refines(self._index):
            raise ConfigError(
                "this ivfpq index was built without a copy of the vectors to re-rank with; "
                "build it with rerank=R (and optionally rerank_dtype='float16')"
            )
        built = self._index is not None
        self._rerank = positive_int("rerank", value) if built else optional_positive_int("rerank", value)

    def _refines(self, index: Any) -> bool:
        return bool(isinstance(index, self._faiss.IndexRefine))

    def _ivf(self, index: Any) -> Any:
        return self._faiss.downcast_index(index.base_index) if self._refines(index) else index

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "m": self.m, "nbits": self.nbits, "rerank": self._rerank,
                "rerank_dtype": self.rerank_dtype}

    def _factory(self, n: int, d: int) -> str:
        self.m = self._m_arg or max(c for c in range(1, max(1, d // 2) + 1) if d % c == 0)
        if d % self.m:
            raise ConfigError(f"m={self.m} must divide the vector dimension {d}")
        refine = f",{RERANK_DTYPES[self.rerank_dtype]}" if self._rerank is not None else ""
        return f"IVF{self._resolve_nlist(n)},PQ{self.m}x{self.nbits}{refine}"

    def _min_train(self) -> int:
        return max(int(self.nlist or 1), 1 << self.nbits)

    def _configure(self, index: Any) -> None:
        super()._configure(index)
        ivf = self._ivf(index)
        ivf.pq.cp.seed = self.seed
        # index_factory turns on polysemous training (a Hamming-distance pre-filter that is
        # never used here); it costs seconds even on small training sets
        ivf.do_polysemous_training = False

    def _expected_class(self, index: Any) -> str | None:
        if self._rerank is None:
            return None if type(index) is self._faiss.IndexIVFPQ else "IndexIVFPQ"
        store = "IndexFlat" if self.rerank_dtype == "float32" else "IndexScalarQuantizer"
        wanted = f"IndexRefine of IndexIVFPQ with {store}"
        if not self._refines(index):
            return wanted
        base = self._faiss.downcast_index(index.base_index)
        refine = self._faiss.downcast_index(index.refine_index)
        if not isinstance(base, self._faiss.IndexIVFPQ) or not isinstance(refine, getattr(self._faiss, store)):
            return wanted
        return None

    def _loaded(self, index: Any) -> None:
        pq = self._ivf(index).pq
        if int(pq.M) != self.m or int(pq.nbits) != self.nbits:
            raise DataError(f"the saved codes are PQ{pq.M}x{pq.nbits}, index.json says PQ{self.m}x{self.nbits}")
        super()._loaded(index)

    def _search_params(self, fetch: int) -> Any:
        ivf_params = super()._search_params(fetch)
        if not self._refines(self._index):
            return ivf_params
        params = self._faiss.IndexRefineSearchParameters(k_factor=float(self._rerank or 1))
        params.base_index_params = ivf_params
        params.referenced_objects = [ivf_params]  # keep it alive while faiss uses the pointer
        return params

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        if not self._refines(self._index):
            return super()._exhaustive(queries, k, deny)
        store = self._faiss.downcast_index(self._index.refine_index)

        def block(start: int, stop: int) -> FloatArray:
            return np.asarray(store.reconstruct_n(start, stop - start), dtype=np.float32)

        return self._exhaustive_by_chunks(queries, k, deny, block)
