"""The big-data benchmark scripts run end to end at tiny sizes (``benchmarks/``).

``ml25m_standin`` writes what ``load_dataset`` reads as MovieLens, with ML-25M's shape rules;
``big_pipeline`` runs its steps and its scaling arithmetic is right; ``big_catalogue`` agrees
across its exact scans; ``gpu_path`` runs its CPU path where there is no GPU, and its CUDA-only
helpers are exercised with a fake ``torch.cuda``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ncf

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"

try:
    import faiss  # noqa: F401

    HAS_FAISS = True
except ImportError:  # pragma: no cover - faiss is in the dev extra
    HAS_FAISS = False


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Benchmarks importable, results written under ``tmp_path``; the modules are dropped afterwards."""
    monkeypatch.setenv("NCF_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    try:
        yield tmp_path
    finally:
        for name in ("ml25m_standin", "big_pipeline", "big_catalogue", "gpu_path", "bench_ann", "_common"):
            sys.modules.pop(name, None)


# ---------------------------------------------------------------------------- stand-in
def test_standin_shape_rules() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import ml25m_standin as m
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("ml25m_standin", None)
    assert m.shape_for(m.ML25M_ROWS) == (162_541, 59_047)
    assert m.shape_for(1_000_000) == (6_502, 2_362)
    w = m.item_weights(2_362)
    assert w.sum() == pytest.approx(1.0) and bool(np.all(np.diff(w) <= 0))
    rng = np.random.default_rng(0)
    counts = m.user_counts(6_502, 2_362, 1_000_000, rng)
    assert counts.sum() == 1_000_000 and counts.min() >= 20 and counts.max() <= int(0.55 * 2_362)
    table = m.alias_table(w)
    draws = m.draw(table, 400_000, np.random.default_rng(1))
    freq = np.bincount(draws, minlength=w.size) / draws.size
    assert np.abs(freq - w).max() < 0.003  # the alias method draws from w


def test_standin_is_read_as_movielens(bench: Path) -> None:
    import ml25m_standin

    out = bench / "standin"
    summary = ml25m_standin.generate(out, rows=150_000, seed=3)
    assert ml25m_standin.ensure(out, rows=150_000, seed=3) == summary  # reused, not rewritten
    assert ncf.data.detect_format(out) == "movielens"
    ds = ncf.data.load_dataset(out)
    data = ds.interactions
    users, items = ml25m_standin.shape_for(150_000)
    assert (len(data), data.num_users) == (150_000, users) and data.num_items <= items
    assert ds.item_titles is not None and ds.item_titles[0].startswith("Movie ")
    assert data.weights is not None and set(np.unique(data.weights).tolist()) <= set((np.arange(1, 11) / 2).tolist())
    assert data.user_counts().min() >= 20
    # each user's timestamps are distinct (strictly increasing in the order of rating)
    assert data.timestamps is not None
    keys = data.users * (1 << 40) + data.timestamps
    assert np.unique(keys).size == len(data)
    text = (out / "ratings.csv").read_text().splitlines()
    assert text[0] == "userId,movieId,rating,timestamp" and text[1].count(",") == 3 and "." in text[1].split(",")[2]
    assert ml25m_standin.generate(bench / "again", rows=150_000, seed=3)["ratings_per_movie"] == summary["ratings_per_movie"]
    assert (bench / "again" / "ratings.csv").read_bytes() == (out / "ratings.csv").read_bytes()  # seeded


# ---------------------------------------------------------------------------- pipeline
def test_pipeline_runs_every_step(bench: Path) -> None:
    import big_pipeline
    import ml25m_standin

    out = bench / "standin"
    ml25m_standin.generate(out, rows=120_000, seed=0)
    result = big_pipeline.main(["--data", str(out), "--threads", "1", "--note", "test"])
    steps = [s["step"] for s in result["steps"]]
    assert steps == ["read", "k_core", "split", "train_bpr", "train_softmax", "eval_sampled", "eval_full"]
    assert all(s["seconds"] >= 0 and s["peak_rss_mb"] > 0 for s in result["steps"])
    for model in ("mf_bpr", "mf_softmax"):
        assert 0 <= result["metrics"]["sampled"][model]["hr@10"] <= 1
        assert 0 <= result["metrics"]["full"][model]["recall@20"] <= 1
    written = json.loads((bench / "results" / "big_pipeline-120000.json").read_text())
    assert written["rows"] == 120_000 and written["note"] == "test" and "load_average" in written


def fake_run(rows: int, seconds: dict[str, float], peaks: dict[str, float]) -> dict[str, Any]:
    return {"rows": rows, "baseline_rss_mb": 100.0,
            "steps": [{"step": s, "seconds": seconds[s], "peak_rss_mb": peaks[s]} for s in seconds]}


def test_growth_flags_steps_faster_than_linear(bench: Path) -> None:
    import big_pipeline

    runs = [
        fake_run(1_000_000, {"read": 1.0, "train": 10.0}, {"read": 200.0, "train": 300.0}),
        fake_run(5_000_000, {"read": 5.0, "train": 250.0}, {"read": 600.0, "train": 1100.0}),
    ]
    out = big_pipeline.growth(runs)
    read = out["per_step"]["read"][0]
    assert read["rows_factor"] == 5 and read["seconds_factor"] == 5 and read["seconds_exponent"] == pytest.approx(1.0)
    assert out["per_step"]["train"][0]["seconds_exponent"] == pytest.approx(2.0)
    assert len(out["faster_than_linear"]) == 1 and out["faster_than_linear"][0].startswith("train")
    est = big_pipeline.estimate_peaks(runs, target_rows=25_000_000)
    assert est["read"]["mb_per_million_rows"] == pytest.approx(100.0)
    assert est["read"]["estimate_mb"] == pytest.approx(200.0 + 24 * 100.0)
    assert est["whole_run_estimate_mb"] == est["train"]["estimate_mb"] == pytest.approx(300.0 + 24 * 200.0)


def test_peak_reset_is_reported(bench: Path) -> None:
    import big_pipeline

    steps = big_pipeline.Steps()
    block = steps.run("allocate", lambda: np.ones(20_000_000))  # 160 MB
    del block
    steps.run("small", lambda: np.ones(10))
    big, small = steps.rows
    assert big["peak_rss_mb"] - big["rss_before_mb"] > 100
    if small["peak_is_per_step"]:  # the kernel let the peak be reset: the small step has its own
        assert small["peak_rss_mb"] < big["peak_rss_mb"] - 100


# ---------------------------------------------------------------------------- catalogue
@pytest.mark.skipif(not HAS_FAISS, reason="faiss-cpu is not installed (pip install 'ncf[ann]')")
def test_catalogue_benchmark_smoke_run(bench: Path) -> None:
    import big_catalogue

    payload = big_catalogue.main(["--n", "3000", "--queries", "12", "--compare-queries", "5", "--seen", "5", "--nlist", "16", "--m", "16", "32",
                                  "--item-block", "512", "--threads", "1", "--tmp", str(bench)])
    assert payload["exact_modes_agree"]
    blocked = [r for r in payload["exact"] if r["item_block"] == 512]
    assert len(blocked) == 2 and all(r["same_ids"] for r in payload["exact"])  # float32 and auto, 6 blocks each
    assert {r["queries"] for r in payload["exact"] if r["item_block"] is None} == {5}
    assert {r["queries"] for r in blocked} == {12}
    assert [r["m"] for r in payload["ivfpq"]] == [16, 32]
    for index in payload["ivfpq"]:
        sweep = index["sweep"]
        assert [r["nprobe"] for r in sweep] == [8, 16] and all(0 <= r["recall@10"] <= 1 for r in sweep)
    assert (bench / "results" / "big_catalogue-3000.json").is_file()


# ---------------------------------------------------------------------------- GPU path
class FakeCuda:
    """Stands in for ``torch.cuda``: records the calls the script makes."""

    def __init__(self, available: bool) -> None:
        self.available = available
        self.calls: list[str] = []

    def is_available(self) -> bool:
        return self.available

    def synchronize(self) -> None:
        self.calls.append("synchronize")

    def reset_peak_memory_stats(self) -> None:
        self.calls.append("reset")

    def max_memory_allocated(self) -> int:
        self.calls.append("peak")
        return 3 * 2**20

    def get_device_name(self) -> str:
        return "Fake GPU"


def test_device_helpers_with_a_fake_cuda(bench: Path) -> None:
    import gpu_path

    gpu = gpu_path.Device.pick("auto", cuda=FakeCuda(True))
    assert gpu.is_cuda and gpu.describe() == "Fake GPU"
    gpu.reset_peak()
    gpu.synchronize()
    assert gpu.peak_mb() == 3.0
    assert gpu.cuda.calls == ["reset", "synchronize", "peak"]
    cpu = gpu_path.Device.pick("auto", cuda=FakeCuda(False))
    assert not cpu.is_cuda and cpu.describe() == "cpu" and cpu.peak_mb() is None
    cpu.synchronize()
    cpu.reset_peak()
    assert cpu.cuda.calls == []  # nothing is asked of CUDA on the CPU
    assert not gpu_path.Device.pick("cpu", cuda=FakeCuda(True)).is_cuda
    with pytest.raises(SystemExit, match="no CUDA device"):
        gpu_path.Device.pick("cuda", cuda=FakeCuda(False))


def test_compare_reports_speedups_and_metric_differences(bench: Path) -> None:
    import gpu_path

    gpu = {"seconds_per_epoch": 0.5, "eval_seconds": 0.2, "metrics": {"recall@20": 0.18, "ndcg@20": 0.15}}
    cpu = {"seconds_per_epoch": 10.0, "eval_seconds": 4.0, "metrics": {"recall@20": 0.17, "ndcg@20": 0.15}}
    out = gpu_path.compare(gpu, cpu)
    assert out["epoch_speedup"] == 20.0 and out["eval_speedup"] == 20.0
    assert out["metric_diff"] == {"recall@20": pytest.approx(0.01), "ndcg@20": 0.0}


def write_lightgcn(root: Path, num_users: int = 60, num_items: int = 80, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    root.mkdir()
    train_lines, test_lines = [], []
    for u in range(num_users):
        items = rng.choice(num_items, size=12, replace=False)
        train_lines.append(" ".join(map(str, [u, *items[:9]])))
        test_lines.append(" ".join(map(str, [u, *items[9:]])))
    (root / "train.txt").write_text("\n".join(train_lines) + "\n")
    (root / "test.txt").write_text("\n".join(test_lines) + "\n")


def test_gpu_script_without_cuda_runs_the_cpu_path(bench: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gpu_path

    monkeypatch.setattr(gpu_path.torch.cuda, "is_available", lambda: False)
    write_lightgcn(bench / "tiny")
    payload = gpu_path.main(["--data", str(bench / "tiny"), "--smoke-users", "40", "--threads", "1"])
    assert payload["cuda"] is False and payload["users"] == 60 and payload["train"] == 40 * 9
    assert {r["model"] for r in payload["runs"]} == {"mf_bpr", "mf_softmax"}
    for r in payload["runs"]:
        assert r["device"] == "cpu" and r["epochs"] == 1 and r["peak_gpu_mb"] is None
        assert r["users_evaluated"] == 40 and 0 <= r["metrics"]["recall@20"] <= 1
    assert json.loads((bench / "results" / "gpu_path-cpu-smoke.json").read_text())["cuda"] is False
