"""Does an ML-100K item map show genres? Per-genre neighbourhood purity of the map vs shuffled genres.

A matrix factorisation (BPR, 64 dimensions, early stopping on a validation split) is trained on
ML-100K (leave-one-out split); its 1,682 item vectors are mapped by PCA, UMAP and t-SNE
(``ncf.viz.embedding_map``, cosine). For each genre ``g``: among the items of ``g``, the mean
share of their 10 nearest map neighbours that are also ``g`` (``ncf.viz.label_purity``; genres are
multi-label, an item counts for each of its genres). The reference is the same statistic with the
genre sets shuffled across items (20 permutations: a map without genre structure, which scores
about the genre's share of the catalogue), and the same statistic in the full 64-dimensional
space (cosine neighbours), which the 2-D maps can at best keep.

Run: ``python benchmarks/viz_ml100k.py [--data DIR] [--run RUN_DIR]`` (a minute or two on 2 cores,
most of it numba compiling UMAP); writes ``benchmarks/results/viz_ml100k.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import data_dir, write_result

from ncf.app import Run, RunSpec, train
from ncf.viz import embedding_map, entity_vectors, label_purity

K = 10
SHUFFLES = 20


def genre_membership(run: Run) -> tuple[list[str], np.ndarray]:
    table = run.features[1]
    if table is None:
        raise SystemExit("the run has no item features (train on a MovieLens directory)")
    cols = [c for c, n in enumerate(table.names) if n.startswith("genre=") and n != "genre=unknown"]
    return [table.names[c].split("=", 1)[1] for c in cols], table.values[:, cols] > 0


def shuffled(coords: np.ndarray, member: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.mean([label_purity(coords, member[rng.permutation(member.shape[0])], k=K) for _ in range(SHUFFLES)],
                   axis=0)


def vector_purity(vectors: np.ndarray, member: np.ndarray) -> np.ndarray:
    """Per-genre purity with cosine neighbours in the model's own space (no projection)."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    nb = np.argsort(-sims, axis=1, kind="stable")[:, :K]
    share = member[nb].mean(axis=1)
    return (share * member).sum(axis=0) / np.maximum(member.sum(axis=0), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(data_dir() / "ml-100k"), help="MovieLens 100K (or 1M) directory")
    parser.add_argument("--run", default=None, help="Use this trained run directory instead of training one")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="viz-ml100k-") as tmp:
        run_dir = Path(args.run) if args.run else Path(tmp) / "mf"
        train_info: dict[str, Any] = {}
        if args.run is None:
            spec = RunSpec.from_options(("viz_ml100k", {"data": args.data, "model": "mf", "loss": "bpr", "dim": 64,
                                                        "lr": 5e-3, "seed": args.seed}))
            t0 = time.perf_counter()
            result = train(spec, run_dir, show_progress=False)
            train_info = {"seconds": time.perf_counter() - t0, "options": {k: spec.to_options()[k] for k in spec.explicit},
                          "best_epoch": result.history.best_epoch if result.history else None,
                          "best_validation": result.history.best_metric if result.history else None}
        run = Run.load(run_dir)
        genres, member = genre_membership(run)
        vectors = entity_vectors(run.model, "items")
        counts = member.sum(axis=0)
        in_space = vector_purity(vectors, member)
        rows: dict[str, Any] = {}
        for method in ("pca", "umap", "tsne"):
            res = embedding_map(run, method=method, color_by="genre", sample=None, seed=args.seed, show_progress=False)
            assert np.array_equal(res.rows, np.arange(member.shape[0]))
            on_map = label_purity(res.coords, member, k=K)
            base = shuffled(res.coords, member, args.seed)
            rows[method] = {
                "seconds": res.seconds,
                "macro_purity": float(np.mean(on_map)), "macro_shuffled": float(np.mean(base)),
                "genres_above_shuffled": int((on_map > base).sum()),
                "single_label_purity": res.purity, "single_label_shuffled": res.shuffled_purity,
                "per_genre": {g: {"items": int(counts[i]), "purity": float(on_map[i]), "shuffled": float(base[i])}
                              for i, g in enumerate(genres)},
            }
            print(f"{method:>5}: macro purity {np.mean(on_map):.3f} vs shuffled {np.mean(base):.3f} "
                  f"({int((on_map > base).sum())}/{len(genres)} genres above), {res.seconds:.1f}s")
        print(f"{'64-d':>5}: macro purity {np.mean(in_space):.3f} (cosine neighbours in the model's space)")
        write_result("viz_ml100k", {
            "data": args.data, "k": K, "shuffles": SHUFFLES, "model": run.model.name, "train": train_info,
            "vector_space": {"macro_purity": float(np.mean(in_space)),
                             "per_genre": {g: float(in_space[i]) for i, g in enumerate(genres)}},
            "maps": rows,
            "note": "purity: among items of a genre, mean share of their 10 nearest neighbours (on the 2-D map, "
                    "or by cosine in the vector space) of that genre; shuffled: genre sets permuted across items "
                    f"({SHUFFLES} times), the level of a map without genre structure",
        })


if __name__ == "__main__":
    main()
