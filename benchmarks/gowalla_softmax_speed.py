"""Choose the cosine-softmax MF setting for Gowalla's time-to-quality race, on validation only.

The race (``benchmarks/peers/compare.py``, curve ``gowalla-softmax``) times data loading +
training until the test Recall@20 reaches implicit ALS's (0.1489), evaluation off the clock.
Its setting must be fixed before that run, so the candidates here are trained on the validation
carve ``ncf train`` uses for full ranking (10% of each user's training items, seed 0), written
as a LightGCN directory like ``gowalla_fast.py`` does; the test file is never read.

Each candidate is ``run_ncf.py --curve gowalla-softmax`` with its whole setting given, in its own
process, for ``--limit`` seconds, scored every quarter epoch during the first
``--split-until`` seconds and after every epoch. Targets on validation: implicit ALS's
validation Recall@20 / NDCG@20 after its 15 iterations (``results/gowalla-fast-validation.json``,
same carve).

Rule, fixed before the runs (2026-12-07; the clock-based rule before it ranked the machine's speed
at the time of each run as much as the settings, see docs/benchmarks.md 3a): each candidate's
seconds are *estimated* as ``epochs on its validation curve x seconds per epoch of its shape +
its start``, where the seconds per epoch of every (dim, batch) shape and the projection start are
measured in this process, shapes alternating, ``--rounds`` rounds, median (the curves' own
clocks are kept, not used). Among the candidates that reach ALS's validation Recall@20, keep those
within ``--slack`` (1.25x) of the fastest one's estimated time to it; choose the one with the
highest validation Recall@20 at an estimated 60 s.

Then, once (``--test``, after the choice): on the real split, implicit ALS's curve (the target:
its test Recall@20 / NDCG@20 after 15 iterations, in this run), the first candidate (the setting
before this study), any named by ``--race-also`` and the chosen one, each in its own process for
``--test-limit`` seconds; the test curves choose nothing.

    python benchmarks/gowalla_softmax_speed.py --test     # about 40 minutes on 2 idle cores
    python benchmarks/gowalla_softmax_speed.py --reuse --only NAME,...   # run only new candidates

Writes ``results/gowalla-softmax-speed.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import HERE, RESULTS, data_dir, write_result
from gowalla_fast import write_lightgcn

from ncf.data import read_lightgcn, validation_split

#: The setting the race used before this study (2026-12-01): cosine MF d 128, T 0.1, batch 2048,
#: lr 1e-2, row-sparse Adam, bf16 logits, the N(0, 0.1^2) start. Every candidate is it with a few
#: keys changed.
BASE: dict[str, dict[str, Any]] = {
    "model": {"embedding_dim": 128, "use_bias": False, "normalize": True, "sparse": True, "init": "normal"},
    "train": {"loss": "softmax", "temperature": 0.1, "batch_size": 2048, "lr": 0.01, "optimizer": "sparse_adam",
              "softmax_bf16": True},
}

#: name -> the keys that differ from BASE.
CANDIDATES: dict[str, dict[str, Any]] = {
    "d128-b2048-lr0.01 (current)": {},
    "d128-b2048-lr0.02": {"train": {"lr": 0.02}},
    "d128-b1024-lr0.01": {"train": {"batch_size": 1024}},
    "d128-b1024-lr0.02": {"train": {"batch_size": 1024, "lr": 0.02}},
    "d128-b512-lr0.01": {"train": {"batch_size": 512}},
    "d128-b512-lr0.02": {"train": {"batch_size": 512, "lr": 0.02}},
    "d64-b1024-lr0.02": {"model": {"embedding_dim": 64}, "train": {"batch_size": 1024, "lr": 0.02}},
    "d256-b1024-lr0.01": {"model": {"embedding_dim": 256}, "train": {"batch_size": 1024}},
    # added after the first eight showed time to ALS falling with the batch (validation only)
    "d128-b512-lr0.04": {"train": {"batch_size": 512, "lr": 0.04}},
    "d128-b256-lr0.02": {"train": {"batch_size": 256, "lr": 0.02}},
    "d128-b256-lr0.04": {"train": {"batch_size": 256, "lr": 0.04}},
    # 2026-12-07: the projection start (MatrixFactorization(init="projection")), validation only
    "d128-b1024-lr0.01-proj": {"model": {"init": "projection"}, "train": {"batch_size": 1024}},
    "d128-b1024-lr0.02-proj": {"model": {"init": "projection"}, "train": {"batch_size": 1024, "lr": 0.02}},
    "d128-b512-lr0.01-proj": {"model": {"init": "projection"}, "train": {"batch_size": 512}},
    "d128-b2048-lr0.01-proj": {"model": {"init": "projection"}},
    "d64-b1024-lr0.01-proj": {"model": {"embedding_dim": 64, "init": "projection"}, "train": {"batch_size": 1024}},
    # 2026-12-07, second session: the projection start with the learning rate decayed to 0 over a
    # fixed number of epochs (TrainConfig.lr_schedule), after the constant-rate curves above kept
    # climbing slowly for 10 epochs past their first 4 (validation only)
    "d128-b1024-lr0.01-proj-linear8": {"model": {"init": "projection"},
                                       "train": {"batch_size": 1024, "lr_schedule": "linear", "epochs": 8}},
    "d128-b1024-lr0.02-proj-linear8": {"model": {"init": "projection"},
                                       "train": {"batch_size": 1024, "lr": 0.02, "lr_schedule": "linear", "epochs": 8}},
    "d128-b1024-lr0.02-proj-linear6": {"model": {"init": "projection"},
                                       "train": {"batch_size": 1024, "lr": 0.02, "lr_schedule": "linear", "epochs": 6}},
    "d128-b1024-lr0.02-proj-cosine8": {"model": {"init": "projection"},
                                       "train": {"batch_size": 1024, "lr": 0.02, "lr_schedule": "cosine", "epochs": 8}},
    "d128-b512-lr0.02-proj-linear8": {"model": {"init": "projection"},
                                      "train": {"batch_size": 512, "lr": 0.02, "lr_schedule": "linear", "epochs": 8}},
}


def setting_of(name: str) -> dict[str, Any]:
    """BASE with candidate ``name``'s keys, whole (run_ncf.py merges it over its own curve setting)."""
    change = CANDIDATES[name]
    return {k: {**BASE[k], **change.get(k, {})} for k in BASE}


