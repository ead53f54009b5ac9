"""Paired differences between saved Gowalla runs on the test split: which gaps exceed the noise?

Each run is ranked by ``ncf.evaluation``'s full-ranking protocol (all items, the run's training
rows masked, as ``ncf evaluate`` does), keeping every user's list; per-user Recall@20 and NDCG@20
then give, for each pair of runs, the mean difference and its paired standard error over the test
users (the users' spread, not seed-to-seed noise: one trained model per run). This reads the test
split and chooses nothing: it says how far apart the reported figures are in units of their
per-user noise.

Run: ``python benchmarks/gowalla_paired_test.py --run NAME=RUN_DIR ...`` (defaults: the
``paper_tables.py gowalla`` run directories of ``gowalla-filter-blend`` and ``chebycf-offset3``
under ``benchmarks/runs``, and ``--run gowalla-best=DIR`` when given); writes
``benchmarks/results/gowalla-paired-test.json``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import HERE, write_result

from ncf.app import Run
from ncf.data.pairs import PairSet
from ncf.evaluation.metrics import full_ranking_metrics
from ncf.evaluation.protocols import full_ranking

K = 20


def per_user(run_dir: Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float], float]:
    """(evaluated users, per-user metrics, the protocol's own means, seconds) of one run."""
    run = Run.load(run_dir)
    test = run.split.test
    train = run.split.train if run.split.valid is None else run.split.train.concat(run.split.valid)
    exclude = train.to_csr().tocsr()  # what ncf evaluate masks
    t0 = time.perf_counter()
    res = full_ranking(run.model, test, exclude=exclude, ks=(K,), keep_rankings=True)
    seconds = time.perf_counter() - t0
    assert res.rankings is not None and res.ranked_users is not None
    users = res.ranked_users
    relevant = PairSet(test.users, test.items, num_users=test.num_users, num_items=test.num_items)
    relevant = relevant.difference(PairSet.from_csr(exclude))
    hits = relevant.contains(users[:, None], res.rankings.ids[:, :K])
    metrics = full_ranking_metrics(hits, relevant.degrees()[users], (K,), metrics=("recall", "ndcg"))
    return users, metrics, {k: res.metrics[k] for k in (f"recall@{K}", f"ndcg@{K}")}, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR (repeatable)")
    args = p.parse_args()
    runs = {"gowalla-filter-blend": HERE / "runs" / "gowalla-gowalla-gowalla-filter-blend",
            "chebycf-offset3": HERE / "runs" / "gowalla-gowalla-chebycf-offset3"}
    for item in args.run:
        name, _, path = item.partition("=")
        runs[name] = Path(path)
    per: dict[str, dict[str, Any]] = {}
    users0: np.ndarray | None = None
    for name, path in runs.items():
        users, metrics, means, seconds = per_user(path)
        if users0 is None:
            users0 = users
        elif not np.array_equal(users0, users):
            raise SystemExit(f"{name} ranks other test users than the first run")
        per[name] = {"metrics": metrics, "means": means, "seconds": seconds}
        check = {m: float(metrics[m].mean()) for m in metrics}
        print(f"{name}: " + ", ".join(f"{m} {v:.4f} (protocol {means[m]:.4f})" for m, v in check.items())
              + f" [{seconds:.0f}s]", flush=True)
        for m, v in check.items():
            assert abs(v - means[m]) < 1e-9, (name, m, v, means[m])
    pairs = []
    for a, b in itertools.combinations(runs, 2):
        row: dict[str, Any] = {"a": a, "b": b}
        for m in (f"recall@{K}", f"ndcg@{K}"):
            d = per[a]["metrics"][m] - per[b]["metrics"][m]
            se = float(d.std(ddof=1) / np.sqrt(d.size))
            row[m] = {"a_minus_b": float(d.mean()), "paired_se": se, "z": float(d.mean() / se) if se > 0 else 0.0,
                      "users_a_better": int((d > 0).sum()), "users_b_better": int((d < 0).sum())}
        pairs.append(row)
        print(f"{a} - {b}: " + ", ".join(f"{m} {row[m]['a_minus_b']:+.4f} +- {row[m]['paired_se']:.4f} "
                                         f"(z {row[m]['z']:+.1f})" for m in (f"recall@{K}", f"ndcg@{K}")), flush=True)
    assert users0 is not None
    path = write_result("gowalla-paired-test", {
        "command": "python benchmarks/gowalla_paired_test.py " + " ".join(f"--run {r}" for r in args.run),
        "users": int(users0.size),
        "runs": {n: {"dir": str(runs[n]), "means": per[n]["means"], "seconds": round(per[n]["seconds"], 1)}
                 for n in runs},
        "pairs": pairs,
    })
    print(path)


if __name__ == "__main__":
    main()
