"""Approximate nearest-neighbour indexes side by side: recall@10 against the exact search, latency.

For each kind of :mod:`ncf.index` (``exact``, FAISS ``flat``/``hnsw``/``ivf``/``ivfpq``,
``hnswlib``, ``scann`` and ``annoy``), the re-ranked IVF-PQ variants ``ivfpq+rerank`` (float32
copy) and ``ivfpq+rerank-fp16`` (float16 copy), and a sweep of their query-time settings
(``ef_search`` / ``nprobe`` / ``num_leaves_to_search`` / ``search_k``, crossed with ``rerank``
where the kind re-ranks):

* recall@10 against the exact float32 search (:class:`ncf.index.ExactIndex`);
* single-query latency p50 / p99 in ms (one query per call, as a server sees them);
* batch throughput (all queries in one call, queries per second);
* build time, save and load time (load verifies the checksum), bytes on disk, and the RSS
  growth of the process from building the index (after one warm-up search); a re-ranking
  copy of the vectors is part of both.

Per kind, ``best_at_target_recall`` holds the setting with the lowest single-query p99 among
those with recall@10 >= 0.95, with its build time and memory. ``--big-n`` (default 10,000,000;
0 skips it) then builds the ``--big-kinds`` (default: IVF-PQ re-ranked in float32 and float16)
on that many vectors of the same mixture and reports the same figures under ``"big"``.

Data: ``--n`` synthetic item vectors (default 1,000,000, d = 64) from a Gaussian mixture of 1,000
clusters with log-normal norm variation (so inner-product ANN is realistic), and ``--queries``
held-out queries (default 1,000) from the same mixture; or real vectors with
``--vectors FILE.npy`` (``(N, d)``) and ``--queries-file FILE.npy`` (``(B, d)``).
``--seen S`` excludes ``S`` items per query (drawn from its exact top ``4 S``), to measure the
over-fetch that the exclusion guarantee costs. Threads are fixed (``--threads``, default 2) for
torch, FAISS and hnswlib.

Run: ``python benchmarks/bench_ann.py`` (full size: over an hour, mostly index builds and
the 10M part; run it on an otherwise idle machine, latency is what it measures); smoke test:
``python benchmarks/bench_ann.py --n 20000 --queries 50 --big-n 0``. Writes
``benchmarks/results/ann.json`` (or under ``$NCF_RESULTS_DIR``, or ``--out FILE.json``) and
prints a table.
Target: some setting with recall@10 >= 0.95 at p99 <= 2 ms per single query on 2 cores.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import peak_rss_mb, write_result

from ncf.errors import ConfigError
from ncf.index import ExactIndex, load_index, make_index, set_num_threads
from ncf.index.measure import batch_qps, recall, single_query_ms

K = 10
TARGET_RECALL = 0.95
TARGET_P99_MS = 2.0


def kinds_config(n: int) -> dict[str, dict[str, Any]]:
    """Build settings and the query-time sweep of every benchmarked name, for ``n`` vectors.

    A name is a kind, or a kind with extra build settings (``"kind"`` says which). A sweep is
    one ``setting``'s values, or (``setting`` None) dicts of several query-time settings.
    """
    nlist = max(1, min(4096, int(4 * math.sqrt(n)), n // 39))
    ef = [16, 32, 64, 128, 256, 512]
    nprobe = [p for p in (1, 4, 8, 16, 32, 64, 128, 256) if p <= nlist]
    rerank = [{"nprobe": p, "rerank": r} for p in nprobe if p >= 4 for r in (2, 4, 8, 16, 32, 64)]
    leaves = max(1, min(2000, int(math.sqrt(n)), n // 50))
    to_search = [t for t in (5, 10, 20, 40, 80, 160) if t <= leaves] or [leaves]
    return {
        "exact": {"build": {}, "setting": None, "sweep": [None]},
        "flat": {"build": {}, "setting": None, "sweep": [None]},
        "hnsw": {"build": {"M": 32, "ef_construction": 128}, "setting": "ef_search", "sweep": ef},
        "hnswlib": {"build": {"M": 32, "ef_construction": 128}, "setting": "ef_search", "sweep": ef},
        "ivf": {"build": {"nlist": nlist}, "setting": "nprobe", "sweep": nprobe},
        "ivfpq": {"build": {"nlist": nlist, "m": 32, "nbits": 8}, "setting": "nprobe", "sweep": nprobe},
        "ivfpq+rerank": {"kind": "ivfpq", "build": {"nlist": nlist, "m": 16, "nbits": 8, "rerank": 4},
                         "setting": None, "sweep": rerank},
        "ivfpq+rerank-fp16": {"kind": "ivfpq",
                              "build": {"nlist": nlist, "m": 16, "nbits": 8, "rerank": 4, "rerank_dtype": "float16"},
                              "setting": None, "sweep": rerank},
        "scann": {"build": {"num_leaves": leaves, "rerank": 4}, "setting": None,
                  "sweep": [{"num_leaves_to_search": t, "rerank": r} for t in to_search for r in (2, 4, 10)]},
        "annoy": {"build": {"n_trees": 100}, "setting": "search_k",
                  "sweep": [1000, 2000, 5000, 10000, 20000, 50000, 100000]},
    }


DEFAULT_KINDS = "exact,flat,hnsw,hnswlib,ivf,ivfpq,ivfpq+rerank,ivfpq+rerank-fp16,scann,annoy"


# ---------------------------------------------------------------------------- data
def gaussian_mixture(
    n: int, d: int, *, clusters: int, seed: int, centres_seed: int = 0, chunk: int = 1 << 17
) -> np.ndarray:
    """``n`` float32 points around ``clusters`` shared centres (norms vary log-normally)."""
    centres = np.random.default_rng(centres_seed).normal(size=(clusters, d)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        which = rng.integers(0, clusters, size=stop - start)
        noise = rng.standard_normal(size=(stop - start, d), dtype=np.float32)
        scale = np.exp(0.25 * rng.standard_normal(size=(stop - start, 1), dtype=np.float32))
        out[start:stop] = (centres[which] + 0.6 * noise) * scale
    return out


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    if args.vectors:
        vectors = np.ascontiguousarray(np.load(args.vectors, allow_pickle=False), dtype=np.float32)
        if not args.queries_file:
            raise SystemExit("--vectors needs --queries-file (held-out query vectors)")
        queries = np.ascontiguousarray(np.load(args.queries_file, allow_pickle=False), dtype=np.float32)
        queries = queries[: args.queries]
        return vectors, queries, f"files: {args.vectors}, {args.queries_file}"
    vectors = gaussian_mixture(args.n, args.dim, clusters=1000, seed=1)
    queries = gaussian_mixture(args.queries, args.dim, clusters=1000, seed=2)
    return vectors, queries, "synthetic gaussian mixture (1000 clusters, log-normal norms)"


# ---------------------------------------------------------------------------- measures
def rss_bytes() -> int:
    """The process's current resident set size (Linux /proc; else the peak)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - not Linux
        return int(peak_rss_mb() * 1024 * 1024)


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def bench_kind(
    name: str,
    config: dict[str, Any],
    vectors: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    seen: list[np.ndarray] | None,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    kind = config.get("kind", name)
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    index = make_index(kind, metric=args.metric, **config["build"]).build(vectors)
    build_s = time.perf_counter() - t0
    index.search(queries[:1], K)  # warm-up (e.g. the exact scan's bfloat16 copy)
    gc.collect()
    rss_delta = rss_bytes() - rss0
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        t0 = time.perf_counter()
        path = index.save(Path(tmp) / kind)
        save_s = time.perf_counter() - t0
        disk = directory_bytes(path)
        t0 = time.perf_counter()
        loaded = load_index(path)
        load_s = time.perf_counter() - t0
        del loaded
    gc.collect()
    rows = []
    for value in config["sweep"]:
        if isinstance(value, dict):
            index.set_query_params(**value)
        elif config["setting"] is not None:
            index.set_query_params(**{config["setting"]: value})
        p50, p99, single_ids = single_query_ms(index, queries, K, seen)
        qps = batch_qps(index, queries, K, seen, args.repeats)
        rows.append(
            {
                "kind": kind,
                "name": name,
                "build_params": index.params,
                "setting": config["setting"],
                "value": value,
                "recall@10": round(recall(single_ids, truth), 4),
                "p50_ms": round(p50, 4),
                "p99_ms": round(p99, 4),
                "batch_qps": round(qps, 1),
                "build_seconds": round(build_s, 2),
                "save_seconds": round(save_s, 2),
                "load_seconds": round(load_s, 2),
                "disk_bytes": disk,
                "rss_delta_bytes": rss_delta,
            }
        )
        print(format_row(rows[-1]), flush=True)
    del index
    gc.collect()
    return rows


# ---------------------------------------------------------------------------- output
HEADER = f"{'kind':17} {'setting':>34} {'recall@10':>9} {'p50 ms':>8} {'p99 ms':>8} {'batch qps':>10} {'build s':>8} {'disk MB':>8} {'rss MB':>8}"


def setting_text(row: dict[str, Any]) -> str:
    if isinstance(row["value"], dict):
        return " " + ",".join(f"{k}={v}" for k, v in row["value"].items())
    return "" if row["setting"] is None else f" {row['setting']}={row['value']}"


def format_row(row: dict[str, Any]) -> str:
    setting = setting_text(row).strip() or "-"
    return (
        f"{row.get('name', row['kind']):17} {setting:>34} {row['recall@10']:9.4f} {row['p50_ms']:8.3f} {row['p99_ms']:8.3f} "
        f"{row['batch_qps']:10.0f} {row['build_seconds']:8.1f} {row['disk_bytes'] / 2**20:8.1f} "
        f"{row['rss_delta_bytes'] / 2**20:8.1f}"
    )


BEST_FIELDS = ("setting", "value", "recall@10", "p50_ms", "p99_ms", "batch_qps", "build_seconds", "disk_bytes",
               "rss_delta_bytes")


def best_settings(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per name: the setting with the lowest p99 among those with recall@10 >= the target."""
    best: dict[str, Any] = {}
    for row in rows:
        if row["recall@10"] < TARGET_RECALL:
            continue
        name = row.get("name", row["kind"])
        if name not in best or row["p99_ms"] < best[name]["p99_ms"]:
            best[name] = {k: row[k] for k in BEST_FIELDS}
    return best


def ground_truth(
    vectors: np.ndarray, queries: np.ndarray, args: argparse.Namespace
) -> tuple[np.ndarray, list[np.ndarray] | None, float]:
    """Exact float32 top-10 of every query (brute force), its seen items removed; and the seconds."""
    t0 = time.perf_counter()
    exact = ExactIndex(vectors, metric=args.metric, scan="float32")
    seen: list[np.ndarray] | None = None
    if args.seen > 0:
        pool = exact.search(queries, 4 * args.seen).ids
        rng = np.random.default_rng(3)
        seen = [rng.choice(row[row >= 0], size=min(args.seen, int((row >= 0).sum())), replace=False) for row in pool]
    truth = exact.search(queries, K, exclude=seen).ids
    del exact
    gc.collect()
    return truth, seen, time.perf_counter() - t0


def run_kinds(
    names: list[str],
    vectors: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    seen: list[np.ndarray] | None,
    args: argparse.Namespace,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    configs = kinds_config(len(vectors))
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    for name in names:
        if name not in configs:
            raise SystemExit(f"unknown kind {name!r}; kinds: {', '.join(configs)}")
        try:
            rows += bench_kind(name, configs[name], vectors, queries, truth, seen, args)
        except ConfigError as exc:  # a backend that is not installed
            skipped[name] = str(exc)
            print(f"{name:17} skipped: {exc}")
    return rows, skipped


def names_of(text: str) -> list[str]:
    return [k.strip() for k in text.split(",") if k.strip()]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic item vectors")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries")
    parser.add_argument("--vectors", type=Path, help="(N, d) .npy of item vectors instead of synthetic ones")
    parser.add_argument("--queries-file", type=Path, help="(B, d) .npy of query vectors (with --vectors)")
    parser.add_argument("--metric", choices=["dot", "cosine"], default="dot")
    parser.add_argument("--kinds", default=DEFAULT_KINDS, help="comma-separated kinds")
    parser.add_argument("--big-n", type=int, default=10_000_000,
                        help="synthetic vectors of the large run (0: skip it)")
    parser.add_argument("--big-kinds", default="ivfpq+rerank,ivfpq+rerank-fp16", help="kinds of the large run")
    parser.add_argument("--seen", type=int, default=0, help="items excluded per query (from its exact top 4*S)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="batch timings (best of)")
    parser.add_argument("--tmp", type=Path, default=None, help="where saved indexes are measured")
    parser.add_argument("--name", default="ann", help="results/NAME.json (default ann)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here instead (e.g. a scratch file)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    set_num_threads(args.threads)
    vectors, queries, source = load_data(args)
    n, d = vectors.shape
    print(f"{n:,} vectors x {d}, {len(queries):,} queries, metric={args.metric}, threads={args.threads}, seen={args.seen}")

    truth, seen, truth_s = ground_truth(vectors, queries, args)
    print(f"exact ground truth in {truth_s:.1f} s\n{HEADER}")
    rows, skipped = run_kinds(names_of(args.kinds), vectors, queries, truth, seen, args)
    del vectors
    gc.collect()

    big: dict[str, Any] | None = None
    if args.big_n > 0 and names_of(args.big_kinds):
        big_vectors = gaussian_mixture(args.big_n, args.dim, clusters=1000, seed=1)
        big_truth, big_seen, big_truth_s = ground_truth(big_vectors, queries, args)
        print(f"\n{args.big_n:,} vectors x {args.dim}: exact ground truth in {big_truth_s:.1f} s\n{HEADER}")
        big_rows, big_skipped = run_kinds(names_of(args.big_kinds), big_vectors, queries, big_truth, big_seen, args)
        del big_vectors
        gc.collect()
        big = {"n": args.big_n, "ground_truth_seconds": round(big_truth_s, 2), "results": big_rows,
               "skipped": big_skipped, "best_at_target_recall": best_settings(big_rows)}

    best = best_settings(rows)
    met = sorted(k for k, b in best.items() if b["p99_ms"] <= TARGET_P99_MS)
    payload = {
        "config": {
            "n": int(n),
            "dim": int(d),
            "queries": int(len(queries)),
            "k": K,
            "metric": args.metric,
            "seen": args.seen,
            "threads": args.threads,
            "data": source,
            "ground_truth_seconds": round(truth_s, 2),
        },
        "results": rows,
        "skipped": skipped,
        "best_at_target_recall": best,
        "target": {"recall@10": TARGET_RECALL, "p99_ms": TARGET_P99_MS, "met_by": met},
        "big": big,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if args.out is not None:  # a scratch file: write_result's layout, another directory
        os.environ["NCF_RESULTS_DIR"] = str(args.out.resolve().parent)
        path = write_result(args.out.stem, payload)
    else:
        path = write_result(args.name, payload)
    described = [f"{kind}{setting_text(b)} (recall {b['recall@10']}, p99 {b['p99_ms']:.3f} ms)" for kind, b in best.items()]
    print(f"\nbest setting with recall@10 >= {TARGET_RECALL}: {', '.join(described) or 'none'}")
    print(f"target (recall@10 >= {TARGET_RECALL}, p99 <= {TARGET_P99_MS} ms) met by: {', '.join(met) or 'none'}")
    if big is not None:
        for kind, b in big["best_at_target_recall"].items():
            print(f"{args.big_n:,} items: {kind}{setting_text(b)}: recall {b['recall@10']}, p99 {b['p99_ms']:.3f} ms, "
                  f"disk {b['disk_bytes'] / 2**20:.0f} MB, rss +{b['rss_delta_bytes'] / 2**20:.0f} MB")
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main()
