"""Threads by model size: seconds per epoch at 1 and 2 (or more) torch threads, ML-100K- and Gowalla-sized models.

Shapes (each trained by the Trainer as ``ncf train`` would, fused steps where they apply):

- ``ml100k-mf-bpr``: ML-100K (943 x 1682, 100k rows), MF d 128 with biases, BPR, 8 negatives,
  batch 1024, Adam (the ``ncf train --model mf`` defaults before batch scaling),
- ``ml100k-neumf-bce``: ML-100K, NeuMF (GMF 8, MLP 32, 64-32-16), BCE, 4 negatives, batch 2048,
- ``gowalla-mf-bpr``: Gowalla (29,858 x 40,981, 810k rows), MF d 64 with biases, BPR, 4 negatives,
  batch 8192, Adam (benchmarks/configs/gowalla-bpr.toml's shape),
- ``gowalla-mf-bpr-b2048``: Gowalla, MF d 64 without biases, 1 negative, batch 2048, sparse_adam,
- ``gowalla-mf-softmax``: Gowalla, cosine MF d 128, in-batch softmax (T 0.1, bfloat16 logits), batch
  512, lr 1e-2, sparse_adam (``bench_train.py``'s ``mf-softmax-inbatch-d128-b512-bf16``).

Thread counts alternate per shape (1, 2, 1, 2 ... for ``--repeat`` rounds, in this process);
the figure per count is the median over rounds of the mean epoch seconds (epochs after the first).

Run (idle machine or under the shared lock):
    python benchmarks/bench_threads.py [--threads 1 2] [--repeat 2] [--epochs 3]
Writes benchmarks/results/threads_by_size.json.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from _common import data_dir, peak_rss_mb, write_result
from bench_train import SETUPS as TRAIN_SETUPS

from ncf.config import TrainConfig
from ncf.data import load_dataset, read_lightgcn
from ncf.models import MatrixFactorization, NeuMF
from ncf.training import Trainer

SHAPES: dict[str, dict[str, Any]] = {
    "ml100k-mf-bpr": {"data": "ml-100k",
                      "model": lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=128),
                      "train": {"loss": "bpr", "num_negatives": 8, "batch_size": 1024, "lr": 2e-3, "l2": 1e-3}},
    "ml100k-neumf-bce": {"data": "ml-100k",
                         "model": lambda nu, ni: NeuMF(nu, ni, gmf_dim=8, mlp_dim=32, layers=(64, 32, 16)),
                         "train": {"loss": "bce", "num_negatives": 4, "batch_size": 2048, "lr": 1e-3}},
    "gowalla-mf-bpr": {"data": "gowalla",
                       "model": lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=64),
                       "train": {"loss": "bpr", "num_negatives": 4, "batch_size": 8192, "lr": 5e-3, "l2": 1e-2}},
    "gowalla-mf-bpr-b2048": {"data": "gowalla",
                             "model": lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=64, use_bias=False,
                                                                         sparse=True),
                             "train": {"loss": "bpr", "num_negatives": 1, "batch_size": 2048, "lr": 5e-3,
                                       "optimizer": "sparse_adam"}},
    "gowalla-mf-softmax": {"data": "gowalla", "model": TRAIN_SETUPS["mf-softmax-inbatch-d128-b512-bf16"][0],
                           "train": TRAIN_SETUPS["mf-softmax-inbatch-d128-b512-bf16"][1]},
}


def _train(name: str) -> Any:
    if name == "gowalla":
        ds = read_lightgcn(data_dir() / "gowalla")
        assert ds.split is not None
        return ds.split.train
    return load_dataset(str(data_dir() / name)).interactions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=list(SHAPES))
    ap.add_argument("--out-name", default="threads_by_size")
    args = ap.parse_args()
    data: dict[str, Any] = {}
    results: dict[str, Any] = {}
    for name in args.only:
        shape = SHAPES[name]
        train = data.setdefault(shape["data"], _train(shape["data"]))
        per: dict[int, list[float]] = {t: [] for t in args.threads}
        for _ in range(args.repeat):
            for threads in args.threads:
                torch.set_num_threads(threads)
                torch.manual_seed(0)
                model = shape["model"](train.num_users, train.num_items)
                cfg = TrainConfig(epochs=args.epochs, seed=0, show_progress=False, **shape["train"])
                t = time.perf_counter()
                history = Trainer(cfg).fit(model, train)
                secs = [e.seconds for e in history.epochs]
                steady = secs[1:] or secs
                per[threads].append(sum(steady) / len(steady))
                print(f"{name:22s} threads {threads}: {per[threads][-1]:.3f} s/epoch ({time.perf_counter() - t:.1f} s)",
                      flush=True)
        med = {t: statistics.median(v) for t, v in per.items()}
        base = med[min(args.threads)]
        results[name] = {
            "rows": len(train), "users": train.num_users, "items": train.num_items,
            "parameters": sum(p.numel() for p in shape["model"](train.num_users, train.num_items).parameters()),
            "train": shape["train"],
            "seconds_per_epoch": {str(t): [round(x, 4) for x in v] for t, v in per.items()},
            "median_seconds_per_epoch": {str(t): round(v, 4) for t, v in med.items()},
            "speedup_vs_fewest_threads": {str(t): round(base / v, 3) for t, v in med.items()},
        }
    torch.set_num_threads(max(args.threads))
    write_result(args.out_name, {"threads": args.threads, "repeat": args.repeat, "epochs": args.epochs,
                                 "results": results, "peak_rss_mb": round(peak_rss_mb(), 1)})


if __name__ == "__main__":
    main()
