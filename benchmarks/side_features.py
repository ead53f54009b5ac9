"""Do side features help a two-tower model? ID-only vs ID + features, warm and cold start, on MovieLens.

Features (MovieLens): users' age, gender, occupation and zip-code prefix (first character, read
here from ``u.user`` / ``users.dat``); items' genres and release year. Three settings, each
ranked by full ranking (Recall@10 and NDCG@10 as ``ncf.evaluate`` defines them):

(a) warm: a random 80/20 split of every user's interactions; rank all items not in train.
(b) cold-start users: 10% of the users are held out entirely; each is embedded from features
    alone (``TwoTower.embed_users(features, ids=None)``) and ranks all items.
(c) cold-start items: 10% of the items (with interactions) are held out of training; they are
    embedded from features alone (``embed_items``), and each user with interactions on them
    ranks the held-out items only (the question is which new items to show, not whether a new
    item beats the catalogue).

Models: ``TwoTower`` (ID embeddings 64, towers 128-64, in-batch softmax with logQ, batch 1024,
lr 1e-3) with IDs only, with IDs and features, and with features only (``use_ids=False``).
Floors: popularity by training counts; for new users also the popularity within their segment
(gender x age quartile), a non-personalised use of their features; for new items, whose counts
are unknown, a ridge regression of log(1 + count) on the item features ("feature popularity")
and random order.

Nothing is chosen on test. Each setting carves its validation data from the training data the
same way (a random 10% of each user's training items; 10% of the training users; 10% of the
training items); the grid (temperature 0.05/0.1, ``id_dropout`` 0/0.5) and the epoch (early
stopping, patience 3) are chosen on it, and that model (trained without the validation carve)
is the one tested.

ML-100K is read from ``--data`` (default ``$NCF_DATA_DIR/ml-100k`` or ``../shared/data/ml-100k``);
pass an ML-1M directory the same way (not on this machine). Writes
``benchmarks/results/side_features.json``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result
from torch import Tensor

from ncf import TrainConfig, Trainer, TwoTower, evaluate
from ncf.data import FeatureTable, Interactions, load_dataset
from ncf.data.splits import random_split, validation_split
from ncf.models.base import Factorized
from ncf.training.callbacks import Callback, EpochEnd

K = 10
METRICS = (f"recall@{K}", f"ndcg@{K}")
TEMPERATURES = (0.05, 0.1)
ID_DROPOUTS = (0.0, 0.5)
MAX_EPOCHS = 30
PATIENCE = 3


# ---------------------------------------------------------------------- features
def zip_prefix(root: Path, user_map: Any, num_users: int) -> np.ndarray | None:
    """First character of each user's zip code (``u.user`` or ``users.dat``); "other" if not a digit."""
    for name, sep, field in (("u.user", "|", 4), ("users.dat", "::", 4)):
        path = root / name
        if path.is_file():
            raw: dict[str, str] = {}
            for line in path.read_text(encoding="latin-1").splitlines():
                parts = line.split(sep)
                if len(parts) > field:
                    z = parts[field].strip()
                    raw[parts[0]] = z[0] if z[:1].isdigit() else "other"
            ids = [str(r) for r in user_map.decode(np.arange(num_users))]
            return np.asarray([raw.get(i, "other") for i in ids])
    return None


def user_table(root: Path, dataset: Any) -> FeatureTable:
    base: FeatureTable = dataset.user_features
    data = dataset.interactions
    zips = zip_prefix(root, data.user_map, data.num_users)
    if zips is None:
        return base
    extra = FeatureTable.from_columns(data.num_users, categorical={"zip": zips})
    return FeatureTable(np.concatenate([base.values, extra.values], axis=1), base.names + extra.names)


# ---------------------------------------------------------------------- evaluating fixed vectors
class Vectors(Factorized):
    """Given user and item vectors as a model, so ``ncf.evaluate`` ranks any of them the same way."""

    name = "vectors"

    def __init__(self, users: Tensor, items: Tensor) -> None:
        super().__init__(int(users.shape[0]), int(items.shape[0]))
        self.register_buffer("u", users.detach().float().clone())
        self.register_buffer("v", items.detach().float().clone())

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        return self.u if users is None else self.u[users]

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        return self.v if items is None else self.v[items]

    def get_config(self) -> dict[str, Any]:
        return {}


def metrics_of(model: Factorized, target: Interactions, exclude: list[Interactions] | None) -> dict[str, float]:
    report = evaluate(model, target, exclude=exclude, k=(K,), protocol="full")
    return {m: float(report.metrics[m]) for m in METRICS}


