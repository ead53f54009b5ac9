"""Gowalla tuning harness: train with a time budget, evaluate Recall/NDCG@20 after every epoch.

Hyper-parameters are chosen on a validation split carved from train (10% of each user's
training items, seed 0), and the "best" line is the best epoch *on validation*. ``--target test``
trains on the full train file for exactly ``--max-epochs`` epochs (a count chosen before, on
validation) and scores the test split: a test-set look that chooses nothing. Its per-epoch rows
are labelled ``"split": "test"`` and its last line is the final epoch, never the best one.
Evaluation time is not counted as training time. Writes one JSON line per epoch to stdout.

Example: python benchmarks/gowalla_tune.py --loss softmax --cosine --temperature 0.1 --minutes 5
"""

from __future__ import annotations

import argparse
import json

from _common import data_dir

from ncf import EpochLog, MatrixFactorization, TrainConfig, Trainer, evaluate
from ncf.data import read_lightgcn, validation_split


class _Budget(Exception):
    """The training-time budget is spent."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--loss", default="softmax")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--cosine", action="store_true")
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", default="constant")
    p.add_argument("--bf16", action="store_true", help="softmax logits in bfloat16")
    p.add_argument("--l2", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--negatives", type=int, default=1)
    p.add_argument("--extra-negatives", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--no-logq", action="store_true")
    p.add_argument("--logq-weight", type=float, default=1.0)
    p.add_argument("--sampler", default="uniform")
    p.add_argument("--hard-negatives", type=float, default=0.0)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--max-epochs", type=int, default=1000)
    p.add_argument("--target", choices=["valid", "test"], default="valid")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train, test = ds.split.train, ds.split.test
    exclude = [train]
    if args.target == "valid":
        train, test, _ = validation_split(train, method="random", fraction=0.1, seed=0)
        exclude = [train]
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=args.dim,
                                use_bias=not args.cosine, normalize=args.cosine,
                                sparse=args.optimizer in ("sparse_adam", "adagrad"))
    cfg = TrainConfig(loss=args.loss, epochs=args.max_epochs, lr_schedule=args.lr_schedule, softmax_bf16=args.bf16, batch_size=args.batch_size, lr=args.lr,
                      l2=args.l2, weight_decay=args.weight_decay, optimizer=args.optimizer,
                      num_negatives=args.negatives, extra_negatives=args.extra_negatives,
                      temperature=args.temperature, logq=not args.no_logq, logq_weight=args.logq_weight, sampler=args.sampler,
                      hard_negatives=args.hard_negatives, seed=args.seed, show_progress=False)
    print(json.dumps({"args": vars(args)}), flush=True)
    state = {"train_seconds": 0.0, "best": None}

    def after_epoch(log: EpochLog) -> None:
        state["train_seconds"] += log.seconds
        rep = evaluate(model, test, exclude=exclude, k=(20,), protocol="full")
        m = rep.metrics
        row = {"split": args.target, "epoch": log.epoch, "train_seconds": round(state["train_seconds"], 1), "loss": round(log.loss, 4),
               "recall@20": round(m["recall@20"], 4), "ndcg@20": round(m["ndcg@20"], 4),
               "eval_seconds": round(rep.seconds, 2)}
        print(json.dumps(row), flush=True)
        if args.target == "test":  # nothing is chosen on test: the final epoch is the result
            state["best"] = row
        elif state["best"] is None or m["recall@20"] > state["best"]["recall@20"]:
            state["best"] = row
        if state["train_seconds"] > args.minutes * 60:
            raise _Budget

    try:
        Trainer(cfg, callbacks=[after_epoch]).fit(model, train)
    except _Budget:
        pass
    key = "final (test-set look, chose nothing)" if args.target == "test" else "best on validation"
    print(json.dumps({key: state["best"]}), flush=True)


if __name__ == "__main__":
    main()
