"""PositiveSet.batch_hits on Gowalla: the torch ops against the compiled (numba) walk, per call.

``batch_hits(users, items)`` places the accidental hits of the in-batch softmax
(``HandSoftmaxStep``): once per training step, for the batch's users and its distinct items. A
py-spy profile put it at 17-18% of an epoch on Gowalla; on CPU it is now one numba loop over the
batch users' positives (``_batch_hits_kernel``), the torch ops kept for other devices
(``_batch_hits_torch``). This script draws training batches the way the trainer does (a random
permutation of the training pairs cut into batches; users = the batch's users, items = its
distinct items by ``torch.unique``), checks that both paths give equal tensors on every timed
batch, then times them alternating in one process: ``--rounds`` rounds over ``--steps`` batches
per batch size, the order of the two paths swapped every other round. The figure is the median
of the per-call times (ms), with each round's mean beside it.

Run (on an idle machine, or under the shared lock):
    python benchmarks/bench_batch_hits.py [--batches 512 1024 2048] [--rounds 6] [--steps 200] [--threads 2]
Writes benchmarks/results/<out-name>.json (default batch_hits).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from _common import data_dir, peak_rss_mb, write_result

from ncf.data import read_lightgcn
from ncf.sampling import PositiveSet, _batch_hits_kernel

Hits = tuple[torch.Tensor, torch.Tensor]


def draw_batches(users: np.ndarray, items: np.ndarray, batch: int, steps: int,
                 seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first ``steps`` batches of an epoch's permutation: (batch users, distinct batch items)."""
    perm = np.random.default_rng(seed).permutation(users.size)
    out = []
    for lo in range(0, min(users.size, steps * batch), batch):
        idx = perm[lo:lo + batch]
        u = torch.from_numpy(users[idx])
        out.append((u, torch.unique(torch.from_numpy(items[idx]))))
    return out


def time_calls(fn: Callable[[torch.Tensor, torch.Tensor], Hits],
               batches: list[tuple[torch.Tensor, torch.Tensor]]) -> list[float]:
    times = []
    for u, c in batches:
        t = time.perf_counter()
        fn(u, c)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="*", default=[512, 1024, 2048])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=200, help="batches per round (the first of the epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-name", default="batch_hits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train = ds.split.train
    load = time.perf_counter() - t
    t = time.perf_counter()
    ps = PositiveSet(train)
    build = time.perf_counter() - t
    t = time.perf_counter()
    _batch_hits_kernel()  # numba's import
    numba_import = time.perf_counter() - t
    paths: dict[str, Callable[[torch.Tensor, torch.Tensor], Hits]] = {
        "torch": ps._batch_hits_torch, "numba": ps.batch_hits}
    degrees = ps.degrees()
    results: dict[str, Any] = {}
    first_call: dict[str, float] = {}
    for batch in args.batches:
        batches = draw_batches(train.users, train.items, batch, args.steps, args.seed + batch)
        for name, fn in paths.items():  # warm-up (the numba path's first call loads or compiles it)
            t = time.perf_counter()
            fn(*batches[0])
            first_call.setdefault(name, time.perf_counter() - t)
        hits = []
        for u, c in batches:  # both paths give the same tensors on every timed batch
            a, b = paths["torch"](u, c), paths["numba"](u, c)
            assert all(x.dtype == y.dtype == torch.int64 and torch.equal(x, y) for x, y in zip(a, b, strict=True))
            hits.append(len(a[0]))
        per_call: dict[str, list[float]] = {name: [] for name in paths}
        round_means: dict[str, list[float]] = {name: [] for name in paths}
        for r in range(args.rounds):
            for name in list(paths) if r % 2 == 0 else list(paths)[::-1]:
                times = time_calls(paths[name], batches)
                per_call[name] += times
                round_means[name].append(1000 * sum(times) / len(times))
        row: dict[str, Any] = {
            "calls_per_round": len(batches), "rounds": args.rounds,
            "distinct_items_mean": round(float(np.mean([len(c) for _, c in batches])), 1),
            "positives_walked_mean": round(float(np.mean([degrees[u.numpy()].sum() for u, _ in batches])), 1),
            "hits_mean": round(float(np.mean(hits)), 1),
        }
        for name in paths:
            row[f"{name}_ms_median"] = round(1000 * statistics.median(per_call[name]), 4)
            row[f"{name}_ms_round_means"] = [round(m, 4) for m in round_means[name]]
        row["speedup"] = round(row["torch_ms_median"] / row["numba_ms_median"], 2)
        steps_per_epoch = -(-len(train) // batch)
        row["steps_per_epoch"] = steps_per_epoch
        row["seconds_saved_per_epoch"] = round(
            (row["torch_ms_median"] - row["numba_ms_median"]) * steps_per_epoch / 1000, 3)
        results[str(batch)] = row
        print(f"batch {batch:5d}: torch {row['torch_ms_median']:.3f} ms, numba {row['numba_ms_median']:.3f} ms "
              f"(x{row['speedup']}), {row['positives_walked_mean']:.0f} positives walked, "
              f"{row['hits_mean']:.0f} hits per call; ~{row['seconds_saved_per_epoch']:.2f} s per epoch of "
              f"{steps_per_epoch} steps", flush=True)
    write_result(args.out_name, {
        "dataset": "gowalla", "train_interactions": len(train), "num_users": train.num_users,
        "num_items": train.num_items, "load_seconds": round(load, 2), "positive_set_seconds": round(build, 3),
        "numba_import_seconds": round(numba_import, 3),
        "first_call_seconds": {name: round(s, 4) for name, s in first_call.items()},
        "threads": args.threads, "steps": args.steps, "seed": args.seed,
        "setup": "users = a batch of the training permutation's users, items = its distinct items (torch.unique); "
                 "median ms per call over all rounds, the two paths alternating",
        "results": results, "peak_rss_mb": round(peak_rss_mb(), 1),
    })


if __name__ == "__main__":
    main()