# ---------------------------------------------------------------------- settings
@dataclass
class Setting:
    """One train / validation / test arrangement and how a model is ranked in it."""

    name: str
    train: Interactions  # what the models are trained on (validation carve removed)
    valid: Interactions
    test: Interactions
    cold_users_valid: np.ndarray | None = None
    cold_users_test: np.ndarray | None = None
    cold_items_valid: np.ndarray | None = None
    cold_items_test: np.ndarray | None = None

    def part(self, which: str) -> tuple[Interactions, np.ndarray | None, np.ndarray | None]:
        if which == "valid":
            return self.valid, self.cold_users_valid, self.cold_items_valid
        return self.test, self.cold_users_test, self.cold_items_test


def _rows_of(data: Interactions, mask: np.ndarray) -> Interactions:
    return data.select(np.flatnonzero(mask))


def warm_setting(data: Interactions, seed: int) -> Setting:
    split = random_split(data, test_fraction=0.2, seed=seed)
    train, valid, _ = validation_split(split.train, method="random", fraction=0.1, seed=seed)
    return Setting("warm", train, valid, split.test)


def _hold_out(ids: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(ids, size=max(1, int(round(fraction * ids.size))), replace=False))


def cold_user_setting(data: Interactions, seed: int) -> Setting:
    rng = np.random.default_rng(seed)
    users = np.unique(data.users)
    test_users = _hold_out(users, 0.1, rng)
    rest = np.setdiff1d(users, test_users)
    valid_users = _hold_out(rest, 0.1, rng)
    in_test, in_valid = np.isin(data.users, test_users), np.isin(data.users, valid_users)
    return Setting("cold users", _rows_of(data, ~in_test & ~in_valid), _rows_of(data, in_valid),
                   _rows_of(data, in_test), cold_users_valid=valid_users, cold_users_test=test_users)


def cold_item_setting(data: Interactions, seed: int) -> Setting:
    rng = np.random.default_rng(seed)
    items = np.unique(data.items)
    test_items = _hold_out(items, 0.1, rng)
    valid_items = _hold_out(np.setdiff1d(items, test_items), 0.1, rng)
    in_test, in_valid = np.isin(data.items, test_items), np.isin(data.items, valid_items)
    return Setting("cold items", _rows_of(data, ~in_test & ~in_valid), _rows_of(data, in_valid),
                   _rows_of(data, in_test), cold_items_valid=valid_items, cold_items_test=test_items)


def _only(items: np.ndarray, target: Interactions) -> Interactions:
    """``target`` re-indexed onto the candidate items ``items`` (sorted), for ranking among them only."""
    position = np.full(target.num_items, -1, dtype=np.int64)
    position[items] = np.arange(items.size)
    keep = position[target.items] >= 0
    return Interactions.from_arrays(target.users[keep], position[target.items[keep]], num_users=target.num_users,
                                    num_items=int(items.size), duplicates="keep")


def rank(setting: Setting, which: str, users: Tensor, items: Tensor) -> dict[str, float]:
    """Metrics of user/item vectors (cold rows already embedded from features) on valid or test."""
    target, cold_users, cold_items = setting.part(which)
    if cold_items is not None:
        return metrics_of(Vectors(users, items[torch.from_numpy(cold_items)]), _only(cold_items, target), None)
    if cold_users is not None:
        return metrics_of(Vectors(users, items), target, None)  # new users: nothing of theirs is known
    exclude = [setting.train] + ([setting.valid] if which == "test" else [])
    return metrics_of(Vectors(users, items), target, exclude)


@torch.inference_mode()
def tower_vectors(model: TwoTower, setting: Setting, which: str) -> tuple[Tensor, Tensor]:
    """All user and item vectors, the held-out (cold) ones embedded without their IDs."""
    model.eval()
    users, items = model.user_vectors().clone(), model.item_vectors().clone()
    _, cold_users, cold_items = setting.part(which)
    if cold_users is not None:
        idx = torch.from_numpy(cold_users)
        feats = model.user_features[idx] if model.user_feature_dim else None
        ids = None if feats is not None else torch.full((idx.numel(),), -1)
        users[idx] = model.embed_users(feats, ids=ids)
    if cold_items is not None:
        idx = torch.from_numpy(cold_items)
        feats = model.item_features[idx] if model.item_feature_dim else None
        ids = None if feats is not None else torch.full((idx.numel(),), -1)
        items[idx] = model.embed_items(feats, ids=ids)
    return users, items


