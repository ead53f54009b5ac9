"""The notebook's exercise 1 with the features it names: users' age and genre preferences, items' genres and year.

The round-2 study (``benchmarks/side_features.py``) gave the two-tower model MovieLens
demographics (age, gender, occupation, zip prefix). The exercise names other features; this
script uses them:

- users: age (standardised, from ``u.user``) and **genre preferences**, the share of the user's
  *training* items in each of the 18 genres (computed from the training rows only, never from
  held-out ones);
- items: genres (multi-hot) and release year (standardised).

(A) Warm users (the round-2 warm setting, same split: a random 80/20 split of each user's
interactions, 10% of train carved for validation, seed 0): Recall@10 / NDCG@10 by full ranking of
a ``TwoTower`` (ID embeddings 64, towers 128-64, in-batch softmax with logQ, batch 1024, lr 1e-3,
temperature 0.1) with IDs only and with IDs + these features; ``id_dropout`` (0 / 0.5) of the
feature model and every epoch are chosen on validation (seed 0 for the dropout).

(B) New users (the round-2 cold-user setting: 10% of users held out of training, 10% of the rest
for validation): each held-out user is known by their first n = 1, 3, 5 interactions (by
timestamp) and their age; the rest of their interactions are the targets (the n known items are
excluded from the ranking). Compared, from one two-tower with IDs + features trained on the
other users:

- popularity (training counts);
- fold-in: the implicit least-squares user vector for the n items against the model's item
  vectors (``Factorized.fold_in``), no features;
- MF fold-in: the same against a biased MF trained with BPR on the training users
  (``configs/mf-bpr.toml``'s settings; epoch chosen on a random 10% of their items), whose item
  vectors carry the item bias, so the fold-in can weigh popularity;
- features: the user tower on age + genre preferences of the n items (``embed_users``, no ID);
- fold-in + features, MF fold-in + features: the two scores standardised per user and mixed,
  ``w * features + (1 - w) * fold-in``, ``w`` in {0.25, 0.5, 0.75} chosen on the validation users
  for each n.

The new-user model's ``id_dropout`` is 0.5, round 2's validation choice for IDs + features in this
setting; its epoch is chosen on the validation users (their features there come from their first 3
interactions).

Three seeds (0, 1, 2) by default, each its own split and initialisation; means and spread.

Run: ``python benchmarks/features_study.py [--seeds 0,1,2] [--threads 1]``; writes
``benchmarks/results/features_study.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result
from side_features import (
    METRICS,
    Vectors,
    cold_user_setting,
    fit,
    metrics_of,
    popularity_floor,
    rank,
    tower_vectors,
    warm_setting,
)

from ncf import MatrixFactorization, TrainConfig, Trainer
from ncf.data import FeatureTable, Interactions, load_dataset, validation_split

TEMPERATURE = 0.1
DROPOUTS = (0.0, 0.5)
FIRST = (1, 3, 5)
MIX = (0.25, 0.5, 0.75)
NEW_USER_METHODS = ("popularity", "fold-in", "MF fold-in", "features", "fold-in + features", "MF fold-in + features")


# ---------------------------------------------------------------------- features
def genre_matrix(items_f: FeatureTable) -> tuple[list[str], np.ndarray]:
    cols = [c for c, n in enumerate(items_f.names) if n.startswith("genre=") and n != "genre=unknown"]
    return [items_f.names[c] for c in cols], items_f.values[:, cols].astype(np.float32)


def genre_preferences(users: np.ndarray, items: np.ndarray, num_users: int, genres: np.ndarray) -> np.ndarray:
    """Each user's share of their given items in each genre (rows of zeros for users without items)."""
    sums = np.zeros((num_users, genres.shape[1]), dtype=np.float64)
    np.add.at(sums, users, genres[items])
    counts = np.bincount(users, minlength=num_users).astype(np.float64)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def user_table(age: np.ndarray, prefs: np.ndarray, genre_names: list[str]) -> FeatureTable:
    names = ("age", *(f"likes_{g.split('=', 1)[1]}" for g in genre_names))
    return FeatureTable(np.concatenate([age[:, None], prefs], axis=1).astype(np.float32), names)


def item_table(items_f: FeatureTable) -> FeatureTable:
    keep = [c for c, n in enumerate(items_f.names) if n == "year" or n.startswith("genre=")]
    return FeatureTable(items_f.values[:, keep].astype(np.float32), tuple(items_f.names[c] for c in keep))


