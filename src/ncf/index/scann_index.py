"""``scann`` kind: Google's ScaNN, a k-means tree over anisotropic (AH) codes, re-ranked exactly.

scann is optional (``pip install 'ncf[ann]'``, Linux wheels only) and imported only when such
an index is made or loaded. The searcher is ScaNN's "tree-AH with re-ordering": the query
visits ``num_leaves_to_search`` of the ``num_leaves`` partitions, scores their items with
asymmetric hashing (``dimensions_per_block`` dimensions per 4-bit code, anisotropic loss at
``anisotropic_quantization_threshold``), and ScaNN's own re-ordering re-scores the
``rerank * fetch`` best of those exactly (``rerank_dtype``: float32, or ScaNN's bfloat16 /
int8 copies). Scores are ScaNN's inner products: exact ones after re-ordering, quantized
without it (``rerank=None``).

ncf keeps its own float32 copy of the vectors beside the searcher: allow-lists and the exact
fallback score with it (ScaNN does not hand its vectors back). It costs ``N * d * 4`` bytes of
memory; on disk it shares ScaNN's ``dataset.npy`` when ScaNN re-orders in float32.

The backend file is an uncompressed tar of ScaNN's serialized directory (and ``vectors.npy``
when ScaNN holds no float32 copy), read back through a temporary directory.
"""

from __future__ import annotations

import importlib.metadata
import io
import math
import numbers
import tarfile
import tempfile
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

__all__ = ["RERANK_DTYPES", "ScannIndex", "import_scann", "set_scann_threads"]

#: Precisions of ScaNN's re-ordering copy (``ReorderType`` names).
RERANK_DTYPES = ("float32", "bfloat16", "int8")
#: ncf's float32 copy inside the backend tar when ScaNN keeps none (``dataset.npy``).
_VECTORS = "vectors.npy"
_DATASET = "dataset.npy"
#: Threads for ScaNN's training and batch searches (0: ScaNN's default); see set_num_threads.
_THREADS = 0
#: Batches of at least this many queries are searched on ScaNN's thread pool.
_PARALLEL_FROM = 64


def set_scann_threads(num: int) -> None:
    global _THREADS
    _THREADS = int(num)


def import_scann() -> Any:
    """The ``scann`` module, or a ConfigError that says how to install it."""
    return import_backend("scann", "ScaNN indexes need the scann package (Linux only)")


