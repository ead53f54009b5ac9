"""A catalogue of 10 million items: exact top-k in bounded memory, and a FAISS IVF-PQ index.

Item vectors: ``--n`` (default 10,000,000) float32 vectors of ``--dim`` 64 from a Gaussian mixture
of 1,000 clusters with log-normal norms (``bench_ann.gaussian_mixture``, so inner-product search
is realistic), and ``--queries`` (default 1,000) held-out query vectors from the same mixture,
``--seen`` (default 50) of each query's items excluded (drawn from its exact top 200, as a
user's seen items would be).

1. **Exact top-k** (``ncf.retrieval.topk.ExactScan``, which ``ncf.evaluate`` and ``ncf.index``'s
   exact index use): the catalogue scanned in item blocks (above ``ITEM_SCAN_FROM`` = 2**20
   items by default; ``--blocked`` forces or disables it, to compare) in float32 and with the
   certified bfloat16 first pass (``scan="auto"``), k = 10: seconds for all queries, queries
   per second, and the peak RSS above the vectors during the search (the kernel's high-water
   mark, reset before each search). The blocked and the one-block scans must return the same
   ids and scores, which is checked (the one-block scan on the first ``--compare-queries``
   queries, default 100: at 10M items it ranks one query per 32 MiB block, one pass over the
   whole item matrix per query).
2. **IVF-PQ** (``ncf.index.make_index("ivfpq", nlist=4096, m=M, nbits=8)``: M bytes of codes per
   vector, M = 32 and 64 by default): build seconds (k-means on ``64 * nlist`` sampled vectors,
   then adding all), the RSS growth of building it and its size on disk, then for ``nprobe`` in
   8..256: recall@10 against the exact float32 search (with the same exclusions), batch queries
   per second and single-query p50/p99 latency. On the 1M smoke run recall did not move with
   ``nprobe`` (0.846 at M 32, 0.935 at M 64): the product quantizer's error, not the lists
   probed, bounds it, so M is the setting that buys recall (with memory).

Run: ``python benchmarks/big_catalogue.py`` (10M items: about 2.6 GB of vectors plus 1.3 GB for
the bfloat16 copy; the IVF-PQ k-means dominates the time), smoke test:
``python benchmarks/big_catalogue.py --n 1000000 --queries 200``. Writes
``benchmarks/results/big_catalogue-<n>.json`` (or under ``$NCF_RESULTS_DIR``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# as the ncf entry point does: idle OpenMP threads sleep instead of spinning (set before torch loads;
# on a busy machine spinning threads make every small op wait for a descheduled thread)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import write_result  # noqa: E402
from bench_ann import gaussian_mixture  # noqa: E402
from big_pipeline import process_peak_mb, reset_peak, rss_mb, step_peak_mb  # noqa: E402

K = 10

topk_module = importlib.import_module("ncf.retrieval.topk")


def seen_items(truth_wide: np.ndarray, seen: int, seed: int) -> list[np.ndarray]:
    """``seen`` items per query drawn from its exact top list (they must then be excluded)."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(row, size=min(seen, row.size), replace=False)) for row in truth_wide]


def exclusion_matrix(seen: list[np.ndarray], n: int) -> Any:
    import scipy.sparse as sp

    indptr = np.r_[0, np.cumsum([s.size for s in seen])]
    indices = np.concatenate(seen) if seen else np.zeros(0, dtype=np.int64)
    data = np.ones(indices.size, dtype=np.float32)
    return sp.csr_matrix((data, indices, indptr), shape=(len(seen), n))


