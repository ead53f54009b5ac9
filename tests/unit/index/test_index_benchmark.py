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
            ["--n", "3000", "--queries", "8", "--kinds", "exact,hnsw,ivf", "--seen", "5", "--repeats", "1", "--tmp", str(tmp_path)]
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