def first_at(points: list[dict[str, Any]], key: str, target: float, at: str = "seconds") -> float | None:
    """Clock seconds (or another field, ``at``) of the first point whose ``key`` reaches ``target``."""
    return next((p[at] for p in points if p[key] >= target), None)


def best_within(points: list[dict[str, Any]], key: str, seconds: float) -> float | None:
    vals = [p[key] for p in points if p["seconds"] <= seconds]
    return max(vals) if vals else None


def shape_of(name: str) -> tuple[int, int]:
    """The (embedding dim, batch) of candidate ``name``: what its seconds per epoch depend on."""
    setting = setting_of(name)
    return int(setting["model"]["embedding_dim"]), int(setting["train"]["batch_size"])


def epoch_seconds(fit: Any, names: list[str], rounds: int, threads: int) -> dict[str, Any]:
    """Seconds per epoch of each candidate shape and of the projection start, measured here.

    One epoch of each (dim, batch) shape on the carve's training part, with the first candidate's
    setting of that shape, shapes alternating over ``rounds`` rounds, so that the machine's speed
    drifts alike for all; the median per shape. The projection start of each dimension a candidate
    uses is timed in the same rounds.
    """
    import torch

    from ncf import TrainConfig, Trainer
    from ncf.models import MatrixFactorization
    from ncf.nn.data_init import projection_factors

    torch.set_num_threads(threads)
    shapes: dict[tuple[int, int], str] = {}
    for name in names:
        shapes.setdefault(shape_of(name), name)
    times: dict[tuple[int, int], list[float]] = {s: [] for s in shapes}
    dims = sorted({shape_of(n)[0] for n in names if setting_of(n)["model"].get("init") == "projection"})
    starts: dict[int, list[float]] = {d: [] for d in dims}
    matrix = fit.to_csr()
    for _ in range(rounds):
        for shape, name in shapes.items():
            setting = setting_of(name)
            model_kw = {k: v for k, v in setting["model"].items() if k != "init"}
            torch.manual_seed(0)
            model = MatrixFactorization(fit.num_users, fit.num_items, **model_kw)
            cfg = TrainConfig(**{**setting["train"], "epochs": 1}, device="cpu", show_progress=False, seed=0)
            t = time.perf_counter()
            Trainer(cfg).fit(model, fit)
            times[shape].append(time.perf_counter() - t)
        for d in dims:
            t = time.perf_counter()
            projection_factors(matrix, d, std=0.1, generator=torch.Generator().manual_seed(0))
            starts[d].append(time.perf_counter() - t)
    return {"per_epoch": {f"d{d}-b{b}": round(statistics.median(v), 4) for (d, b), v in times.items()},
            "per_epoch_runs": {f"d{d}-b{b}": [round(x, 4) for x in v] for (d, b), v in times.items()},
            "projection_start": {f"d{d}": round(statistics.median(v), 4) for d, v in starts.items()},
            "rounds": rounds}


