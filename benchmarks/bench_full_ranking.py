"""Full-ranking evaluation speed: ``ncf.evaluate`` against a straightforward per-user NumPy loop.

1. Gowalla (LightGCN split, 29,858 users x 40,981 items): a d=64 factorized model with random
   weights; ``evaluate(..., protocol="full", k=(20,))`` (Recall@20 / NDCG@20, train items
   excluded) and ``topk`` alone, against a loop that per user computes the score vector, masks
   the train items, takes ``argpartition`` and the metrics. Both must agree on the metrics.
2. MovieLens-100K (last interaction per user as test): a non-factorized NeuMF, scored in item
   chunks by ``evaluate``, against a per-user loop over ``model.score``. Skipped with a note
   when ``ncf.models.NeuMF`` is not importable.
3. The sampled (NeuMF) protocol on ``ml-100k-loo`` (943 rows x 100 candidates), timed once.

Run: ``python benchmarks/bench_full_ranking.py [--quick] [--repeats 3]``. ``--quick`` keeps the
first 2,000 Gowalla test users (the catalogue stays whole) and writes nothing unless
``--write`` is given. Writes ``benchmarks/results/full_ranking.json``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import data_dir, peak_rss_mb, write_result
from torch import Tensor, nn

from ncf.data.interactions import Interactions
from ncf.evaluation import evaluate
from ncf.models.base import FactorizedRecommender, Model
from ncf.retrieval import topk

K = 20


class RandomMF(FactorizedRecommender):
    """Dot-product model with N(0, 0.1) embeddings: the cost of ranking, not its quality."""

    name = "random-mf-bench"

    def __init__(self, num_users: int, num_items: int, dim: int = 64, seed: int = 0) -> None:
        super().__init__(num_users, num_items)
        g = torch.Generator().manual_seed(seed)
        self.p = nn.Parameter(0.1 * torch.randn(num_users, dim, generator=g))
        self.q = nn.Parameter(0.1 * torch.randn(num_items, dim, generator=g))

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        return self.p if users is None else self.p[users]

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        return self.q if items is None else self.q[items]

    def get_config(self) -> dict[str, Any]:
        return {"num_users": self.num_users, "num_items": self.num_items}


# ---------------------------------------------------------------------------- loaders
def read_lightgcn_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``user item item ...`` lines -> (users, items) int64 arrays."""
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    with path.open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                continue
            ids = np.asarray(parts[1:], dtype=np.int64)
            items.append(ids)
            users.append(np.full(ids.size, int(parts[0]), dtype=np.int64))
    return np.concatenate(users), np.concatenate(items)


def load_gowalla(root: Path) -> tuple[Interactions, Interactions]:
    tu, ti = read_lightgcn_file(root / "train.txt")
    su, si = read_lightgcn_file(root / "test.txt")
    nu = int(max(tu.max(), su.max())) + 1
    ni = int(max(ti.max(), si.max())) + 1
    train = Interactions.from_arrays(tu, ti, num_users=nu, num_items=ni, duplicates="keep_last")
    test = Interactions.from_arrays(su, si, num_users=nu, num_items=ni, duplicates="keep_last")
    return train, test


def load_ml100k_last(root: Path) -> tuple[Interactions, Interactions]:
    """u.data -> train / test with each user's latest interaction (ties: larger item) as test."""
    raw = np.loadtxt(root / "u.data", dtype=np.int64)
    users, items, ts = raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 3]
    order = np.lexsort((items, ts, users))
    last = np.ones(order.size, dtype=bool)
    last[:-1] = users[order][1:] != users[order][:-1]
    is_test = np.zeros(order.size, dtype=bool)
    is_test[order[last]] = True
    nu, ni = int(users.max()) + 1, int(items.max()) + 1
    train = Interactions.from_arrays(users[~is_test], items[~is_test], num_users=nu, num_items=ni)
    test = Interactions.from_arrays(users[is_test], items[is_test], num_users=nu, num_items=ni)
    return train, test


def load_ml100k_loo(root: Path) -> tuple[Interactions, Interactions, np.ndarray]:
    train = np.loadtxt(root / "train.tsv", dtype=np.int64)
    test = np.loadtxt(root / "test.tsv", dtype=np.int64)
    neg = np.loadtxt(root / "test.negative", dtype=np.int64)
    nu, ni = 943, 1682
    tr = Interactions.from_arrays(train[:, 0], train[:, 1], num_users=nu, num_items=ni)
    te = Interactions.from_arrays(test[:, 0], test[:, 1], num_users=nu, num_items=ni)
    return tr, te, neg[:, 1:]


# ---------------------------------------------------------------------------- baseline
def loop_recall_ndcg(
    score_user: Any, train: Interactions, test: Interactions, users: np.ndarray, k: int
) -> tuple[float, float]:
    """Per-user NumPy loop: score vector, mask train items, argpartition, Recall/NDCG@k."""
    train_csr, test_csr = train.to_csr(), test.to_csr()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    recalls, ndcgs = [], []
    for u in users:
        relevant = test_csr.indices[test_csr.indptr[u] : test_csr.indptr[u + 1]]
        seen = train_csr.indices[train_csr.indptr[u] : train_csr.indptr[u + 1]]
        rel = np.setdiff1d(relevant, seen)
        if rel.size == 0:
            continue
        s = score_user(int(u))
        s[seen] = -np.inf
        top = np.argpartition(-s, k)[:k]
        top = top[np.argsort(-s[top])]
        hits = np.isin(top, rel)
        recalls.append(hits.sum() / rel.size)
        ndcgs.append((hits * discounts).sum() / discounts[: min(rel.size, k)].sum())
    return float(np.mean(recalls)), float(np.mean(ndcgs))