# ---------------------------------------------------------------------- (A) warm
def warm(data: Interactions, age: np.ndarray, genres: np.ndarray, genre_names: list[str], items_t: FeatureTable,
         seed: int, max_epochs: int) -> dict[str, Any]:
    setting = warm_setting(data, seed)
    prefs = genre_preferences(setting.train.users, setting.train.items, data.num_users, genres)
    users_t = user_table(age, prefs, genre_names)
    out: dict[str, Any] = {}
    for kind, dropouts in (("ID only", (0.0,)), ("IDs + features", DROPOUTS)):
        tried = []
        for d in dropouts:
            model, info = fit(kind, setting, users_t, items_t, temperature=TEMPERATURE, id_dropout=d, seed=seed,
                              max_epochs=max_epochs)
            tried.append((info["valid"], d, model, info))
        valid, d, model, info = max(tried, key=lambda t: t[0])
        test = rank(setting, "test", *tower_vectors(model, setting, "test"))
        out[kind] = {"id_dropout": d, "valid_recall@10": valid, "epoch": info["epoch"], "seconds": info["seconds"],
                     "tried": {str(t[1]): t[0] for t in tried}, "test": test}
        print(f"  warm seed {seed} {kind:15s}: id_dropout {d}, epoch {info['epoch']}, valid {valid:.4f}, "
              f"test R@10 {test['recall@10']:.4f} N@10 {test['ndcg@10']:.4f}", flush=True)
    out["popularity"] = {"test": popularity_floor(setting, "test")}
    return out


# ---------------------------------------------------------------------- (B) new users
def first_and_rest(data: Interactions, users: np.ndarray, n: int) -> tuple[Interactions, Interactions]:
    """The held-out users' first ``n`` interactions (by time, then item) and the rest."""
    rows = np.flatnonzero(np.isin(data.users, users))
    order = rows[np.lexsort((data.items[rows], data.timestamps[rows], data.users[rows]))]
    u = data.users[order]
    start = np.r_[0, np.flatnonzero(np.diff(u)) + 1]
    position = np.arange(order.size) - np.repeat(start, np.diff(np.r_[start, order.size]))
    return data.select(np.sort(order[position < n])), data.select(np.sort(order[position >= n]))


def standardise(scores: torch.Tensor) -> torch.Tensor:
    return (scores - scores.mean(dim=1, keepdim=True)) / scores.std(dim=1, keepdim=True).clamp_min(1e-9)


def fold_in_scores(model: Any, known: Interactions, users: np.ndarray) -> torch.Tensor:
    items_v = model.item_vectors().float()
    fold = torch.stack([model.fold_in(torch.from_numpy(known.items[known.users == u])) for u in users]).float()
    return fold @ items_v.T


@torch.inference_mode()
def new_user_scores(model: Any, mf: Any, known: Interactions, users: np.ndarray, age: np.ndarray, genres: np.ndarray,
                    genre_names: list[str]) -> dict[str, torch.Tensor]:
    """(num_users, num_items) scores of each method; rows of ``users`` filled (standardised), others zero."""
    model.eval()
    mf.eval()
    prefs = genre_preferences(known.users, known.items, known.num_users, genres)
    feats = torch.from_numpy(user_table(age, prefs, genre_names).values[users])
    by_feat = model.embed_users(feats, ids=None) @ model.item_vectors().T
    out = {}
    for name, s in (("features", by_feat), ("fold-in", fold_in_scores(model, known, users)),
                    ("MF fold-in", fold_in_scores(mf, known, users))):
        full = torch.zeros(known.num_users, known.num_items)
        full[torch.from_numpy(users)] = standardise(s)
        out[name] = full
    return out


def score_metrics(scores: torch.Tensor, target: Interactions, known: Interactions) -> dict[str, float]:
    eye = torch.eye(scores.shape[1])
    return metrics_of(Vectors(scores, eye), target, [known])