def exact_search(
    items: torch.Tensor, queries: torch.Tensor, exclude: Any, *, scan: str, blocked: bool | None
) -> tuple[Any, dict[str, Any]]:
    """One exact top-k pass over all queries; seconds and the peak RSS above the start."""
    saved = topk_module.ITEM_SCAN_FROM
    if blocked is not None:
        topk_module.ITEM_SCAN_FROM = 0 if blocked else 1 << 62
    try:
        scan_obj = topk_module.ExactScan(items, scan=scan)  # type: ignore[arg-type]
        ranker = scan_obj.ranker(K)
        gc.collect()
        ok = reset_peak()
        before = rss_mb()
        t0 = time.perf_counter()
        with torch.inference_mode():
            top = scan_obj.topk(queries, K, exclude=exclude)
        seconds = time.perf_counter() - t0
        peak = step_peak_mb(ok)
    finally:
        topk_module.ITEM_SCAN_FROM = saved
    row = {
        "scan": scan,
        "item_block": ranker.item_block,
        "users_per_chunk": ranker.batch_size,
        "bfloat16_first_pass": ranker.bf16 is not None,
        "seconds": round(seconds, 3),
        "queries_per_second": round(len(queries) / seconds, 1),
        "peak_above_start_mb": round(peak - before, 1),
        "peak_is_per_step": ok,
    }
    return top, row


def bench_exact(
    vectors: np.ndarray, queries: np.ndarray, exclude: Any, blocked_modes: list[bool | None], compare: int
) -> tuple[list[dict[str, Any]], Any]:
    """Each scan (float32, auto) in each blocking mode; the one-block mode ranks the first
    ``compare`` queries only (at 10M items it ranks one query per chunk, a pass over the whole
    item matrix per query)."""
    items = torch.from_numpy(vectors)
    rows: list[dict[str, Any]] = []
    reference = None
    for scan in ("float32", "auto"):
        for blocked in blocked_modes:
            n = len(queries) if blocked is not False else min(compare, len(queries))
            top, row = exact_search(items, torch.from_numpy(queries[:n]), exclude[:n], scan=scan, blocked=blocked)
            if reference is None:
                reference = top
            row["queries"] = n
            row["same_ids"] = bool(np.array_equal(top.ids, reference.ids[:n]))
            row["same_scores"] = bool(np.array_equal(top.scores, reference.scores[:n]))
            rows.append(row)
            print(f"  exact {scan:8s} blocks={row['item_block']} chunk={row['users_per_chunk']:5d}  "
                  f"{row['seconds']:8.2f} s  {row['queries_per_second']:9.1f} q/s  "
                  f"+{row['peak_above_start_mb']:7.1f} MB  same ids={row['same_ids']} scores={row['same_scores']}", flush=True)
    return rows, reference


