"""What an embedding map costs on a large catalogue: Gowalla's 40,981 items.

Item vectors come from a closed-form spectral MF (rank 64, seconds to fit; any model's vectors
cost the same to map at the same width). Timed: PCA of all items; UMAP (seeded, so single-threaded)
and t-SNE of the default 20,000-point sample and, with ``--all``, of every item; the label purity
check; writing the PNG and the HTML page. UMAP's first calls compile its numba kernels (and
pynndescent's, used above 4,096 points): that is timed apart (``umap_compile``), on 5,000 points.

Each step records wall-clock and process CPU seconds and the load average around it: on a shared
machine the wall time depends on the neighbours, the CPU time much less.

Run: ``python benchmarks/viz_cost.py [--data DIR] [--all]``; writes ``benchmarks/results/viz_cost.json``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result

from ncf.data import load_dataset
from ncf.models import SpectralMF
from ncf.viz import entity_vectors, knn_purity, project, sample_rows, shuffled_purity, write_map
from ncf.viz.embedding import MapResult


def timed(steps: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    load0 = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    steps[name] = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
                   "loadavg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)]}
    print(f"{name:>24}: {steps[name]['wall_s']:8.1f} s wall, {steps[name]['cpu_s']:8.1f} s CPU, "
          f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(data_dir() / "gowalla"), help="LightGCN-format Gowalla directory")
    parser.add_argument("--rank", type=int, default=64)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--all", action="store_true", help="Also UMAP and t-SNE of every item (minutes more)")
    args = parser.parse_args()

    steps: dict[str, Any] = {}
    data = timed(steps, "load data", lambda: load_dataset(args.data))
    train = data.split.train if data.split is not None else data.interactions
    model = SpectralMF(train.num_users, train.num_items, rank=args.rank, seed=0)
    timed(steps, f"fit spectral rank {args.rank}", lambda: model.fit(train))
    vectors = entity_vectors(model, "items")
    n = vectors.shape[0]
    counts = np.bincount(train.items, minlength=n)
    rows = sample_rows(n, args.sample, seed=0)
    sub = vectors[rows]
    print(f"{n:,} items x {vectors.shape[1]} dims; sample {rows.size:,}", flush=True)

    timed(steps, f"pca all {n}", lambda: project(vectors, method="pca"))
    timed(steps, "pca sample", lambda: project(sub, method="pca"))
    timed(steps, "umap_compile (5000 pts)", lambda: project(vectors[:5000], method="umap"))
    coords = timed(steps, "umap sample", lambda: project(sub, method="umap"))
    timed(steps, "tsne sample", lambda: project(sub, method="tsne"))
    if args.all:
        timed(steps, f"umap all {n}", lambda: project(vectors, method="umap"))
        timed(steps, f"tsne all {n}", lambda: project(vectors, method="tsne"))

    labels = np.digitize(np.log1p(counts[rows]), np.quantile(np.log1p(counts[rows]), [0.25, 0.5, 0.75]))
    timed(steps, "knn purity + 5 shuffles", lambda: (knn_purity(coords, labels), shuffled_purity(coords, labels)))
    result = MapResult(coords, rows, "items", "umap", "popularity", None, np.log10(1.0 + counts[rows]),
                       tuple(str(r) for r in rows), None, counts[rows].astype(np.int64), n, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        timed(steps, "write png", lambda: write_map(result, Path(tmp) / "m.png"))
        timed(steps, "write html", lambda: write_map(result, Path(tmp) / "m.html"))
        html_mb = (Path(tmp) / "m.html").stat().st_size / 2**20

    write_result("viz_cost", {
        "data": args.data, "items": n, "dims": int(vectors.shape[1]), "sample": int(rows.size),
        "torch_threads": torch.get_num_threads(), "cpus_allowed": len(os.sched_getaffinity(0)),
        "html_mb": round(html_mb, 1), "steps": steps,
        "note": "seeded UMAP runs single-threaded; wall times were measured while other jobs shared the machine "
                "(see loadavg_1min: before and after each step)",
    })


if __name__ == "__main__":
    main()
