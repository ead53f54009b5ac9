"""``hnswlib`` kind: the hnswlib HNSW graph, the second HNSW backend beside FAISS.

hnswlib is optional (``pip install 'ncf[ann]'``) and imported only when such an index is made
or loaded. The graph uses hnswlib's ``"ip"`` space (distance ``1 - <q, v>``; scores are
reported as ``<q, v>``); cosine indexes hold normalised vectors. hnswlib widens its beam to
the number of results asked for, so over-fetching needs no extra setting.
"""

from __future__ import annotations

import importlib.metadata
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf._checks import positive_int
from ncf._types import FloatArray, IntArray
from ncf.errors import ConfigError, DataError
from ncf.index.base import Index, import_backend
from ncf.retrieval.topk import TopK

__all__ = ["HnswlibIndex", "import_hnswlib", "set_hnswlib_threads"]

#: Threads for hnswlib builds and batch searches (-1: all cores); see ncf.index.set_num_threads.
_THREADS = -1


def set_hnswlib_threads(num: int) -> None:
    global _THREADS
    _THREADS = int(num)


def import_hnswlib() -> Any:
    """The ``hnswlib`` module, or a ConfigError that says how to install it."""
    return import_backend("hnswlib", "hnswlib indexes need the hnswlib package")


class HnswlibIndex(Index):
    """hnswlib's HNSW graph over the full vectors.

    Parameters
    ----------
    vectors : (N, d) float array, optional
    metric : {"dot", "cosine"}
    M : int
        Graph neighbours per node.
    ef_construction : int
        Beam width while building.
    ef_search : int
        Beam width while searching (hnswlib's ``ef``); settable after load.
    seed : int
        hnswlib's ``random_seed`` (level assignment). With several build threads the graph
        also depends on their timing.
    """

    kind = "hnswlib"
    backend_file = "index.hnswlib"
    PARAMS = ("M", "ef_construction", "ef_search", "seed")
    QUERY_PARAMS = ("ef_search",)
    SWEEP = ("ef_search", (16, 32, 64, 128, 256))

    def __init__(
        self,
        vectors: npt.ArrayLike | torch.Tensor | None = None,
        *,
        metric: str = "dot",
        M: int = 32,
        ef_construction: int = 200,
        ef_search: int = 64,
        seed: int = 0,
    ) -> None:
        self._hnswlib = import_hnswlib()
        self.M = positive_int("M", M)
        self.ef_construction = positive_int("ef_construction", ef_construction)
        self._ef_search = positive_int("ef_search", ef_search)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**31:
            raise ConfigError(f"seed must be an integer in [0, 2**31), got {seed!r}")
        self.seed: int = int(seed)
        self._index: Any = None
        super().__init__(vectors, metric=metric)

    @property
    def ef_search(self) -> int:
        """Beam width of a search (hnswlib uses at least the number of results asked for)."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._ef_search = positive_int("ef_search", value)
        if self._index is not None:
            self._index.set_ef(self._ef_search)

    def _params(self) -> dict[str, Any]:
        return {"M": self.M, "ef_construction": self.ef_construction, "ef_search": self._ef_search, "seed": self.seed}

    def _new(self, dim: int) -> Any:
        return self._hnswlib.Index(space="ip", dim=int(dim))

    def _build(self, vectors: FloatArray) -> None:
        n, d = vectors.shape
        index = self._new(d)
        index.init_index(max_elements=int(n), M=self.M, ef_construction=self.ef_construction, random_seed=self.seed)
        index.add_items(vectors, np.arange(n, dtype=np.int64), num_threads=_THREADS)
        index.set_ef(self._ef_search)
        self._index = index

    def _search(self, queries: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
        try:
            labels, dist = self._index.knn_query(queries, k=fetch, num_threads=_THREADS)
        except RuntimeError:
            # some row found fewer than ``fetch`` items; ask row by row, short rows come back
            # empty and the caller asks again or answers them exactly
            return self._search_rows(queries, fetch)
        return labels.astype(np.int64), (1.0 - dist).astype(np.float32)

    def _search_rows(self, queries: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
        ids = np.full((queries.shape[0], fetch), -1, dtype=np.int64)
        scores = np.full((queries.shape[0], fetch), -np.inf, dtype=np.float32)
        for row in range(queries.shape[0]):
            try:
                labels, dist = self._index.knn_query(queries[row : row + 1], k=fetch, num_threads=1)
            except RuntimeError:
                continue
            ids[row] = labels[0]
            scores[row] = 1.0 - dist[0]
        return ids, scores

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        def block(start: int, stop: int) -> FloatArray:
            return np.asarray(self._index.get_items(np.arange(start, stop)), dtype=np.float32)

        return self._exhaustive_by_chunks(queries, k, deny, block)

    def _vectors(self, ids: IntArray) -> FloatArray:
        if ids.size == 0:
            return np.zeros((0, int(self._index.dim)), dtype=np.float32)
        return np.asarray(self._index.get_items(ids), dtype=np.float32).reshape(ids.size, int(self._index.dim))

    def _write(self, path: Path) -> None:
        self._index.save_index(str(path))

    def _read(self, path: Path, size: int, dim: int) -> None:
        index = self._new(dim)
        try:
            index.load_index(str(path), max_elements=size)
        except (RuntimeError, ValueError) as exc:
            raise DataError(f"hnswlib cannot read this file ({exc})", path=path) from exc
        if int(index.element_count) != size:
            raise DataError(f"holds {index.element_count} vectors, index.json says {size}", path=path)
        if int(index.M) != self.M:
            raise DataError(f"the saved graph has M={index.M}, index.json says {self.M}", path=path)
        index.set_ef(self._ef_search)
        self._index = index

    @classmethod
    def _require_backend(cls) -> None:
        import_hnswlib()

    def _backend_version(self) -> str:
        try:
            return f"hnswlib {importlib.metadata.version('hnswlib')}"
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source build
            return "hnswlib"
