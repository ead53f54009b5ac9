"""``annoy`` kind: Spotify's Annoy, a forest of random-projection trees over the full vectors.

annoy is optional (``pip install 'ncf[ann]'``; built from source, so it needs a C++ compiler
where pip finds no wheel) and imported only when such an index is made or loaded. The forest
uses Annoy's ``"dot"`` metric, whose reported distance is the inner product itself; cosine
indexes hold normalised vectors. A search inspects ``search_k`` tree nodes (Annoy's default,
``n_trees * fetch``, when it is None), at least as many as the results it fetches.

Annoy searches one query per call, so batches loop in Python; the saved file is Annoy's own,
memory-mapped on load. Allow-lists and the exact fallback read the stored vectors back item
by item (``get_item_vector``), which is slow for a fallback over millions of items.
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

from ncf._checks import optional_positive_int, positive_int
from ncf._types import FloatArray, IntArray
from ncf.errors import ConfigError, DataError
from ncf.index.base import Index, import_backend
from ncf.retrieval.topk import TopK

__all__ = ["AnnoyIndex", "import_annoy", "set_annoy_threads"]

#: Threads for Annoy's build (-1: all cores); see ncf.index.set_num_threads.
_THREADS = -1


def set_annoy_threads(num: int) -> None:
    global _THREADS
    _THREADS = int(num)


def import_annoy() -> Any:
    """The ``annoy`` module, or a ConfigError that says how to install it."""
    return import_backend("annoy", "Annoy indexes need the annoy package")


class AnnoyIndex(Index):
    """Annoy's forest of random-projection trees.

    Parameters
    ----------
    vectors : (N, d) float array, optional
    metric : {"dot", "cosine"}
    n_trees : int
        Trees in the forest (build time and memory grow with it, and so does recall).
    search_k : int, optional
        Tree nodes inspected per query (at least the number of results fetched); settable
        after load. None: Annoy's default ``n_trees * fetch``.
    seed : int
        Annoy's ``set_seed`` (the random projections). With several build threads the forest
        also depends on their timing.
    """

    kind = "annoy"
    backend_file = "index.annoy"
    PARAMS = ("n_trees", "search_k", "seed")
    QUERY_PARAMS = ("search_k",)
    SWEEP = ("search_k", (1000, 4000, 16000, 64000))

    def __init__(
        self,
        vectors: npt.ArrayLike | torch.Tensor | None = None,
        *,
        metric: str = "dot",
        n_trees: int = 50,
        search_k: int | None = None,
        seed: int = 0,
    ) -> None:
        self._annoy = import_annoy()
        self.n_trees = positive_int("n_trees", n_trees)
        self._search_k = optional_positive_int("search_k", search_k)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**31:
            raise ConfigError(f"seed must be an integer in [0, 2**31), got {seed!r}")
        self.seed: int = int(seed)
        self._index: Any = None
        super().__init__(vectors, metric=metric)

    @property
    def search_k(self) -> int | None:
        """Tree nodes inspected per query (None: Annoy's default ``n_trees * fetch``)."""
        return self._search_k

    @search_k.setter
    def search_k(self, value: int) -> None:
        self._search_k = positive_int("search_k", value)

    def _params(self) -> dict[str, Any]:
        return {"n_trees": self.n_trees, "search_k": self._search_k, "seed": self.seed}

    def _new(self, dim: int) -> Any:
        return self._annoy.AnnoyIndex(int(dim), "dot")

    def _build(self, vectors: FloatArray) -> None:
        n, d = vectors.shape
        index = self._new(d)
        index.set_seed(self.seed)
        for i in range(n):
            index.add_item(i, vectors[i])
        index.build(self.n_trees, n_jobs=_THREADS)
        self._index = index

    def _search(self, queries: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
        num = queries.shape[0]
        ids = np.full((num, fetch), -1, dtype=np.int64)
        scores = np.full((num, fetch), -np.inf, dtype=np.float32)
        search_k = -1 if self._search_k is None else max(self._search_k, fetch)
        for row in range(num):
            found, dots = self._index.get_nns_by_vector(queries[row], fetch, search_k=search_k, include_distances=True)
            width = min(fetch, len(found))
            ids[row, :width] = found[:width]
            scores[row, :width] = dots[:width]
        return ids, scores

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        return self._exhaustive_by_chunks(queries, k, deny, lambda a, b: self._vectors(np.arange(a, b)))

    def _vectors(self, ids: IntArray) -> FloatArray:
        out = np.empty((ids.size, self._dim or int(self._index.f)), dtype=np.float32)
        for row, item in enumerate(ids.tolist()):
            out[row] = self._index.get_item_vector(item)
        return out

    def _write(self, path: Path) -> None:
        # Annoy re-opens (memory-maps) the file it saved; the mapping outlives a later rename
        self._index.save(str(path))

    def _read(self, path: Path, size: int, dim: int) -> None:
        index = self._new(dim)
        try:
            index.load(str(path))
        except (OSError, RuntimeError, ValueError) as exc:
            raise DataError(f"Annoy cannot read this file ({exc})", path=path) from exc
        if int(index.get_n_items()) != size:
            raise DataError(f"holds {index.get_n_items()} vectors, index.json says {size}", path=path)
        if int(index.get_n_trees()) != self.n_trees:
            raise DataError(f"holds {index.get_n_trees()} trees, index.json says n_trees={self.n_trees}", path=path)
        self._index = index

    @classmethod
    def _require_backend(cls) -> None:
        import_annoy()

    def _backend_version(self) -> str:
        try:
            return f"annoy {importlib.metadata.version('annoy')}"
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source build
            return "annoy"