class ScannIndex(Index):
    """ScaNN's tree-AH searcher with exact re-ordering.

    Parameters
    ----------
    vectors : (N, d) float array, optional
    metric : {"dot", "cosine"}
    num_leaves : int, optional
        Partitions of the k-means tree. Default: about ``sqrt(N)`` (at most ``N / 50``); no
        tree at all below 2 partitions (every item is scored).
    num_leaves_to_search : int, optional
        Partitions visited per query (capped at ``num_leaves``); settable after load.
        Default: a tenth of ``num_leaves`` (at least 1).
    dimensions_per_block : int
        Dimensions per AH code block (ScaNN recommends 2).
    anisotropic_quantization_threshold : float
        The AH loss's threshold (ScaNN recommends 0.2 for inner product).
    training_sample_size : int, optional
        Vectors ScaNN samples to train the tree and the codes (default ``min(N, 100000)``).
    rerank : int, optional
        Candidates per result that ScaNN re-scores exactly (``pre_reorder_num_neighbors =
        rerank * fetch``); settable after build or load on an index built with it. ``None``:
        no re-ordering copy, quantized scores.
    rerank_dtype : {"float32", "bfloat16", "int8"}
        Precision of ScaNN's re-ordering copy.
    """

    kind = "scann"
    backend_file = "index.scann"
    PARAMS = (
        "num_leaves",
        "num_leaves_to_search",
        "dimensions_per_block",
        "anisotropic_quantization_threshold",
        "training_sample_size",
        "rerank",
        "rerank_dtype",
    )
    QUERY_PARAMS = ("num_leaves_to_search", "rerank")
    SWEEP = ("num_leaves_to_search", (1, 4, 16, 64))

    def __init__(
        self,
        vectors: npt.ArrayLike | torch.Tensor | None = None,
        *,
        metric: str = "dot",
        num_leaves: int | None = None,
        num_leaves_to_search: int | None = None,
        dimensions_per_block: int = 2,
        anisotropic_quantization_threshold: float = 0.2,
        training_sample_size: int | None = None,
        rerank: int | None = 4,
        rerank_dtype: str = "float32",
    ) -> None:
        self._scann = import_scann()
        self._leaves_arg: int | None = optional_positive_int("num_leaves", num_leaves)
        self.num_leaves: int | None = self._leaves_arg  # resolved at build when None
        self._to_search: int | None = optional_positive_int("num_leaves_to_search", num_leaves_to_search)
        self.dimensions_per_block: int = positive_int("dimensions_per_block", dimensions_per_block)
        threshold = anisotropic_quantization_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
            raise ConfigError(f"anisotropic_quantization_threshold must be a finite number, got {threshold!r}")
        self.anisotropic_quantization_threshold: float = float(threshold)
        self.training_sample_size: int | None = optional_positive_int("training_sample_size", training_sample_size)
        self._rerank: int | None = optional_positive_int("rerank", rerank)
        if rerank_dtype not in RERANK_DTYPES:
            raise ConfigError(f"rerank_dtype must be one of {', '.join(RERANK_DTYPES)}, got {rerank_dtype!r}")
        self.rerank_dtype: str = rerank_dtype
        self._searcher: Any = None
        self._matrix: FloatArray = np.zeros((0, 0), dtype=np.float32)
        self._reorders: bool = False
        super().__init__(vectors, metric=metric)

    # ------------------------------------------------------------------ query-time settings
    @property
    def num_leaves_to_search(self) -> int | None:
        """Partitions visited per query (None until resolved at build)."""
        return self._to_search

    @num_leaves_to_search.setter
    def num_leaves_to_search(self, value: int) -> None:
        self._to_search = positive_int("num_leaves_to_search", value)

    @property
    def rerank(self) -> int | None:
        """Candidates per result that ScaNN re-scores exactly (None: no re-ordering)."""
        return self._rerank

    @rerank.setter
    def rerank(self, value: int) -> None:
        if self._searcher is not None and not self._reorders:
            raise ConfigError(
                "this scann index was built without a re-ordering copy; build it with rerank=R"
            )
        built = self._searcher is not None
        self._rerank = positive_int("rerank", value) if built else optional_positive_int("rerank", value)

    def _params(self) -> dict[str, Any]:
        return {
            "num_leaves": self.num_leaves,
            "num_leaves_to_search": self._to_search,
            "dimensions_per_block": self.dimensions_per_block,
            "anisotropic_quantization_threshold": self.anisotropic_quantization_threshold,
            "training_sample_size": self.training_sample_size,
            "rerank": self._rerank,
            "rerank_dtype": self.rerank_dtype,
        }

    # ------------------------------------------------------------------ Index hooks
    def _build(self, vectors: FloatArray) -> None:
        n, d = vectors.shape
        leaves = self._leaves_arg or max(1, min(int(round(math.sqrt(n))), n // 50))
        if leaves > n:
            raise ConfigError(f"num_leaves={leaves} exceeds the {n} vectors to index; use num_leaves <= {n}")
        if self.dimensions_per_block > d:
            raise ConfigError(f"dimensions_per_block={self.dimensions_per_block} exceeds the dimension {d}")
        sample = min(n, self.training_sample_size or 100_000)
        to_search = min(leaves, self._to_search or max(1, leaves // 10))
        builder = self._scann.scann_ops_pybind.builder(vectors, 10, "dot_product")
        if leaves > 1:
            builder = builder.tree(
                num_leaves=leaves,
                num_leaves_to_search=to_search,
                training_sample_size=sample,
                min_partition_size=max(1, min(50, n // leaves // 2)),
            )
        builder = builder.score_ah(
            self.dimensions_per_block,
            anisotropic_quantization_threshold=self.anisotropic_quantization_threshold,
            training_sample_size=sample,
        )
        if self._rerank is not None:
            quantize = getattr(self._scann.scann_ops_pybind.scann_builder.ReorderType, self.rerank_dtype.upper())
            builder = builder.reorder(self._rerank * 10, quantize=quantize)
        if _THREADS > 0:
            builder = builder.set_n_training_threads(_THREADS)
        searcher = builder.build()
        if _THREADS > 0:
            searcher.set_num_threads(_THREADS)
        self.num_leaves, self._to_search = leaves, self._to_search or to_search
        self._searcher, self._reorders = searcher, self._rerank is not None
        self._matrix = vectors.copy()

    def _search(self, queries: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
        leaves = min(int(self._to_search or 1), int(self.num_leaves or 1))
        pre = max(fetch, (self._rerank or 1) * fetch) if self._reorders else fetch
        search = (
            self._searcher.search_batched_parallel
            if queries.shape[0] >= _PARALLEL_FROM
            else self._searcher.search_batched
        )
        ids, scores = search(
            np.ascontiguousarray(queries),
            final_num_neighbors=fetch,
            pre_reorder_num_neighbors=pre,
            leaves_to_search=leaves,
        )
        scores = np.asarray(scores, dtype=np.float32).reshape(queries.shape[0], -1)
        ids = np.asarray(ids).astype(np.int64).reshape(queries.shape[0], -1)
        missing = ~np.isfinite(scores)  # ScaNN pads a short row with id 0, score NaN
        ids[missing] = -1
        scores[missing] = -np.inf
        out_ids = np.full((queries.shape[0], fetch), -1, dtype=np.int64)
        out_scores = np.full((queries.shape[0], fetch), -np.inf, dtype=np.float32)
        width = min(fetch, ids.shape[1])
        out_ids[:, :width], out_scores[:, :width] = ids[:, :width], scores[:, :width]
        return out_ids, out_scores

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        return self._exhaustive_by_chunks(queries, k, deny, lambda a, b: self._matrix[a:b])

    def _vectors(self, ids: IntArray) -> FloatArray:
        return self._matrix[ids]

    def _write(self, path: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            self._searcher.serialize(tmp, relative_path=True)
            root = Path(tmp)
            if not (root / _DATASET).is_file() or self.rerank_dtype != "float32":
                with open(root / _VECTORS, "wb") as fh:
                    np.save(fh, self._matrix, allow_pickle=False)
            with tarfile.open(path, "w") as tar:
                for member in sorted(root.iterdir()):
                    tar.add(member, arcname=member.name, recursive=False)

    def _read(self, path: Path, size: int, dim: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            try:
                with tarfile.open(path, "r:") as tar:
                    for member in tar.getmembers():
                        if not member.isfile() or Path(member.name).name != member.name or member.name.startswith("."):
                            raise DataError(f"holds an unexpected entry {member.name!r}", path=path)
                        source = tar.extractfile(member)
                        if source is None:  # pragma: no cover - isfile() entries have contents
                            raise DataError(f"cannot read {member.name!r}", path=path)
                        (root / member.name).write_bytes(source.read())
            except tarfile.TarError as exc:
                raise DataError(f"not a ScaNN index archive ({exc})", path=path) from exc
            name = _VECTORS if (root / _VECTORS).is_file() else _DATASET
            try:
                matrix = np.load(io.BytesIO((root / name).read_bytes()), allow_pickle=False)
                searcher = self._scann.scann_ops_pybind.load_searcher(tmp, assets_backcompat_shim=False)
            except (OSError, ValueError, RuntimeError) as exc:
                raise DataError(f"ScaNN cannot read this index ({first_line(exc)})",
                                path=path) from exc
        if matrix.dtype != np.float32 or matrix.shape != (size, dim):
            raise DataError(f"holds {matrix.dtype} {matrix.shape} vectors, index.json says float32 ({size}, {dim})",
                            path=path)
        if int(searcher.size()) != size:
            raise DataError(f"the ScaNN searcher holds {searcher.size()} items, index.json says {size}", path=path)
        config = str(searcher.config())
        if (self._rerank is not None) != ("exact_reordering" in config):
            raise DataError("the ScaNN searcher's re-ordering does not match index.json's rerank", path=path)
        if _THREADS > 0:
            searcher.set_num_threads(_THREADS)
        self._searcher, self._reorders = searcher, self._rerank is not None
        self._matrix = np.ascontiguousarray(matrix)

    @classmethod
    def _require_backend(cls) -> None:
        import_scann()

    def _backend_version(self) -> str:
        try:
            return f"scann {importlib.metadata.version('scann')}"
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source build
            return "scann"