def estimate(row: dict[str, Any], name: str, timing: dict[str, Any], target: dict[str, float]) -> dict[str, Any]:
    """Candidate ``name``'s drift-free figures: epochs to ALS's figure and estimated seconds."""
    d, b = shape_of(name)
    per_epoch = timing["per_epoch"][f"d{d}-b{b}"]
    start = timing["projection_start"][f"d{d}"] if setting_of(name)["model"].get("init") == "projection" else 0.0
    pts = row["curve"]

    def seconds(step: float | None) -> float | None:
        return None if step is None else round(step * per_epoch + start, 3)

    to_als = first_at(pts, "recall@20", target["recall@20"], at="step")
    within = [p["recall@20"] for p in pts if (seconds(p["step"]) or 0.0) <= 60.0]
    return {"epochs_to_als_recall": to_als, "estimated_seconds_to_als_recall": seconds(to_als),
            "seconds_per_epoch": per_epoch, "start_seconds": start,
            "estimated_best_recall_within_60s": max(within) if within else None}


def run_curve(cmd: list[str], out: Path) -> dict[str, Any]:
    """Run one curve's process; its ``curve_data``."""
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[1:4])} failed:\n{proc.stderr[-2000:]}")
    curve: dict[str, Any] = json.loads(out.read_text())["curve_data"]
    return curve


def softmax_curve(args: argparse.Namespace, name: str, root: Path, limit: float, out: Path) -> dict[str, Any]:
    """Candidate ``name`` trained by ``run_ncf.py`` on the LightGCN directory under ``root``, for
    ``limit`` seconds of clock, in its own process; its curve."""
    setting = {**setting_of(name), "points_per_epoch": 4, "split_epochs_until": args.split_until}
    return run_curve([sys.executable, str(HERE / "peers" / "run_ncf.py"), "--curve", "gowalla-softmax",
                      "--curve-setting", json.dumps(setting), "--curve-limit", str(limit),
                      "--data", str(root), "--threads", str(args.threads), "--out", str(out)], out)


def summary(curve: dict[str, Any], target: dict[str, float]) -> dict[str, Any]:
    """Times to the target and the best Recall@20 within 10 s, 60 s and the whole curve."""
    pts = curve["points"]
    return {
        "setting": curve["setting"],
        "seconds_to_als_recall": first_at(pts, "recall@20", target["recall@20"]),
        "seconds_to_als_ndcg": first_at(pts, "ndcg@20", target["ndcg@20"]),
        "seconds_to_0.177": first_at(pts, "recall@20", 0.177),
        "best_recall_within_10s": best_within(pts, "recall@20", 10.0),
        "best_recall_within_60s": best_within(pts, "recall@20", 60.0),
        "best_recall": max(p["recall@20"] for p in pts),
        "data_loaded_s": curve["marks"].get("data_loaded"),
        "curve": pts,
    }


