"""Exploration: a SimpleX-style user tower (ID + mean of the user's item vectors) on Gowalla.

Not a library model yet. This measures whether aggregating each user's training items into the
user vector (Mao et al. 2021, "SimpleX") is worth building. The model is
``u = normalize(g * p_u + (1 - g) * W mean_j q_j)`` over the user's training items, with
``v = normalize(q_i)``. It is trained by the library's ``Trainer`` exactly like ``gowalla-best``
(in-batch softmax, T 0.1, logQ, accidental hits removed, row-sparse Adam, bfloat16 logits) on the
validation split of ``gowalla_tune.py``: 90% of each user's training items, evaluated on the
held-out 10% after every epoch. Compare with the ``softmax_d128`` row of
``results/gowalla-ablation.json``.

Run: ``python benchmarks/gowalla_history_aggregation.py [--gate 0.5] [--dim 128] [--epochs 6]``;
writes ``benchmarks/results/gowalla-history-aggregation.json``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _common import data_dir, write_result
from torch import Tensor, nn

from ncf import EpochLog, TrainConfig, Trainer, evaluate
from ncf.data import Interactions, read_lightgcn, validation_split
from ncf.models.base import FactorizedRecommender


class HistoryMF(FactorizedRecommender):
    """Cosine MF whose user vector mixes an ID embedding with the mean of its items' vectors."""

    name = "history-mf-exploration"

    def __init__(self, train: Interactions, dim: int, gate: float) -> None:
        super().__init__(train.num_users, train.num_items)
        self.user_embedding = nn.Embedding(train.num_users, dim, sparse=True)
        self.item_embedding = nn.Embedding(train.num_items, dim, sparse=True)
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        self.mix = nn.Linear(dim, dim, bias=False)
        nn.init.eye_(self.mix.weight)
        csr = train.to_csr()
        self.register_buffer("indptr", torch.from_numpy(csr.indptr.astype(np.int64)))
        self.register_buffer("indices", torch.from_numpy(csr.indices.astype(np.int64)))
        self.gate = gate

    def _history_mean(self, users: Tensor) -> Tensor:
        start = self.indptr[users]
        count = self.indptr[users + 1] - start
        offsets = torch.cat([count.new_zeros(1), count.cumsum(0)[:-1]])
        rows = torch.repeat_interleave(start - offsets, count) + torch.arange(int(count.sum()))
        return F.embedding_bag(self.indices[rows], self.item_embedding.weight, offsets, mode="mean", sparse=True)

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        if users is None:
            users = torch.arange(self.num_users)
        u = self.gate * self.user_embedding(users) + (1 - self.gate) * self.mix(self._history_mean(users))
        return F.normalize(u, dim=-1)

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        q = self.item_embedding.weight if items is None else self.item_embedding(items)
        return F.normalize(q, dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--gate", type=float, default=0.5)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--epochs", type=int, default=6)
    args = p.parse_args()
    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train, valid, _ = validation_split(ds.split.train, method="random", fraction=0.1, seed=0)
    torch.manual_seed(0)
    model = HistoryMF(train, args.dim, args.gate)
    cfg = TrainConfig(loss="softmax", epochs=args.epochs, batch_size=2048, lr=1e-2, temperature=0.1,
                      optimizer="sparse_adam", softmax_bf16=True, show_progress=False, seed=0)
    curve: list[dict[str, float]] = []

    def after_epoch(log: EpochLog) -> None:
        m = evaluate(model, valid, exclude=train, k=(20,), protocol="full").metrics
        row = {"epoch": log.epoch, "train_seconds": round(log.seconds, 1),
               "recall@20": round(m["recall@20"], 4), "ndcg@20": round(m["ndcg@20"], 4)}
        curve.append(row)
        print(row, flush=True)

    Trainer(cfg, callbacks=[after_epoch]).fit(model, train)
    path = write_result("gowalla-history-aggregation", {"args": vars(args), "curve": curve})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
