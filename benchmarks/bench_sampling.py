"""Negative-sampling throughput on Gowalla train: 1,000,000 negatives per call (k=1).

Run: python benchmarks/bench_sampling.py [--draws 1000000] [--repeats 5]
Users are drawn from the training rows (so heavy users appear in proportion to their activity),
then UniformSampler and PopularitySampler each draw one negative per row; the best of
``--repeats`` calls is reported. Writes benchmarks/results/sampling.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import data_dir, peak_rss_mb, write_result

from ncf.data.interactions import Interactions
from ncf.sampling import NegativeSampler, PopularitySampler, UniformSampler


def parse_lightgcn_train(path: Path) -> Interactions:
    """Small local parser for ``user item item ...`` lines (used when ncf has no reader)."""
    lines = path.read_text().split("\n")
    tokens = [np.asarray(line.split(), dtype=np.int64) for line in lines if line.strip()]
    users = np.concatenate([np.full(t.size - 1, t[0]) for t in tokens])
    items = np.concatenate([t[1:] for t in tokens])
    return Interactions.from_arrays(users, items)


def load_train(root: Path) -> Interactions:
    from ncf.data import read_lightgcn

    ds = read_lightgcn(root)
    if ds.split is not None:
        return ds.split.train
    return parse_lightgcn_train(root / "train.txt")


def best_of(sampler: NegativeSampler, users: np.ndarray, repeats: int) -> tuple[float, list[float]]:
    times = []
    for r in range(repeats):
        rng = np.random.default_rng(r)
        t0 = time.perf_counter()
        out = sampler.sample(users, rng)
        times.append(time.perf_counter() - t0)
        assert out.shape == (users.size, 1)
    return min(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--draws", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    train = load_train(data_dir() / "gowalla")
    users = train.users[np.random.default_rng(0).integers(0, len(train), size=args.draws)]
    results = {}
    for name, build in (
        ("uniform", lambda: UniformSampler(train, 1)),
        ("popularity", lambda: PopularitySampler(train, 1, alpha=0.75)),
    ):
        t0 = time.perf_counter()
        sampler = build()
        setup = time.perf_counter() - t0
        sampler.sample(users[:1000], np.random.default_rng(0))  # warm caches
        best, times = best_of(sampler, users, args.repeats)
        results[name] = {
            "best_seconds": round(best, 4),
            "negatives_per_s": round(args.draws / best),
            "seconds": [round(t, 4) for t in times],
            "setup_seconds": round(setup, 3),
        }
        print(
            f"{name:>10}: best {best:.3f} s for {args.draws:,} negatives ({args.draws / best:,.0f}/s)"
        )
    path = write_result(
        "sampling",
        {
            "dataset": "gowalla",
            "train_interactions": len(train),
            "draws": args.draws,
            "repeats": args.repeats,
            "results": results,
            "peak_rss_mb": round(peak_rss_mb(), 1),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
