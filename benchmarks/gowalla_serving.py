"""Serving a Gowalla model: what approximation and compact storage cost in the paper's metric.

For a trained run (default: the `gowalla-best` row of `paper_tables.py gowalla`):
* full-ranking Recall@20 / NDCG@20 of every test user, ranked exactly and through each index kind
  of `ncf.index` at a few query-time settings (training items excluded by the index's exclusion
  guarantee), with build time and search time for all users;
* the same metrics with the item vectors stored in float16 and in int8 (symmetric per-dimension
  scales), ranked exactly — what smaller storage costs;
* the model's size on disk and the time `ncf.serving.Recommender.load` takes.

Run: `python benchmarks/gowalla_serving.py --run benchmarks/runs/gowalla-gowalla-gowalla-best`;
writes `benchmarks/results/gowalla-serving.json`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import HERE, write_result

from ncf.app import Run
from ncf.evaluation.metrics import full_ranking_metrics
from ncf.index import make_index, set_num_threads

SETTINGS: list[tuple[str, dict[str, Any], str | None, tuple[Any, ...]]] = [
    ("exact", {}, None, (None,)),
    ("hnsw", {"M": 32, "ef_construction": 200}, "ef_search", (64, 128, 256, 512)),
    ("hnswlib", {"M": 32, "ef_construction": 200}, "ef_search", (64, 128, 256, 512)),
    ("ivf", {}, "nprobe", (8, 32, 128)),
    ("ivfpq", {}, "nprobe", (8, 32, 128)),
]


def metrics(ids: np.ndarray, relevant: list[set[int]], k: int) -> dict[str, float]:
    hits = np.array([[i in rel for i in row] for row, rel in zip(ids, relevant, strict=True)], dtype=bool)
    n_rel = np.array([len(r) for r in relevant])
    out = full_ranking_metrics(hits, n_rel, [k])
    return {name: round(float(np.mean(v)), 4) for name, v in out.items() if name.split("@")[0] in ("recall", "ndcg")}


def quantized(items: np.ndarray, kind: str) -> np.ndarray:
    if kind == "float16":
        return items.astype(np.float16).astype(np.float32)
    scale = np.abs(items).max(axis=0) / 127.0
    scale[scale == 0] = 1.0
    return (np.round(items / scale).clip(-127, 127).astype(np.int8).astype(np.float32) * scale).astype(np.float32)


def directory_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=str(HERE / "runs" / "gowalla-gowalla-gowalla-best"))
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--kinds", nargs="*", default=[s[0] for s in SETTINGS])
    p.add_argument("--export-vectors", default=None,
                   help="also write items.npy and users.npy (the test users' query vectors) here, for "
                        "bench_ann.py --vectors DIR/items.npy --queries-file DIR/users.npy")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    set_num_threads(args.threads)

    t0 = time.perf_counter()
    from ncf.serving import Recommender

    Recommender.load(args.run, index=None)
    load_seconds = time.perf_counter() - t0
    run = Run.load(args.run)
    run.set_context(run.known("test"))
    test = run.split.test
    users = np.unique(test.users)
    known = run.known("test")
    seen = known[0].to_csr()
    for part in known[1:]:
        seen = seen + part.to_csr()
    exclude = [np.asarray(seen.indices[seen.indptr[u]:seen.indptr[u + 1]], dtype=np.int64) for u in users]
    test_csr = test.to_csr()
    relevant = [set(test_csr.indices[test_csr.indptr[u]:test_csr.indptr[u + 1]].tolist()) for u in users]
    with torch.inference_mode():
        queries = run.model.user_vectors(torch.from_numpy(users)).float().numpy()
        items = np.ascontiguousarray(run.model.item_vectors().float().numpy())
    print(f"{len(users):,} test users, {items.shape[0]:,} items x {items.shape[1]}; load {load_seconds:.1f}s", flush=True)
    if args.export_vectors:
        out = Path(args.export_vectors)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "items.npy", items)
        np.save(out / "users.npy", queries[np.random.default_rng(0).permutation(len(queries))])

    rows: list[dict[str, Any]] = []
    for kind, build, setting, values in SETTINGS:
        if kind not in args.kinds:
            continue
        t0 = time.perf_counter()
        index = make_index(kind, **build).build(items)
        build_s = time.perf_counter() - t0
        for value in values:
            if setting is not None:
                index.set_query_params(**{setting: value})
            t0 = time.perf_counter()
            ids = index.search(queries, args.k, exclude=exclude).ids
            search_s = time.perf_counter() - t0
            row = {"kind": kind, **({setting: value} if setting else {}), **metrics(ids, relevant, args.k),
                   "build_s": round(build_s, 1), "search_all_users_s": round(search_s, 1)}
            rows.append(row)
            print(row, flush=True)
    storage = []
    for kind in ("float32", "float16", "int8"):
        vec = items if kind == "float32" else quantized(items, kind)
        ids = make_index("exact", scan="float32").build(vec).search(queries, args.k, exclude=exclude).ids
        row = {"storage": kind, "item_vectors_mb": round(items.size * {"float32": 4, "float16": 2, "int8": 1}[kind] / 2**20, 1),
               **metrics(ids, relevant, args.k)}
        storage.append(row)
        print(row, flush=True)
    path = write_result("gowalla-serving", {
        "run": str(args.run), "model": run.model.name, "users": int(len(users)), "items": int(items.shape[0]),
        "dim": int(items.shape[1]), "k": args.k, "threads": args.threads,
        "model_dir_mb": round(directory_mb(run.dir.model_dir), 1), "recommender_load_s": round(load_seconds, 2),
        "indexes": rows, "storage": storage,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
