"""implicit ALS, tuned the way ncf's defaults are judged: a grid chosen on the validation carve,
refit on all of train with the chosen setting, test read once.

Runs in the peers' venv (``bash benchmarks/peers/setup.sh``). The split comes from an ``.npz``
written by ``benchmarks/carryover.py`` (the very carve ncf's runs use): ``fit_u/fit_i`` (train
minus the carve), ``valid_u/valid_i`` (+ ``valid_negatives``), ``train_u/train_i`` (all of
train), ``test_u/test_i`` (+ ``test_negatives``), ``num_users``, ``num_items``.

    benchmarks/.venv-peers/bin/python benchmarks/peers/run_als_tuned.py SPLIT.npz --out als.json
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from typing import Any

import numpy as np
from _peercommon import csr, full_ranking_metrics, machine, sampled_metrics, write_json

GRID = {"factors": (32, 64, 256), "regularization": (0.1, 1.0, 10.0), "alpha": (2.0, 10.0, 40.0, 100.0)}
ITERATIONS = 15


def _fit(users: np.ndarray, items: np.ndarray, shape: tuple[int, int], p: dict[str, Any], seed: int) -> Any:
    from implicit.als import AlternatingLeastSquares

    model = AlternatingLeastSquares(factors=p["factors"], regularization=p["regularization"], alpha=p["alpha"],
                                    iterations=ITERATIONS, random_state=seed, calculate_training_loss=False)
    model.fit(csr(users, items, shape), show_progress=False)
    return model


def _score(model: Any, seen: Any, users: np.ndarray, items: np.ndarray, negatives: np.ndarray | None,
           metric_k: int) -> dict[str, float]:
    uf, itf = np.asarray(model.user_factors), np.asarray(model.item_factors)
    if negatives is not None:
        pos = np.einsum("ij,ij->i", uf[users], itf[items])
        neg = np.einsum("ij,ikj->ik", uf[users], itf[np.maximum(negatives, 0)])
        neg[negatives < 0] = -np.inf
        return sampled_metrics(pos, neg, k=metric_k)
    order = np.argsort(users, kind="stable")
    uniq, start = np.unique(users[order], return_index=True)
    groups = np.split(items[order], start[1:])
    ids, _ = model.recommend(uniq, seen[uniq], N=metric_k, filter_already_liked_items=True)
    return full_ranking_metrics(np.asarray(ids), groups, k=metric_k)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("split")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, "blas")  # implicit's own threads do the work
    import os

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    z = np.load(args.split)
    shape = (int(z["num_users"]), int(z["num_items"]))
    sampled = "test_negatives" in z.files
    k = 10 if sampled else 20
    metric = f"ndcg@{k}"
    fit_seen = csr(z["fit_u"], z["fit_i"], shape)
    grid = []
    t0 = time.perf_counter()
    for values in itertools.product(*GRID.values()):
        p = dict(zip(GRID, values, strict=True))
        model = _fit(z["fit_u"], z["fit_i"], shape, p, args.seed)
        v = _score(model, fit_seen, z["valid_u"], z["valid_i"], z["valid_negatives"] if sampled else None, k)
        grid.append({**p, **{f"valid_{m}": x for m, x in v.items()}})
        print(grid[-1], flush=True)
    search_seconds = time.perf_counter() - t0
    best = max(grid, key=lambda r: r[f"valid_{metric}" if sampled else f"valid_recall@{k}"])
    chosen = {key: best[key] for key in GRID}
    t1 = time.perf_counter()
    model = _fit(z["train_u"], z["train_i"], shape, chosen, args.seed)
    refit_seconds = time.perf_counter() - t1
    seen = csr(z["train_u"], z["train_i"], shape)
    test = _score(model, seen, z["test_u"], z["test_i"], z["test_negatives"] if sampled else None, k)
    import implicit

    write_json({"library": "implicit", "version": implicit.__version__, "model": "ALS", "iterations": ITERATIONS,
                "grid": grid, "chosen": chosen, "chosen_on": "validation carve",
                "search_seconds": round(search_seconds, 2), "refit_seconds": round(refit_seconds, 2),
                "test": test, "machine": machine()}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
