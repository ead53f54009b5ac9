"""One split path for ``ncf train`` and ``ncf tune``: the test split, then the validation carve.

The carve stands for the test it guards: under the sampled protocol it holds out one item per
user with as many sampled negatives as the test rows have (the latest item when timestamps
order the user's items, a seeded random one when they carry no order: never an item chosen by
index); under full ranking a random share of each user's items. :class:`Carve` says which
rule was used and why; ``run.json`` and the progress line repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ncf.app.spec import RunSpec
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError


def make_split(data: Interactions, protocol: str, *, negatives: int, seed: int, test_fraction: float = 0.2) -> Split:
    """Split raw interactions: ``loo`` (each user's latest item), ``temporal`` or ``random``, with
    ``negatives`` sampled negatives per test row (0: none, for full ranking)."""
    from ncf.data.splits import leave_one_out, random_split, temporal_split

    if protocol == "loo":
        return leave_one_out(data, num_negatives=negatives, seed=seed)
    if protocol == "temporal":
        return temporal_split(data, test_fraction=test_fraction, num_negatives=negatives, seed=seed)
    if protocol == "random":
        return random_split(data, test_fraction=test_fraction, num_negatives=negatives, seed=seed)
    raise ConfigError(f"unknown split protocol {protocol!r}")


def test_split(spec: RunSpec, dataset: Any) -> Split:
    """The dataset's published split, or the one ``spec.split`` makes of its interactions."""
    split: Split | None = dataset.split
    if split is not None:
        return split
    negatives = spec.split.test_negatives if spec.split.protocol == "loo" else 0
    return make_split(dataset.interactions, spec.split.protocol, negatives=negatives, seed=spec.train.seed,
                      test_fraction=spec.split.test_fraction)


@dataclass(frozen=True)
class Carve:
    """How the validation rows were carved from train: method, rule, why, and how many rows."""

    method: str  # "loo" (one item per user, sampled negatives) or "random" (a share per user)
    rule: str  # "latest", "random", "mixed" or "random share"
    reason: str
    valid_rows: int
    train_rows: int  # training rows left after the carve

    def describe(self) -> str:
        what = "one held-out item per user" if self.method == "loo" else "a random share of each user's items"
        return (f"validation carve: {what}, {self.rule} ({self.reason}); "
                f"{self.valid_rows:,} validation rows, {self.train_rows:,} training rows left")

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "rule": self.rule, "reason": self.reason, "valid_rows": self.valid_rows,
                "train_rows": self.train_rows}


def carve_validation(train: Interactions, test_negatives: np.ndarray | None, spec: RunSpec) -> tuple[
        Interactions, Interactions, np.ndarray | None, Carve]:
    """(train minus the carve, the carve, its negatives, how it was made), mirroring the test protocol."""
    from ncf.data.splits import holdout_rule, validation_split

    sampled = test_negatives is not None
    negs = int(np.max(np.sum(test_negatives >= 0, axis=1))) if test_negatives is not None and len(test_negatives) else 0
    if sampled:
        rule = holdout_rule(train)
        method, how, reason = "loo", rule.rule, rule.reason
    else:
        method, how = "random", "random share"
        reason = f"full ranking: {spec.split.valid_fraction:g} of each user's training items, seeded"
    fit, valid, valid_negs = validation_split(train, method=method, fraction=spec.split.valid_fraction,  # type: ignore[arg-type]
                                              num_negatives=negs, seed=spec.train.seed)
    return fit, valid, valid_negs, Carve(method, how, reason, len(valid), len(fit))


def run_split(spec: RunSpec, dataset: Any, *, keep_test: bool = True) -> tuple[Split, Carve | None]:
    """The split a run trains on: the test split plus, when the run wants one, the validation carve.

    ``keep_test=False`` (``ncf tune``) drops the test rows before the carve is made and returns
    ``Split(train - carve, test=None-like empty, valid=carve)``: nothing downstream can read them.
    """
    split = test_split(spec, dataset)
    if not spec.wants_validation() and keep_test:
        return split, None
    train, test_negatives = split.train, split.test_negatives
    if not keep_test:
        test = split.test.select(np.zeros(len(split.test), dtype=bool))
        del split
        fit, valid, valid_negs, carve = carve_validation(train, test_negatives, spec)
        return Split(fit, test, valid, None, valid_negs), carve
    fit, valid, valid_negs, carve = carve_validation(train, test_negatives, spec)
    return Split(fit, split.test, valid, split.test_negatives, valid_negs), carve


#: Optimizer steps per epoch that ``scale-batch`` aims at: the tuned MF + BPR configs of ML-100K
#: (98k rows, batch 1024, lr 0.002) and Gowalla (728k rows, batch 8192, lr 0.005) both take ~90-100.
STEPS_PER_EPOCH = 96


def scaled_batch(spec: RunSpec, rows: int) -> tuple[RunSpec, dict[str, Any] | None]:
    """``spec`` with ``scale-batch`` applied to ``rows`` training rows: the batch a power of two
    near ``rows / STEPS_PER_EPOCH`` (never below the configured batch) and the learning rate times
    the square root of the growth. Unchanged (and None) when the rule is off, when the user gave
    the batch or the learning rate, or when the batch does not grow."""
    train = spec.train
    if not train.scale_batch or spec.explicit & {"batch-size", "lr"}:
        return spec, None
    target = max(1, rows // STEPS_PER_EPOCH)
    batch = train.batch_size
    while batch * 2 <= target * 1.5:  # the power-of-two multiple of the batch nearest the target
        batch *= 2
    if batch == train.batch_size:
        return spec, None
    lr = train.lr * (batch / train.batch_size) ** 0.5
    note = {"rows": rows, "batch-size": [train.batch_size, batch], "lr": [train.lr, lr]}
    return spec.replace(**{"batch-size": batch, "lr": lr}), note
