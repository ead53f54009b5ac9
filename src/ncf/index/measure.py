"""How good and how fast an index is: recall@k against exact search, single-query latency, QPS.

Shared by ``ncf index build`` / ``ncf index bench`` and ``benchmarks/bench_ann.py``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf.index.base import Index


def recall(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    """Share of the true top-k (ids >= 0 of ``truth``) that ``found`` returned, over all rows."""
    hits = sum(len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / max(1, int((truth >= 0).sum()))


def single_query_ms(index: Index, queries: npt.NDArray[np.float32], k: int,
                    exclude: list[npt.NDArray[np.int64] | None] | None = None
                    ) -> tuple[float, float, npt.NDArray[np.int64]]:
    """p50 and p99 latency (ms) of one-query searches, as a server makes them, and their results."""
    times = np.empty(len(queries))
    ids = np.empty((len(queries), min(k, index.size)), dtype=np.int64)  # search clamps k to the catalogue
    for i in range(len(queries)):
        excl = [exclude[i]] if exclude is not None else None
        t0 = time.perf_counter()
        top = index.search(queries[i : i + 1], k, exclude=excl)
        times[i] = time.perf_counter() - t0
        ids[i] = top.ids[0]
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3), ids


def batch_qps(index: Index, queries: npt.NDArray[np.float32], k: int,
              exclude: list[npt.NDArray[np.int64] | None] | None = None, repeats: int = 3) -> float:
    """Queries per second with all queries in one call (best of ``repeats``)."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        index.search(queries, k, exclude=exclude)
        best = min(best, time.perf_counter() - t0)
    return len(queries) / best


@dataclass(frozen=True)
class Measurement:
    """One index at one query-time setting."""

    kind: str
    setting: dict[str, Any]
    recall: float
    p50_ms: float
    p99_ms: float
    qps: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.setting, "recall": self.recall, "p50_ms": self.p50_ms,
                "p99_ms": self.p99_ms, "qps": self.qps}


def measure(index: Index, queries: npt.NDArray[np.float32], truth: npt.NDArray[np.int64], k: int,
            exclude: list[npt.NDArray[np.int64] | None] | None = None, **setting: Any) -> Measurement:
    """Recall@k against ``truth`` and the speed of ``index`` at query-time ``setting``."""
    if setting:
        index.set_query_params(**setting)
    single_query_ms(index, queries[: min(20, len(queries))], k, exclude)  # warm-up
    p50, p99, ids = single_query_ms(index, queries, k, exclude)
    qps = batch_qps(index, queries, k, exclude)
    return Measurement(index.kind, dict(setting), recall(ids, truth), p50, p99, qps)
