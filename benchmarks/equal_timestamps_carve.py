"""Does the validation carve stand for the test when timestamps carry no order? (ML-100K)

Every timestamp of MovieLens 100K set to one value; leave-one-out test split and validation carve
as ``ncf train`` makes them (each user's held-out item, 99 sampled negatives); MF-BPR (d 64, 8
negatives, lr 0.002, L2 0.001, batch 1024, 20 epochs) trained on the carved rows; HR@10 of the
same model on validation and on test. "before" reproduces the old tie rule exactly (with equal
timestamps the item index decided: timestamps set to the item index give that order); "now" is
the seeded random item.

    python benchmarks/equal_timestamps_carve.py          # writes results/equal-timestamps-carve.json
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
from _common import data_dir, machine, write_result

import ncf
from ncf.config import TrainConfig
from ncf.data.splits import leave_one_out, validation_split
from ncf.training import Trainer


def run(data: ncf.Interactions, seed: int) -> dict[str, float]:
    split = leave_one_out(data, num_negatives=99, seed=seed)
    fit, valid, valid_negs = validation_split(split.train, method="loo", num_negatives=99, seed=seed)
    model = ncf.MatrixFactorization(data.num_users, data.num_items, embedding_dim=64)
    Trainer(TrainConfig(loss="bpr", epochs=20, lr=0.002, l2=0.001, num_negatives=8, batch_size=1024, seed=seed,
                        show_progress=False)).fit(model, fit)
    v = ncf.evaluate(model, valid, exclude=fit, k=(10,), protocol="sampled", negatives=valid_negs).metrics
    t = ncf.evaluate(model, split.test, exclude=[fit, valid], k=(10,), protocol="sampled",
                     negatives=split.test_negatives).metrics
    return {"valid_hr@10": v["hr@10"], "test_hr@10": t["hr@10"], "gap": v["hr@10"] - t["hr@10"]}


def main() -> int:
    data = ncf.load_dataset(str(data_dir() / "ml-100k")).interactions
    flat = dataclasses.replace(data, timestamps=np.full(len(data), 881250949, dtype=np.int64))
    by_index = dataclasses.replace(data, timestamps=data.items.astype(np.int64))  # the old tie rule's order
    out: dict[str, dict[str, dict[str, float]]] = {"before (item index decides)": {}, "now (seeded random item)": {}}
    for seed in (0, 1, 2):
        out["before (item index decides)"][str(seed)] = run(by_index, seed)
        out["now (seeded random item)"][str(seed)] = run(flat, seed)
        print(seed, {k: v[str(seed)] for k, v in out.items()}, flush=True)
    summary = {k: {"mean_gap": float(np.mean([r["gap"] for r in v.values()]))} for k, v in out.items()}
    write_result("equal-timestamps-carve", {"benchmark": "equal-timestamps-carve", "machine": machine(),
                                            "runs": out, "summary": summary})
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
