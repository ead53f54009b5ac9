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
    args = ap.parse_args(argv)
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
