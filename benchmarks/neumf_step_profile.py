"""Where a NeuMF training step goes at RecBole's shape, and what FastDropout changes.

ML-100K LOO (``$NCF_DATA_DIR/ml-100k-loo``), NeuMF in RecBole's shape (GMF 64, MLP 64, tower
128-64, dropout 0.1), BCE with 4 uniform negatives, batch 256, Adam lr 1e-3: the setup of the
``neumf_epoch_vs_recbole`` ratio in ``results/peers.json``. For each dropout implementation
(``torch``: ``nn.Dropout``, whose CPU mask is ``bernoulli_``; ``fast``: ncf's
:class:`~ncf.nn.dropout.FastDropout`) it measures

* seconds per epoch: ``--repeats`` trainings of ``--epochs`` epochs each, the two implementations
  alternating so a slow stretch of the machine does not fall on one; the median is reported;
* test HR@10 / NDCG@10 (99 fixed negatives) after those epochs, for seeds 0..repeats-1 (the
  masks differ, so quality is compared as a spread over seeds, not run by run);
* the profiler's top operators over one epoch (share of self CPU time);
* the arithmetic floor: the step's matrix-product FLOPs (forward and the two backward
  products) over this machine's measured float32 matmul rate at 1024^3;
* with ``--recbole``, RecBole's NeuMF in the same shape (``peers/run_recbole.py --skip bpr``, in
  the peers venv) once per repeat, alternating with ncf, so the ratio comes from one run.

    python benchmarks/neumf_step_profile.py [--repeats 3] [--epochs 2] [--recbole]

Writes ``results/neumf_step_profile.json``. Timings need an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, write_result  # noqa: E402

from ncf.config import TrainConfig  # noqa: E402
from ncf.data import read_neumf  # noqa: E402
from ncf.evaluation import evaluate  # noqa: E402
from ncf.models import NeuMF  # noqa: E402
from ncf.nn.dropout import FastDropout  # noqa: E402
from ncf.training import Trainer  # noqa: E402

SHAPE = {"gmf_dim": 64, "mlp_dim": 64, "layers": (128, 64), "dropout": 0.1}
BATCH, NEGATIVES, LR = 256, 4, 1e-3


def build(split: Any, seed: int, dropout: str) -> NeuMF:
    torch.manual_seed(seed)
    model = NeuMF(split.train.num_users, split.train.num_items, **SHAPE)
    if dropout == "torch":  # the same module tree with torch's own dropout
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, FastDropout):
                    setattr(module, name, nn.Dropout(child.p))
    return model


def config(epochs: int, seed: int) -> TrainConfig:
    return TrainConfig(loss="bce", epochs=epochs, batch_size=BATCH, lr=LR, num_negatives=NEGATIVES, device="cpu",
                       amp=False, show_progress=False, seed=seed)


def train_once(split: Any, dropout: str, seed: int, epochs: int) -> dict[str, Any]:
    model = build(split, seed, dropout)
    history = Trainer(config(epochs, seed)).fit(model, split.train)
    report = evaluate(model, split.test, k=(10,), protocol="sampled", negatives=split.test_negatives)
    seconds = [e.seconds for e in history.epochs]
    return {"seed": seed, "epoch_seconds": seconds, "hr@10": report.metrics["hr@10"],
            "ndcg@10": report.metrics["ndcg@10"]}


def recbole_once(epochs: int) -> dict[str, Any]:
    """RecBole's NeuMF epoch seconds in RecBole's shape, in its own process (the peers venv)."""
    here = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "recbole.json"
        subprocess.run([str(here / ".venv-peers" / "bin" / "python"), str(here / "peers" / "run_recbole.py"),
                        "--skip", "bpr", "--neumf-epochs", str(epochs), "--data", str(data_dir()),
                        "--out", str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        row = json.loads(out.read_text())["ml100k_neumf"]
    return {"epoch_seconds": row["epoch_seconds"], "hr@10": row["hr@10"], "ndcg@10": row["ndcg@10"]}


def profile(split: Any, dropout: str) -> list[dict[str, Any]]:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as run_profiler

    model = build(split, 0, dropout)
    with run_profiler(activities=[ProfilerActivity.CPU]) as prof:
        Trainer(config(1, 0)).fit(model, split.train)
    rows = prof.key_averages()
    total = sum(r.self_cpu_time_total for r in rows)
    top = sorted(rows, key=lambda r: r.self_cpu_time_total, reverse=True)[:8]
    return [{"op": r.key, "share": r.self_cpu_time_total / total, "calls": r.count} for r in top]


def matmul_floor(steps_per_epoch: int) -> dict[str, Any]:
    """Matrix-product FLOPs of one step (forward, grad-input and grad-weight) over the measured rate."""
    a = torch.randn(1024, 1024)
    for _ in range(3):
        a @ a
    t0 = time.perf_counter()
    for _ in range(20):
        a @ a
    rate = 20 * 2 * 1024**3 / (time.perf_counter() - t0)
    rows = BATCH * (1 + NEGATIVES)
    widths = [SHAPE["mlp_dim"], *SHAPE["layers"]]
    forward = 2 * BATCH * SHAPE["mlp_dim"] * widths[1]  # the user side, once per row
    forward += 2 * rows * SHAPE["mlp_dim"] * widths[1]  # the item side
    forward += sum(2 * rows * i * o for i, o in zip(widths[1:-1], widths[2:], strict=True))
    forward += 2 * rows * (SHAPE["gmf_dim"] + widths[-1])  # prediction layer
    flops = 3 * forward
    return {"matmul_gflops_1024": rate / 1e9, "step_matmul_mflops": flops / 1e6,
            "floor_ms_per_step": flops / rate * 1e3, "floor_s_per_epoch": flops / rate * steps_per_epoch}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--recbole", action="store_true", help="time RecBole's NeuMF in the same run (peers venv)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    split = read_neumf(data_dir() / "ml-100k-loo").split
    assert split is not None and split.test_negatives is not None
    runs: dict[str, list[dict[str, Any]]] = {"torch": [], "fast": []}
    recbole: list[dict[str, Any]] = []
    for seed in range(args.repeats):
        if args.recbole:
            recbole.append(recbole_once(args.epochs))
            print(f"recbole: {statistics.median(recbole[-1]['epoch_seconds']):.3f} s/epoch", file=sys.stderr)
        for dropout in ("torch", "fast") if seed % 2 == 0 else ("fast", "torch"):
            row = train_once(split, dropout, seed, args.epochs)
            runs[dropout].append(row)
            print(f"{dropout:5s} seed {seed}: {statistics.median(row['epoch_seconds']):.3f} s/epoch, "
                  f"hr@10 {row['hr@10']:.4f}", file=sys.stderr)
    steps = -(-len(split.train) // BATCH)
    summary: dict[str, Any] = {}
    for dropout, rows in runs.items():
        secs = [s for r in rows for s in r["epoch_seconds"]]
        summary[dropout] = {
            "seconds_per_epoch_median": statistics.median(secs),
            "ms_per_step_median": statistics.median(secs) / steps * 1e3,
            "hr@10": [r["hr@10"] for r in rows], "ndcg@10": [r["ndcg@10"] for r in rows],
            "hr@10_mean": statistics.fmean(r["hr@10"] for r in rows),
            "profile_top_ops": profile(split, dropout),
            "runs": rows,
        }
    if recbole:
        secs = [s for r in recbole for s in r["epoch_seconds"]]
        summary["recbole"] = {"seconds_per_epoch_median": statistics.median(secs), "runs": recbole,
                              "hr@10": [r["hr@10"] for r in recbole]}
        for dropout in ("torch", "fast"):
            summary[dropout]["recbole_over_ncf_epoch"] = (summary["recbole"]["seconds_per_epoch_median"]
                                                          / summary[dropout]["seconds_per_epoch_median"])
    floor = matmul_floor(steps)
    speedup = summary["torch"]["seconds_per_epoch_median"] / summary["fast"]["seconds_per_epoch_median"]
    write_result("neumf_step_profile", {
        "setup": "ML-100K LOO, NeuMF RecBole shape (GMF 64, MLP 64, tower 128-64, dropout 0.1), BCE, 4 uniform "
                 f"negatives, batch {BATCH}, Adam lr {LR}, {args.epochs} epochs x {args.repeats} seeds per variant",
        "steps_per_epoch": steps, "threads": torch.get_num_threads(), "cores": os.cpu_count(),
        "variants": summary, "fast_over_torch_epoch_speedup": speedup, "arithmetic_floor": floor,
        "matmul_share_of_step": floor["floor_ms_per_step"] / summary["fast"]["ms_per_step_median"],
    })
    print(f"speed-up {speedup:.2f}x; floor {floor['floor_ms_per_step']:.3f} ms/step vs "
          f"{summary['fast']['ms_per_step_median']:.3f} measured", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
