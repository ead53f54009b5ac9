"""How much of ML-100K's leave-one-out test item is predictable from the user's *latest* items?

Evidence for the NeuMF-protocol target (HR@10 >= 0.62, NDCG@10 >= 0.35): the test item is each
user's last interaction, so recency matters. Two measurements on ``ml-100k-loo`` (99 fixed
negatives, ties count against the test item, as in ``ncf.evaluate``):

1. item-kNN without training: a candidate's score is the sum of its cosine co-occurrence
   similarity (over the training matrix) to the user's last ``L`` training items, for several
   ``L`` (``L`` = all is plain item-kNN), scored on a validation split (each user's latest
   training interaction, 99 negatives; similarities from the rest of train); ``L`` is chosen
   there, and only the chosen ``L`` is scored on test.
2. ``TwoTower`` whose user tower also sees a recency-weighted multi-hot of the user's last 3
   training items (weights 0.7^position), in-batch softmax, epoch chosen on the same validation
   split, then retrained on all of train for that many epochs and scored on test once.

Nothing here is chosen on test. (An earlier version scored every ``L`` and every epoch on test;
those were test-set looks that chose nothing, and are no longer written.)

Run: ``python benchmarks/ml100k_sequence_signal.py`` (about a minute on 2 cores); writes
``benchmarks/results/ml100k-sequence-signal.json``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from _common import data_dir, write_result

from ncf import TrainConfig, Trainer, TwoTower, evaluate
from ncf.data import Interactions, read_neumf
from ncf.data.splits import validation_split


def last_items(train: Interactions, last: int, decay: float = 1.0) -> sp.csr_matrix:
    """(users x items) weights ``decay**p`` of each user's ``last`` latest training items."""
    assert train.timestamps is not None
    order = np.lexsort((train.timestamps, train.users))
    users, items = train.users[order], train.items[order]
    ends = np.cumsum(np.bincount(users, minlength=train.num_users))
    from_end = ends[users] - 1 - np.arange(users.size)
    keep = from_end < last
    return sp.csr_matrix(
        (decay ** from_end[keep].astype(np.float64), (users[keep], items[keep])),
        shape=(train.num_users, train.num_items),
    )


def sampled_metrics(scores: np.ndarray) -> dict[str, float]:
    """HR@10 / NDCG@10 from (rows, 1 + C) scores, test item in column 0, ties against it."""
    rank = (scores[:, 1:] >= scores[:, :1]).sum(axis=1)
    hit = rank < 10
    return {"hr@10": float(hit.mean()), "ndcg@10": float((hit / np.log2(rank + 2)).mean())}


def item_knn(train: Interactions, test: Interactions, negatives: np.ndarray,
             lasts: tuple[int, ...] = (1, 3, 5, 10, 50, 10**9)) -> dict[str, dict[str, float]]:
    x = sp.csr_matrix(
        (np.ones(len(train)), (train.users, train.items)), shape=(train.num_users, train.num_items)
    )
    x.data[:] = 1.0  # binary, duplicates collapsed
    co = (x.T @ x).toarray()
    norm = np.sqrt(np.diag(co)) + 1e-9
    sim = co / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)
    cand = np.concatenate([test.items[:, None], np.where(negatives < 0, test.items[:, None], negatives)], 1)
    out = {}
    for last in lasts:
        profile = last_items(train, last)[test.users]  # (rows, items)
        user_sim = np.asarray(profile @ sim)  # (rows, items)
        scores = np.take_along_axis(user_sim, cand, axis=1)
        scores[:, 1:][negatives < 0] = -np.inf
        out["all" if last == 10**9 else str(last)] = sampled_metrics(scores)
    return out


def two_tower_with_recent_items(ds_split) -> dict[str, object]:  # noqa: ANN001
    def run(train: Interactions, test: Interactions, negs: np.ndarray, epochs: int,
            every_epoch: bool) -> list[dict[str, float]]:
        torch.manual_seed(0)
        feats = last_items(train, 3, 0.7).toarray().astype(np.float32)
        model = TwoTower(train.num_users, train.num_items, embedding_dim=64, layers=(128, 64),
                         temperature=0.1, user_features=feats)
        curve: list[dict[str, float]] = []
        cfg = TrainConfig(loss="softmax", lr=1e-3, batch_size=1024, epochs=epochs, show_progress=False, seed=0)

        def score(_log: object = None) -> None:
            rep = evaluate(model, test, exclude=train, k=(10,), protocol="sampled", negatives=negs)
            curve.append({k: rep.metrics[k] for k in ("hr@10", "ndcg@10")})

        Trainer(cfg, callbacks=[score] if every_epoch else []).fit(model, train)
        if not every_epoch:
            score()
        return curve

    train_v, valid, valid_negs = validation_split(ds_split.train, method="loo", num_negatives=99, seed=0)
    valid_curve = run(train_v, valid, valid_negs, 30, every_epoch=True)
    best = int(np.argmax([r["ndcg@10"] for r in valid_curve]))
    # all of train, the epoch count chosen on validation, test scored once at the end
    test = run(ds_split.train, ds_split.test, ds_split.test_negatives, best + 1, every_epoch=False)[0]
    return {"epoch_chosen_on_validation": best + 1, "valid": valid_curve[best], "test": test}


def main() -> None:
    ds = read_neumf(data_dir() / "ml-100k-loo")
    split = ds.split
    assert split is not None and split.test_negatives is not None
    train_v, valid, valid_negs = validation_split(split.train, method="loo", num_negatives=99, seed=0)
    knn_valid = item_knn(train_v, valid, valid_negs)
    for last, m in knn_valid.items():
        print(f"item-kNN on the last {last:>3} items, validation: HR@10 {m['hr@10']:.4f}  NDCG@10 {m['ndcg@10']:.4f}")
    chosen = max(knn_valid, key=lambda k: knn_valid[k]["ndcg@10"])
    lasts = (10**9,) if chosen == "all" else (int(chosen),)
    knn_test = item_knn(split.train, split.test, split.test_negatives, lasts)[chosen]
    print(f"item-kNN, L = {chosen} (chosen on validation), test: HR@10 {knn_test['hr@10']:.4f}  "
          f"NDCG@10 {knn_test['ndcg@10']:.4f}")
    tt = two_tower_with_recent_items(split)
    print(f"two-tower + last-3 items feature: epoch {tt['epoch_chosen_on_validation']} "
          f"valid {tt['valid']}  test {tt['test']}")
    path = write_result("ml100k-sequence-signal", {
        "note": "choices on the validation carve (each user's latest training item, 99 negatives); test scored "
                "once per measurement, for the chosen setting only",
        "item_knn_last_L_validation": knn_valid, "item_knn_chosen_L": chosen, "item_knn_test": knn_test,
        "two_tower_recent_items": tt})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