# ---------------------------------------------------------------------- training with cold validation
class _Stop(Exception):
    pass


class ColdValidation(Callback):
    """Validates with the setting's own protocol after every epoch; keeps the best weights; stops early."""

    def __init__(self, model: TwoTower, setting: Setting) -> None:
        self.model, self.setting = model, setting
        self.best: tuple[float, int, dict[str, Tensor]] | None = None
        self.curve: list[float] = []

    def on_epoch_end(self, end: EpochEnd) -> None:
        was = self.model.training
        value = rank(self.setting, "valid", *tower_vectors(self.model, self.setting, "valid"))[METRICS[0]]
        self.model.train(was)
        self.curve.append(value)
        if self.best is None or value > self.best[0]:
            self.best = (value, end.log.epoch, copy.deepcopy(self.model.state_dict()))
        elif end.log.epoch - self.best[1] >= PATIENCE:
            raise _Stop


def fit(kind: str, setting: Setting, users_f: FeatureTable, items_f: FeatureTable, *, temperature: float,
        id_dropout: float, seed: int, max_epochs: int = MAX_EPOCHS) -> tuple[TwoTower, dict[str, Any]]:
    torch.manual_seed(seed)
    feats = {} if kind == "ID only" else {"user_features": users_f, "item_features": items_f}
    model = TwoTower(setting.train.num_users, setting.train.num_items, 64, layers=(128, 64), temperature=temperature,
                     use_ids=kind != "features only", id_dropout=id_dropout if kind != "features only" else 0.0,
                     **feats)
    watch = ColdValidation(model, setting)
    config = TrainConfig(loss="softmax", epochs=max_epochs, batch_size=1024, lr=1e-3, seed=seed, show_progress=False)
    t0 = time.perf_counter()
    try:
        Trainer(config, callbacks=[watch]).fit(model, setting.train)
    except _Stop:
        pass
    assert watch.best is not None
    model.load_state_dict(watch.best[2])
    model.eval()
    return model, {"valid": watch.best[0], "epoch": watch.best[1], "epochs_run": len(watch.curve),
                   "seconds": time.perf_counter() - t0}


def grid(kind: str) -> list[dict[str, float]]:
    dropouts = (0.0,) if kind == "features only" else ID_DROPOUTS
    return [{"temperature": t, "id_dropout": d} for t, d in itertools.product(TEMPERATURES, dropouts)]


# ---------------------------------------------------------------------- floors
def popularity_floor(setting: Setting, which: str) -> dict[str, float]:
    counts = np.bincount(setting.train.items, minlength=setting.train.num_items).astype(np.float32)
    ones = torch.ones(setting.train.num_users, 1)
    return rank(setting, which, ones, torch.from_numpy(counts)[:, None])


def feature_popularity_floor(setting: Setting, which: str, items_f: FeatureTable, ridge: float = 1.0) -> dict[str, float]:
    """New items scored by a ridge regression of log(1 + training count) on their features (fit on warm items)."""
    counts = np.bincount(setting.train.items, minlength=setting.train.num_items)
    _, _, cold_items = setting.part(which)
    held = np.zeros(counts.size, dtype=bool)
    for part in ("valid", "test"):
        c = setting.part(part)[2]
        if c is not None:
            held[c] = True
    x = np.concatenate([items_f.values, np.ones((counts.size, 1), np.float32)], axis=1).astype(np.float64)
    warm = ~held
    w = np.linalg.solve(x[warm].T @ x[warm] + ridge * np.eye(x.shape[1]), x[warm].T @ np.log1p(counts[warm]))
    pred = torch.from_numpy((x @ w).astype(np.float32))[:, None]
    return rank(setting, which, torch.ones(setting.train.num_users, 1), pred)


def segment_popularity_floor(setting: Setting, which: str, users_f: FeatureTable, shrink: float = 50.0) -> dict[str, float]:
    """Cold users ranked by the popularity among training users of their segment (gender x age quartile).

    A non-personalised use of the features: if it is no better than global popularity, the
    features carry little for ranking. Segment counts are shrunk towards the global shares
    (``shrink`` pseudo-interactions, fixed in advance).
    """
    names = list(users_f.names)
    gender = users_f.values[:, [c for c, n in enumerate(names) if n.startswith("gender=")]].argmax(axis=1)
    age = users_f.values[:, names.index("age")]
    segment = gender * 4 + np.digitize(age, np.quantile(age, [0.25, 0.5, 0.75]))
    train = setting.train
    overall = np.bincount(train.items, minlength=train.num_items).astype(np.float64)
    share = overall / overall.sum()
    scores = np.zeros((train.num_users, train.num_items), dtype=np.float32)
    for key in np.unique(segment):
        members = np.flatnonzero(segment == key)
        counts = np.bincount(train.items[np.isin(train.users, members)], minlength=train.num_items)
        scores[members] = np.log((counts + shrink * share) / (counts.sum() + shrink) + 1e-12)
    return rank(setting, which, torch.from_numpy(scores), torch.eye(train.num_items))