def bench_ivfpq(
    vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray, seen: list[np.ndarray], args: argparse.Namespace,
    m: int,
) -> dict[str, Any]:
    from ncf.index import make_index, set_num_threads
    from ncf.index.measure import batch_qps, recall, single_query_ms

    set_num_threads(torch.get_num_threads())
    nlist = args.nlist or max(1, min(4096, int(4 * math.sqrt(len(vectors))), len(vectors) // 39))
    gc.collect()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index = make_index("ivfpq", metric="dot", nlist=nlist, m=m, nbits=8).build(vectors)
    build_s = time.perf_counter() - t0
    index.search(queries[:1], K)
    gc.collect()
    grown = rss_mb() - rss0
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = index.save(Path(tmp) / "ivfpq")
        disk = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    sweep = []
    single = queries[: min(len(queries), 200)]
    for nprobe in [p for p in (8, 16, 32, 64, 128, 256) if p <= nlist]:
        index.set_query_params(nprobe=nprobe)
        batch = index.search(queries, K, exclude=seen)
        p50, p99, _ = single_query_ms(index, single, K, seen[: len(single)])
        row = {"nprobe": nprobe, "recall@10": round(recall(batch.ids, truth), 4),
               "batch_qps": round(batch_qps(index, queries, K, seen, repeats=1), 1),
               "p50_ms": round(p50, 3), "p99_ms": round(p99, 3)}
        sweep.append(row)
        print(f"  ivfpq m={m:3d} nprobe={nprobe:4d} recall@10 {row['recall@10']:.4f}  {row['batch_qps']:9.1f} q/s  "
              f"p50 {p50:7.2f} ms  p99 {p99:7.2f} ms", flush=True)
    return {
        "nlist": nlist, "m": m, "nbits": 8, "bytes_per_vector_codes": m,
        "build_seconds": round(build_s, 2), "rss_growth_mb": round(grown, 1),
        "disk_mb": round(disk / 2**20, 1), "sweep": sweep,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="items")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seen", type=int, default=50, help="items excluded per query")
    ap.add_argument("--blocked", choices=["auto", "both", "on", "off"], default="both",
                    help="exact scan: the default threshold, both modes (compared), or one")
    ap.add_argument("--compare-queries", type=int, default=100, help="queries of the one-block exact scan "
                    "(compared with the blocked scan's answers for them)")
    ap.add_argument("--item-block", type=int, default=None, help="items per block of the blocked scan "
                    "(default ncf's ITEM_BLOCK, 2**17)")
    ap.add_argument("--nlist", type=int, default=None, help="IVF lists (default min(4096, 4 sqrt(n)))")
    ap.add_argument("--m", type=int, nargs="+", default=[32, 64], help="PQ sub-quantizers (bytes per vector); "
                    "one index per value")
    ap.add_argument("--skip-ivfpq", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--tmp", type=Path, default=None, help="where the index is saved to measure its size")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.item_block:
        topk_module.ITEM_BLOCK = args.item_block
    print(f"{args.n:,} items x d {args.dim}, {args.queries} queries, {args.seen} seen items each", flush=True)
    t0 = time.perf_counter()
    vectors = gaussian_mixture(args.n, args.dim, clusters=1000, seed=1)
    queries = gaussian_mixture(args.queries, args.dim, clusters=1000, seed=2)
    gen_s = time.perf_counter() - t0
    rss_vectors = rss_mb()
    # the seen items come from each query's exact top 200 (float32, one pass, no exclusion)
    with torch.inference_mode():
        wide = topk_module.ExactScan(torch.from_numpy(vectors), scan="float32").topk(
            torch.from_numpy(queries), min(200, args.n))
    seen = seen_items(wide.ids, args.seen, seed=3)
    exclude = exclusion_matrix(seen, args.n)
    modes: list[bool | None] = {"auto": [None], "both": [True, False], "on": [True], "off": [False]}[args.blocked]
    compare = len(queries) if args.blocked == "off" else args.compare_queries  # the reference ranks all
    exact_rows, truth = bench_exact(vectors, queries, exclude, modes, compare)
    payload: dict[str, Any] = {
        "config": {"n": args.n, "dim": args.dim, "queries": args.queries, "seen": args.seen, "k": K,
                   "threads": torch.get_num_threads(), "item_scan_from": topk_module.ITEM_SCAN_FROM,
                   "item_block": topk_module.ITEM_BLOCK},
        "vectors_mb": round(vectors.nbytes / 2**20, 1),
        "generate_seconds": round(gen_s, 2),
        "rss_with_vectors_mb": round(rss_vectors, 1),
        "exact": exact_rows,
        # every mode must return the float32 one-pass ids; float32 modes also its scores (bit for
        # bit); the bfloat16 pass re-scores its candidates with another kernel (last-bit differences)
        "exact_modes_agree": all(r["same_ids"] for r in exact_rows)
        and all(r["same_scores"] for r in exact_rows if r["scan"] == "float32"),
    }
    if not args.skip_ivfpq:
        payload["ivfpq"] = [bench_ivfpq(vectors, queries, truth.ids, seen, args, m) for m in args.m]
    payload["peak_rss_mb"] = round(process_peak_mb(), 1)
    path = write_result(f"big_catalogue-{args.n}", payload)
    print(f"peak RSS {payload['peak_rss_mb']:.0f} MB; wrote {path}")
    return payload


if __name__ == "__main__":
    main()
