"""Shared data and references for the index tests (imported by them; not a test module)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest

from ncf.index import Index, make_index

HAS_FAISS = importlib.util.find_spec("faiss") is not None
HAS_HNSWLIB = importlib.util.find_spec("hnswlib") is not None
HAS_SCANN = importlib.util.find_spec("scann") is not None
HAS_ANNOY = importlib.util.find_spec("annoy") is not None

needs_faiss = pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu is not installed (pip install 'ncf[ann]')")
needs_hnswlib = pytest.mark.skipif(not HAS_HNSWLIB, reason="hnswlib is not installed (pip install 'ncf[ann]')")
needs_scann = pytest.mark.skipif(not HAS_SCANN, reason="scann is not installed (pip install 'ncf[ann]'; Linux only)")
needs_annoy = pytest.mark.skipif(not HAS_ANNOY, reason="annoy is not installed (pip install 'ncf[ann]')")

#: Test names that build a kind with extra settings: (kind, settings). ``ivfpq-rerank`` keeps
#: a float32 copy, so its stored vectors, fallback and allow-list scores are exact.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"ivfpq-rerank": ("ivfpq", {"rerank": 4})}

#: Every kind, marked with the package it needs.
ALL_KINDS = [
    pytest.param("exact", id="exact"),
    pytest.param("flat", id="flat", marks=needs_faiss),
    pytest.param("hnsw", id="hnsw", marks=needs_faiss),
    pytest.param("ivf", id="ivf", marks=needs_faiss),
    pytest.param("ivfpq", id="ivfpq", marks=needs_faiss),
    pytest.param("hnswlib", id="hnswlib", marks=needs_hnswlib),
    pytest.param("ivfpq-rerank", id="ivfpq-rerank", marks=needs_faiss),
    pytest.param("scann", id="scann", marks=needs_scann),
    pytest.param("annoy", id="annoy", marks=needs_annoy),
]

#: Deliberately weak settings: the approximate search misses many items, so exclusion has to
#: over-fetch, ask again and fall back to the exact answer.
WEAK: dict[str, dict[str, Any]] = {
    "exact": {},
    "flat": {},
    "hnsw": {"M": 4, "ef_construction": 8, "ef_search": 1},
    "ivf": {"nlist": 8, "nprobe": 1},
    "ivfpq": {"nlist": 4, "nprobe": 1, "m": 2, "nbits": 4},
    "hnswlib": {"M": 4, "ef_construction": 8, "ef_search": 1},
    "ivfpq-rerank": {"nlist": 4, "nprobe": 1, "m": 2, "nbits": 4, "rerank": 1},
    "scann": {"num_leaves": 4, "num_leaves_to_search": 1, "rerank": 1},
    "annoy": {"n_trees": 1, "search_k": 1},
}


def random_vectors(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def clustered_vectors(n: int, d: int, seed: int, clusters: int = 20) -> np.ndarray:
    """A Gaussian mixture: ``clusters`` centres, points spread at 0.3 of the centre scale."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    which = rng.integers(0, clusters, size=n)
    return (centres[which] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def brute_force(
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    *,
    metric: str = "dot",
    exclude: list[set[int]] | None = None,
    allow: list[set[int] | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """float64 scores, filtered, stable argsort descending; -1 / -inf padding."""
    v = vectors.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "cosine":
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-300)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    scores = q @ v.T
    k = min(k, len(v))  # a k beyond the catalogue is clamped to it (the index and topk rule)
    ids = np.full((len(q), k), -1, dtype=np.int64)
    top = np.full((len(q), k), -np.inf)
    for row in range(len(q)):
        keep = np.ones(len(v), dtype=bool)
        if exclude is not None:
            keep[list(exclude[row])] = False
        if allow is not None and allow[row] is not None:
            mask = np.zeros(len(v), dtype=bool)
            mask[list(allow[row])] = True  # type: ignore[arg-type]
            keep &= mask
        cand = np.flatnonzero(keep)
        order = cand[np.argsort(-scores[row, cand], kind="stable")][:k]
        ids[row, : order.size] = order
        top[row, : order.size] = scores[row, order]
    return ids, top


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's true ids (ignoring -1) that ``found`` holds."""
    hits = [len(set(f[f >= 0]) & set(t[t >= 0])) / max(1, int((t >= 0).sum())) for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


def build(kind: str, vectors: np.ndarray, metric: str = "dot", **params: Any) -> Index:
    """``kind`` (or a :data:`VARIANTS` name) built on ``vectors``; ``params`` override the variant's."""
    kind, preset = VARIANTS.get(kind, (kind, {}))
    return make_index(kind, metric=metric, **{**preset, **params}).build(vectors)