def random_floor(setting: Setting, which: str, repeats: int = 20) -> dict[str, float]:
    out = []
    for r in range(repeats):
        g = torch.Generator().manual_seed(r)
        out.append(rank(setting, which, torch.ones(setting.train.num_users, 1),
                        torch.rand(setting.train.num_items, 1, generator=g)))
    return {m: float(np.mean([o[m] for o in out])) for m in METRICS}


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(data_dir() / "ml-100k"), help="MovieLens 100K or 1M directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", default="warm,cold users,cold items")
    parser.add_argument("--out", default="side_features", help="results/<OUT>.json")
    parser.add_argument("--max-epochs", type=int, default=MAX_EPOCHS, help="Upper bound of the early-stopped epochs")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine more threads only wait on each other)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    root = Path(args.data)
    dataset = load_dataset(root)
    data = dataset.interactions
    if dataset.user_features is None or dataset.item_features is None:
        raise SystemExit(f"{root}: no user/item features (a MovieLens 100K or 1M directory is needed)")
    users_f, items_f = user_table(root, dataset), dataset.item_features
    print(f"{dataset.name}: {data.num_users} users, {data.num_items} items, {len(data)} interactions; "
          f"user features {users_f.num_features}, item features {items_f.num_features}", flush=True)
    makers = {"warm": warm_setting, "cold users": cold_user_setting, "cold items": cold_item_setting}
    results: dict[str, Any] = {}
    for name in [s.strip() for s in args.settings.split(",")]:
        setting = makers[name](data, args.seed)
        rows: dict[str, Any] = {}
        floors = {"popularity": popularity_floor}
        if setting.cold_users_test is not None:
            floors["segment popularity"] = lambda s, w: segment_popularity_floor(s, w, users_f)
        if setting.cold_items_test is not None:
            floors = {"random": random_floor,
                      "feature popularity": lambda s, w: feature_popularity_floor(s, w, items_f)}
        for label, floor in floors.items():
            rows[label] = {"valid": floor(setting, "valid"), "test": floor(setting, "test")}
        for kind in ("ID only", "ID + features", "features only"):
            tried = []
            best: tuple[TwoTower, dict[str, Any], dict[str, float]] | None = None
            for params in grid(kind):
                model, info = fit(kind, setting, users_f, items_f, seed=args.seed, max_epochs=args.max_epochs, **params)
                tried.append({**params, **info})
                print(f"  {name:>10} | {kind:<13} {params} valid {METRICS[0]} {info['valid']:.4f} "
                      f"(epoch {info['epoch']}, {info['seconds']:.0f}s)", flush=True)
                if best is None or info["valid"] > best[1]["valid"]:
                    best = (model, info, params)
            assert best is not None
            model, info, params = best
            test = rank(setting, "test", *tower_vectors(model, setting, "test"))
            valid = rank(setting, "valid", *tower_vectors(model, setting, "valid"))
            rows[kind] = {"valid": valid, "test": test, "chosen": {**params, "epoch": info["epoch"]}, "grid": tried}
        results[name] = {"train": len(setting.train), "valid": len(setting.valid), "test": len(setting.test),
                         "test_users": int(np.unique(setting.test.users).size), "rows": rows}
        print(f"{name}:", flush=True)
        for label, row in rows.items():
            print(f"  {label:<18} test " + "  ".join(f"{m} {row['test'][m]:.4f}" for m in METRICS), flush=True)
    write_result(args.out, {
        "data": str(root), "seed": args.seed, "max_epochs": args.max_epochs, "patience": PATIENCE, "threads": args.threads, "k": K, "user_features": sorted({n.split('=')[0] for n in users_f.names}),
        "item_features": sorted({n.split('=')[0] for n in items_f.names}), "settings": results,
        "protocol": "full ranking; warm: all items not in train; cold users: all items; cold items: the held-out "
                    "items only. Hyper-parameters and epochs chosen on validation carved from train.",
    })


if __name__ == "__main__":
    main()