def new_users(data: Interactions, age: np.ndarray, genres: np.ndarray, genre_names: list[str],
              items_t: FeatureTable, seed: int, max_epochs: int) -> dict[str, Any]:
    setting = cold_user_setting(data, seed)
    held = np.concatenate([setting.cold_users_valid, setting.cold_users_test])
    # training users' preferences from their training rows; held-out users' from their first 3 (for the
    # early-stopping validation of the fit only; every evaluation below builds the features from the n known items)
    first3, _ = first_and_rest(data, held, 3)
    users_all = np.concatenate([setting.train.users, first3.users])
    items_all = np.concatenate([setting.train.items, first3.items])
    users_t = user_table(age, genre_preferences(users_all, items_all, data.num_users, genres), genre_names)
    model, info = fit("IDs + features", setting, users_t, items_t, temperature=TEMPERATURE, id_dropout=0.5,
                      seed=seed, max_epochs=max_epochs)
    # the notebook's route for a new user: fold their items into a trained MF (biased, BPR as configs/mf-bpr.toml);
    # its epoch is chosen on a random 10% of the training users' items
    mf_train, mf_valid, _ = validation_split(setting.train, method="random", fraction=0.1, seed=seed)
    torch.manual_seed(seed)
    mf = MatrixFactorization(data.num_users, data.num_items, embedding_dim=64)
    mf_history = Trainer(TrainConfig(loss="bpr", num_negatives=4, lr=2e-3, l2=1e-3, batch_size=1024, max_epochs=100,
                                     patience=3, metric="recall@20", seed=seed, show_progress=False)).fit(
        mf, mf_train, valid=mf_valid)
    counts = torch.from_numpy(np.bincount(setting.train.items, minlength=data.num_items).astype(np.float32))
    out: dict[str, Any] = {"fit": info, "mf_fit": {"best_epoch": mf_history.best_epoch,
                                                    "valid_recall@20": mf_history.best_metric}}
    for n in FIRST:
        res: dict[str, Any] = {}
        parts = {}
        for which, users in (("valid", setting.cold_users_valid), ("test", setting.cold_users_test)):
            known, rest = first_and_rest(data, users, n)
            scores = new_user_scores(model, mf, known, users, age, genres, genre_names)
            scores["popularity"] = counts[None, :].expand(data.num_users, -1).clone()
            parts[which] = (known, rest, scores)
        known, rest, s = parts["test"]
        for name in ("popularity", "fold-in", "MF fold-in", "features"):
            res[name] = score_metrics(s[name], rest, known)
        for fold in ("fold-in", "MF fold-in"):
            valid_mix = {}
            vknown, vrest, vs = parts["valid"]
            for w in MIX:
                valid_mix[w] = score_metrics(w * vs["features"] + (1 - w) * vs[fold], vrest, vknown)["recall@10"]
            w_best = max(MIX, key=lambda w: valid_mix[w])
            res[f"{fold} + features"] = {**score_metrics(w_best * s["features"] + (1 - w_best) * s[fold], rest, known),
                                         "w": w_best, "valid_recall@10_by_w": {str(w): v for w, v in valid_mix.items()}}
        out[f"first {n}"] = res
        print(f"  new users seed {seed} first {n}: " + ", ".join(
            f"{k} R@10 {v['recall@10']:.4f}" for k, v in res.items()), flush=True)
    return out


# ---------------------------------------------------------------------- main
def mean_spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(data_dir() / "ml-100k"), help="MovieLens 100K directory")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parts", default="warm,new users")
    parser.add_argument("--out", default="features_study", help="results/<OUT>.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = set(args.parts.split(","))

    dataset = load_dataset(Path(args.data))
    data = dataset.interactions
    if dataset.user_features is None or dataset.item_features is None:
        raise SystemExit(f"{args.data}: no user/item features (a MovieLens 100K directory is needed)")
    age = dataset.user_features.values[:, list(dataset.user_features.names).index("age")].astype(np.float32)
    genre_names, genres = genre_matrix(dataset.item_features)
    items_t = item_table(dataset.item_features)
    t0 = time.perf_counter()
    per_seed: dict[str, Any] = {}
    for seed in seeds:
        per_seed[str(seed)] = {}
        if "warm" in parts:
            per_seed[str(seed)]["warm"] = warm(data, age, genres, genre_names, items_t, seed, args.max_epochs)
        if "new users" in parts:
            per_seed[str(seed)]["new users"] = new_users(data, age, genres, genre_names, items_t, seed,
                                                         args.max_epochs)
    summary: dict[str, Any] = {}
    if "warm" in parts:
        summary["warm"] = {kind: {m: mean_spread([per_seed[str(s)]["warm"][kind]["test"][m] for s in seeds])
                                  for m in METRICS} for kind in ("ID only", "IDs + features", "popularity")}
    if "new users" in parts:
        summary["new users"] = {
            f"first {n}": {name: {m: mean_spread([per_seed[str(s)]["new users"][f"first {n}"][name][m]
                                                  for s in seeds]) for m in METRICS}
                           for name in NEW_USER_METHODS}
            for n in FIRST}
    write_result(args.out, {
        "data": args.data, "seeds": seeds, "temperature": TEMPERATURE, "max_epochs": args.max_epochs,
        "threads": args.threads, "seconds": time.perf_counter() - t0,
        "features": {"users": ["age", "genre preferences (share of the user's training items per genre, 18)"],
                     "items": ["genres (18 + unknown, multi-hot)", "year"]},
        "summary": summary, "per_seed": per_seed,
    })


if __name__ == "__main__":
    main()
