"""Every index kind against brute-force numpy search: exact kinds identical, ANN kinds by recall."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from index_data import (
    ALL_KINDS,
    brute_force,
    build,
    clustered_vectors,
    needs_annoy,
    needs_faiss,
    needs_hnswlib,
    needs_scann,
    random_vectors,
    recall_at,
)

from ncf.errors import ConfigError, DataError, NotFittedError
from ncf.index import KINDS, ExactIndex, Index, make_index
from ncf.retrieval import TopK

N, D, Q = 2000, 16, 100

#: Generous settings and the recall@10 each must reach on all four data/metric pairs. Measured
#: minima at N=2000, d=16, 100 queries (the hardest case is inner product on clustered data):
#: hnsw 0.976, hnswlib 0.983, ivf 0.951, ivfpq 0.962, ivfpq-rerank 1.0, scann 0.999, annoy
#: 0.931; the floors leave room for the thread timing that HNSW graphs (and Annoy's
#: multi-threaded build) depend on.
GENEROUS: list[Any] = [
    pytest.param("hnsw", {"M": 32, "ef_construction": 100, "ef_search": 128}, 0.93, marks=needs_faiss, id="hnsw"),
    pytest.param("hnswlib", {"M": 32, "ef_construction": 100, "ef_search": 128}, 0.93, marks=needs_hnswlib, id="hnswlib"),
    pytest.param("ivf", {"nlist": 32, "nprobe": 16}, 0.9, marks=needs_faiss, id="ivf"),
    pytest.param("ivfpq", {"nlist": 16, "nprobe": 16, "m": 16}, 0.85, marks=needs_faiss, id="ivfpq"),
    pytest.param("ivfpq-rerank", {"nlist": 16, "nprobe": 16, "m": 4, "rerank": 16}, 0.95, marks=needs_faiss,
                 id="ivfpq-rerank"),
    pytest.param("scann", {"num_leaves": 16, "num_leaves_to_search": 16, "rerank": 16}, 0.95, marks=needs_scann,
                 id="scann"),
    pytest.param("annoy", {"n_trees": 20, "search_k": 2000}, 0.9, marks=needs_annoy, id="annoy"),
]

DATA = {"random": random_vectors, "clustered": clustered_vectors}


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("metric", ["dot", "cosine"])
@pytest.mark.parametrize(
    "kind,params",
    [
        pytest.param("exact", {"scan": "float32"}, id="exact-float32"),
        pytest.param("exact", {"scan": "bfloat16"}, id="exact-bfloat16"),
        pytest.param("exact", {}, id="exact-auto"),
        pytest.param("flat", {}, marks=needs_faiss, id="flat"),
        pytest.param("ivf", {"nlist": 16, "nprobe": 16}, marks=needs_faiss, id="ivf-every-list"),
    ],
)
def test_exact_kinds_equal_brute_force(data: str, metric: str, kind: str, params: dict[str, Any]) -> None:
    vectors = DATA[data](N, D, seed=0)
    queries = DATA[data](Q, D, seed=1)
    index = build(kind, vectors, metric, **params)
    got = index.search(queries, 10)
    ids, scores = brute_force(vectors, queries, 10, metric=metric)
    np.testing.assert_array_equal(got.ids, ids)
    np.testing.assert_allclose(got.scores, scores, rtol=1e-5, atol=1e-5)
    assert got.ids.dtype == np.int64 and got.scores.dtype == np.float32


@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("metric", ["dot", "cosine"])
@pytest.mark.parametrize("kind,params,floor", GENEROUS)
def test_ann_kinds_reach_their_recall_floor(data: str, metric: str, kind: str, params: dict[str, Any], floor: float) -> None:
    vectors = DATA[data](N, D, seed=0)
    queries = DATA[data](Q, D, seed=1)
    truth, truth_scores = brute_force(vectors, queries, 10, metric=metric)
    got = build(kind, vectors, metric, **params).search(queries, 10)
    assert recall_at(got.ids, truth) >= floor
    assert (got.ids >= 0).all()  # always k items: the exclusion-free search is complete too
    assert (np.diff(got.scores, axis=1) <= 1e-6).all()
    # a found item's score is its inner product (quantized for ivfpq; re-ranked kinds are exact)
    rows = np.repeat(np.arange(Q), 10)
    v, q = vectors.astype(np.float64), queries.astype(np.float64)
    if metric == "cosine":
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = np.einsum("ij,ij->i", q[rows], v[got.ids.ravel()]).reshape(Q, 10)
    tol = 0.15 * np.abs(truth_scores).max() if kind == "ivfpq" else 1e-4
    np.testing.assert_allclose(got.scores, exact, atol=tol)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_cosine_equals_dot_on_normalised_vectors(kind: str) -> None:
    vectors = clustered_vectors(600, 8, seed=2)
    queries = clustered_vectors(20, 8, seed=3)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    params: dict[str, Any] = {
        "ivf": {"nlist": 8, "nprobe": 8},
        "ivfpq": {"nlist": 4, "nprobe": 4, "m": 4, "nbits": 6},
        "ivfpq-rerank": {"nlist": 4, "nprobe": 4, "m": 4, "nbits": 6},
    }.get(kind, {})
    cos = build(kind, vectors, "cosine", **params)
    dot = build(kind, unit, "dot", **params)
    a = cos.search(queries, 5)
    b = dot.search(queries / np.linalg.norm(queries, axis=1, keepdims=True), 5)
    if kind in ("exact", "flat", "ivf"):  # deterministic builds: the same index
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)
    assert (a.scores <= 1 + 1e-5).all()
    # cosine ignores the length of a query; dot does not
    np.testing.assert_array_equal(cos.search(7.5 * queries, 5).ids, a.ids)
    assert cos.metric == "cosine" and dot.metric == "dot"


def test_dot_ranks_by_length_and_cosine_does_not() -> None:
    vectors = np.array([[1.0, 0.0], [10.0, 1.0]], dtype=np.float32)  # item 1: long, slightly off
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    assert ExactIndex(vectors, metric="dot").search(query, 1).ids[0, 0] == 1
    assert ExactIndex(vectors, metric="cosine").search(query, 1).ids[0, 0] == 0


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_batch_equals_single_queries_and_k_beyond_the_catalogue_is_clamped(kind: str) -> None:
    vectors = random_vectors(40, 6, seed=4)
    queries = random_vectors(5, 6, seed=5)
    params: dict[str, Any] = {
        "ivf": {"nlist": 1},
        "ivfpq": {"nlist": 1, "m": 3, "nbits": 4},
        "ivfpq-rerank": {"nlist": 1, "m": 3, "nbits": 4},
    }.get(kind, {})
    index = build(kind, vectors, **params)
    batch = index.search(queries, 50)
    for row in range(5):
        one = index.search(queries[row : row + 1], 50)
        np.testing.assert_array_equal(one.ids[0], batch.ids[row])
    assert batch.ids.shape == batch.scores.shape == (5, 40)  # min(k, N), as ncf.retrieval.topk
    assert (np.sort(batch.ids, axis=1) == np.arange(40)).all()  # every item, once


def test_results_are_topk_and_unpack() -> None:
    index = ExactIndex(random_vectors(30, 4, seed=6))
    top = index.search(random_vectors(3, 4, seed=7), 4)
    assert isinstance(top, TopK)
    ids, scores = top
    assert ids.shape == scores.shape == (3, 4)


def test_tensors_and_float64_are_accepted() -> None:
    vectors = random_vectors(50, 4, seed=8)
    queries = random_vectors(3, 4, seed=9)
    a = ExactIndex(torch.from_numpy(vectors).requires_grad_()).search(torch.from_numpy(queries), 5)
    b = ExactIndex(vectors.astype(np.float64)).search(queries.astype(np.float64), 5)
    np.testing.assert_array_equal(a.ids, b.ids)


def test_exact_index_uses_the_topk_scan_and_its_bfloat16_path_is_exact() -> None:
    # bfloat16 first pass + float32 re-ranking under the proven bound: the float32 ranking
    vectors = random_vectors(3000, 32, seed=10)
    queries = random_vectors(64, 32, seed=11)
    f32 = ExactIndex(vectors, scan="float32").search(queries, 10, exclude=[np.arange(r) for r in range(64)])
    b16 = ExactIndex(vectors, scan="bfloat16").search(queries, 10, exclude=[np.arange(r) for r in range(64)])
    np.testing.assert_array_equal(f32.ids, b16.ids)
    np.testing.assert_allclose(f32.scores, b16.scores, rtol=1e-6)  # re-scored by another kernel


@pytest.mark.parametrize(
    "kind,setting,value",
    [
        pytest.param("hnsw", "ef_search", 7, marks=needs_faiss),
        pytest.param("hnswlib", "ef_search", 7, marks=needs_hnswlib),
        pytest.param("ivf", "nprobe", 3, marks=needs_faiss),
        pytest.param("ivfpq", "nprobe", 3, marks=needs_faiss),
        pytest.param("ivfpq-rerank", "rerank", 3, marks=needs_faiss),
        pytest.param("scann", "num_leaves_to_search", 3, marks=needs_scann),
        pytest.param("annoy", "search_k", 7, marks=needs_annoy),
    ],
)
def test_query_time_settings_change_after_build(kind: str, setting: str, value: int) -> None:
    params = {"ivf": {"nlist": 8}, "ivfpq": {"nlist": 8, "m": 2, "nbits": 4},
              "ivfpq-rerank": {"nlist": 8, "m": 2, "nbits": 4}}.get(kind, {})
    index = build(kind, clustered_vectors(800, 8, seed=12), **params)
    index.set_query_params(**{setting: value})
    assert getattr(index, setting) == value and index.params[setting] == value
    setattr(index, setting, value + 1)
    assert index.params[setting] == value + 1
    with pytest.raises(ConfigError, match="positive"):
        setattr(index, setting, 0)
    with pytest.raises(ConfigError, match="did you mean"):
        index.set_query_params(**{setting[:-1]: 4})
    with pytest.raises(ConfigError, match="not a query-time setting"):
        index.set_query_params(M=4)


@needs_faiss
def test_more_lists_probed_finds_more() -> None:
    vectors = random_vectors(3000, 16, seed=13)
    queries = random_vectors(100, 16, seed=14)
    truth, _ = brute_force(vectors, queries, 10)
    index = build("ivf", vectors, nlist=32, nprobe=1)
    low = recall_at(index.search(queries, 10).ids, truth)
    index.nprobe = 32
    assert recall_at(index.search(queries, 10).ids, truth) == 1.0 > low


def test_factory_rejects_unknown_kinds_and_settings_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="did you mean 'hnsw'"):
        make_index("hnws")
    with pytest.raises(ConfigError, match="did you mean 'scan'"):
        make_index("exact", scna="float32")
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        make_index("exact", metric="cosin")
    with pytest.raises(ConfigError, match="scan"):
        make_index("exact", scan="float16")
    assert set(KINDS) == {"exact", "flat", "hnsw", "ivf", "ivfpq", "hnswlib", "scann", "annoy"}
    assert all(issubclass(cls, Index) and cls.kind == name for name, cls in KINDS.items())


@needs_faiss
@pytest.mark.parametrize(
    "kind,params,match",
    [
        ("hnsw", {"ef_serach": 5}, "did you mean 'ef_search'"),
        ("ivf", {"nprobe": 0}, "nprobe must be a positive integer"),
        ("ivf", {"nlist": 5000}, "nlist=5000 exceeds"),
        ("ivfpq", {"m": 3}, "m=3 must divide"),
        ("ivfpq", {"nbits": 12, "nlist": 2}, "training vectors"),
        ("ivf", {"seed": -1}, "seed"),
        ("ivfpq", {"rerank": 0}, "rerank must be a positive integer"),
        ("ivfpq", {"rerank": 2, "rerank_dtype": "int8"}, "rerank_dtype must be"),
    ],
)
def test_bad_faiss_settings(kind: str, params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_index(kind, **params).build(random_vectors(300, 8, seed=15))


@pytest.mark.parametrize(
    "queries,match",
    [
        (np.zeros((2, 5), np.float32), "dimension 5"),
        (np.zeros(4, np.float32), "2-D"),
        (np.full((1, 4), np.nan, np.float32), "NaN"),
        (np.array([["a", "b", "c", "d"]]), "real numbers"),
    ],
)
def test_bad_queries(queries: np.ndarray, match: str) -> None:
    index = ExactIndex(random_vectors(10, 4, seed=16))
    with pytest.raises(DataError, match=match):
        index.search(queries, 3)


def test_bad_k_empty_queries_and_unbuilt_index() -> None:
    index = ExactIndex(random_vectors(10, 4, seed=17))
    for k in (0, -1, 2.5, True):
        with pytest.raises(ConfigError, match="k must be"):
            index.search(np.zeros((1, 4), np.float32), k)  # type: ignore[arg-type]
    empty = index.search(np.zeros((0, 4), np.float32), 3)
    assert empty.ids.shape == (0, 3)
    with pytest.raises(NotFittedError, match="build"):
        make_index("exact").search(np.zeros((1, 4), np.float32), 1)
    with pytest.raises(DataError, match="non-empty"):
        make_index("exact").build(np.zeros((0, 4), np.float32))
    with pytest.raises(DataError, match="NaN"):
        make_index("exact").build(np.array([[np.inf, 0.0]], np.float32))


def test_repr_size_dim_and_params() -> None:
    index = make_index("exact", metric="cosine", scan="float32")
    assert "not built" in repr(index) and not index.is_built
    index.build(random_vectors(12, 3, seed=18))
    assert (index.size, index.dim, index.params, index.kind) == (12, 3, {"scan": "float32"}, "exact")
    assert "size=12, dim=3" in repr(index)


@needs_faiss
@pytest.mark.parametrize("kind,params", [("ivf", {"nlist": 16}), ("ivfpq", {"nlist": 4, "m": 4, "nbits": 6})])
def test_ivf_training_uses_a_seeded_sample(kind: str, params: dict[str, Any]) -> None:
    vectors = clustered_vectors(3000, 8, seed=19)
    queries = clustered_vectors(30, 8, seed=20)
    a = build(kind, vectors, train_size=700, seed=1, nprobe=2, **params).search(queries, 10)
    b = build(kind, vectors, train_size=700, seed=1, nprobe=2, **params).search(queries, 10)
    c = build(kind, vectors, train_size=700, seed=2, nprobe=2, **params).search(queries, 10)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)  # another sample, other centroids
    with pytest.raises(ConfigError, match="training vectors"):
        build(kind, vectors, train_size=3, **params)


@needs_faiss
def test_default_ivf_settings_are_resolved_at_build() -> None:
    index = make_index("ivfpq")
    assert index.params["nlist"] is None and index.params["m"] is None
    index.build(clustered_vectors(2000, 12, seed=21))
    assert index.params["nlist"] == 2000 // 39 and index.params["m"] == 6  # 4 sqrt(N) capped; d / 2


@needs_scann
@pytest.mark.parametrize(
    "params,match",
    [
        ({"num_leaves": 500}, "num_leaves=500 exceeds"),
        ({"dimensions_per_block": 9}, "dimensions_per_block=9 exceeds"),
        ({"num_leaves_to_search": 0}, "num_leaves_to_search must be a positive integer"),
        ({"rerank_dtype": "float16"}, "rerank_dtype must be one of"),
        ({"anisotropic_quantization_threshold": float("nan")}, "finite number"),
        ({"rerank": -1}, "rerank must be a positive integer"),
    ],
)
def test_bad_scann_settings(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_index("scann", **params).build(random_vectors(300, 8, seed=15))


@needs_annoy
@pytest.mark.parametrize(
    "params,match",
    [
        ({"n_trees": 0}, "n_trees must be a positive integer"),
        ({"search_k": 0}, "search_k must be a positive integer"),
        ({"seed": -1}, "seed"),
        ({"n_tree": 3}, "did you mean 'n_trees'"),
    ],
)
def test_bad_annoy_settings(params: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_index("annoy", **params).build(random_vectors(300, 8, seed=15))


@pytest.mark.parametrize(
    "kind,params",
    [
        pytest.param("ivfpq", {"nlist": 8, "m": 2, "nbits": 4}, marks=needs_faiss, id="ivfpq"),
        pytest.param("scann", {"num_leaves": 8, "rerank": None}, marks=needs_scann, id="scann"),
    ],
)
def test_rerank_needs_the_copy_it_was_built_with(kind: str, params: dict[str, Any]) -> None:
    index = build(kind, clustered_vectors(800, 8, seed=12), **params)
    assert index.params["rerank"] is None
    with pytest.raises(ConfigError, match="built without"):
        index.set_query_params(rerank=4)
