"""implicit (ALS and BPR) on the same splits as ncf: training time, full-ranking time, quality.

Runs inside the peers venv (``benchmarks/.venv-peers``, see ``setup.sh``)::

    benchmarks/.venv-peers/bin/python benchmarks/peers/run_implicit.py --out /tmp/implicit.json

Threads: implicit's own parallel loops get ``--threads`` (default 2, the whole machine). Its
compiled loops call BLAS from each worker thread, so OpenBLAS's own pool is held to
``--blas-threads`` (default 1, what implicit itself asks for: it warns otherwise) with
threadpoolctl; the environment's ``OPENBLAS_NUM_THREADS`` is set to ``--threads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


#: Time-to-quality curves (``--curve NAME``); the settings are the tuned ones. Gowalla ALS:
#: LightGCN-split figure of a prior tuning (64 f, reg 1, alpha 100, 15 it); ML-100K: chosen on the
#: validation carve by ``--curve ml100k-tune`` (results in ``results/peers-ml100k-tune.json``).
CURVES = {
    "gowalla-als": {"factors": 64, "regularization": 1.0, "alpha": 100.0, "iterations": 15},
    "gowalla-bpr": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 100},
    "ml100k-als": {"factors": 32, "regularization": 10.0, "alpha": 2.0, "iterations": 15},
    "ml100k-bpr": {"factors": 128, "learning_rate": 0.005, "regularization": 0.001, "iterations": 400},
    "ml100k-tune": {},
}


def curves(args) -> int:
    """One contender of the time-to-quality comparison: its curve as JSON (``--out``)."""
    from _threads import set_threads

    set_threads(args.threads)
    import implicit
    import numpy as np
    import threadpoolctl
    from _peercommon import (
        GOWALLA,
        ML100K_LOO,
        Curve,
        LightGCNSplit,
        NeuMFSplit,
        csr,
        data_root,
        eval_steps,
        full_ranking_metrics,
        machine,
        sampled_metrics,
        validation_carve,
        write_json,
    )
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    root = data_root(args.data)
    blas = threadpoolctl.threadpool_limits(args.blas_threads, user_api="blas")
    setting = dict(CURVES[args.curve])
    if args.quick and "iterations" in setting:
        setting["iterations"] = min(setting["iterations"], 3)

    def build(kind: str, p: dict):
        if kind == "als":
            return AlternatingLeastSquares(factors=p["factors"], regularization=p["regularization"], alpha=p["alpha"],
                                           iterations=p["iterations"], num_threads=args.threads,
                                           calculate_training_loss=False, random_state=0)
        return BayesianPersonalizedRanking(factors=p["factors"], learning_rate=p["learning_rate"],
                                           regularization=p["regularization"], iterations=p["iterations"],
                                           num_threads=args.threads, random_state=0)

    result: dict = {"library": "implicit", "version": implicit.__version__, "curve": args.curve,
                    "threads": args.threads, "blas_threads": args.blas_threads, "machine": machine(),
                    "quick": bool(args.quick)}
    if args.curve.startswith("gowalla"):
        kind = args.curve.split("-")[1]
        curve = Curve(f"implicit {kind.upper()}", setting, args.time_limit)
        g = LightGCNSplit(root / GOWALLA)
        train = csr(g.train_u, g.train_i, (g.num_users, g.num_items))
        curve.mark("data_loaded")
        cache: dict = {}

        def full_eval(model) -> dict:
            if not cache:  # evaluation inputs, built once (not counted as training)
                cache["users"], cache["test"] = g.test_lists()
                cache["rows"] = train[cache["users"]]
            ids, _ = model.recommend(cache["users"], cache["rows"], N=20, filter_already_liked_items=True)
            return full_ranking_metrics(np.asarray(ids), cache["test"], k=20)

        model = build(kind, setting)
        steps = eval_steps(setting["iterations"], every=1 if kind == "als" else None)

        def callback(iteration, *_):
            if iteration + 1 in steps:
                curve.point(iteration + 1, lambda: full_eval(model))

        model.fit(train, show_progress=False, callback=callback)
        result["curve_data"] = curve.to_dict()
    else:
        m = NeuMFSplit(root / ML100K_LOO)
        curve = Curve("implicit", setting, args.time_limit)
        carve = validation_carve(m)
        train = csr(carve["train_u"], carve["train_i"], (m.num_users, m.num_items))
        curve.mark("data_loaded")

        def sampled(model) -> dict:
            uf = np.asarray(model.user_factors)
            itf = np.asarray(model.item_factors)
            out = {}
            for part, u, i, negs in (("valid", carve["valid_u"], carve["valid_i"], carve["valid_negatives"]),
                                     ("test", m.test_u, m.test_i, m.negatives)):
                pos = np.einsum("ud,ud->u", uf[u], itf[i])
                neg = np.einsum("ud,ucd->uc", uf[u], itf[negs])
                met = sampled_metrics(pos, neg, k=10)
                out.update({f"{part}_{k}": v for k, v in met.items()})
            return out

        if args.curve == "ml100k-tune":
            result["grid"] = tune_ml100k(build, train, sampled, quick=args.quick)
        else:
            kind = args.curve.split("-")[1]
            curve.name = f"implicit {kind.upper()}"
            model = build(kind, setting)
            steps = eval_steps(setting["iterations"], every=1 if kind == "als" else 10)

            def callback(iteration, *_):
                if iteration + 1 in steps:
                    curve.point(iteration + 1, lambda: sampled(model))

            model.fit(train, show_progress=False, callback=callback)
            result["curve_data"] = curve.to_dict()
    blas.restore_original_limits()
    write_json(result, args.out)
    return 0


def tune_ml100k(build, train, sampled, *, quick: bool) -> list[dict]:
    """ALS and BPR grids on the ML-100K validation carve, chosen by ``valid_ndcg@10`` (the
    iteration count too); only validation figures are kept."""
    from _peercommon import eval_steps

    rows = []
    als = [{"factors": f, "regularization": r, "alpha": a, "iterations": 15}
           for f in (32, 64, 128) for r in (1.0, 10.0, 30.0) for a in (1.0, 2.0, 5.0, 10.0)]
    bpr = [{"factors": f, "learning_rate": lr, "regularization": r, "iterations": 400}
           for f in (64, 128) for lr in (0.005, 0.01, 0.05) for r in (0.001, 0.01)]
    if quick:
        als, bpr = als[:2], [dict(bpr[0], iterations=20)]
    for kind, grid in (("als", als), ("bpr", bpr)):
        for p in grid:
            model = build(kind, p)
            best: dict = {}
            steps = eval_steps(p["iterations"], every=1 if kind == "als" else 20)

            def callback(iteration, *_, model=model, best=best, steps=steps):
                if iteration + 1 in steps:
                    m = sampled(model)
                    if not best or m["valid_ndcg@10"] > best["valid_ndcg@10"]:
                        best.update(m, iterations=iteration + 1)

            model.fit(train, show_progress=False, callback=callback)
            rows.append({"kind": kind, "params": p, "best_iterations": best["iterations"],
                         "valid_hr@10": best["valid_hr@10"], "valid_ndcg@10": best["valid_ndcg@10"]})
            print(f"[implicit] tune {kind} {p}: valid ndcg@10 {best['valid_ndcg@10']:.4f} at "
                  f"{best['iterations']}", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data",
        help="data root holding gowalla/ and ml-100k-loo/ (default $NCF_DATA_DIR or ../shared/data)",
    )
    ap.add_argument("--out", help="write the JSON result here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--blas-threads", type=int, default=1, help="OpenBLAS threads inside implicit's loops"
    )
    ap.add_argument("--als-iterations", type=int, default=15)
    ap.add_argument("--bpr-iterations", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="smoke run: 3 ALS / 3 BPR iterations")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: als,bpr,ml100k")
    ap.add_argument("--curve", choices=sorted(CURVES), default=None,
                    help="instead of the parts above: one time-to-quality curve (see curves())")
    ap.add_argument("--time-limit", type=float, default=None, help="curve: stop after this many seconds")
    args = ap.parse_args(argv)
    if args.curve:
        return curves(args)
    if args.quick:
        args.als_iterations = min(args.als_iterations, 3)
        args.bpr_iterations = min(args.bpr_iterations, 3)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    from _threads import set_threads

    set_threads(args.threads)

    import implicit
    import numpy as np
    import threadpoolctl
    from _peercommon import (
        GOWALLA,
        ML100K_LOO,
        LightGCNSplit,
        NeuMFSplit,
        csr,
        data_root,
        full_ranking_metrics,
        machine,
        peak_rss_mb,
        sampled_metrics,
        write_json,
    )
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    root = data_root(args.data)
    result: dict = {
        "library": "implicit",
        "version": implicit.__version__,
        "quick": bool(args.quick),
        "threads": args.threads,
        "blas_threads": args.blas_threads,
        "machine": machine(),
        "data_root": str(root),
    }
    blas = threadpoolctl.threadpool_limits(args.blas_threads, user_api="blas")

    # ------------------------------------------------------------------ Gowalla
    if not {"als", "bpr"} <= skip:
        t0 = time.perf_counter()
        g = LightGCNSplit(root / GOWALLA)
        shape = (g.num_users, g.num_items)
        train = csr(g.train_u, g.train_i, shape)
        users, test_items = g.test_lists()
        user_rows = train[users]
        load_s = time.perf_counter() - t0
        result["gowalla"] = {
            "users": g.num_users,
            "items": g.num_items,
            "train": int(train.nnz),
            "test": int(len(g.test_u)),
            "test_users": int(len(users)),
            "load_seconds": load_s,
        }

        def full_eval(model) -> dict:
            t = time.perf_counter()
            ids, _ = model.recommend(users, user_rows, N=20, filter_already_liked_items=True)
            rec_s = time.perf_counter() - t
            metrics = full_ranking_metrics(np.asarray(ids), test_items, k=20)
            total = time.perf_counter() - t
            return {
                "eval_seconds": total,
                "recommend_seconds": rec_s,
                "metric_seconds": total - rec_s,
                **metrics,
            }

        if "als" not in skip:
            model = AlternatingLeastSquares(
                factors=64,
                regularization=1.0,
                alpha=100.0,
                iterations=args.als_iterations,
                num_threads=args.threads,
                calculate_training_loss=False,
                random_state=0,
            )
            t = time.perf_counter()
            model.fit(train, show_progress=False)
            fit_s = time.perf_counter() - t
            ev = full_eval(model)
            result["gowalla_als"] = {
                "params": {
                    "factors": 64,
                    "regularization": 1.0,
                    "alpha": 100.0,
                    "iterations": args.als_iterations,
                },
                "train_seconds": fit_s,
                "seconds_per_iteration": fit_s / args.als_iterations,
                **ev,
                "peak_rss_mb": peak_rss_mb(),
            }
            print(f"[implicit] gowalla ALS: {result['gowalla_als']}", file=sys.stderr)
            del model

        if "bpr" not in skip:
            model = BayesianPersonalizedRanking(
                factors=64,
                learning_rate=0.01,
                regularization=0.01,
                iterations=args.bpr_iterations,
                num_threads=args.threads,
                random_state=0,
            )
            t = time.perf_counter()
            model.fit(train, show_progress=False)
            fit_s = time.perf_counter() - t
            ev = full_eval(model)
            result["gowalla_bpr"] = {
                "params": {
                    "factors": 64,
                    "learning_rate": 0.01,
                    "regularization": 0.01,
                    "iterations": args.bpr_iterations,
                },
                "train_seconds": fit_s,
                "seconds_per_epoch": fit_s / args.bpr_iterations,
                **ev,
                "peak_rss_mb": peak_rss_mb(),
            }
            print(f"[implicit] gowalla BPR: {result['gowalla_bpr']}", file=sys.stderr)
            del model

    # ------------------------------------------------------------------ ML-100K LOO
    if "ml100k" not in skip:
        m = NeuMFSplit(root / ML100K_LOO)
        train = csr(m.train_u, m.train_i, (m.num_users, m.num_items))
        iters = args.als_iterations
        model = AlternatingLeastSquares(
            factors=64,
            regularization=10.0,
            alpha=2.0,
            iterations=iters,
            num_threads=args.threads,
            calculate_training_loss=False,
            random_state=0,
        )
        t = time.perf_counter()
        model.fit(train, show_progress=False)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        uf = np.asarray(model.user_factors)[m.test_u]
        itf = np.asarray(model.item_factors)
        pos = np.einsum("ud,ud->u", uf, itf[m.test_i])
        neg = np.einsum("ud,ucd->uc", uf, itf[m.negatives])
        metrics = sampled_metrics(pos, neg, k=10)
        result["ml100k_als"] = {
            "params": {"factors": 64, "regularization": 10.0, "alpha": 2.0, "iterations": iters},
            "train_seconds": fit_s,
            "seconds_per_iteration": fit_s / iters,
            "eval_seconds": time.perf_counter() - t,
            "protocol": "sampled (99 fixed negatives, ties count against the positive)",
            **metrics,
        }
        print(f"[implicit] ml-100k ALS: {result['ml100k_als']}", file=sys.stderr)

    blas.restore_original_limits()
    result["peak_rss_mb"] = peak_rss_mb()
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    raise SystemExit(main())
