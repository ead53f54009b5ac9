"""implicit ALS on Gowalla as one process, the way ``ncf train --config configs/gowalla-fast.toml``
is timed: read ``train.txt``, build the user x item matrix, fit (64 factors, reg 1, alpha 100,
15 iterations, ``--threads``), exit. ``compare.py`` times the whole process from the outside
(interpreter start and imports included, as for ``ncf train``).

Runs in the peers venv::

    benchmarks/.venv-peers/bin/python benchmarks/peers/als_one_process.py --data ../shared/data/gowalla
    ... --evaluate     # afterwards (not part of the timed run): Recall/NDCG@20 on test.txt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    t0 = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the gowalla directory (LightGCN format)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--evaluate", action="store_true", help="also score test.txt after fitting (not timed)")
    args = ap.parse_args()
    from _threads import set_threads

    set_threads(args.threads)
    import numpy as np
    import scipy.sparse as sp
    import threadpoolctl
    from implicit.cpu.als import AlternatingLeastSquares

    threadpoolctl.threadpool_limits(1, user_api="blas")  # implicit's own advice for its loops
    users: list[int] = []
    items: list[np.ndarray] = []
    with open(Path(args.data) / "train.txt", encoding="utf-8") as fh:
        for line in fh:
            toks = line.split()
            if len(toks) > 1:
                users.append(int(toks[0]))
                items.append(np.array(toks[1:], dtype=np.int64))
    counts = np.array([len(a) for a in items])
    u = np.repeat(np.array(users, dtype=np.int64), counts)
    i = np.concatenate(items)
    shape = (int(u.max()) + 1, int(i.max()) + 1)
    for name, axis in (("user_list.txt", 0), ("item_list.txt", 1)):  # the full universe, as ncf reads it
        path = Path(args.data) / name
        if path.is_file():
            n = sum(1 for line in path.read_text().splitlines()[1:] if line.strip())
            shape = (max(shape[0], n), shape[1]) if axis == 0 else (shape[0], max(shape[1], n))
    train = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=shape)
    model = AlternatingLeastSquares(factors=64, regularization=1.0, alpha=100.0, iterations=15,
                                    num_threads=args.threads, calculate_training_loss=False, random_state=0)
    model.fit(train, show_progress=False)
    fit_done = time.perf_counter() - t0
    out = {"in_process_seconds": fit_done}
    if args.evaluate:
        from _peercommon import LightGCNSplit, full_ranking_metrics

        g = LightGCNSplit(Path(args.data))
        test_users, test_items = g.test_lists()
        ids, _ = model.recommend(test_users, train[test_users], N=20, filter_already_liked_items=True)
        out.update(full_ranking_metrics(np.asarray(ids), test_items, k=20))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
