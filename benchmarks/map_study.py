"""The notebook's exercise 4: train the dot-product model for 50 epochs, map its items, say what structure is there.

Model: the notebook's dot-product collaborative filter, ``MatrixFactorization(use_bias=False)``
(64 dimensions), trained with BCE and 4 uniform negatives per positive (Adam, lr 1e-3, batch
1024) for a fixed 50 epochs on ML-100K minus each user's latest interaction (held out as a
validation row with 99 sampled negatives; its NDCG@10 is logged every epoch, so the JSON says
where the 50 epochs sit on the curve; nothing is chosen with it).

The 1,682 item vectors are mapped by UMAP and t-SNE (``ncf.viz.embedding_map``, cosine), each
drawn twice, coloured by genre and by popularity (``docs/map-{umap,tsne}-{genre,popularity}.png``).
Measures, per map:

- genre purity (the measure of ``benchmarks/viz_ml100k.py``): per genre, among its items, the
  mean share of their 10 nearest map neighbours of the same genre (``ncf.viz.label_purity``;
  multi-label), against the same with genre sets shuffled across items (20 permutations);
- popularity on the map: the Spearman correlation of an item's log(1 + training count) with
  the mean of its 10 map neighbours' (against shuffled counts), and the R^2 of a linear fit of
  log popularity on the two map coordinates;
- in the 64-d space itself: genre purity of cosine neighbours, the Spearman correlation of
  each of the first principal components and of the vector norm with log popularity.

Run: ``python benchmarks/map_study.py [--data DIR] [--epochs 50] [--threads 1]`` (a few minutes on
2 shared cores); writes ``benchmarks/results/map_study.json`` and the four PNGs under ``docs/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result
from scipy.stats import spearmanr

from ncf import MatrixFactorization, TrainConfig, Trainer
from ncf.data import load_dataset, validation_split
from ncf.viz import embedding_map, entity_vectors, label_purity
from ncf.viz.plot import save_png

K = 10
SHUFFLES = 20
DOCS = Path(__file__).resolve().parent.parent / "docs"


def genre_membership(names: tuple[str, ...] | list[str], values: np.ndarray) -> tuple[list[str], np.ndarray]:
    cols = [c for c, n in enumerate(names) if n.startswith("genre=") and n != "genre=unknown"]
    return [names[c].split("=", 1)[1] for c in cols], values[:, cols] > 0


def neighbours(x: np.ndarray, k: int, *, cosine: bool) -> np.ndarray:
    """Each row's ``k`` nearest other rows (cosine or euclidean), exact."""
    if cosine:
        unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        d = -(unit @ unit.T)
    else:
        sq = (x * x).sum(axis=1)
        d = sq[:, None] + sq[None, :] - 2 * x @ x.T
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")[:, :k]


def genre_purity(nb: np.ndarray, member: np.ndarray) -> np.ndarray:
    share = member[nb].mean(axis=1)
    return (share * member).sum(axis=0) / np.maximum(member.sum(axis=0), 1)


