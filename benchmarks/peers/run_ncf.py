"""ncf on the peer-comparison splits: MF+BPR on Gowalla, NeuMF+BCE on ML-100K LOO.

Runs with the python where ``ncf`` is installed (not the peers venv)::

    python benchmarks/peers/run_ncf.py --out /tmp/ncf.json

Gowalla, MF+BPR (``--mf-*`` options; 64 factors, no biases, Adam):

* fixed runs, one per ``--fixed-batches`` size (default 2048 = RecBole's, the only one compared
  with RecBole's epoch in ``compare.py``, and 8192), with ``--fixed-negatives`` (default 1, as RecBole's BPR, so an epoch is the same
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
import json
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


#: Time-to-quality curves (``--curve NAME``). Gowalla: ncf's fastest paths, each fixed before this
#: comparison on the Gowalla validation split (results/gowalla-ablation.json): the spectral ranks
#: are the whole trade-off; MF+BPR is the ablation's "bpr4" row (biased MF d 64, 4 negatives,
#: batch 8192, lr 5e-3, l2 1e-2; configs/gowalla-bpr.toml); cosine softmax its d 128, T 0.1 row,
#: at the batch, lr and start chosen for time to quality on validation (batch 1024, lr 1e-2, the
#: projection start, with the hand-written softmax step; ``benchmarks/gowalla_softmax_speed.py``,
#: results/gowalla-softmax-speed.json; batch 512 with the autograd step,
#: results/gowalla-softmax-speed-autograd-step.json; 2048 before).
#: ML-100K: ``ncf train`` with no config (the model's defaults, early stopping on ncf's carve).
CURVES: dict[str, dict] = {
    "gowalla-spectral": {"ranks": [32, 64, 96, 128, 192, 256, 512, 1024]},
    "gowalla-mf-bpr": {"model": {"embedding_dim": 64, "use_bias": True},
                       "train": {"loss": "bpr", "batch_size": 8192, "lr": 5e-3, "l2": 1e-2, "num_negatives": 4},
                       "time_limit": 120.0},
    "gowalla-softmax": {"model": {"embedding_dim": 128, "use_bias": False, "normalize": True, "sparse": True,
                                  "init": "projection"},
                        "train": {"loss": "softmax", "temperature": 0.1, "batch_size": 1024, "lr": 0.01,
                                  "optimizer": "sparse_adam", "softmax_bf16": True},
                        # scored every quarter epoch for the first 40 s, as in the race it was chosen for
                        "points_per_epoch": 4, "split_epochs_until": 40.0,
                        "time_limit": 240.0},
    "ml100k-mf": {"options": {"model": "mf"}},
    "ml100k-neumf": {"options": {"model": "neumf"}},
    "ml100k-two-tower": {"options": {"model": "two-tower"}},
    "ml100k-spectral": {"options": {"model": "spectral"}},
    "ml100k-fpmc": {"options": {"model": "fpmc"}},
}


def curves(args) -> int:
    """One contender of the time-to-quality comparison: its curve as JSON (``--out``)."""
    from _threads import set_threads

    set_threads(args.threads)
    import torch
    from _peercommon import GOWALLA, ML100K_LOO, Curve, data_root, machine, write_json

    import ncf

    torch.set_num_threads(args.threads)
    root = data_root(args.data)
    spec = CURVES[args.curve]
    if args.curve_setting:  # a candidate's setting on top of the named curve's (e.g. a validation sweep)
        extra = json.loads(args.curve_setting)
        spec = {**spec, **{k: ({**spec[k], **v} if isinstance(v, dict) and k in spec else v) for k, v in extra.items()}}
    result: dict = {"library": "ncf", "version": getattr(ncf, "__version__", "?"), "curve": args.curve,
                    "threads": args.threads, "quick": bool(args.quick),
                    "machine": machine({"torch": torch.__version__, "torch_threads": torch.get_num_threads()})}
    if args.curve.startswith("gowalla"):
        from ncf import TrainConfig, Trainer
        from ncf.data import read_lightgcn
        from ncf.evaluation import evaluate
        from ncf.models import MatrixFactorization, SpectralMF

        limit = args.curve_limit or spec.get("time_limit")
        if args.quick:
            limit = min(limit or 15.0, 15.0)
        curve = Curve(f"ncf {args.curve.removeprefix('gowalla-')}", spec, limit)
        ds = read_lightgcn(root / GOWALLA)
        train, test = ds.split.train, ds.split.test
        curve.mark("data_loaded")
        load_s = curve.now()

        def full(model) -> dict:
            rep = evaluate(model, test, exclude=train, k=(20,), protocol="full")
            return {"recall@20": rep.metrics["recall@20"], "ndcg@20": rep.metrics["ndcg@20"]}

        if args.curve == "gowalla-spectral":
            ranks = spec["ranks"][:2] if args.quick else spec["ranks"]
            for rank in ranks:
                t = time.perf_counter()
                model = SpectralMF(train.num_users, train.num_items, rank=rank).fit(train)
                fit_s = time.perf_counter() - t
                curve.point(rank, lambda model=model: full(model), seconds=round(load_s + fit_s, 4),
                            fit_seconds=round(fit_s, 4))
                del model
        else:
            from ncf.training.callbacks import Callback

            torch.manual_seed(0)
            model = MatrixFactorization(train.num_users, train.num_items, **spec["model"])
            # a setting with a learning-rate schedule names its epochs; else until the clock runs out
            cfg = TrainConfig(**{"epochs": 10_000, **spec["train"]}, device="cpu", show_progress=False, seed=0)
            split_until = float(spec.get("split_epochs_until", 0.0))
            parts = int(spec.get("points_per_epoch", 1))

            class Points(Callback):
                """A point after every epoch and, while the clock is under ``split_epochs_until``
                seconds, after every ``1/points_per_epoch`` of an epoch too (step = fractional epoch)."""

                def on_batch_end(self, end) -> None:
                    if parts <= 1 or end.batch == end.num_batches or curve.now() >= split_until:
                        return
                    if end.batch % max(1, end.num_batches // parts) == 0:
                        curve.point(round(end.epoch - 1 + end.batch / end.num_batches, 3), lambda: full(model))

                def on_epoch_end(self, end) -> None:
                    curve.point(end.log.epoch, lambda: full(model))
                    if curve.out_of_time():
                        raise _Stop

            with __import__("contextlib").suppress(_Stop):
                Trainer(cfg, callbacks=[Points()]).fit(model, train)
        result["curve_data"] = curve.to_dict()
    else:
        from ncf.app import RunSpec
        from ncf.app.jobs import build_model, load_data, prepare_split
        from ncf.evaluation import evaluate
        from ncf.models.base import SequenceAware
        from ncf.training import Trainer

        data = root / ML100K_LOO
        options = {"data": str(data), **spec["options"]}
        if args.quick:
            options["max-epochs"] = 2
        run_spec = RunSpec.from_options(("curve", options))
        curve = Curve(f"ncf {run_spec.model.name} (no config)", run_spec.to_options(), args.curve_limit)
        dataset = load_data(str(data))
        split = prepare_split(run_spec, dataset)
        curve.mark("data_loaded")
        model = build_model(run_spec, split, (None, None))
        known = split.train if split.valid is None else split.train.concat(split.valid)

        def on_test() -> dict:
            if isinstance(model, SequenceAware):
                model.set_context(known)  # rank after the latest item known before the test split
            rep = evaluate(model, split.test, exclude=known, k=(10,), protocol="sampled",
                           negatives=split.test_negatives)
            if isinstance(model, SequenceAware):
                model.set_context(split.train)  # the trainer's validation context
            return {"test_hr@10": rep.metrics["hr@10"], "test_ndcg@10": rep.metrics["ndcg@10"]}

        if run_spec.closed_form:
            model.fit(split.train)
            curve.point(1, on_test)
        else:
            def on_epoch(log) -> None:
                curve.exclude(log.eval_seconds)  # ncf's own validation pass: off the clock too
                curve.point(log.epoch, on_test, **{f"valid_{k}": v for k, v in log.metrics.items()
                                                    if k in ("hr@10", "ndcg@10")})

            history = Trainer(run_spec.trainer_config(show_progress=False), callbacks=[on_epoch]).fit(
                model, split.train, valid=split.valid, valid_negatives=split.valid_negatives)
            result["best_epoch"] = history.best_epoch
        result["curve_data"] = curve.to_dict()
    write_json(result, args.out)
    return 0


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
        default="2048,8192",
        help="batch sizes of the fixed MF+BPR runs (2048 = RecBole's: the same-batch comparison)",
    )
    ap.add_argument(
        "--fixed-optimizers",
        default="adam,sparse_adam",
        help="optimizers of the fixed runs: adam (dense, as RecBole) and sparse_adam (row-sparse, lazy Adam)",
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
    ap.add_argument("--curve", choices=sorted(CURVES), default=None,
                    help="instead of the parts above: one time-to-quality curve (see curves())")
    ap.add_argument("--curve-limit", type=float, default=None, help="curve: stop after this many seconds")
    ap.add_argument("--curve-setting", default=None,
                    help="curve: JSON merged into the curve's setting, e.g. "
                         "'{\"train\": {\"batch_size\": 512}, \"points_per_epoch\": 4}'")
    args = ap.parse_args(argv)
    if args.curve:
        return curves(args)
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
            fixed = [(int(b), o.strip()) for b in args.fixed_batches.split(",") if b.strip()
                     for o in args.fixed_optimizers.split(",") if o.strip()]
            for bs, opt in fixed:
                # the fixed runs are always MF+BPR (the speed comparison with RecBole's BPR)
                sparse = opt in ("sparse_adam", "adagrad")
                model = mf_model(sparse=sparse, dim=64)  # RecBole's embedding_size
                cfg = dataclasses.replace(
                    mf_config(args.epochs), loss="bpr", temperature=1.0, batch_size=bs, optimizer=opt,
                    l2=0.0,
                    num_negatives=args.fixed_negatives,
                )
                t = time.perf_counter()
                hist = Trainer(cfg).fit(model, train)
                wall = time.perf_counter() - t
                secs = [e.seconds for e in hist.epochs]
                rep = evaluate(model, test, exclude=train, k=(20,), protocol="full")
                row = {
                    "params": {**params, "loss": "bpr", "batch_size": bs, "optimizer": opt, "l2": 0.0,
                               "sparse": sparse, "cosine": False, "embedding_dim": 64,
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
