"""``ExactIndex``: the exact scan of :mod:`ncf.retrieval.topk` behind the index interface.

The recall baseline of every approximate kind. It ranks with :class:`~ncf.retrieval.topk.ExactScan`,
the scan behind :func:`ncf.topk` (float32, or bfloat16 certified by an error bound where that is
native), with excluded items masked inside the scan rather than over-fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf._types import FloatArray, IntArray
from ncf.errors import ConfigError, DataError
from ncf.index.base import Index
from ncf.retrieval.topk import ExactScan, Scan, TopK

__all__ = ["ExactIndex"]

_SCANS = ("auto", "float32", "bfloat16")


class ExactIndex(Index):
    """Exact inner-product / cosine search: every query is scored against every item.

    Parameters
    ----------
    vectors : (N, d) float array, optional
        Build at once.
    metric : {"dot", "cosine"}
    scan : {"auto", "float32", "bfloat16"}
        Precision of the first pass, as in :func:`ncf.topk`: ``"auto"`` scans in bfloat16
        where that is native and re-ranks in float32 under a proven error bound, so the
        ranking is the float32 one either way.

    Examples
    --------
    >>> index = ExactIndex(item_vectors, metric="dot")  # doctest: +SKIP
    >>> ids, scores = index.search(user_vectors, k=10, exclude=seen)  # doctest: +SKIP
    """

    kind = "exact"
    backend_file = "vectors.npy"
    exhaustive = True
    PARAMS = ("scan",)

    def __init__(
        self,
        vectors: npt.ArrayLike | torch.Tensor | None = None,
        *,
        metric: str = "dot",
        scan: Scan = "auto",
    ) -> None:
        if scan not in _SCANS:
            raise ConfigError(f"scan must be 'auto', 'float32' or 'bfloat16', got {scan!r}")
        self.scan: Scan = scan
        self._matrix: FloatArray = np.zeros((0, 0), dtype=np.float32)
        self._scan: ExactScan | None = None
        super().__init__(vectors, metric=metric)

    def _params(self) -> dict[str, Any]:
        return {"scan": self.scan}

    def _build(self, vectors: FloatArray) -> None:
        self._matrix = vectors.copy()
        self._scan = ExactScan(torch.from_numpy(self._matrix), scan=self.scan)

    def _scanner(self) -> ExactScan:
        if self._scan is None:  # pragma: no cover - guarded by _require_built
            raise RuntimeError("the exact index has no vectors")
        return self._scan

    def _search(self, queries: FloatArray, fetch: int) -> tuple[IntArray, FloatArray]:
        top = self._scanner().topk(torch.from_numpy(np.ascontiguousarray(queries)), fetch)
        return top.ids, top.scores

    def _exhaustive(self, queries: FloatArray, k: int, deny: sp.csr_matrix | None) -> TopK:
        return self._scanner().topk(torch.from_numpy(np.ascontiguousarray(queries)), k, exclude=deny)

    def _vectors(self, ids: IntArray) -> FloatArray:
        return self._matrix[ids]

    def _write(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.save(fh, self._matrix, allow_pickle=False)

    def _read(self, path: Path, size: int, dim: int) -> None:
        try:
            mat = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(f"not a vector file ({exc})", path=path) from exc
        if mat.dtype != np.float32 or mat.shape != (size, dim):
            raise DataError(
                f"holds {mat.dtype} {mat.shape} vectors, index.json says float32 ({size}, {dim})", path=path
            )
        self._build(np.ascontiguousarray(mat))
