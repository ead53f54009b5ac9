"""Training throughput on Gowalla (LightGCN split): MF+BPR, MF+softmax (in-batch, float32/bfloat16 logits), NeuMF+BCE.

Run: python benchmarks/bench_train.py [--epochs 2]
Writes benchmarks/results/train_speed.json (positives/s and seconds per epoch, excluding epoch 1
warm-up when more than one epoch is run), and each setup's cost model (``ncf.training.cost``):
FLOPs per epoch, the measured float32 (and, for bfloat16 logits, bfloat16) matmul rate, the
arithmetic floor of an epoch and the share of the peak the measured epochs achieved.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from _common import data_dir, peak_rss_mb, write_result

from ncf.config import TrainConfig
from ncf.data import read_lightgcn
from ncf.models import MatrixFactorization, NeuMF
from ncf.training import Trainer, matmul_peak
from ncf.training.callbacks import Callback, FitStart


def _softmax_setup(dim: int, bf16: bool, batch: int = 2048) -> tuple[Any, dict[str, Any]]:
    """Cosine MF with in-batch softmax (batch - 1 negatives per row), float32 or bfloat16 logits."""
    def build(nu: int, ni: int) -> MatrixFactorization:
        return MatrixFactorization(nu, ni, embedding_dim=dim, use_bias=False, normalize=True, sparse=True)

    return build, {"loss": "softmax", "batch_size": batch, "lr": 1e-2, "temperature": 0.1,
                   "optimizer": "sparse_adam", "softmax_bf16": bf16}


SETUPS = {
    "mf-bpr-b8192": (lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=64),
                     {"loss": "bpr", "num_negatives": 1, "batch_size": 8192, "lr": 5e-3}),
    "mf-bpr-b65536": (lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=64),
                      {"loss": "bpr", "num_negatives": 1, "batch_size": 65536, "lr": 2e-2}),
    "mf-softmax-inbatch": _softmax_setup(64, bf16=False),
    "mf-softmax-inbatch-bf16": _softmax_setup(64, bf16=True),
    "mf-softmax-inbatch-d256": _softmax_setup(256, bf16=False),
    "mf-softmax-inbatch-d256-bf16": _softmax_setup(256, bf16=True),
    # the time-to-quality settings chosen on validation (results/gowalla-softmax-speed*.json):
    # batch 512 with the autograd step, batch 1024 with the hand-written one
    "mf-softmax-inbatch-d128-b512-bf16": _softmax_setup(128, bf16=True, batch=512),
    "mf-softmax-inbatch-d128-b1024-bf16": _softmax_setup(128, bf16=True, batch=1024),
    "mf-softmax-inbatch-d128-b2048-bf16": _softmax_setup(128, bf16=True),
    # MF + BPR at RecBole's shape and batch (peers.json's per-epoch ratio): dense tables, fused Adam
    "mf-bpr-recbole-shape": (lambda nu, ni: MatrixFactorization(nu, ni, embedding_dim=64, use_bias=False),
                             {"loss": "bpr", "num_negatives": 1, "batch_size": 2048, "lr": 5e-3}),
    "neumf-bce-4neg": (lambda nu, ni: NeuMF(nu, ni, gmf_dim=64, mlp_dim=32, layers=(64, 32, 16)),
                       {"loss": "bce", "num_negatives": 4, "batch_size": 8192, "lr": 1e-3}),
}


class _Cost(Callback):
    """Keeps the fit's cost model."""

    cost: Any = None

    def on_fit_start(self, start: FitStart) -> None:
        self.cost = start.cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=list(SETUPS))
    args = parser.parse_args()
    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train = ds.split.train
    results = {}
    for name in args.only:
        build, kw = SETUPS[name]
        model = build(train.num_users, train.num_items)
        cfg = TrainConfig(epochs=args.epochs, show_progress=False, seed=0, **kw)
        t0 = time.perf_counter()
        keep = _Cost()
        history = Trainer(cfg, callbacks=[keep], cost_model=True).fit(model, train)
        epochs = [log.seconds for log in history.epochs]
        total = time.perf_counter() - t0
        steady = epochs[1:] or epochs
        sec = sum(steady) / len(steady)
        results[name] = {
            "config": cfg.to_dict(),
            "seconds_per_epoch": round(sec, 3),
            "positives_per_s": round(len(train) / sec),
            "epoch_seconds": [round(s, 3) for s in epochs],
            "final_loss": history.epochs[-1].loss,
            "total_seconds": round(total, 2),
        }
        cost = keep.cost
        if cost is not None:
            results[name]["cost"] = {**cost.to_dict(), "achieved_gflops": round(cost.achieved_gflops(sec), 2),
                                     "peak_share": round(cost.peak_share(sec), 4)}
            if cfg.softmax_bf16:  # the logits' product runs in bfloat16: its own peak, for reference
                bf16 = matmul_peak(torch.bfloat16)
                results[name]["cost"]["bfloat16_peak_gflops"] = round(bf16, 1)
                results[name]["cost"]["bfloat16_peak_share"] = round(cost.achieved_gflops(sec) / bf16, 4)
        share = f", {cost.achieved_gflops(sec):.1f} GFLOP/s = {cost.peak_share(sec):.1%} of the matmul peak" if cost else ""
        print(f"{name:>20}: {sec:6.2f} s/epoch, {len(train) / sec:,.0f} positives/s{share}")
    write_result("train_speed", {"dataset": "gowalla", "train_interactions": len(train), "results": results,
                                 "peak_rss_mb": round(peak_rss_mb(), 1)})


if __name__ == "__main__":
    main()