def shuffled_genre_purity(coords: np.ndarray, member: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.mean([label_purity(coords, member[rng.permutation(member.shape[0])], k=K)
                    for _ in range(SHUFFLES)], axis=0)


def popularity_neighbourhood(nb: np.ndarray, logpop: np.ndarray, seed: int) -> tuple[float, float]:
    """Spearman of each item's log popularity with its neighbours' mean; and with shuffled popularity."""
    rho = float(spearmanr(logpop, logpop[nb].mean(axis=1)).statistic)
    rng = np.random.default_rng(seed)
    base = []
    for _ in range(SHUFFLES):
        p = logpop[rng.permutation(logpop.size)]
        base.append(float(spearmanr(p, p[nb].mean(axis=1)).statistic))
    return rho, float(np.mean(base))


def r2_on_coords(coords: np.ndarray, logpop: np.ndarray) -> float:
    x = np.concatenate([coords.astype(np.float64), np.ones((coords.shape[0], 1))], axis=1)
    w, *_ = np.linalg.lstsq(x, logpop, rcond=None)
    resid = logpop - x @ w
    return float(1.0 - resid.var() / logpop.var())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(data_dir() / "ml-100k"), help="MovieLens 100K directory")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="map_study", help="results/<OUT>.json")
    parser.add_argument("--png-dir", default=str(DOCS), help="Where the maps go ('' for none)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = load_dataset(Path(args.data))
    data, item_table = dataset.interactions, dataset.item_features
    if item_table is None:
        raise SystemExit(f"{args.data}: no item features (a MovieLens directory is needed)")
    train, valid, valid_neg = validation_split(data, method="loo", num_negatives=99, seed=args.seed)
    torch.manual_seed(args.seed)
    model = MatrixFactorization(data.num_users, data.num_items, embedding_dim=64, use_bias=False)
    config = TrainConfig(loss="bce", num_negatives=4, epochs=args.epochs, batch_size=1024, lr=1e-3,
                         seed=args.seed, show_progress=False)
    t0 = time.perf_counter()
    history = Trainer(config).fit(model, train, valid=valid, valid_negatives=valid_neg)
    train_seconds = time.perf_counter() - t0
    curve = [{"epoch": e.epoch, "loss": e.loss, "ndcg@10": e.metrics.get("ndcg@10"), "hr@10": e.metrics.get("hr@10"),
              "seconds": e.seconds} for e in history]
    best = max(curve, key=lambda r: r["ndcg@10"] or -1.0)
    print(f"trained {args.epochs} epochs in {train_seconds:.0f}s; valid NDCG@10 at the end "
          f"{curve[-1]['ndcg@10']:.4f}, best {best['ndcg@10']:.4f} at epoch {best['epoch']}")

    genres, member = genre_membership(list(item_table.names), item_table.values)
    counts = np.bincount(train.items, minlength=data.num_items)
    logpop = np.log1p(counts).astype(np.float64)
    vectors = entity_vectors(model, "items").astype(np.float64)

    # the 64-d space itself
    nb_space = neighbours(vectors, K, cosine=True)
    centred = vectors - vectors.mean(axis=0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ vt[:3].T
    space = {
        "genre_macro_purity": float(np.mean(genre_purity(nb_space, member))),
        "popularity_neighbourhood_spearman": popularity_neighbourhood(nb_space, logpop, args.seed)[0],
        "pc_spearman_with_log_popularity": [float(abs(spearmanr(pcs[:, i], logpop).statistic)) for i in range(3)],
        "pc_variance_share": [float(s) for s in (sv[:3] ** 2 / (sv ** 2).sum())],
        "norm_spearman_with_log_popularity": float(spearmanr(np.linalg.norm(vectors, axis=1), logpop).statistic),
    }
    print(f"64-d: genre purity {space['genre_macro_purity']:.3f}; |Spearman| of PC1-3 with log popularity "
          f"{space['pc_spearman_with_log_popularity']}; norm {space['norm_spearman_with_log_popularity']:.3f}")

    maps: dict[str, Any] = {}
    png_dir = Path(args.png_dir) if args.png_dir else None
    for method in ("umap", "tsne"):
        res = embedding_map(model, method=method, color_by="genre", features=item_table, train=train,
                            titles=dataset.item_titles,
                            sample=None, seed=args.seed, show_progress=False)
        assert np.array_equal(res.rows, np.arange(data.num_items))
        on_map = label_purity(res.coords, member, k=K)
        base = shuffled_genre_purity(res.coords, member, args.seed)
        nb_map = neighbours(res.coords.astype(np.float64), K, cosine=False)
        pop_rho, pop_base = popularity_neighbourhood(nb_map, logpop, args.seed)
        maps[method] = {
            "seconds": res.seconds,
            "genre_macro_purity": float(np.mean(on_map)), "genre_macro_shuffled": float(np.mean(base)),
            "genres_above_shuffled": int((on_map > base).sum()), "genres": len(genres),
            "per_genre": {g: {"items": int(member[:, i].sum()), "purity": float(on_map[i]),
                              "shuffled": float(base[i])} for i, g in enumerate(genres)},
            "popularity_neighbourhood_spearman": pop_rho, "popularity_neighbourhood_shuffled": pop_base,
            "popularity_r2_on_coords": r2_on_coords(res.coords, logpop),
            "axis_spearman_with_log_popularity": [float(abs(spearmanr(res.coords[:, i], logpop).statistic))
                                                  for i in range(2)],
        }
        print(f"{method}: genre purity {np.mean(on_map):.3f} vs shuffled {np.mean(base):.3f} "
              f"({int((on_map > base).sum())}/{len(genres)} above); popularity neighbourhood rho {pop_rho:.3f} "
              f"(shuffled {pop_base:.3f}), R^2 on coords {maps[method]['popularity_r2_on_coords']:.3f}; "
              f"{res.seconds:.0f}s")
        if png_dir is not None:
            title = f"ML-100K items, dot-product MF after {args.epochs} epochs, {method.upper()}"
            save_png(res, png_dir / f"map-{method}-genre.png", title=f"{title}, rarest genre of each film")
            pop = embedding_map(model, method=method, color_by="popularity", features=item_table, train=train,
                                sample=None, seed=args.seed, show_progress=False)
            save_png(pop, png_dir / f"map-{method}-popularity.png", title=f"{title}, popularity")
            maps[method]["pngs"] = [f"docs/map-{method}-genre.png", f"docs/map-{method}-popularity.png"]

    write_result(args.out, {
        "data": args.data, "k": K, "shuffles": SHUFFLES, "seed": args.seed,
        "model": {"name": "mf", "use_bias": False, "dim": 64},
        "train": {"config": {k: v for k, v in config.to_dict().items() if k in (
            "loss", "num_negatives", "epochs", "batch_size", "lr", "seed")},
            "rows": len(train), "seconds": train_seconds, "threads": args.threads,
            "final_valid_ndcg@10": curve[-1]["ndcg@10"], "best_valid_ndcg@10": best["ndcg@10"],
            "best_epoch": best["epoch"], "curve": curve},
        "vector_space": space,
        "maps": maps,
        "note": "genre purity: among items of a genre, mean share of their 10 nearest neighbours with it (macro "
                "over 18 genres); shuffled: genre sets permuted across items, 20 times. popularity neighbourhood: "
                "Spearman of log(1+count) with the mean over the 10 map neighbours. Validation = each user's "
                "latest interaction, 99 negatives; logged only, nothing chosen on it.",
    })


if __name__ == "__main__":
    main()
