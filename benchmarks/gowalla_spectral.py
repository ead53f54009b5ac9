"""Gowalla validation sweep for SpectralMF and its blend with the softmax-trained cosine MF.

Everything here is chosen on the validation split of ``gowalla_tune.py`` (90% of each user's
training items to fit, the held-out 10% to score; full ranking, Recall/NDCG@20); the test split
is never read. Three parts:

1. ``alpha`` (degree renormalisation): one SVD per alpha at rank 256.
2. rank x beta (spectral weighting) x gamma (item popularity exponent) at the chosen alpha:
   one SVD at the largest rank, sliced (the top-K singular triplets of a larger SVD are the
   rank-K SVD).
3. The blend ``cosine MF + w * SpectralMF`` (library classes, as ``ncf train --spectral-weight``
   builds it) for a cosine softmax MF trained like ``gowalla-best`` but at d 256 for 16 epochs.

Run: ``python benchmarks/gowalla_spectral.py``; writes ``benchmarks/results/gowalla-spectral.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result
from torch import Tensor

from ncf import Blend, MatrixFactorization, SpectralMF, TrainConfig, Trainer, evaluate
from ncf.data import Interactions, read_lightgcn, validation_split
from ncf.models.base import FactorizedRecommender


class Fixed(FactorizedRecommender):
    """Given user and item vectors, for evaluating sliced spectral factors."""

    name = "fixed-exploration"

    def __init__(self, users: Tensor, items: Tensor) -> None:
        super().__init__(users.shape[0], items.shape[0])
        self.users, self.items = users.float().contiguous(), items.float().contiguous()

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        return self.users if users is None else self.users[users]

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        return self.items if items is None else self.items[items]

    def get_config(self) -> dict[str, Any]:
        return {}


def _metrics(model: Any, valid: Interactions, train: Interactions) -> dict[str, float]:
    m = evaluate(model, valid, exclude=[train], k=(20,), protocol="full").metrics
    return {"recall@20": round(float(m["recall@20"]), 4), "ndcg@20": round(float(m["ndcg@20"]), 4)}


def _raw_svd(train: Interactions, rank: int, alpha: float) -> tuple[Tensor, Tensor, Tensor, float]:
    """Unweighted singular triplets (beta = gamma = 0), via the library's fit."""
    t = time.perf_counter()
    m = SpectralMF(train.num_users, train.num_items, rank=rank, alpha=alpha, beta=0.0, gamma=0.0).fit(train)
    return m.user_factors, m.item_factors, m.singular_values, time.perf_counter() - t


def _log(row: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    rows.append(row)
    print(json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--alphas", default="0,1,3")
    p.add_argument("--alpha", type=float, default=3.0, help="alpha for parts 2 and 3")
    p.add_argument("--ranks", default="256,512,1024,2048")
    p.add_argument("--betas", default="0,1,2")
    p.add_argument("--gammas", default="0,0.5")
    p.add_argument("--blend-rank", type=int, default=1024)
    p.add_argument("--weights", default="0,0.25,0.35,0.5")
    p.add_argument("--mf-dim", type=int, default=256)
    p.add_argument("--mf-epochs", type=int, default=16)
    args = p.parse_args()

    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train, valid, _ = validation_split(ds.split.train, method="random", fraction=0.1, seed=0)
    degrees = torch.from_numpy(np.asarray(train.to_csr().astype(bool).sum(axis=0)).ravel().astype(np.float64))
    rows: list[dict[str, Any]] = []

    for alpha in [float(a) for a in args.alphas.split(",")]:
        u, v, s, secs = _raw_svd(train, 256, alpha)
        for gamma in (0.0, 0.5):
            pop = ((degrees + alpha) ** gamma).float()[:, None]
            _log({"part": "alpha", "alpha": alpha, "rank": 256, "beta": 0.0, "gamma": gamma, "svd_seconds": round(secs, 1),
                  **_metrics(Fixed(u, v * pop), valid, train)}, rows)

    ranks = sorted(int(r) for r in args.ranks.split(","))
    u, v, s, secs = _raw_svd(train, ranks[-1], args.alpha)
    for rank in ranks:
        for beta in [float(b) for b in args.betas.split(",")]:
            w = torch.exp(beta * s[:rank])
            for gamma in [float(g) for g in args.gammas.split(",")]:
                pop = ((degrees + args.alpha) ** gamma).float()[:, None]
                _log({"part": "rank-beta-gamma", "alpha": args.alpha, "rank": rank, "beta": beta, "gamma": gamma,
                      "svd_seconds": round(secs, 1) if rank == ranks[-1] else None,
                      **_metrics(Fixed(u[:, :rank] * w, v[:, :rank] * w * pop), valid, train)}, rows)

    mf = MatrixFactorization(train.num_users, train.num_items, embedding_dim=args.mf_dim, use_bias=False,
                             normalize=True, sparse=True)
    cfg = TrainConfig(loss="softmax", epochs=args.mf_epochs, softmax_bf16=True, batch_size=2048, lr=1e-2,
                      optimizer="sparse_adam", temperature=0.1, seed=0, show_progress=False)
    t = time.perf_counter()
    Trainer(cfg).fit(mf, train)
    mf_seconds = time.perf_counter() - t
    t = time.perf_counter()
    spectral = SpectralMF(train.num_users, train.num_items, rank=args.blend_rank, alpha=args.alpha).fit(train)
    fit_seconds = time.perf_counter() - t
    for weight in [float(w) for w in args.weights.split(",")]:
        _log({"part": "blend", "mf_dim": args.mf_dim, "mf_epochs": args.mf_epochs, "mf_train_seconds": round(mf_seconds, 1),
              "spectral_rank": args.blend_rank, "spectral_fit_seconds": round(fit_seconds, 1), "weight": weight,
              **_metrics(Blend.of([mf, spectral], [1.0, weight]), valid, train)}, rows)
    _log({"part": "spectral-alone", "rank": args.blend_rank, "alpha": args.alpha, **_metrics(spectral, valid, train)}, rows)

    path = write_result("gowalla-spectral", {
        "command": "python benchmarks/gowalla_spectral.py",
        "protocol": "Gowalla LightGCN train file split 90/10 per user (seed 0); full ranking of the 10%, train masked",
        "args": vars(args),
        "rows": rows,
    })
    print(path)


if __name__ == "__main__":
    main()
