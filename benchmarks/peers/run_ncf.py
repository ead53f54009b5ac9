"""ncf on the peer-comparison splits: MF+BPR on Gowalla, NeuMF+BCE on ML-100K LOO.

Runs with the python where ``ncf`` is installed (not the peers venv)::

    python benchmarks/peers/run_ncf.py --out /tmp/ncf.json

Gowalla, MF+BPR (``--mf-*`` options; 64 factors, no biases, Adam):

* fixed runs, one per ``--fixed-batches`` size (default 8192, the headline, and 2048 =
  RecBole's), with ``--fixed-negatives`` (default 1, as RecBole's BPR, so an epoch is the same
  work): ``--epochs`` epochs, then one full-ranking evaluation with ``ncf.evaluation.evaluate``
  (all 40,981 items, training items excluded; LightGCN's Recall@20/NDCG@20) -> seconds per
  epoch (``EpochLog.seconds``: sampling + batches), evaluation seconds, quality, peak RSS;
* time to quality: a fresh model with the ``--mf-*`` setting (default batch 8192, lr 5e-3,
  l2 1e-2, 4 negatives: the best speed-to-quality of a short exploration) trained epoch by
  epoch, evaluated after each epoch from a Trainer callback (evaluation not counted), until
  Recall@20 >= ``--target`` or ``--time-limit`` training seconds.

ML-100K LOO, NeuMF+BCE with 4 uniform negatives per positive: seconds per epoch at several
batch sizes (256 = RecBole's setting, 2048 = ``TrainConfig``'s default, 4096) for ncf's default
NeuMF (GMF 8, MLP 32, tower 64-32-16) and for RecBole's default NeuMF shape (GMF 64, MLP 64,
tower 128-64, dropout 0.1), each followed by HR@10/NDCG@10 on the 99 fixed negatives.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_RECALL = 0.1485

# NeuMF variants: name -> (model kwargs, batch sizes)
NEUMF_DEFAULT = {}
NEUMF_RECBOLE_SHAPE = {"gmf_dim": 64, "mlp_dim": 64, "layers": (128, 64), "dropout": 0.1}


class _Stop(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", help="data root holding gowalla/ and ml-100k-loo/")
    ap.add_argument("--out", help="write the JSON result here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--epochs", type=int, default=3, help="MF+BPR epochs of each fixed run (default 3)"
    )
    ap.add_argument(
        "--fixed-batches",
        default="8192,2048",
        help="batch sizes of the fixed MF+BPR runs; the first is the headline (2048 = RecBole's)",
    )
    ap.add_argument(
        "--fixed-negatives",
        type=int,
        default=1,
        help="negatives per positive in the fixed runs (1, as RecBole's BPR: same work per epoch)",
    )
    ap.add_argument("--target", type=float, default=TARGET_RECALL)
    ap.add_argument(
        "--time-limit", type=float, default=60.0, help="training seconds allowed to reach --target"
    )
    ap.add_argument(
        "--mf-loss",
        default="bpr",
        help="bpr (default) or another ncf loss (softmax: in-batch negatives)",
    )
    ap.add_argument(
        "--mf-temperature", type=float, default=1.0, help="softmax temperature (--mf-loss softmax)"
    )
    ap.add_argument("--mf-dim", type=int, default=64)
    ap.add_argument("--mf-batch", type=int, default=8192)
    ap.add_argument("--mf-lr", type=float, default=5e-3)
    ap.add_argument("--mf-l2", type=float, default=1e-2)
    ap.add_argument("--mf-negatives", type=int, default=4)
    ap.add_argument("--mf-optimizer", default="adam")
    ap.add_argument(
        "--mf-sampler", default="uniform", help="negative sampler: uniform or popularity"
    )
    ap.add_argument(
        "--mf-hard",
        type=float,
        default=0.0,
        help="fraction of hard negatives (TrainConfig.hard_negatives)",
    )
    ap.add_argument(
        "--mf-sparse",
        action="store_true",
        help="sparse embeddings (with --mf-optimizer sparse_adam)",
    )
    ap.add_argument(
        "--mf-cosine",
        action="store_true",
        help="cosine MF (L2-normalised embeddings) for the time-to-quality run",
    )
    ap.add_argument(
        "--mf-bias",
        action="store_true",
        help="learn biases (off by default: BPR-MF as in RecBole/implicit)",
    )
    ap.add_argument("--neumf-epochs", type=int, default=2)
    ap.add_argument("--neumf-batches", default="256,2048,4096")
    ap.add_argument("--neumf-lr", type=float, default=1e-3)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 fixed epoch, 15 s time-to-quality limit, 1 NeuMF epoch",
    )
    ap.add_argument("--skip", default="", help="comma list of parts to skip: fixed,ttq,neumf")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs = 1
        args.time_limit = min(args.time_limit, 15.0)
        args.neumf_epochs = 1
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    from _threads import set_threads

    set_threads(args.threads)

    import torch
    from _peercommon import GOWALLA, ML100K_LOO, data_root, machine, peak_rss_mb, write_json

    import ncf
    from ncf import TrainConfig, Trainer
    from ncf.data import read_lightgcn, read_neumf
    from ncf.evaluation import evaluate
    from ncf.models import MatrixFactorization, NeuMF

    torch.set_num_threads(args.threads)
    root = data_root(args.data)
    result: dict = {
        "library": "ncf",
        "version": getattr(ncf, "__version__", "?"),
        "torch": torch.__version__,
        "quick": bool(args.quick),
        "threads": args.threads,
        "machine": machine({"torch": torch.__version__, "torch_threads": torch.get_num_threads()}),
        "data_root": str(root),
    }

    # ------------------------------------------------------------------ Gowalla MF+BPR
    if not {"fixed", "ttq"} <= skip:
        t = time.perf_counter()
        ds = read_lightgcn(root / GOWALLA)
        split = ds.split
        assert split is not None
        train, test = split.train, split.test
        result["gowalla"] = {
            "users": train.num_users,
            "items": train.num_items,
            "train": len(train),
            "test": len(test),
            "load_seconds": time.perf_counter() - t,
        }

        def mf_config(epochs: int) -> TrainConfig:
            return TrainConfig(
                loss=args.mf_loss,
                temperature=args.mf_temperature,
                epochs=epochs,
                batch_size=args.mf_batch,
                lr=args.mf_lr,
                l2=args.mf_l2,
                optimizer=args.mf_optimizer,
                num_negatives=args.mf_negatives,
                sampler=args.mf_sampler,
                hard_negatives=args.mf_hard,
                device="cpu",
                amp=False,
                show_progress=False,
                seed=0,
            )

        def mf_model(cosine: bool = False, sparse: bool | None = None, dim: int | None = None) -> MatrixFactorization:
            torch.manual_seed(0)
            return MatrixFactorization(
                train.num_users,
                train.num_items,
                embedding_dim=args.mf_dim if dim is None else dim,
                use_bias=args.mf_bias and not cosine,
                normalize=cosine,
                sparse=args.mf_sparse if sparse is None else sparse,
            )

        params = {
            "cosine": args.mf_cosine,
            "loss": args.mf_loss,
            "embedding_dim": args.mf_dim,
            "use_bias": args.mf_bias,
            "sparse": args.mf_sparse,
            "batch_size": args.mf_batch,
            "lr": args.mf_lr,
            "l2": args.mf_l2,
            "optimizer": args.mf_optimizer,
            "num_negatives": args.mf_negatives,
            "sampler": args.mf_sampler,
            "hard_negatives": args.mf_hard,
        }
        if args.mf_loss == "softmax":
            params["temperature"] = args.mf_temperature

        if "fixed" not in skip:
            runs = []
            for bs in [int(b) for b in args.fixed_batches.split(",") if b.strip()]:
                # the fixed runs are always MF+BPR (the speed comparison with RecBole's BPR)
                model = mf_model(sparse=False, dim=64)  # RecBole's embedding_size
                cfg = dataclasses.replace(
                    mf_config(args.epochs), loss="bpr", temperature=1.0, batch_size=bs, optimizer="adam",
                    l2=0.0,
                    num_negatives=args.fixed_negatives,
                )
                t = time.perf_counter()
                hist = Trainer(cfg).fit(model, train)
                wall = time.perf_counter() - t
                secs = [e.seconds for e in hist.epochs]
                rep = evaluate(model, test, exclude=train, k=(20,), protocol="full")
                row = {
                    "params": {**params, "loss": "bpr", "batch_size": bs, "optimizer": "adam", "l2": 0.0,
                               "sparse": False, "cosine": False, "embedding_dim": 64,
                               "num_negatives": args.fixed_negatives},
                    "epochs": len(secs),
                    "epoch_seconds": secs,
                    "seconds_per_epoch": sum(secs) / len(secs),
                    "seconds_per_epoch_min": min(secs),
                    "fit_wall_seconds": wall,
                    "loss": [e.loss for e in hist.epochs],
                    "eval_seconds": rep.seconds,
                    "eval_users": rep.users,
                    "recall@20": rep.metrics["recall@20"],
                    "ndcg@20": rep.metrics["ndcg@20"],
                    "peak_rss_mb": peak_rss_mb(),
                }
                runs.append(row)
                print(
                    f"[ncf] gowalla MF+BPR batch {bs}: {row['seconds_per_epoch']:.3f} s/epoch, eval "
                    f"{row['eval_seconds']:.2f} s, recall@20 {row['recall@20']:.4f}",
                    file=sys.stderr,
                )
                del model
            # the first batch size is the headline; the others are in "runs"
            result["gowalla_mf_bpr"] = {**runs[0], "runs": runs}

        if "ttq" not in skip:
            model = mf_model(cosine=args.mf_cosine)
            trace: list[dict] = []
            state = {"train_s": 0.0, "reached": None}

            def on_epoch(log) -> None:  # runs after the epoch's timed part
                state["train_s"] += log.seconds
                rep = evaluate(model, test, exclude=train, k=(20,), protocol="full")
                rec = rep.metrics["recall@20"]
                trace.append(
                    {
                        "epoch": log.epoch,
                        "train_seconds": state["train_s"],
                        "recall@20": rec,
                        "ndcg@20": rep.metrics["ndcg@20"],
                        "eval_seconds": rep.seconds,
                    }
                )
                print(
                    f"[ncf] ttq epoch {log.epoch}: {state['train_s']:.2f} s, recall@20 {rec:.4f}",
                    file=sys.stderr,
                )
                if rec >= args.target:
                    state["reached"] = state["train_s"]
                    raise _Stop
                if state["train_s"] >= args.time_limit:
                    raise _Stop

            with __import__("contextlib").suppress(_Stop):
                Trainer(mf_config(10_000), callbacks=[on_epoch]).fit(model, train)
            best = max(trace, key=lambda r: r["recall@20"])
            result["gowalla_time_to_quality"] = {
                "params": params,
                "target_recall@20": args.target,
                "time_limit_seconds": args.time_limit,
                "reached": state["reached"] is not None and state["reached"] <= args.time_limit,
                "seconds_to_target": state["reached"],
                "epochs_to_target": trace[-1]["epoch"] if state["reached"] is not None else None,
                "best_recall@20": best["recall@20"],
                "trace": trace,
            }
            del model

    # ------------------------------------------------------------------ ML-100K NeuMF+BCE
    if "neumf" not in skip:
        ds = read_neumf(root / ML100K_LOO)
        split = ds.split
        assert split is not None and split.test_negatives is not None
        runs = []
        batches = [int(b) for b in args.neumf_batches.split(",") if b.strip()]
        for shape_name, kwargs in (
            ("ncf_default", NEUMF_DEFAULT),
            ("recbole_shape", NEUMF_RECBOLE_SHAPE),
        ):
            for bs in batches:
                torch.manual_seed(0)
                model = NeuMF(split.train.num_users, split.train.num_items, **kwargs)
                cfg = TrainConfig(
                    loss="bce",
                    epochs=args.neumf_epochs,
                    batch_size=bs,
                    lr=args.neumf_lr,
                    num_negatives=4,
                    device="cpu",
                    amp=False,
                    show_progress=False,
                    seed=0,
                )
                hist = Trainer(cfg).fit(model, split.train)
                secs = [e.seconds for e in hist.epochs]
                rep = evaluate(
                    model, split.test, k=(10,), protocol="sampled", negatives=split.test_negatives
                )
                row = {
                    "shape": shape_name,
                    "model": model.get_config(),
                    "batch_size": bs,
                    "epochs": len(secs),
                    "epoch_seconds": secs,
                    "seconds_per_epoch": sum(secs) / len(secs),
                    "seconds_per_epoch_min": min(secs),
                    "eval_seconds": rep.seconds,
                    "hr@10": rep.metrics["hr@10"],
                    "ndcg@10": rep.metrics["ndcg@10"],
                }
                runs.append(row)
                print(
                    f"[ncf] ml-100k NeuMF {shape_name} batch {bs}: {row['seconds_per_epoch']:.3f} s/epoch, "
                    f"hr@10 {row['hr@10']:.4f}",
                    file=sys.stderr,
                )
        result["ml100k_neumf"] = {
            "lr": args.neumf_lr,
            "num_negatives": 4,
            "default_batch_size": TrainConfig().batch_size,
            "runs": runs,
        }

    result["peak_rss_mb"] = peak_rss_mb()
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
