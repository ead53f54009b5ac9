"""The notebook-exercise studies' own pieces (``benchmarks/negatives_study.py``, ``map_study.py``,
``features_study.py``): the in-batch + hard objective against a loop, the hard-mining warm-up, the
feature and split helpers, on tiny data in seconds."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from ncf import MatrixFactorization, TrainConfig
from ncf.data import Interactions
from ncf.losses import in_batch_log_q
from ncf.sampling import PositiveSet
from ncf.training.objectives import Batch, Softmax

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def studies(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    names = ("negatives_study", "map_study", "features_study")
    try:
        yield {n: importlib.import_module(n) for n in names}
    finally:
        for n in (*names, "side_features", "_common"):
            sys.modules.pop(n, None)


def _tiny(num_users: int = 6, num_items: int = 9, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(num_users), 4)
    items = np.concatenate([rng.choice(num_items, 4, replace=False) for _ in range(num_users)])
    return Interactions.from_arrays(users, items, num_users=num_users, num_items=num_items,
                                    timestamps=np.arange(users.size))


def test_in_batch_plus_hard_matches_a_loop_and_is_the_softmax_without_negatives(studies) -> None:
    ns = studies["negatives_study"]
    train = _tiny()
    torch.manual_seed(0)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=4, use_bias=False)
    probs = torch.full((train.num_items,), 1.0 / train.num_items)
    positives = PositiveSet(train)
    users, items = torch.tensor([0, 1, 2, 3]), torch.tensor([int(train.items[0]), int(train.items[4]),
                                                             int(train.items[8]), int(train.items[0])])
    neg = torch.tensor([[1, 2], [3, 4], [5, 6], [7, 8]])
    ours = ns.SoftmaxPlusHard(probs, temperature=0.5, positives=positives)
    plain = Softmax(probs, temperature=0.5, positives=positives)
    assert torch.allclose(ours(model, Batch(users, items)), plain(model, Batch(users, items)))

    u, v = model.user_vectors(users).detach(), model.item_vectors().detach()
    logq = in_batch_log_q(probs[items], batch_size=4, num_extra=0, num_items=train.num_items, weight=1.0)
    seen = positives.batch_mask(users, items)
    total = 0.0
    for b in range(4):
        row = []
        for c in range(4):
            if c != b and (items[c] == items[b] or seen[b, c]):
                continue
            row.append(float(u[b] @ v[items[c]]) / 0.5 - float(logq[c]))
        kept = [c for c in range(4) if c == b or not (items[c] == items[b] or seen[b, c])]
        target = row[kept.index(b)]
        row += [float(u[b] @ v[j]) / 0.5 for j in neg[b].tolist()]
        total += -(target - float(torch.logsumexp(torch.tensor(row), 0)))
    assert float(ours(model, Batch(users, items, negatives=neg)).detach()) == pytest.approx(total / 4, rel=1e-5)


def test_hard_mining_waits_for_the_warm_up_and_is_timed(studies) -> None:
    ns = studies["negatives_study"]
    train = _tiny(num_users=20, num_items=30)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=4, use_bias=False)
    cfg = TrainConfig(loss="bpr", num_negatives=2, hard_negatives=1.0, hard_candidates=5, epochs=3, batch_size=16,
                      show_progress=False)
    trainer = ns.StudyTrainer(cfg, warmup=2)
    trainer.fit(model, train)
    assert trainer.refreshes == 3 and len(trainer.mining_seconds) == 1
    soft = ns.StudyTrainer(TrainConfig(loss="softmax", epochs=2, batch_size=16, show_progress=False),
                           softmax_hard=2)
    soft.fit(MatrixFactorization(train.num_users, train.num_items, embedding_dim=4, use_bias=False), train)
    assert soft.refreshes == 2 and len(soft.mining_seconds) == 2


def test_genre_preferences_and_first_interactions(studies) -> None:
    fs = studies["features_study"]
    genres = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    prefs = fs.genre_preferences(np.array([0, 0, 2]), np.array([0, 2, 1]), 3, genres)
    assert np.allclose(prefs, [[1.0, 0.5], [0.0, 0.0], [0.0, 1.0]])
    data = Interactions.from_arrays(np.array([1, 1, 1, 0, 0]), np.array([3, 1, 2, 0, 4]), num_users=2, num_items=5,
                                    timestamps=np.array([30, 10, 20, 5, 1]))
    known, rest = fs.first_and_rest(data, np.array([1]), 2)
    assert sorted(known.items.tolist()) == [1, 2] and rest.items.tolist() == [3]
    assert set(known.users.tolist()) == {1}


def test_map_measures(studies) -> None:
    ms = studies["map_study"]
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(200, 2))
    assert ms.r2_on_coords(coords, 2 * coords[:, 0] - coords[:, 1] + 3) == pytest.approx(1.0)
    nb = ms.neighbours(coords, 10, cosine=False)
    rho, base = ms.popularity_neighbourhood(nb, coords[:, 0].astype(np.float64), 0)
    assert rho > 0.9 and abs(base) < 0.1


def test_finished_runs_are_checkpointed_and_reused_with_the_same_limits(studies, tmp_path, monkeypatch) -> None:
    ns = studies["negatives_study"]
    monkeypatch.setattr(ns, "RUNS", tmp_path / "runs")
    monkeypatch.setenv("NCF_RESULTS_DIR", str(tmp_path / "results"))
    run = {"arm": "uniform", "model": "mf", "seed": 1, "lr": 0.002, "valid": 0.5, "curve": []}
    ns.save_checkpoint("negatives-x", run, max_epochs=40, patience=3, threads=2)
    ns.save_checkpoint("negatives-x", {**run, "seed": 2, "valid": 0.25}, max_epochs=10, patience=3, threads=2)
    with ns.checkpoint_path("negatives-x").open("a") as fh:
        fh.write('{"max_epochs": 40, "patience": 3, "run": {"arm": "inb')  # a run killed mid-write
    cache = ns.reusable_runs("negatives-x", max_epochs=40, patience=3)
    assert cache == {("mf", "uniform", 1, 0.002): run}  # the other limit and the torn line are not taken
    assert ns.reusable_runs("negatives-x", max_epochs=10, patience=3)[("mf", "uniform", 2, 0.002)]["valid"] == 0.25
    assert ns.reusable_runs("negatives-y", max_epochs=40, patience=3) == {}
