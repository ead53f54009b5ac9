"""The whole pipeline on a MovieLens-25M-sized log, step by step: seconds and peak memory.

Steps (each timed in wall-clock seconds, with the process's peak RSS during the step):

1. ``read``          ``ncf.data.load_dataset(DIR)`` (a MovieLens 20M/25M directory: ratings.csv
                     and movies.csv; target <= 20 s at 25M rows);
2. ``k_core``        ``ncf.data.k_core(data, k=5)``;
3. ``split``         ``ncf.data.leave_one_out(core, num_negatives=99)`` (latest rating per user as
                     test, 99 never-rated negatives per test row);
4. ``train_bpr``     biased MF (d 64) with BPR, 4 uniform negatives, batch 8192, lr 0.005,
                     row-sparse Adam, ``--epochs`` epochs (default 1) through ``ncf.Trainer``;
5. ``train_softmax`` cosine MF (d 64) with in-batch sampled softmax (temperature 0.1, logQ,
                     accidental hits removed), batch 1024, lr 0.01, row-sparse Adam, same epochs
                     (its cost per row grows with the batch: 1024 is the cheapest of 512-4096
                     measured per row on the 1M stand-in, at 1 thread);
6. ``eval_sampled``  both models under the NeuMF protocol (test item vs its 99 negatives),
                     HR/NDCG@10;
7. ``eval_full``     both models by exact full ranking of every test user over the whole
                     catalogue, train items excluded, Recall/NDCG@10,20 (target <= 2 minutes for
                     both at 25M rows).

Peak RSS per step: the kernel's high-water mark (``VmHWM``) is reset before each step by
writing 5 to ``/proc/self/clear_refs`` and read after it, so each step reports its own peak
(which includes what earlier steps left alive: the step's data and models). Where the kernel
does not allow the reset, the process-wide ``ru_maxrss`` is reported and marked so. The peak
of the whole run is ``ru_maxrss`` (target <= 6 GiB at 25M rows).

Run one size: ``python benchmarks/big_pipeline.py --data DIR`` (DIR: a stand-in from
``benchmarks/ml25m_standin.py``, or the real ml-25m directory), which writes
``benchmarks/results/big_pipeline-<rows>.json``. The scaling study:
``python benchmarks/big_pipeline.py --rows-list 1000000 5000000 25000000 [--work /tmp/ncf-big]``
generates the stand-ins (kept in ``--work`` for reuse; ``--clean`` removes them afterwards),
runs each size in a fresh process and writes ``benchmarks/results/big_pipeline.json``: the
per-step seconds and peaks at each size, their growth factors between sizes and the growth
exponent ``log(t2 / t1) / log(rows2 / rows1)`` (1 = linear; a step above 1.15 is flagged; full
ranking is measured against its ranked cells, test users x items, which grow as rows^2 here), and
a least-squares linear estimate of each step's peak RSS at 25M rows from the smaller sizes.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# as the ncf entry point does: idle OpenMP threads sleep instead of spinning (set before torch loads;
# on a busy machine spinning threads make every small op wait for a descheduled thread)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from _common import machine, write_result  # noqa: E402

ML25M_ROWS = 25_000_095
LINEAR_SLACK = 1.15  # growth exponents above this are flagged as faster than linear
#: Steps whose work is not the row count: full ranking scores (test users x items) cells.
WORK_UNITS = {"eval_full": "ranked_cells"}
TARGETS = {"read_seconds": 20.0, "eval_full_seconds": 120.0, "peak_rss_mb": 6 * 1024.0}


# ---------------------------------------------------------------------------- memory
def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    kb = _status_kb("VmRSS")
    return math.nan if kb is None else kb / 1024.0


def step_peak_mb(reset_ok: bool) -> float:
    kb = _status_kb("VmHWM") if reset_ok else None
    if kb is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return kb / 1024.0


def process_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Steps:
    """Runs named steps, recording wall seconds, the step's peak RSS and the RSS after it.

    A step run ``repeats`` times (the cheap, deterministic ones) reports its fastest time
    (the others are in ``seconds_all``) and its highest peak; each repetition's result is
    dropped before the next one starts, so that two copies never coexist.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def run(self, name: str, fn: Callable[[], Any], repeats: int = 1) -> Any:
        times: list[float] = []
        peaks: list[float] = []
        out: Any = None
        for _ in range(max(1, repeats)):
            out = None
            gc.collect()
            ok = reset_peak()
            before = rss_mb()
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
            peaks.append(step_peak_mb(ok))
        row = {
            "step": name,
            "seconds": round(min(times), 3),
            "seconds_all": [round(t, 3) for t in times],
            "peak_rss_mb": round(max(peaks), 1),
            "rss_before_mb": round(before, 1),
            "rss_after_mb": round(rss_mb(), 1),
            "peak_is_per_step": ok,
        }
        self.rows.append(row)
        print(f"  {name:14s} {row['seconds']:8.2f} s   peak {row['peak_rss_mb']:8.1f} MB   "
              f"after {row['rss_after_mb']:8.1f} MB", flush=True)
        return out


