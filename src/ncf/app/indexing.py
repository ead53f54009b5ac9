"""``ncf index build`` / ``ncf index bench``: an ANN index of a run's item vectors, measured.

The held-back users of the run (its test users) are the queries: each one's exact top-k over
the unseen items is the truth an index is measured against (recall@k), and single-query
latency is timed the way a server sees it. ``build`` writes the index into ``RUN/index`` with
``RUN/index-info.json`` (the model version it belongs to and what was measured), which
``ncf serve`` and :class:`ncf.serving.Recommender` then use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from ncf._io import check_output, read_json, write_json
from ncf._types import PathLike
from ncf.app.artifact import Run
from ncf.errors import ConfigError, DataError
from ncf.models.base import Factorized
from ncf.persistence import model_version

INDEX_DIR = "index"
INFO_FILE = "index-info.json"

@dataclass(frozen=True)
class Queries:
    """Held-back users as index queries, their seen items and their exact top-k."""

    users: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    seen: list[npt.NDArray[np.int64] | None]
    truth: npt.NDArray[np.int64]
    item_vectors: npt.NDArray[np.float32]


def held_back_queries(run: Run, *, k: int, limit: int = 1000, seed: int = 0) -> Queries:
    """Up to ``limit`` of the run's test users (seeded sample): vectors, seen items, exact top-k."""
    from ncf.index import ExactIndex

    model = run.model
    if not isinstance(model, Factorized):
        raise ConfigError(f"model {model.name!r} has no item vectors to index: it is scored exactly (NeuMF and MLP pair by pair, graph filters row by row from the history)")
    if k < 1 or limit < 1:
        raise ConfigError("k and the number of queries must be positive")
    run.set_context(run.known("test"))
    users = np.unique(run.split.test.users)
    if users.size > limit:
        users = np.sort(np.random.default_rng(seed).choice(users, size=limit, replace=False))
    with torch.inference_mode():
        vectors = model.user_vectors(torch.from_numpy(users)).float().numpy()
        items = model.item_vectors().float().numpy()
    known = run.known("test")
    seen_csr = known[0].to_csr()
    for part in known[1:]:
        seen_csr = seen_csr + part.to_csr()
    seen: list[npt.NDArray[np.int64] | None] = [
        np.asarray(seen_csr.indices[seen_csr.indptr[u]:seen_csr.indptr[u + 1]], dtype=np.int64) for u in users]
    truth = ExactIndex(items, scan="float32").search(vectors, k, exclude=seen).ids
    return Queries(users, vectors, seen, truth, np.ascontiguousarray(items))


@dataclass(frozen=True)
class IndexReport:
    """A built index: what it is, what it was measured at, and where it was saved.

    :meth:`to_dict` is ``ncf index build --json`` and ``RUN/index-info.json`` (recall under the
    key ``recall@{k}``), which :func:`read_index_info` reads back.
    """

    model_version: str  # the saved model's weights the index was built from
    kind: str
    metric: str
    params: dict[str, Any]
    items: int
    dim: int
    k: int  # the cut-off recall is measured at (clamped to the catalogue)
    queries: int  # held-back users measured
    recall: float  # recall@k against exact search
    p50_ms: float  # single-query latency
    p99_ms: float
    qps: float  # batch throughput
    build_seconds: float
    path: str  # the saved index directory, resolved

    def to_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "kind": self.kind, "metric": self.metric,
                "params": self.params, "items": self.items, "dim": self.dim, "k": self.k, "queries": self.queries,
                f"recall@{self.k}": self.recall, "p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "qps": self.qps,
                "build_seconds": self.build_seconds, "path": self.path}


def build_index(run_dir: PathLike, kind: str, *, metric: str = "dot", params: dict[str, Any] | None = None,
                k: int = 10, queries: int = 1000, out: PathLike | None = None) -> IndexReport:
    """Build a ``kind`` index of the run's item vectors, measure it, and save it (atomically)."""
    from ncf.index import make_index
    from ncf.index.base import METADATA_FILE
    from ncf.index.measure import measure

    run = Run.load(run_dir)
    target = check_output(out if out is not None else run.path / INDEX_DIR, run.dir.owned_paths(),
                          replaces_dir_with=METADATA_FILE)
    k = _clamped_k(k, run)
    q = held_back_queries(run, k=k, limit=queries)
    index = make_index(kind, metric=metric, **(params or {}))
    t0 = time.perf_counter()
    index.build(q.item_vectors)
    build_seconds = time.perf_counter() - t0
    result = measure(index, q.vectors, q.truth, k, q.seen)
    index.save(target)
    report = IndexReport(model_version=model_version(run.dir.model_dir), kind=index.kind, metric=index.metric,
                         params=index.params, items=index.size, dim=index.dim, k=k, queries=int(q.users.size),
                         recall=result.recall, p50_ms=result.p50_ms, p99_ms=result.p99_ms, qps=result.qps,
                         build_seconds=build_seconds, path=str(target.resolve()))
    if out is None:
        write_json(run.path / INFO_FILE, report.to_dict())
    return report


def bench_indexes(run_dir: PathLike, kinds: list[str] | None = None, *, k: int = 10, queries: int = 1000,
                  metric: str = "dot") -> list[dict[str, Any]]:
    """Every kind (default: all installed) at each query-time setting of its sweep, on the run's vectors."""
    from ncf.index import KINDS, make_index
    from ncf.index.measure import measure

    run = Run.load(run_dir)
    k = _clamped_k(k, run)
    q = held_back_queries(run, k=k, limit=queries)
    rows: list[dict[str, Any]] = []
    for kind in kinds or list(KINDS):
        if kind not in KINDS:
            raise ConfigError(f"unknown index kind {kind!r} (kinds: {', '.join(KINDS)})")
        setting, values = KINDS[kind].SWEEP
        t0 = time.perf_counter()
        index = make_index(kind, metric=metric).build(q.item_vectors)
        build_seconds = time.perf_counter() - t0
        for value in values:
            extra = {} if setting is None else {setting: value}
            m = measure(index, q.vectors, q.truth, k, q.seen, **extra)
            rows.append({**m.to_dict(), "k": k, f"recall@{k}": m.recall, "build_seconds": build_seconds})
    return rows


def _clamped_k(k: int, run: Run) -> int:
    """``k`` checked and clamped to the catalogue, the rule of every ranking (recall@k of a longer
    list than there are items is recall over all of them, and is labelled so)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return min(int(k), int(run.model.num_items))


def read_index_info(run_dir: PathLike) -> dict[str, Any] | None:
    path = Path(run_dir) / INFO_FILE
    if not path.is_file():
        return None
    try:
        info = read_json(path)
    except ValueError as exc:
        raise DataError(f"invalid JSON: {exc}", path=path) from None
    if not isinstance(info, dict):
        raise DataError("expected a JSON object", path=path)
    return info
