"""``benchmarks/bench_ann.py`` runs end to end at a tiny size and writes its JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from index_data import needs_faiss

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


@needs_faiss
def test_the_ann_benchmark_smoke_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCF_RESULTS_DIR", str(tmp_path))
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_ann

    try:
        payload = bench_ann.main(
            ["--n", "3000", "--queries", "8", "--kinds", "exact,hnsw,ivf", "--seen", "5", "--repeats", "1", "--tmp", str(tmp_path),
             "--big-n", "0"]
        )
    finally:
        sys.modules.pop("bench_ann", None)
    written = json.loads((tmp_path / "ann.json").read_text())
    assert written["config"]["n"] == 3000 and written["config"]["seen"] == 5
    kinds = {row["kind"] for row in payload["results"]}
    assert kinds == {"exact", "hnsw", "ivf"}
    exact = [row for row in payload["results"] if row["kind"] == "exact"]
    assert exact[0]["recall@10"] == 1.0  # the bfloat16 exact scan finds the float32 truth
    for row in payload["results"]:
        assert 0.0 <= row["recall@10"] <= 1.0 and row["p99_ms"] >= row["p50_ms"] > 0 and row["disk_bytes"] > 0
    assert "exact" in payload["best_at_target_recall"]


@needs_faiss
def test_the_ann_benchmark_reranks_and_runs_the_large_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_ann

    out = tmp_path / "scratch" / "check.json"
    out.parent.mkdir()
    try:
        payload = bench_ann.main(
            ["--n", "3000", "--queries", "8", "--kinds", "exact,ivfpq+rerank", "--repeats", "1", "--tmp", str(tmp_path),
             "--big-n", "5000", "--big-kinds", "ivfpq+rerank-fp16", "--out", str(out)]
        )
    finally:
        sys.modules.pop("bench_ann", None)
    written = json.loads(out.read_text())
    assert written["big"]["n"] == 5000 and written["config"]["n"] == 3000
    rerank = [row for row in payload["results"] if row["name"] == "ivfpq+rerank"]
    assert rerank and all(row["kind"] == "ivfpq" and set(row["value"]) == {"nprobe", "rerank"} for row in rerank)
    assert all(row["build_params"]["rerank"] == row["value"]["rerank"] and row["build_params"]["m"] == 16 for row in rerank)
    big = payload["big"]["results"]
    assert {row["name"] for row in big} == {"ivfpq+rerank-fp16"}
    assert all(row["build_params"]["rerank_dtype"] == "float16" and row["disk_bytes"] > 5000 * 64 * 2 for row in big)
    assert max(row["recall@10"] for row in big) >= 0.95