# ---------------------------------------------------------------------------- one size
def run_pipeline(
    data_dir: Path, *, epochs: int = 1, k_core: int = 5, negatives: int = 99, dim: int = 64,
    seed: int = 0, threads: int | None = None, repeats: int = 1,
) -> dict[str, Any]:
    """The pipeline on one dataset directory; returns the per-step record and the metrics."""
    import torch

    import ncf
    from ncf.models import MatrixFactorization

    if threads:
        torch.set_num_threads(threads)
    steps = Steps()
    baseline = rss_mb()
    ds = steps.run("read", lambda: ncf.data.load_dataset(data_dir), repeats)
    data = ds.interactions
    raw_shape = {"rows": len(data), "users": data.num_users, "items": data.num_items}
    del ds
    core = steps.run("k_core", functools.partial(ncf.data.k_core, data, k=k_core), repeats)
    del data
    split = steps.run("split", functools.partial(ncf.data.leave_one_out, core, num_negatives=negatives, seed=seed),
                      repeats)
    core_shape = {"rows": len(core), "users": core.num_users, "items": core.num_items,
                  "train": len(split.train), "test": len(split.test)}
    del core
    nu, ni = split.train.num_users, split.train.num_items

    def train_bpr() -> Any:
        torch.manual_seed(seed)
        model = MatrixFactorization(nu, ni, embedding_dim=dim, sparse=True)
        cfg = ncf.TrainConfig(loss="bpr", epochs=epochs, batch_size=8192, lr=0.005, num_negatives=4,
                              optimizer="sparse_adam", seed=seed, device="cpu", show_progress=False)
        history = ncf.Trainer(cfg).fit(model, split.train)
        return model, history

    def train_softmax() -> Any:
        torch.manual_seed(seed)
        model = MatrixFactorization(nu, ni, embedding_dim=dim, use_bias=False, normalize=True, sparse=True)
        cfg = ncf.TrainConfig(loss="softmax", epochs=epochs, batch_size=1024, lr=0.01, temperature=0.1,
                              optimizer="sparse_adam", seed=seed, device="cpu", show_progress=False)
        history = ncf.Trainer(cfg).fit(model, split.train)
        return model, history

    bpr, bpr_hist = steps.run("train_bpr", train_bpr)
    softmax, softmax_hist = steps.run("train_softmax", train_softmax)
    models = {"mf_bpr": bpr, "mf_softmax": softmax}

    def eval_sampled() -> dict[str, Any]:
        return {name: ncf.evaluate(m, split.test, exclude=split.train, k=(10,), protocol="sampled",
                                   negatives=split.test_negatives).metrics for name, m in models.items()}

    def eval_full() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, m in models.items():
            report = ncf.evaluate(m, split.test, exclude=split.train, k=(10, 20), protocol="full")
            out[name] = {**report.metrics, "users": report.users, "seconds": round(report.seconds, 3)}
        return out

    sampled = steps.run("eval_sampled", eval_sampled, repeats)
    full = steps.run("eval_full", eval_full, repeats)
    # full ranking scores every (test user, item) cell: its work grows as users x items, which in
    # a family of logs of one shape (users and items both in proportion to the rows) is rows^2
    work = {"ranked_cells": int(full["mf_bpr"]["users"]) * int(ni), "train_rows": len(split.train)}
    epoch_seconds = {
        "mf_bpr": [round(e.seconds, 3) for e in bpr_hist.epochs],
        "mf_softmax": [round(e.seconds, 3) for e in softmax_hist.epochs],
    }
    return {
        "data": str(data_dir),
        "rows": raw_shape["rows"],
        "shape": raw_shape,
        "after_k_core": core_shape,
        "settings": {"epochs": epochs, "k_core": k_core, "negatives": negatives, "dim": dim, "seed": seed,
                     "threads": torch.get_num_threads(), "repeats": repeats},
        "steps": steps.rows,
        "work": work,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(process_peak_mb(), 1),
        "epoch_seconds": epoch_seconds,
        "final_loss": {"mf_bpr": bpr_hist.epochs[-1].loss, "mf_softmax": softmax_hist.epochs[-1].loss},
        "metrics": {"sampled": sampled, "full": full},
        "targets": _check_targets(steps.rows, process_peak_mb(), raw_shape["rows"]),
    }


