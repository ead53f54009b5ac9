"""Reading a large interaction CSV with ncf.data.read_table: seconds and peak memory.

Generates a synthetic MovieLens-20M-shaped CSV (``user,item,rating,timestamp`` with a header,
no repeated (user, item) pair, shuffled rows) in a temporary directory, then reads it with
``read_table`` in a fresh child process, so that the peak RSS (``resource.getrusage``) counts
only the read. Also times three ways to factorize the raw user ids (np.unique, pyarrow
``dictionary_encode``, and the dense bitmap that ``read_table`` uses for compact integer ids).

Run: python benchmarks/bench_read_csv.py [--rows 20000000] [--repeat 1]
Writes benchmarks/results/read_csv.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import peak_rss_mb, write_result

CHUNK = 2_000_000


def generate(path: Path, rows: int, num_users: int, num_items: int, seed: int) -> dict[str, Any]:
    """Write the CSV in chunks; return its size and generation time."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    cells = num_users * num_items
    if rows > cells // 2:
        raise SystemExit(f"--rows {rows} too many for {num_users} x {num_items}; raise --users/--items")
    keys = np.unique(rng.integers(0, cells, int(rows * 1.05) + 100, dtype=np.int64))
    while keys.size < rows:  # top up (rare)
        keys = np.unique(np.concatenate([keys, rng.integers(0, cells, rows, dtype=np.int64)]))
    keys = rng.permutation(keys)[:rows]
    schema = pa.schema([("user", pa.int64()), ("item", pa.int64()), ("rating", pa.float32()), ("timestamp", pa.int64())])
    with pacsv.CSVWriter(str(path), schema) as writer:
        for start in range(0, rows, CHUNK):
            k = keys[start : start + CHUNK]
            n = k.size
            batch = pa.record_batch(
                [
                    pa.array(k // num_items + 1),
                    pa.array(k % num_items + 1),
                    pa.array((rng.integers(1, 11, n) / 2).astype(np.float32)),
                    pa.array(rng.integers(789_652_009, 1_427_784_002, n)),
                ],
                schema=schema,
            )
            writer.write_batch(batch)
    return {"csv_bytes": path.stat().st_size, "generate_seconds": round(time.perf_counter() - t0, 3)}


def factorize_timings(rows: int, num_users: int, seed: int) -> dict[str, float]:
    """Seconds to factorize ``rows`` integer user ids three ways."""
    import pyarrow as pa
    import pyarrow.compute as pc

    x = np.random.default_rng(seed).integers(1, num_users + 1, rows)
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    np.unique(x, return_inverse=True)
    out["np_unique"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    enc = pc.dictionary_encode(pa.array(x))
    values = enc.dictionary.to_numpy()
    order = np.argsort(values)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    rank[enc.indices.to_numpy()]
    out["arrow_dictionary_encode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    lo = int(x.min())
    shifted = x - lo
    present = np.zeros(int(x.max()) - lo + 1, dtype=bool)
    present[shifted] = True
    (np.cumsum(present) - 1)[shifted]
    out["dense_bitmap"] = time.perf_counter() - t0
    return {k: round(v, 4) for k, v in out.items()}


def read_child(path: str) -> None:
    """In the child process: read once, print JSON with seconds and memory."""
    from ncf.data import read_table

    baseline = peak_rss_mb()
    t0 = time.perf_counter()
    data = read_table(path, user_col="user", item_col="item", weight_col="rating", time_col="timestamp")
    seconds = time.perf_counter() - t0
    assert data.weights is not None and data.timestamps is not None
    raw = data.users.nbytes + data.items.nbytes + data.weights.nbytes + data.timestamps.nbytes
    print(json.dumps({
        "seconds": seconds,
        "rows": len(data),
        "users": data.num_users,
        "items": data.num_items,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": peak_rss_mb(),
        "raw_array_mb": raw / 2**20,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--users", type=int, default=138_493)
    parser.add_argument("--items", type=int, default=26_744)
    parser.add_argument("--repeat", type=int, default=1, help="reads (each in a fresh process); the best is reported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--read", help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.read:
        read_child(args.read)
        return
    with tempfile.TemporaryDirectory(prefix="ncf-bench-csv-") as tmp:
        path = Path(tmp) / "ratings.csv"
        gen = generate(path, args.rows, args.users, args.items, args.seed)
        print(f"generated {args.rows} rows, {gen['csv_bytes'] / 2**20:.0f} MiB in {gen['generate_seconds']} s", file=sys.stderr)
        runs = []
        for _ in range(args.repeat):
            proc = subprocess.run(
                [sys.executable, __file__, "--read", str(path)], capture_output=True, text=True, check=True
            )
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    growth = best["peak_rss_mb"] - best["baseline_rss_mb"]
    result = {
        "rows": args.rows,
        **gen,
        "read_seconds": round(best["seconds"], 3),
        "read_seconds_all": [round(r["seconds"], 3) for r in runs],
        "rows_per_second": round(args.rows / best["seconds"]),
        "users": best["users"],
        "items": best["items"],
        "raw_array_mb": round(best["raw_array_mb"], 1),
        "baseline_rss_mb": round(best["baseline_rss_mb"], 1),
        "peak_rss_mb": round(best["peak_rss_mb"], 1),
        "peak_over_raw": round(growth / best["raw_array_mb"], 2),
        "factorize_seconds": factorize_timings(args.rows, args.users, args.seed),
    }
    out = write_result("read_csv", result)
    print(json.dumps(result, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
