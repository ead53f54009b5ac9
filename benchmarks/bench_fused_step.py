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

With ``--adam-floor`` it also times torch's fused Adam step alone over MF's two tables (d 64,
random dense gradients), the pass every step of the dense-Adam setups makes over all 4.5M
parameters: times the steps of an epoch, the least any dense-Adam MF + BPR epoch can take here.

With ``--softmax SETUP ...`` (e.g. ``d128-b512-bf16``, ``d64-b2048-f32``) it times the in-batch
softmax instead: cosine MF of that width, T 0.1, lr 1e-2, row-sparse Adam, no extra negatives,
accidental hits removed (the Gowalla race's model), under the ordinary step, the fused autograd
step on the batch's rows and the hand-written step (``HandSoftmaxStep``), the three alternating
for ``--repeat`` rounds in this process.

Run (on an idle machine, or under the shared lock):
    python benchmarks/bench_fused_step.py [--epochs 3] [--threads 2] [--out-name fused_step]
    python benchmarks/bench_fused_step.py --softmax d128-b512-bf16 d64-b2048-f32 --epochs 2 --repeat 2 \
        --out-name fused_step_softmax
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


#: in-batch softmax variants (``--softmax``): name -> fused (None: off / "autograd" / "hand")
SOFTMAX_VARIANTS: dict[str, str | None] = {
    "softmax-ordinary": None,
    "softmax-fused-autograd": "autograd",
    "softmax-fused-hand": "hand",
}


def run(train: Any, test: Any, *, loss: str, negatives: int, optimizer: str, fused: str | None, epochs: int,
        batch: int, lr: float, evaluate_after: bool, bias: bool = False, dim: int = 64,
        cosine: bool = False, bf16: bool = False) -> dict[str, Any]:
    torch.manual_seed(0)
    sparse = optimizer in ("sparse_adam", "adagrad")
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=dim, use_bias=bias, sparse=sparse,
                                normalize=cosine)
    extra = {"temperature": 0.1, "softmax_bf16": bf16} if loss == "softmax" else {}
    cfg = TrainConfig(loss=loss, epochs=epochs, batch_size=batch, lr=lr, optimizer=optimizer,
                      num_negatives=negatives, l2=0.0, device="cpu", amp=False, show_progress=False, seed=0,
                      **extra)
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
        "batch_size": batch, "lr": lr, "dim": dim, "cosine": cosine, "bf16_logits": bf16,
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
    ap.add_argument("--softmax", nargs="*", default=None, metavar="SETUP",
                    help="time the in-batch softmax variants instead, e.g. d128-b512-bf16 d64-b2048-f32")
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the softmax variants (alternating)")
    ap.add_argument("--adam-floor", action="store_true", help="also time the dense fused Adam step alone")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train, test = ds.split.train, ds.split.test
    load = time.perf_counter() - t
    results: dict[str, Any] = {}
    if args.softmax:
        softmax(args, train, test, results)
        write_result(args.out_name, {
            "dataset": "gowalla", "train_interactions": len(train), "load_seconds": round(load, 2),
            "threads": args.threads, "repeat": args.repeat,
            "setup": "cosine MF, in-batch softmax T 0.1, lr 1e-2, row-sparse Adam, accidental hits removed, seed 0",
            "results": results, "peak_rss_mb": round(peak_rss_mb(), 1),
        })
        return
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
    floor = adam_floor(train, args.batch) if args.adam_floor else None
    write_result(args.out_name, {
        "dataset": "gowalla", "train_interactions": len(train), "load_seconds": round(load, 2),
        "threads": args.threads, "setup": f"MF d 64 (biases only in *-biases), batch {args.batch}, lr {args.lr:g}, seed 0",
        "results": results, **({"dense_adam_floor": floor} if floor else {}), "peak_rss_mb": round(peak_rss_mb(), 1),
    })


def adam_floor(train: Any, batch: int, steps: int = 60) -> dict[str, Any]:
    """torch's fused Adam step alone over MF's two d-64 tables: its ms per step and per epoch."""
    tables = [torch.nn.Parameter(torch.randn(n, 64) * 0.1) for n in (train.num_users, train.num_items)]
    for t in tables:
        t.grad = torch.randn_like(t) * 1e-3
    opt = torch.optim.Adam(tables, lr=1e-3, fused=True)
    for _ in range(5):
        opt.step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    ms = 1000 * sorted(times)[len(times) // 2]
    per_epoch = -(-len(train) // batch)
    row = {"parameters": sum(t.numel() for t in tables), "ms_per_step_median": round(ms, 3),
           "steps_per_epoch": per_epoch, "seconds_per_epoch": round(ms * per_epoch / 1000, 3)}
    print(f"dense fused Adam alone: {ms:.3f} ms/step, {row['seconds_per_epoch']:.3f} s per epoch of {per_epoch} steps",
          flush=True)
    return row


def softmax(args: argparse.Namespace, train: Any, test: Any, results: dict[str, Any]) -> None:
    """The ``--softmax`` setups: each variant once per round, the order reversed every other round."""
    for setup in args.softmax:
        dim_s, batch_s, dtype = setup.split("-")
        dim, batch, bf16 = int(dim_s[1:]), int(batch_s[1:]), dtype == "bf16"
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SOFTMAX_VARIANTS}
        for r in range(args.repeat):
            names = list(SOFTMAX_VARIANTS) if r % 2 == 0 else list(SOFTMAX_VARIANTS)[::-1]
            for name in names:
                row = run(train, test, loss="softmax", negatives=0, optimizer="sparse_adam",
                          fused=SOFTMAX_VARIANTS[name], epochs=args.epochs, batch=batch, lr=1e-2,
                          evaluate_after=not args.no_eval and r == 0, dim=dim, cosine=True, bf16=bf16)
                rows[name].append(row)
                print(f"{setup} {name:24s} {row['seconds_per_epoch']:7.3f} s/epoch (min "
                      f"{row['seconds_per_epoch_min']:.3f}, {row['ms_per_step']:.2f} ms/step) loss "
                      f"{row['epoch_loss']} recall@20 {row.get('recall@20')}", flush=True)
        for name, runs in rows.items():
            secs = sorted(s for row in runs for s in row["epoch_seconds"])
            results[f"{setup}/{name}"] = {"runs": runs, "median_seconds_per_epoch": round(secs[len(secs) // 2], 4)}
        base = results[f"{setup}/softmax-fused-autograd"]["median_seconds_per_epoch"]
        for name in rows:
            entry = results[f"{setup}/{name}"]
            entry["speedup_vs_fused_autograd"] = round(base / entry["median_seconds_per_epoch"], 3)


if __name__ == "__main__":
    main()
