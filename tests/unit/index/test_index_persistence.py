"""save/load: identical results, verified files, atomic writes, and the optional backends' hint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from index_data import (
    ALL_KINDS,
    VARIANTS,
    build,
    clustered_vectors,
    needs_annoy,
    needs_faiss,
    needs_hnswlib,
    needs_scann,
    recall_at,
)

from ncf.errors import ConfigError, DataError
from ncf.index import ExactIndex, FlatIndex, HNSWIndex, Index, load_index, make_index

SMALL: dict[str, dict[str, Any]] = {
    "hnsw": {"M": 8, "ef_construction": 32, "ef_search": 16},
    "hnswlib": {"M": 8, "ef_construction": 32, "ef_search": 16},
    "ivf": {"nlist": 8, "nprobe": 2},
    "ivfpq": {"nlist": 4, "nprobe": 2, "m": 4, "nbits": 6},
    "ivfpq-rerank": {"nlist": 4, "nprobe": 2, "m": 4, "nbits": 6, "rerank": 2},
    "scann": {"num_leaves": 16, "num_leaves_to_search": 1},
    "annoy": {"n_trees": 4, "search_k": 10},
}


def saved(kind: str, tmp_path: Path, metric: str = "dot") -> tuple[Index, Path, np.ndarray]:
    vectors = clustered_vectors(500, 8, seed=0)
    index = build(kind, vectors, metric, **SMALL.get(kind, {}))
    return index, index.save(tmp_path / kind), vectors


@pytest.mark.parametrize("metric", ["dot", "cosine"])
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_round_trip_gives_identical_results(kind: str, metric: str, tmp_path: Path) -> None:
    index, path, _ = saved(kind, tmp_path, metric)
    queries = clustered_vectors(20, 8, seed=1)
    seen = [np.arange(r * 7, r * 7 + 30) for r in range(20)]
    loaded = load_index(path)
    assert type(loaded) is type(index)
    assert (loaded.kind, loaded.metric, loaded.size, loaded.dim, loaded.params) == (
        index.kind, index.metric, index.size, index.dim, index.params
    )
    for kwargs in ({}, {"exclude": seen}, {"allow": np.arange(0, 500, 5)}):
        a, b = index.search(queries, 10, **kwargs), loaded.search(queries, 10, **kwargs)
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
    assert type(index).load(path).params == index.params


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_index_json_describes_the_directory(kind: str, tmp_path: Path) -> None:
    import hashlib

    index, path, _ = saved(kind, tmp_path)
    meta = json.loads((path / "index.json").read_text())
    assert meta["format"] == "ncf-index" and meta["format_version"] == 1
    assert (meta["kind"], meta["metric"], meta["size"], meta["dim"]) == (VARIANTS.get(kind, (kind,))[0], "dot", 500, 8)
    assert meta["params"] == index.params
    backend = path / meta["file"]
    assert meta["sha256"] == hashlib.sha256(backend.read_bytes()).hexdigest()
    assert meta["bytes"] == backend.stat().st_size
    assert sorted(p.name for p in path.iterdir()) == sorted(["index.json", meta["file"]])


@pytest.mark.parametrize(
    "kind,setting",
    [
        pytest.param("ivf", "nprobe", marks=needs_faiss),
        pytest.param("hnsw", "ef_search", marks=needs_faiss),
        pytest.param("hnswlib", "ef_search", marks=needs_hnswlib),
        pytest.param("scann", "num_leaves_to_search", marks=needs_scann),
        pytest.param("annoy", "search_k", marks=needs_annoy),
        pytest.param("ivfpq-rerank", "rerank", marks=needs_faiss),
    ],
)
def test_query_settings_can_change_after_load(kind: str, setting: str, tmp_path: Path) -> None:
    index, path, vectors = saved(kind, tmp_path)
    loaded = load_index(path)
    queries = clustered_vectors(50, 8, seed=2)
    truth = ExactIndex(vectors, scan="float32").search(queries, 10).ids
    before = recall_at(loaded.search(queries, 10).ids, truth)
    loaded.set_query_params(**{setting: 500})
    index.set_query_params(**{setting: 500})
    after = loaded.search(queries, 10).ids
    np.testing.assert_array_equal(after, index.search(queries, 10).ids)
    assert recall_at(after, truth) > before
    if kind == "ivf":  # every list probed: exact
        np.testing.assert_array_equal(after, truth)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_corrupt_backend_file_is_refused(kind: str, tmp_path: Path) -> None:
    _, path, _ = saved(kind, tmp_path)
    meta = json.loads((path / "index.json").read_text())
    backend = path / meta["file"]
    data = bytearray(backend.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backend.write_bytes(bytes(data))
    with pytest.raises(DataError, match="checksum"):
        load_index(path)
    backend.write_bytes(bytes(data[: len(data) // 3]))  # truncated
    with pytest.raises(DataError, match="checksum"):
        load_index(path)
    backend.unlink()
    with pytest.raises(DataError, match="missing"):
        load_index(path)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_foreign_file_with_a_matching_checksum_is_refused(kind: str, tmp_path: Path) -> None:
    # someone rewrote index.json to fit another file: the backend's own reader refuses it
    import hashlib

    _, path, _ = saved(kind, tmp_path)
    meta = json.loads((path / "index.json").read_text())
    backend = path / meta["file"]
    backend.write_bytes(b"not an index at all" * 10)
    meta["sha256"] = hashlib.sha256(backend.read_bytes()).hexdigest()
    (path / "index.json").write_text(json.dumps(meta))
    with pytest.raises(DataError):
        load_index(path)


@needs_faiss
def test_a_file_of_another_size_or_kind_is_refused(tmp_path: Path) -> None:
    import hashlib

    _, flat, _ = saved("flat", tmp_path)
    with pytest.raises(DataError, match="holds a 'flat' index, not 'hnsw'"):
        HNSWIndex.load(flat)
    meta = json.loads((flat / "index.json").read_text())
    meta["size"] = 499
    (flat / "index.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="500 vectors"):
        load_index(flat)
    # an HNSW file under a flat index.json
    _, hnsw, _ = saved("hnsw", tmp_path)
    (flat / "index.faiss").write_bytes((hnsw / "index.faiss").read_bytes())
    meta["size"] = 500
    meta["sha256"] = hashlib.sha256((flat / "index.faiss").read_bytes()).hexdigest()
    (flat / "index.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="IndexHNSWFlat, expected IndexFlat"):
        FlatIndex.load(flat)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda m: {**m, "format": "something-else"}, "does not describe an ncf index"),
        (lambda m: {**m, "format_version": 99}, "format version 99 is not supported"),
        (lambda m: {**m, "kind": "hnws"}, "did you mean 'hnsw'"),
        (lambda m: {**m, "metric": "cosin"}, "invalid settings"),
        (lambda m: {**m, "params": {"scan": "float16"}}, "invalid settings"),
        (lambda m: {**m, "params": {"nprobe": 4}}, "does not know"),
        (lambda m: {**m, "file": "../vectors.npy"}, "outside the directory"),
        (lambda m: {k: v for k, v in m.items() if k != "sha256"}, "sha256"),
        (lambda m: [1, 2], "does not describe"),
    ],
)
def test_a_bad_index_json_is_refused(edit: Any, match: str, tmp_path: Path) -> None:
    _, path, _ = saved("exact", tmp_path)
    meta = json.loads((path / "index.json").read_text())
    (path / "index.json").write_text(json.dumps(edit(meta)))
    with pytest.raises(DataError, match=match):
        load_index(path)


def test_not_an_index_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no index directory"):
        load_index(tmp_path / "nothing")
    with pytest.raises(DataError, match=r"no index\.json"):
        load_index(tmp_path)
    (tmp_path / "index.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_index(tmp_path)
    with pytest.raises(TypeError, match="load_index"):
        Index.load(tmp_path)


def test_save_replaces_atomically_and_a_failed_save_leaves_the_old_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index, path, vectors = saved("exact", tmp_path)
    bigger = ExactIndex(np.concatenate([vectors, vectors]))
    bigger.save(path)
    assert load_index(path).size == 1000

    def broken(self: ExactIndex, target: Path) -> None:
        target.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ExactIndex, "_write", broken)
    with pytest.raises(OSError, match="disk full"):
        index.save(path)
    assert load_index(path).size == 1000  # the previous index is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exact"]  # no temp left behind
    with pytest.raises(Exception, match="build"):
        make_index("exact").save(tmp_path / "empty")


@pytest.mark.parametrize(
    "module,kind", [("faiss", "hnsw"), ("faiss", "ivfpq"), ("hnswlib", "hnswlib"), ("scann", "scann"), ("annoy", "annoy")]
)
def test_a_missing_backend_gives_the_install_hint(module: str, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import faiss` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'ncf\[ann\]'"):
        make_index(kind)
    make_index("exact").build(np.eye(3, dtype=np.float32))  # the exact kind needs neither


@needs_faiss
def test_loading_needs_the_backend_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, path, _ = saved("flat", tmp_path)
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ConfigError, match=r"pip install 'ncf\[ann\]'"):
        load_index(path)


def test_importing_ncf_index_needs_neither_backend() -> None:
    code = (
        "import sys\n"
        "for name in ('faiss', 'hnswlib', 'scann', 'annoy'): sys.modules[name] = None\n"
        "import numpy as np, ncf.index as ix\n"
        "i = ix.make_index('exact').build(np.eye(4, dtype=np.float32))\n"
        "assert i.search(np.eye(4, dtype=np.float32), 1).ids.ravel().tolist() == [0, 1, 2, 3]\n"
        "ix.set_num_threads(1)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr


@needs_hnswlib
def test_set_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import ncf.index.annoy_index as an
    import ncf.index.hnswlib_index as hl
    import ncf.index.scann_index as sc
    from ncf.index import set_num_threads

    monkeypatch.setattr(hl, "_THREADS", -1)
    monkeypatch.setattr(an, "_THREADS", -1)
    monkeypatch.setattr(sc, "_THREADS", 0)
    set_num_threads(1)
    assert hl._THREADS == an._THREADS == sc._THREADS == 1
    with pytest.raises(ConfigError):
        set_num_threads(0)
