"""Re-ranking: IVF-PQ (faiss ``IndexRefine``) and ScaNN re-score ``rerank * k`` candidates exactly."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from index_data import brute_force, build, clustered_vectors, needs_faiss, needs_scann, recall_at

from ncf.errors import DataError
from ncf.index import load_index

N, D, Q = 4000, 32, 100


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered_vectors(N, D, seed=30)
    queries = clustered_vectors(Q, D, seed=31)
    truth, _ = brute_force(vectors, queries, 10)
    return vectors, queries, truth


def exact_scores(vectors: np.ndarray, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return np.einsum("rkd,rd->rk", vectors[ids].astype(np.float64), queries.astype(np.float64))


@needs_faiss
def test_ivfpq_reranking_reaches_the_recall_that_pq_codes_alone_do_not() -> None:
    vectors, queries, truth = data()
    coarse: dict[str, Any] = {"nlist": 16, "nprobe": 8, "m": 4, "nbits": 8}  # 4 bytes per 32-d vector
    plain = build("ivfpq", vectors, **coarse).search(queries, 10)
    index = build("ivfpq", vectors, rerank=16, **coarse)
    reranked = index.search(queries, 10)
    assert recall_at(plain.ids, truth) < 0.5  # measured 0.31
    assert recall_at(reranked.ids, truth) >= 0.95
    np.testing.assert_allclose(reranked.scores, exact_scores(vectors, queries, reranked.ids), rtol=1e-5, atol=1e-4)
    # more candidates re-scored: at least as good; rerank=1 re-scores the PQ top-k only
    index.rerank = 1
    assert recall_at(index.search(queries, 10).ids, truth) <= recall_at(reranked.ids, truth)
    index.set_query_params(rerank=32)
    assert recall_at(index.search(queries, 10).ids, truth) >= recall_at(reranked.ids, truth)


@needs_faiss
def test_ivfpq_float16_copy_halves_the_memory_and_keeps_scores_close(tmp_path: Path) -> None:
    vectors, queries, truth = data()
    coarse: dict[str, Any] = {"nlist": 16, "nprobe": 8, "m": 4, "nbits": 8}
    sizes: dict[str, int] = {}
    for name, extra in {"plain": {}, "float32": {"rerank": 16}, "float16": {"rerank": 16, "rerank_dtype": "float16"}}.items():
        index = build("ivfpq", vectors, **coarse, **extra)
        index.save(tmp_path / name)
        sizes[name] = json.loads((tmp_path / name / "index.json").read_text())["bytes"]
        if name == "float16":
            top = index.search(queries, 10)
            assert recall_at(top.ids, truth) >= 0.95
            np.testing.assert_allclose(top.scores, exact_scores(vectors, queries, top.ids), rtol=2e-3, atol=2e-2)
            stored = index._vectors(np.arange(N))
            # float16 values (faiss rounds a few of them the other way from numpy: one ulp)
            np.testing.assert_allclose(stored, vectors.astype(np.float16).astype(np.float32), rtol=2**-10, atol=0)
            assert (stored != vectors).mean() > 0.5
    # the copy is inside the faiss file: N * d * 4 (float32) or * 2 (float16) bytes more, less
    # the id -> list map (8 bytes per item) that only the plain index keeps
    codes = sizes["plain"] - 8 * N
    assert abs(sizes["float32"] - codes - N * D * 4) < 0.02 * N * D * 4
    assert abs(sizes["float16"] - codes - N * D * 2) < 0.02 * N * D * 2


@needs_faiss
def test_ivfpq_index_json_must_agree_about_the_copy(tmp_path: Path) -> None:
    vectors = clustered_vectors(600, 8, seed=32)
    params: dict[str, Any] = {"nlist": 4, "m": 4, "nbits": 6}
    build("ivfpq", vectors, **params).save(tmp_path / "plain")
    build("ivfpq", vectors, rerank=2, **params).save(tmp_path / "refined")
    build("ivfpq", vectors, rerank=2, rerank_dtype="float16", **params).save(tmp_path / "half")
    for source, claim, match in [
        ("plain", {"rerank": 2}, "expected IndexRefine"),
        ("refined", {"rerank": None}, "expected IndexIVFPQ"),
        ("half", {"rerank_dtype": "float32"}, "with IndexFlat"),
    ]:
        meta = json.loads((tmp_path / source / "index.json").read_text())
        meta["params"].update(claim)
        (tmp_path / source / "index.json").write_text(json.dumps(meta))
        with pytest.raises(DataError, match=match):
            load_index(tmp_path / source)


@needs_scann
def test_scann_reorders_exactly_and_more_candidates_find_more() -> None:
    vectors, queries, truth = data()
    settings: dict[str, Any] = {"num_leaves": 40, "num_leaves_to_search": 10}
    quantized = build("scann", vectors, rerank=None, **settings).search(queries, 10)
    index = build("scann", vectors, rerank=1, **settings)
    low = recall_at(index.search(queries, 10).ids, truth)
    index.rerank = 16
    top = index.search(queries, 10)
    assert recall_at(top.ids, truth) >= max(low, recall_at(quantized.ids, truth))
    assert recall_at(top.ids, truth) >= 0.95
    np.testing.assert_allclose(top.scores, exact_scores(vectors, queries, top.ids), rtol=1e-5, atol=1e-4)
    assert not np.allclose(quantized.scores, exact_scores(vectors, queries, quantized.ids), atol=1e-4)


@needs_scann
@pytest.mark.parametrize("rerank,dtype,has_copy", [(4, "float32", False), (4, "int8", True), (None, "float32", True)])
def test_scann_archive_shares_scanns_float32_copy(rerank: int | None, dtype: str, has_copy: bool, tmp_path: Path) -> None:
    vectors = clustered_vectors(800, 8, seed=33)
    index = build("scann", vectors, num_leaves=8, rerank=rerank, rerank_dtype=dtype)
    path = index.save(tmp_path / "scann")
    with tarfile.open(path / "index.scann") as tar:
        names = set(tar.getnames())
    assert ("vectors.npy" in names) is has_copy
    assert ("dataset.npy" in names) is (rerank is not None and dtype == "float32")
    loaded = load_index(path)
    np.testing.assert_array_equal(loaded._vectors(np.arange(800)), vectors)
    queries = clustered_vectors(10, 8, seed=34)
    np.testing.assert_array_equal(loaded.search(queries, 10).ids, index.search(queries, 10).ids)


@needs_scann
def test_a_scann_archive_with_a_path_inside_is_refused(tmp_path: Path) -> None:
    import hashlib

    path = build("scann", clustered_vectors(300, 8, seed=35), num_leaves=4).save(tmp_path / "scann")
    evil = tmp_path / "evil.txt"
    evil.write_text("x")
    with tarfile.open(path / "index.scann", "w") as tar:
        tar.add(evil, arcname="../evil.txt")
    meta = json.loads((path / "index.json").read_text())
    meta["sha256"] = hashlib.sha256((path / "index.scann").read_bytes()).hexdigest()
    (path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="unexpected entry"):
        load_index(path)