def _check_targets(rows: list[dict[str, Any]], peak: float, n: int) -> dict[str, Any]:
    by = {r["step"]: r for r in rows}
    out: dict[str, Any] = {"note": "targets are for 25M rows; at other sizes they are shown for reference"}
    if n >= 20_000_000:
        out["read_seconds_ok"] = by["read"]["seconds"] <= TARGETS["read_seconds"]
        out["eval_full_seconds_ok"] = by["eval_full"]["seconds"] <= TARGETS["eval_full_seconds"]
        out["peak_rss_ok"] = peak <= TARGETS["peak_rss_mb"]
    out.update(TARGETS)
    return out


# ---------------------------------------------------------------------------- scaling study
def growth(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-step growth factors and exponents between consecutive sizes; flags faster than linear."""
    results = sorted(results, key=lambda r: r["rows"])
    steps = [s["step"] for s in results[0]["steps"]]
    table: dict[str, Any] = {}
    flagged: list[str] = []
    for name in steps:
        entries = []
        for a, b in zip(results, results[1:], strict=False):
            sa = next(s for s in a["steps"] if s["step"] == name)
            sb = next(s for s in b["steps"] if s["step"] == name)
            row_factor = b["rows"] / a["rows"]
            t_factor = sb["seconds"] / max(sa["seconds"], 1e-9)
            exponent = math.log(max(t_factor, 1e-9)) / math.log(row_factor) if row_factor > 1 else math.nan
            net_a = sa["peak_rss_mb"] - a["baseline_rss_mb"]
            net_b = sb["peak_rss_mb"] - b["baseline_rss_mb"]
            entries.append({
                "from_rows": a["rows"], "to_rows": b["rows"], "rows_factor": round(row_factor, 3),
                "seconds_factor": round(t_factor, 3), "seconds_exponent": round(exponent, 3),
                "peak_mb_factor": round(net_b / max(net_a, 1e-9), 3),
            })
            unit = WORK_UNITS.get(name)
            if unit is not None and unit in a.get("work", {}) and unit in b.get("work", {}):
                # the exponent against the step's own work (e.g. ranked cells), which is what
                # must grow linearly; against rows it is expected to be about 2
                work_factor = b["work"][unit] / a["work"][unit]
                entries[-1]["work_unit"] = unit
                entries[-1]["work_factor"] = round(work_factor, 3)
                exponent = math.log(max(t_factor, 1e-9)) / math.log(work_factor) if work_factor > 1 else math.nan
                entries[-1]["seconds_exponent_vs_work"] = round(exponent, 3)
            if exponent > LINEAR_SLACK:
                flagged.append(f"{name} ({a['rows']} -> {b['rows']}: exponent {exponent:.2f})")
        table[name] = entries
    return {"per_step": table, "faster_than_linear": flagged}


def estimate_peaks(results: list[dict[str, Any]], target_rows: int = ML25M_ROWS) -> dict[str, Any]:
    """Each step's peak RSS at ``target_rows`` by a least-squares line through the measured sizes."""
    results = sorted(results, key=lambda r: r["rows"])
    if len(results) < 2:
        return {}
    xs = [float(r["rows"]) for r in results]
    out: dict[str, Any] = {}
    for name in [s["step"] for s in results[0]["steps"]]:
        ys = [next(s for s in r["steps"] if s["step"] == name)["peak_rss_mb"] for r in results]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        out[name] = {"mb_per_million_rows": round(slope * 1e6, 1),
                     "estimate_mb": round(my + slope * (target_rows - mx), 0)}
    out["whole_run_estimate_mb"] = max(v["estimate_mb"] for v in out.values())
    out["from_rows"] = [r["rows"] for r in results]
    out["target_rows"] = target_rows
    return out


def scaling_study(args: argparse.Namespace) -> dict[str, Any]:
    import ml25m_standin

    results = []
    for rows in args.rows_list:
        out_dir = args.work / f"ml25m-standin-{rows}"
        print(f"stand-in of {rows:,} rows in {out_dir}", flush=True)
        gen = ml25m_standin.ensure(out_dir, rows=rows, seed=args.seed)
        path = _results_dir() / f"big_pipeline-{gen['rows']}.json"
        if args.reuse_results and path.is_file():  # a size measured before (e.g. a run disturbed at one size)
            print(f"reusing {path} (--reuse-results)", flush=True)
            result = json.loads(path.read_text())
            result["standin"] = gen
            result["reused"] = True
            results.append(result)
            continue
        cmd = [sys.executable, str(Path(__file__).resolve()), "--data", str(out_dir), "--epochs", str(args.epochs),
               "--seed", str(args.seed)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.note:
            cmd += ["--note", args.note]
        cmd += ["--repeats", str(args.repeats)]
        proc = subprocess.run(cmd, check=False, env=dict(os.environ))
        if proc.returncode:
            raise SystemExit(f"the pipeline failed at {rows} rows (exit {proc.returncode})")
        result = json.loads(path.read_text())
        result["standin"] = gen
        results.append(result)
        if args.clean:
            shutil.rmtree(out_dir, ignore_errors=True)
    payload = {
        "note": args.note,
        "sizes": [r["rows"] for r in results],
        "load_average": {r["rows"]: r.get("load_average") for r in results},
        "seconds": {r["rows"]: {s["step"]: s["seconds"] for s in r["steps"]} for r in results},
        "peak_rss_mb": {r["rows"]: {s["step"]: s["peak_rss_mb"] for s in r["steps"]} for r in results},
        "whole_run_peak_rss_mb": {r["rows"]: r["peak_rss_mb"] for r in results},
        "growth": growth(results),
        "memory_estimate_25m": estimate_peaks([r for r in results if r["rows"] < 20_000_000] or results),
        "runs": results,
    }
    path = write_result("big_pipeline", payload)
    print(f"wrote {path}")
    if payload["growth"]["faster_than_linear"]:
        print("faster than linear:", "; ".join(payload["growth"]["faster_than_linear"]))
    return payload


def _results_dir() -> Path:
    return Path(os.environ.get("NCF_RESULTS_DIR") or HERE / "results")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="a MovieLens 20M/25M-format directory")
    ap.add_argument("--rows-list", type=int, nargs="+", help="scaling study: generate and run these sizes")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ncf-big"), help="where the stand-ins are written")
    ap.add_argument("--clean", action="store_true", help="remove each stand-in after its run")
    ap.add_argument("--epochs", type=int, default=1, help="epochs of each model (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of the data and evaluation steps (the fastest "
                    "is reported; training runs once)")
    ap.add_argument("--reuse-results", action="store_true", help="scaling study: take a size's existing "
                    "results/big_pipeline-<rows>.json instead of running it again (delete the ones to re-run)")
    ap.add_argument("--note", default=None, help="stored in the JSON (e.g. the machine's conditions)")
    args = ap.parse_args(argv)
    if (args.data is None) == (args.rows_list is None):
        ap.error("give --data DIR or --rows-list N [N ...]")
    if args.rows_list:
        return scaling_study(args)
    print(f"pipeline on {args.data}", flush=True)
    load_before = os.getloadavg()
    result = run_pipeline(args.data, epochs=args.epochs, seed=args.seed, threads=args.threads, repeats=args.repeats)
    result["machine"] = machine()
    # the 1-minute load average before and after: timings from a busy machine are not speeds
    result["load_average"] = {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)}
    if args.note:
        result["note"] = args.note
    path = write_result(f"big_pipeline-{result['rows']}", result)
    print(f"peak RSS of the run {result['peak_rss_mb']:.0f} MB; wrote {path}")
    return result


if __name__ == "__main__":
    main()
