"""Training in 1 vs N processes on Gowalla (LightGCN split): epoch time and quality.

Run: python benchmarks/ddp_gowalla.py [--epochs 5] [--nprocs 1 2] [--setups mf-bpr mf-softmax-sparse]
Smoke run: python benchmarks/ddp_gowalla.py --epochs 1 --max-users 2000

Writes benchmarks/results/ddp_gowalla.json: for each setup and process count, rank 0's
training seconds per epoch (from ``log.jsonl``; epoch 1 left out when there are more), the
wall time of the whole ``ncf train`` (process start-up, data, split and saving included) and
full-ranking Recall@20 / NDCG@20 on the test split after the fixed number of epochs.

Every process count trains the same global batch: one process ``batch`` rows, N processes
``batch / N`` each (``--batch-size`` is per process), at the same learning rate, so each epoch
takes the same number of optimizer steps and the quality should agree within run-to-run noise
(docs/scale.md). Processes start through ``ncf train --nproc N`` (torchrun, gloo on CPU, each
process ``cores / N`` threads).

Setups:

- ``mf-bpr``: biased MF, BPR, 4 negatives, dense Adam (``configs/gowalla-bpr.toml``): every
  step all-reduces the dense gradient of both tables (70k x 65 floats).
- ``mf-softmax-sparse``: cosine MF, in-batch softmax, ``sparse_adam``: the gradients are
  row-sparse, and gloo all-reduces only the rows a batch touched.

On a machine with 2 cores, 2 processes share the cores one process already used: the numbers
show the overhead of DDP (gradient all-reduce, two copies of the model), not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import data_dir, write_result

SETUPS: dict[str, dict[str, Any]] = {
    "mf-bpr": {"args": ["--config", str(Path(__file__).parent / "configs" / "gowalla-bpr.toml")], "batch": 8192},
    "mf-softmax-sparse": {"args": ["--model", "mf", "--cosine", "--loss", "softmax", "--dim", "64",
                                   "--temperature", "0.1", "--lr", "0.01", "--optimizer", "sparse_adam",
                                   "--spectral-weight", "0"],  # the trained model alone, no blend
                          "batch": 2048},
}


def subset(source: Path, target: Path, max_users: int) -> Path:
    """The first ``max_users`` users of a LightGCN split (their train and test lines), in ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("train.txt", "test.txt"):
        with open(source / name, encoding="utf-8") as src, open(target / name, "w", encoding="utf-8") as dst:
            for line in src:
                parts = line.split()
                if parts and int(parts[0]) < max_users:
                    dst.write(line)
    return target


def run_one(data: Path, work: Path, setup: str, nproc: int, epochs: int, seed: int) -> dict[str, Any]:
    spec = SETUPS[setup]
    out = work / f"{setup}-{nproc}"
    batch = spec["batch"] // nproc
    cmd = [sys.executable, "-m", "ncf", "train", str(data), *spec["args"], "--epochs", str(epochs),
           "--batch-size", str(batch), "--seed", str(seed), "--device", "cpu", "--checkpoint-every", "1000",
           "--out", str(out), "--quiet", "--json"]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    seconds = [log["seconds"] for log in logs]
    steady = seconds[1:] or seconds
    ev = subprocess.run([sys.executable, "-m", "ncf", "evaluate", str(out), "--protocol", "full", "--k", "20",
                         "--json"], check=True, stdout=subprocess.PIPE, text=True)
    metrics = json.loads(ev.stdout)
    row = {
        "processes": nproc,
        "batch_size_per_process": batch,
        "global_batch": batch * nproc,
        "seconds_per_epoch": round(sum(steady) / len(steady), 3),
        "epoch_seconds": [round(s, 3) for s in seconds],
        "wall_seconds": round(wall, 1),
        "final_loss": logs[-1]["loss"],
        "recall@20": metrics["recall@20"],
        "ndcg@20": metrics["ndcg@20"],
    }
    print(f"{setup:>18} x{nproc}: {row['seconds_per_epoch']:7.2f} s/epoch, wall {wall:6.1f} s, "
          f"recall@20 {row['recall@20']:.4f}, ndcg@20 {row['ndcg@20']:.4f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--max-users", type=int, default=None,
                        help="Smoke run: only the first N users (their train and test rows).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="ddp_gowalla", help="Result file name (results/NAME.json).")
    args = parser.parse_args()
    source = data_dir() / "gowalla"
    with tempfile.TemporaryDirectory(prefix="ncf-ddp-bench-") as tmp:
        work = Path(tmp)
        data = subset(source, work / "data", args.max_users) if args.max_users else source
        train_rows = sum(len(line.split()) - 1 for line in open(data / "train.txt", encoding="utf-8"))
        results = {setup: [run_one(data, work, setup, n, args.epochs, args.seed) for n in args.nprocs]
                   for setup in args.setups}
    path = write_result(args.name, {
        "dataset": "gowalla" if not args.max_users else f"gowalla, first {args.max_users} users",
        "train_interactions": train_rows, "epochs": args.epochs, "cores": os.cpu_count(), "results": results,
        "note": "seconds_per_epoch is rank 0's training time per epoch; with fewer cores than processes x "
                "threads this measures DDP overhead, not speed-up",
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
