"""RecBole 1.2.1 (BPR on Gowalla, NeuMF on ML-100K LOO) on the same splits as ncf.

Runs inside the peers venv (``benchmarks/.venv-peers``, see ``setup.sh``)::

    benchmarks/.venv-peers/bin/python benchmarks/peers/run_recbole.py --epochs 2 --out /tmp/recbole.json

Data: the shared splits are written once as RecBole atomic files under
``benchmarks/runs/peers/recbole_data/<name>/`` (``<name>.train.inter``, ``.valid.inter``,
``.test.inter``, header ``user_id:token  item_id:token``) and loaded with RecBole's
``benchmark_filename`` so the split is exactly the published one (no re-splitting, no filtering).
RecBole needs three files; the *valid* file holds the test rows of the first few users. It is
never used (no validation runs: ``trainer.fit(train, None)``); being a subset of test it leaves
the test ranking's masked history exactly the training items, as in LightGCN's protocol.
ML-100K also gets a ``.item`` file listing all 1,682 items, so the few items seen only among the
fixed negatives exist in RecBole's universe (as they do in ncf's).

Timing: seconds per epoch are measured around RecBole's own ``Trainer._train_epoch`` (which
includes its dataloader's negative sampling) while ``trainer.fit`` runs; evaluation seconds
around ``trainer.evaluate(test_data)`` (full ranking with the training items masked). Data
loading and dataloader construction are reported separately.

NeuMF quality: RecBole cannot evaluate with a *fixed* list of 99 negatives per user (its
``uni99`` mode draws new ones), so HR@10/NDCG@10 are computed here by scoring the 100 fixed
candidates with the trained RecBole model's ``predict`` -- RecBole's model, our protocol code.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

VALID_USERS = 100  # test rows of the first 100 users form the (unused) valid file


def write_atomic(dirpath: Path, name: str, parts: dict, items: int | None = None) -> None:
    """Write ``{name}.{part}.inter`` for each (users, items) pair in ``parts``."""
    import numpy as np

    dirpath.mkdir(parents=True, exist_ok=True)
    stamp = dirpath / ".complete"
    if stamp.is_file():
        return
    for part, (u, i) in parts.items():
        with open(dirpath / f"{name}.{part}.inter", "w", encoding="utf-8") as fh:
            fh.write("user_id:token\titem_id:token\n")
            np.savetxt(fh, np.stack([u, i], axis=1), fmt="%d", delimiter="\t")
    if items is not None:
        with open(dirpath / f"{name}.item", "w", encoding="utf-8") as fh:
            fh.write("item_id:token\n")
            np.savetxt(fh, np.arange(items)[:, None], fmt="%d")
    stamp.write_text("ok\n")


def base_config(args, data_path: Path, workdir: Path) -> dict:
    return {
        "data_path": str(data_path),
        "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": None,
        "TIME_FIELD": None,
        "load_col": {"inter": ["user_id", "item_id"]},
        "use_gpu": False,
        "device": "cpu",
        "worker": 0,
        "seed": 2020,
        "reproducibility": True,
        "show_progress": False,
        "save_dataset": False,
        "save_dataloaders": False,
        "log_wandb": False,
        "checkpoint_dir": str(workdir / "saved"),
        "epochs": args.epochs,
        "eval_step": args.epochs + 1,
        "stopping_step": 10**6,
        "state": "INFO",
        "metric_decimal_place": 6,
    }


def run_model(
    model_name: str, dataset: str, config_dict: dict, threads: int, fixed_eval=None
) -> dict:
    import torch
    from _peercommon import peak_rss_mb
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    t0 = time.perf_counter()
    argv, sys.argv = sys.argv, sys.argv[:1]  # RecBole's Config also parses sys.argv
    try:
        config = Config(model=model_name, dataset=dataset, config_dict=config_dict)
    finally:
        sys.argv = argv
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    torch.set_num_threads(threads)
    ds = create_dataset(config)
    load_s = time.perf_counter() - t0
    t = time.perf_counter()
    train_data, valid_data, test_data = data_preparation(config, ds)
    prep_s = time.perf_counter() - t
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    torch.set_num_threads(threads)

    epoch_s: list[float] = []
    losses: list[float] = []
    inner = trainer._train_epoch

    def timed(*a, **kw):
        t = time.perf_counter()
        out = inner(*a, **kw)
        epoch_s.append(time.perf_counter() - t)
        losses.append(float(out if not isinstance(out, tuple) else sum(out)))
        return out

    trainer._train_epoch = timed
    t = time.perf_counter()
    trainer.fit(train_data, None, verbose=False, saved=False, show_progress=False)
    fit_s = time.perf_counter() - t

    out = {
        "model": model_name,
        "params": {k: config[k] for k in _interesting(model_name) if k in config},
        "epochs": len(epoch_s),
        "epoch_seconds": epoch_s,
        "seconds_per_epoch": sum(epoch_s) / len(epoch_s),
        "seconds_per_epoch_min": min(epoch_s),
        "fit_wall_seconds": fit_s,
        "loss": losses,
        "train_interactions": len(train_data._dataset),
        "load_seconds": load_s,
        "dataloader_seconds": prep_s,
        "torch_threads": torch.get_num_threads(),
    }
    if fixed_eval is None:
        t = time.perf_counter()
        res = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
        out["eval_seconds"] = time.perf_counter() - t
        out["eval_batch_size"] = config["eval_batch_size"]
        out.update({k: float(v) for k, v in res.items()})
    else:
        out.update(fixed_eval(model, ds, config))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _interesting(model_name: str) -> list[str]:
    common = [
        "learning_rate",
        "train_batch_size",
        "learner",
        "weight_decay",
        "train_neg_sample_args",
        "eval_args",
        "topk",
        "metrics",
    ]
    if model_name == "BPR":
        return ["embedding_size", *common]
    return ["mf_embedding_size", "mlp_embedding_size", "mlp_hidden_size", "dropout_prob", *common]


def neumf_fixed_eval(split):
    """HR@10/NDCG@10 of a trained RecBole model on the fixed 99 negatives (NeuMF protocol)."""

    def fn(model, ds, config) -> dict:
        import numpy as np
        import torch
        from _peercommon import sampled_metrics
        from recbole.data.interaction import Interaction

        t = time.perf_counter()
        uf, itf = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
        umap = ds.field2token_id[uf]
        imap = ds.field2token_id[itf]
        users = np.array([umap[str(u)] for u in split.test_u], dtype=np.int64)
        cand = np.concatenate([split.test_i[:, None], split.negatives], axis=1)
        items = np.vectorize(lambda x: imap[str(x)])(cand).astype(np.int64)
        model.eval()
        with torch.no_grad():
            inter = Interaction(
                {
                    uf: torch.from_numpy(np.repeat(users, cand.shape[1])),
                    itf: torch.from_numpy(items.reshape(-1)),
                }
            )
            scores = model.predict(inter).reshape(cand.shape).numpy()
        m = sampled_metrics(scores[:, 0], scores[:, 1:], k=10)
        return {
            "eval_seconds": time.perf_counter() - t,
            "protocol": "sampled, 99 fixed negatives (scored with the RecBole model's predict; see module doc)",
            **m,
        }

    return fn


NEG1 = {"distribution": "uniform", "sample_num": 1, "alpha": 1.0, "dynamic": False, "candidate_num": 0}
NEG4 = dict(NEG1, sample_num=4)
#: Time-to-quality curves (``--curve NAME``): RecBole's model, its default hyper-parameters where
#: not given here, each evaluated after selected epochs (evaluation off the clock). Gowalla runs are
#: time-boxed; ML-100K runs have a fixed number of epochs (their figure, the test HR@10 at the epoch
#: chosen on validation, must not depend on the machine's speed).
CURVES = {
    "gowalla-bpr": {"model": "BPR", "epochs": 300, "time_limit": 400.0,
                    "config": {"embedding_size": 64, "learner": "adam", "learning_rate": 0.001,
                               "train_batch_size": 2048, "train_neg_sample_args": NEG1}},
    "gowalla-lightgcn": {"model": "LightGCN", "epochs": 300, "time_limit": 600.0,
                         "config": {"embedding_size": 64, "n_layers": 3, "reg_weight": 1e-4, "learner": "adam",
                                    "learning_rate": 0.001, "train_batch_size": 2048,
                                    "train_neg_sample_args": NEG1}},
    "ml100k-bpr": {"model": "BPR", "epochs": 200, "time_limit": None,
                   "config": {"embedding_size": 64, "learner": "adam", "learning_rate": 0.001,
                              "train_batch_size": 2048, "train_neg_sample_args": NEG1}},
    "ml100k-neumf": {"model": "NeuMF", "epochs": 60, "time_limit": None,
                     "config": {"train_batch_size": 256, "train_neg_sample_args": NEG4}},
}


class _Stop(Exception):
    pass


def curves(args) -> int:
    """One contender of the time-to-quality comparison: RecBole trains, and after selected epochs
    the model is scored (Gowalla: RecBole's full ranking of the test users; ML-100K: the validation
    carve and the test users on their 99 fixed negatives), evaluation off the clock."""
    from _threads import set_threads

    set_threads(args.threads)
    import numpy as np
    import recbole
    import torch
    from _peercommon import (
        GOWALLA,
        ML100K_LOO,
        REPO,
        Curve,
        LightGCNSplit,
        NeuMFSplit,
        data_root,
        eval_steps,
        machine,
        sampled_metrics,
        validation_carve,
        write_json,
    )

    torch.set_num_threads(args.threads)
    spec = CURVES[args.curve]
    epochs = args.max_epochs or (2 if args.quick else spec["epochs"])
    limit = args.time_limit if args.time_limit is not None else spec["time_limit"]
    curve = Curve(f"RecBole {spec['model']}", {"model": spec["model"], **spec["config"], "epochs": epochs}, limit)
    root = data_root(args.data)
    cache = Path(args.cache) if args.cache else REPO / "benchmarks" / "runs" / "peers" / "recbole_data"
    workdir = Path(tempfile.mkdtemp(prefix="recbole-curve-"))
    cwd = os.getcwd()
    os.chdir(workdir)
    result: dict = {"library": "recbole", "version": recbole.__version__, "curve": args.curve,
                    "threads": args.threads, "machine": machine({"torch": torch.__version__}),
                    "quick": bool(args.quick)}
    try:
        gowalla = args.curve.startswith("gowalla")
        if gowalla:
            g = LightGCNSplit(root / GOWALLA)
            name = "gowalla-peers"
            vmask = g.test_u < VALID_USERS
            write_atomic(cache / name, name, {"train": (g.train_u, g.train_i),
                                              "valid": (g.test_u[vmask], g.test_i[vmask]),
                                              "test": (g.test_u, g.test_i)})
        else:
            m = NeuMFSplit(root / ML100K_LOO)
            carve = validation_carve(m)
            name = "ml-100k-loo-carved"
            write_atomic(cache / name, name, {"train": (carve["train_u"], carve["train_i"]),
                                              "valid": (carve["valid_u"], carve["valid_i"]),
                                              "test": (m.test_u, m.test_i)}, items=m.num_items)
        curve = Curve(curve.name, curve.setting, limit)  # the clock starts when RecBole reads the files
        from recbole.config import Config
        from recbole.data import create_dataset, data_preparation
        from recbole.data.interaction import Interaction
        from recbole.utils import get_model, get_trainer, init_logger, init_seed

        cfg = base_config(args, cache, workdir)
        cfg.update(spec["config"])
        cfg.update({"epochs": epochs, "eval_step": epochs + 1,
                    "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user",
                                  "mode": "full"}})
        if gowalla:
            cfg.update({"metrics": ["Recall", "NDCG"], "topk": [20], "valid_metric": "Recall@20",
                        "eval_batch_size": args.eval_batch_size})
        else:
            cfg.update({"load_col": {"inter": ["user_id", "item_id"], "item": ["item_id"]},
                        "metrics": ["Hit", "NDCG"], "topk": [10], "valid_metric": "NDCG@10"})
        argv, sys.argv = sys.argv, sys.argv[:1]
        try:
            config = Config(model=spec["model"], dataset=name, config_dict=cfg)
        finally:
            sys.argv = argv
        init_seed(config["seed"], config["reproducibility"])
        init_logger(config)
        torch.set_num_threads(args.threads)
        ds = create_dataset(config)
        train_data, _valid_data, test_data = data_preparation(config, ds)
        curve.mark("data_loaded")
        init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
        model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
        trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
        torch.set_num_threads(args.threads)

        if gowalla:
            def evaluate() -> dict:
                res = trainer.evaluate(test_data, load_best_model=False, show_progress=False)
                return {k: float(v) for k, v in res.items()}
        else:
            uf, itf = config["USER_ID_FIELD"], config["ITEM_ID_FIELD"]
            umap, imap = ds.field2token_id[uf], ds.field2token_id[itf]
            parts = []
            for part, u, i, negs in (("valid", carve["valid_u"], carve["valid_i"], carve["valid_negatives"]),
                                     ("test", m.test_u, m.test_i, m.negatives)):
                users = np.array([umap[str(x)] for x in u], dtype=np.int64)
                cand = np.concatenate([i[:, None], negs], axis=1)
                items = np.vectorize(lambda x: imap[str(x)])(cand).astype(np.int64)
                inter = Interaction({uf: torch.from_numpy(np.repeat(users, cand.shape[1])),
                                     itf: torch.from_numpy(items.reshape(-1))})
                parts.append((part, inter, cand.shape))

            def evaluate() -> dict:
                model.eval()
                out = {}
                with torch.no_grad():
                    for part, inter, shape in parts:
                        scores = model.predict(inter).reshape(shape).numpy()
                        met = sampled_metrics(scores[:, 0], scores[:, 1:], k=10)
                        out.update({f"{part}_{k}": v for k, v in met.items()})
                model.train()
                return out

        steps = eval_steps(epochs, every=None if gowalla else 1)
        inner = trainer._train_epoch
        count = {"epoch": 0}

        def timed(*a, **kw):
            out = inner(*a, **kw)
            count["epoch"] += 1
            if count["epoch"] in steps or curve.out_of_time():
                curve.point(count["epoch"], evaluate)
            if curve.out_of_time():
                raise _Stop
            return out

        trainer._train_epoch = timed
        with contextlib.suppress(_Stop):
            trainer.fit(train_data, None, verbose=False, saved=False, show_progress=False)
        result["curve_data"] = curve.to_dict()
    finally:
        os.chdir(cwd)
        logging.shutdown()
        with contextlib.suppress(Exception):
            import shutil

            shutil.rmtree(workdir)
    write_json(result, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", help="data root holding gowalla/ and ml-100k-loo/")
    ap.add_argument("--out", help="write the JSON result here")
    ap.add_argument("--epochs", type=int, default=2, help="BPR epochs on Gowalla (default 2)")
    ap.add_argument(
        "--neumf-epochs", type=int, default=2, help="NeuMF epochs on ML-100K (default 2)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--eval-batch-size",
        type=int,
        default=1 << 24,
        help="RecBole eval_batch_size; in full ranking it is users x items per batch "
        "(default 2^24 ~ 409 Gowalla users per batch; RecBole's default 4096 would score one user at a time)",
    )
    ap.add_argument(
        "--cache",
        default=None,
        help="where the atomic files go (default benchmarks/runs/peers/recbole_data)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 epoch each")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: bpr,neumf")
    ap.add_argument("--curve", choices=sorted(CURVES), default=None,
                    help="instead of the parts above: one time-to-quality curve (see curves())")
    ap.add_argument("--time-limit", type=float, default=None, help="curve: stop after this many seconds")
    ap.add_argument("--max-epochs", type=int, default=None, help="curve: epochs (default: the curve's)")
    args = ap.parse_args(argv)
    if args.curve:
        return curves(args)
    if args.quick:
        args.epochs = 1
        args.neumf_epochs = 1
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    from _threads import set_threads

    set_threads(args.threads)

    import recbole
    import torch
    from _peercommon import (
        GOWALLA,
        ML100K_LOO,
        REPO,
        LightGCNSplit,
        NeuMFSplit,
        data_root,
        machine,
        peak_rss_mb,
        write_json,
    )

    torch.set_num_threads(args.threads)
    root = data_root(args.data)
    cache = (
        Path(args.cache) if args.cache else REPO / "benchmarks" / "runs" / "peers" / "recbole_data"
    )
    result: dict = {
        "library": "recbole",
        "version": recbole.__version__,
        "torch": torch.__version__,
        "quick": bool(args.quick),
        "threads": args.threads,
        "machine": machine({"torch": torch.__version__}),
        "data_root": str(root),
        "valid_file": f"test rows of users 0..{VALID_USERS - 1}; unused (no validation), only fills RecBole's 3-file layout",
    }
    workdir = Path(tempfile.mkdtemp(prefix="recbole-peers-"))
    cwd = os.getcwd()
    os.chdir(workdir)  # RecBole writes ./log and ./log_tensorboard into the working directory
    try:
        if "bpr" not in skip:
            g = LightGCNSplit(root / GOWALLA)
            name = "gowalla-peers"
            vmask = g.test_u < VALID_USERS
            write_atomic(
                cache / name,
                name,
                {
                    "train": (g.train_u, g.train_i),
                    "valid": (g.test_u[vmask], g.test_i[vmask]),
                    "test": (g.test_u, g.test_i),
                },
            )
            cfg = base_config(args, cache, workdir)
            cfg.update(
                {
                    "embedding_size": 64,
                    "learner": "adam",
                    "learning_rate": 0.001,
                    "train_batch_size": 2048,
                    "train_neg_sample_args": {
                        "distribution": "uniform",
                        "sample_num": 1,
                        "alpha": 1.0,
                        "dynamic": False,
                        "candidate_num": 0,
                    },
                    "eval_args": {
                        "split": {"RS": [0.8, 0.1, 0.1]},
                        "order": "RO",
                        "group_by": "user",
                        "mode": "full",
                    },
                    "metrics": ["Recall", "NDCG"],
                    "topk": [20],
                    "valid_metric": "Recall@20",
                    "eval_batch_size": args.eval_batch_size,
                }
            )
            res = run_model("BPR", name, cfg, args.threads)
            res["dataset"] = {
                "users": g.num_users,
                "items": g.num_items,
                "train": int(len(g.train_u)),
                "test": int(len(g.test_u)),
            }
            result["gowalla_bpr"] = res
            print(f"[recbole] gowalla BPR: {res}", file=sys.stderr)

        if "neumf" not in skip:
            m = NeuMFSplit(root / ML100K_LOO)
            name = "ml-100k-loo-peers"
            vmask = m.test_u < VALID_USERS
            write_atomic(
                cache / name,
                name,
                {
                    "train": (m.train_u, m.train_i),
                    "valid": (m.test_u[vmask], m.test_i[vmask]),
                    "test": (m.test_u, m.test_i),
                },
                items=m.num_items,
            )
            cfg = base_config(args, cache, workdir)
            cfg.update(
                {
                    "epochs": args.neumf_epochs,
                    "eval_step": args.neumf_epochs + 1,
                    "load_col": {"inter": ["user_id", "item_id"], "item": ["item_id"]},
                    "train_batch_size": 256,
                    "train_neg_sample_args": {
                        "distribution": "uniform",
                        "sample_num": 4,
                        "alpha": 1.0,
                        "dynamic": False,
                        "candidate_num": 0,
                    },
                    "eval_args": {
                        "split": {"RS": [0.8, 0.1, 0.1]},
                        "order": "RO",
                        "group_by": "user",
                        "mode": "full",
                    },
                    "metrics": ["Hit", "NDCG"],
                    "topk": [10],
                    "valid_metric": "NDCG@10",
                }
            )
            res = run_model("NeuMF", name, cfg, args.threads, fixed_eval=neumf_fixed_eval(m))
            res["dataset"] = {
                "users": m.num_users,
                "items": m.num_items,
                "train": int(len(m.train_u)),
                "test": int(len(m.test_u)),
            }
            result["ml100k_neumf"] = res
            print(f"[recbole] ml-100k NeuMF: {res}", file=sys.stderr)
    finally:
        os.chdir(cwd)
        logging.shutdown()
        with contextlib.suppress(Exception):
            import shutil

            shutil.rmtree(workdir)
    result["peak_rss_mb"] = peak_rss_mb()
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