def race(args: argparse.Namespace, src: Path, names: list[str]) -> dict[str, Any]:
    """The test curves, once: implicit ALS (the target), then each named setting, own processes."""
    tmp = Path(tempfile.mkdtemp(prefix="ncf-gowalla-race-"))
    try:
        als = run_curve([str(Path(args.venv) / "bin" / "python"), str(HERE / "peers" / "run_implicit.py"),
                         "--curve", "gowalla-als", "--data", str(src.parent), "--threads", str(args.threads),
                         "--out", str(tmp / "als.json")], tmp / "als.json")
        last = als["points"][-1]
        target = {"recall@20": last["recall@20"], "ndcg@20": last["ndcg@20"]}
        rows: dict[str, Any] = {}
        for name in names:
            row = rows[name] = summary(softmax_curve(args, name, src.parent, args.test_limit, tmp / "ncf.json"),
                                       target)
            print(f"test {name:30s} to ALS recall {row['seconds_to_als_recall']} s, to 0.177 "
                  f"{row['seconds_to_0.177']} s, best in 60 s {row['best_recall_within_60s']}", flush=True)
        return {"split": "LightGCN's Gowalla test split, full ranking", "limit_seconds": args.test_limit,
                "target": {"source": "implicit ALS after 15 iterations, this run", **target,
                           "als_seconds_to_own_final": first_at(als["points"], "recall@20", target["recall@20"])},
                "als_curve": als["points"], "settings": rows}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="gowalla directory (default: the shared copy)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--limit", type=float, default=75.0, help="training seconds per candidate")
    p.add_argument("--split-until", type=float, default=20.0, help="quarter-epoch points until this clock")
    p.add_argument("--slack", type=float, default=1.25)
    p.add_argument("--only", default=None, help="comma list of candidate names to run (default: all)")
    p.add_argument("--reuse", action="store_true",
                   help="keep the candidates' curves already in results/gowalla-softmax-speed.json (same limits)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of the alternating per-epoch timing")
    p.add_argument("--test", action="store_true", help="then race ALS, the current and the chosen setting on test")
    p.add_argument("--test-limit", type=float, default=120.0)
    p.add_argument("--race-also", default="", help="comma list of further candidates to race on test")
    p.add_argument("--venv", default=str(HERE / ".venv-peers"), help="the peers venv (implicit ALS)")
    args = p.parse_args()
    als = json.loads((RESULTS / "gowalla-fast-validation.json").read_text())["implicit_als"]["points"][-1]
    target = {"recall@20": als["recall@20"], "ndcg@20": als["ndcg@20"]}
    src = Path(args.data) if args.data else data_dir() / "gowalla"
    ds = read_lightgcn(src)
    assert ds.split is not None
    fit, valid, _ = validation_split(ds.split.train, method="random", fraction=0.1, seed=0)
    root = Path(tempfile.mkdtemp(prefix="ncf-gowalla-softmax-"))
    rows: dict[str, Any] = {}
    old = RESULTS / "gowalla-softmax-speed.json"
    if args.reuse and old.is_file():
        prev = json.loads(old.read_text())
        if (prev.get("limit_seconds"), prev.get("split_epochs_until")) == (args.limit, args.split_until):
            rows = {n: r for n, r in prev["candidates"].items() if n in CANDIDATES}
    run = [n for n in CANDIDATES if args.only is None or n in args.only.split(",")]
    names = [n for n in CANDIDATES if n in rows or n in run]
    try:
        (root / "gowalla").mkdir()
        write_lightgcn(root / "gowalla" / "train.txt", fit.users, fit.items)
        write_lightgcn(root / "gowalla" / "test.txt", valid.users, valid.items)
        for name in ("user_list.txt", "item_list.txt"):
            if (src / name).is_file():
                shutil.copy(src / name, root / "gowalla" / name)
        for name in names:
            if name in rows and (args.only is None or name not in run):
                print(f"{name:30s} reused from {old.name}", flush=True)
                continue
            row = summary(softmax_curve(args, name, root, args.limit, root / "curve.json"), target)
            rows[name] = row
            print(f"{name:30s} to ALS recall {row['seconds_to_als_recall']} s, to ALS ndcg {row['seconds_to_als_ndcg']} s,"
                  f" best in 10 s {row['best_recall_within_10s']}, in 60 s {row['best_recall_within_60s']}",
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    timing = epoch_seconds(fit, names, args.rounds, args.threads)
    print(f"seconds per epoch (alternating, median of {args.rounds}): {timing['per_epoch']}, "
          f"projection start {timing['projection_start']} s", flush=True)
    for name in names:
        rows[name]["estimate"] = estimate(rows[name], name, timing, target)
        print(f"{name:30s} {rows[name]['estimate']}", flush=True)
    reach = {n: r["estimate"]["estimated_seconds_to_als_recall"] for n, r in rows.items()
             if r["estimate"]["estimated_seconds_to_als_recall"] is not None}
    chosen = None
    if reach:
        fastest = min(reach.values())
        near = [n for n, t in reach.items() if t <= args.slack * fastest]
        chosen = max(near, key=lambda n: rows[n]["estimate"]["estimated_best_recall_within_60s"] or 0.0)
    result = {
        "validation": "10% of each user's training items (ncf's full-ranking carve, seed 0); test never read",
        "target": {"source": "implicit ALS after 15 iterations on the same carve (results/gowalla-fast-validation.json)",
                   **target},
        "threads": args.threads, "limit_seconds": args.limit, "split_epochs_until": args.split_until,
        "rule": f"among candidates reaching ALS's validation Recall@20 within {args.slack}x of the fastest "
                "estimated time (epochs on the curve x seconds per epoch of the shape, measured alternating in "
                "one process, + the start), the highest validation Recall@20 at an estimated 60 s",
        "epoch_timing": timing, "candidates": {n: rows[n] for n in names}, "chosen": chosen,
        "command": "python benchmarks/gowalla_softmax_speed.py " + " ".join(sys.argv[1:]),
    }
    print(f"chosen: {chosen}")
    if args.test and chosen is not None:
        also = [n for n in args.race_also.split(",") if n]
        result["test"] = race(args, src, list(dict.fromkeys((next(iter(CANDIDATES)), *also, chosen))))
    print(f"wrote {write_result('gowalla-softmax-speed', result)}")


if __name__ == "__main__":
    main()