def best_of(repeats: int, fn: Any) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# ---------------------------------------------------------------------------- benchmarks
def bench_gowalla(root: Path, quick: bool, repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    train, test = load_gowalla(root)
    load_s = time.perf_counter() - t0
    users = np.unique(test.users)
    if quick:
        users = users[:2000]
        test = test.select(np.isin(test.users, users))
    model = RandomMF(train.num_users, train.num_items, dim=64).eval()
    exclude = train.to_csr()
    ev_s, report = best_of(
        repeats, lambda: evaluate(model, test, exclude=train, k=(K,), protocol="full")
    )
    topk_s, _ = best_of(repeats, lambda: topk(model, users, k=K, exclude=exclude))
    with torch.no_grad():
        p = model.p.numpy()
        q = model.q.numpy()
    loop_s, (loop_recall, loop_ndcg) = best_of(
        1, lambda: loop_recall_ndcg(lambda u: q @ p[u], train, test, users, K)
    )
    return {
        "dataset": "gowalla",
        "users": int(users.size),
        "items": train.num_items,
        "dim": 64,
        "k": K,
        "load_seconds": round(load_s, 3),
        "evaluate_seconds": round(ev_s, 3),
        "topk_seconds": round(topk_s, 3),
        "loop_seconds": round(loop_s, 3),
        "speedup": round(loop_s / ev_s, 1),
        "metrics": {
            "evaluate": {n: report.metrics[n] for n in (f"recall@{K}", f"ndcg@{K}")},
            "loop": {f"recall@{K}": loop_recall, f"ndcg@{K}": loop_ndcg},
        },
        "metrics_agree": bool(
            abs(report.metrics[f"recall@{K}"] - loop_recall) < 1e-6
            and abs(report.metrics[f"ndcg@{K}"] - loop_ndcg) < 1e-6
        ),
    }


def neumf_class() -> tuple[type[Model] | None, str]:
    try:
        from ncf.models import NeuMF
    except ImportError as exc:  # the model is optional for this benchmark
        return None, f"ncf.models.NeuMF not importable ({exc}); NeuMF part skipped"
    return NeuMF, ""


def bench_ml100k_neumf(root: Path, repeats: int) -> dict[str, Any]:
    cls, note = neumf_class()
    if cls is None:
        return {"skipped": note}
    torch.manual_seed(0)
    train, test = load_ml100k_last(root)
    model = cls(train.num_users, train.num_items).eval()  # type: ignore[call-arg]
    users = np.unique(test.users)
    ev_s, report = best_of(
        repeats, lambda: evaluate(model, test, exclude=train, k=(10, K), protocol="full")
    )
    all_items = torch.arange(train.num_items)

    def score_user(u: int) -> np.ndarray:
        with torch.inference_mode():
            users_t = torch.full((train.num_items,), u, dtype=torch.long)
            return model.score(users_t, all_items).float().numpy().copy()

    loop_s, (loop_recall, loop_ndcg) = best_of(
        1, lambda: loop_recall_ndcg(score_user, train, test, users, K)
    )
    return {
        "dataset": "ml-100k (last interaction per user)",
        "model": f"NeuMF{model.get_config()}",
        "users": int(users.size),
        "items": train.num_items,
        "k": K,
        "evaluate_seconds": round(ev_s, 3),
        "loop_seconds": round(loop_s, 3),
        "speedup": round(loop_s / ev_s, 1),
        "metrics": {
            "evaluate": {n: report.metrics[n] for n in (f"recall@{K}", f"ndcg@{K}")},
            "loop": {f"recall@{K}": loop_recall, f"ndcg@{K}": loop_ndcg},
        },
    }


def bench_sampled(root: Path, repeats: int) -> dict[str, Any]:
    train, test, negatives = load_ml100k_loo(root)
    out: dict[str, Any] = {"dataset": "ml-100k-loo", "rows": len(test), "candidates": 100}
    models: dict[str, Model] = {"random-mf-64": RandomMF(943, 1682, dim=64).eval()}
    cls, note = neumf_class()
    if cls is not None:
        torch.manual_seed(0)
        models["neumf"] = cls(943, 1682).eval()  # type: ignore[call-arg]
    else:
        out["note"] = note
    for name, model in models.items():
        s, report = best_of(
            repeats,
            lambda m=model: evaluate(
                m, test, exclude=train, k=(10,), protocol="sampled", negatives=negatives
            ),
        )
        out[name] = {"seconds": round(s, 4), "users": report.users, **report.metrics}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 Gowalla users; no JSON unless --write")
    parser.add_argument("--write", action="store_true", help="write the JSON even with --quick")
    parser.add_argument("--repeats", type=int, default=3, help="best-of repeats for ncf timings")
    args = parser.parse_args()
    root = data_dir()
    t0 = time.perf_counter()
    payload: dict[str, Any] = {
        "quick": args.quick,
        "gowalla_factorized": bench_gowalla(root / "gowalla", args.quick, args.repeats),
        "ml100k_neumf": bench_ml100k_neumf(root / "ml-100k", args.repeats),
        "ml100k_sampled": bench_sampled(root / "ml-100k-loo", args.repeats),
    }
    payload["total_seconds"] = round(time.perf_counter() - t0, 1)
    payload["peak_rss_mb"] = round(peak_rss_mb(), 1)
    for section in ("gowalla_factorized", "ml100k_neumf", "ml100k_sampled"):
        print(section, payload[section])
    if not args.quick or args.write:
        print("wrote", write_result("full_ranking", payload))


if __name__ == "__main__":
    main()
