"""Fused training steps (ncf.training.fused) against the ordinary step: MF on Gowalla at RecBole's shape.

MF d 64, no biases, 1 uniform negative, batch 2048 (RecBole's BPR setting in
benchmarks/peers/compare.py), lr 5e-3 (benchmarks/peers/run_ncf.py's fixed runs), seed 0. Each
variant trains ``--epochs`` epochs in this process, one after another; the figure is the mean
of ``EpochLog.seconds`` (sampling + batches), then Recall@20 on the test split (evaluation not
timed). Variants:

- ``ordinary-adam``: dense tables, fused dense Adam (the compared setup of peers.json),
- ``fused-autograd-adam`` / ``fused-hand-adam``: the same dense Adam step, the batch's row
  gradients added into a persistent ``.grad`` buffer (no zero-fill of the tables), by autograd on
  the unique rows or by hand,
- ``ordinary-sparse_adam``: sparse tables, RowAdam on the coalesced sparse gradient,
- ``fused-autograd-sparse_adam``: autograd on the batch's unique rows, RowAdam row update,
- ``fused-hand-sparse_adam``: hand-written BPR gradients, RowAdam row update (the default path),
- the same for ``adagrad`` and ``sgd`` and for BCE with 4 negatives (``--losses``),
- ``*-biases``: MF with user, item and global biases (the others have none).

Run (on an idle machine, or under the shared lock):
    python benchmarks/bench_fused_step.py [--epochs 3] [--threads 2] [--out-name fused_step]
Writes benchmarks/results/<out-name>.json.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from _common import data_dir, peak_rss_mb, write_result

from ncf.config import TrainConfig
from ncf.data import read_lightgcn
from ncf.evaluation import evaluate
from ncf.models import MatrixFactorization
from ncf.training import Trainer
from ncf.training import fused as fused_module

#: name -> (optimizer, fused: None (off) / "autograd" / "hand")
VARIANTS: dict[str, tuple[str, str | None]] = {
    "ordinary-adam": ("adam", None),
    "fused-autograd-adam": ("adam", "autograd"),
    "fused-hand-adam": ("adam", "hand"),
    "ordinary-sparse_adam": ("sparse_adam", None),
    "fused-autograd-sparse_adam": ("sparse_adam", "autograd"),
    "fused-hand-sparse_adam": ("sparse_adam", "hand"),
    "ordinary-adagrad": ("adagrad", None),
    "fused-hand-adagrad": ("adagrad", "hand"),
    "ordinary-sgd": ("sgd", None),
    "fused-hand-sgd": ("sgd", "hand"),
    # MF with biases (the model of `ncf train --model mf`), dense Adam
    "ordinary-adam-biases": ("adam", None),
    "fused-hand-adam-biases": ("adam", "hand"),
}


def run(train: Any, test: Any, *, loss: str, negatives: int, optimizer: str, fused: str | None, epochs: int,
        batch: int, lr: float, evaluate_after: bool, bias: bool = False) -> dict[str, Any]:
    torch.manual_seed(0)
    sparse = optimizer in ("sparse_adam", "adagrad")
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=64, use_bias=bias, sparse=sparse)
    cfg = TrainConfig(loss=loss, epochs=epochs, batch_size=batch, lr=lr, optimizer=optimizer,
                      num_negatives=negatives, l2=0.0, device="cpu", amp=False, show_progress=False, seed=0)
    original = fused_module.make_fused_step
    if fused == "autograd":  # the row-autograd candidate where the hand-written one would be taken
        def autograd_only(*args: Any, **kw: Any) -> Any:
            return original(*args, **{**kw, "hand": False})
        fused_module.make_fused_step = autograd_only  # type: ignore[assignment]
    try:
        import ncf.training.trainer as trainer_module

        trainer_module.make_fused_step = fused_module.make_fused_step  # type: ignore[attr-defined]
        trainer = Trainer(cfg, fused=fused is not None)
        t = time.perf_counter()
        history = trainer.fit(model, train)
        wall = time.perf_counter() - t
    finally:
        fused_module.make_fused_step = original  # type: ignore[assignment]
        trainer_module.make_fused_step = original  # type: ignore[attr-defined]
    secs = [e.seconds for e in history.epochs]
    row: dict[str, Any] = {
        "loss": loss, "negatives": negatives, "optimizer": optimizer, "fused": fused, "biases": bias,
        "batch_size": batch, "lr": lr,
        "epochs": len(secs), "epoch_seconds": [round(s, 4) for s in secs],
        "seconds_per_epoch": round(sum(secs) / len(secs), 4), "seconds_per_epoch_min": round(min(secs), 4),
        "steps_per_epoch": -(-len(train) // batch),
        "ms_per_step": round(1000 * min(secs) / -(-len(train) // batch), 3),
        "fit_wall_seconds": round(wall, 3), "epoch_loss": [round(e.loss, 6) for e in history.epochs],
    }
    if evaluate_after:
        rep = evaluate(model, test, exclude=train, k=(20,), protocol="full")
        row["recall@20"] = round(rep.metrics["recall@20"], 5)
        row["ndcg@20"] = round(rep.metrics["ndcg@20"], 5)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--only", nargs="*", default=list(VARIANTS))
    ap.add_argument("--losses", nargs="*", default=["bpr"], help="bpr (1 negative) and/or bce (4 negatives)")
    ap.add_argument("--no-eval", action="store_true", help="skip Recall@20 after training")
    ap.add_argument("--out-name", default="fused_step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train, test = ds.split.train, ds.split.test
    load = time.perf_counter() - t
    results: dict[str, Any] = {}
    for loss in args.losses:
        negatives = 1 if loss == "bpr" else 4
        for name in args.only:
            optimizer, fused = VARIANTS[name]
            row = run(train, test, loss=loss, negatives=negatives, optimizer=optimizer, fused=fused,
                      epochs=args.epochs, batch=args.batch, lr=args.lr, evaluate_after=not args.no_eval,
                      bias=name.endswith("-biases"))
            results[f"{loss}/{name}"] = row
            print(f"{loss}/{name:28s} {row['seconds_per_epoch']:7.3f} s/epoch (min {row['seconds_per_epoch_min']:.3f},"
                  f" {row['ms_per_step']:.2f} ms/step) loss {row['epoch_loss']} recall@20 {row.get('recall@20')}",
                  flush=True)
    write_result(args.out_name, {
        "dataset": "gowalla", "train_interactions": len(train), "load_seconds": round(load, 2),
        "threads": args.threads, "setup": f"MF d 64 (biases only in *-biases), batch {args.batch}, lr {args.lr:g}, seed 0",
        "results": results, "peak_rss_mb": round(peak_rss_mb(), 1),
    })


if __name__ == "__main__":
    main()
