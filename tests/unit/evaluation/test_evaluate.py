"""evaluate: sampled protocol vs a literal NeuMF evaluate.py, full vs a per-user loop."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from fake_models import FixedMF
from torch import Tensor, nn

from ncf.data.interactions import Interactions
from ncf.errors import ConfigError, DataError
from ncf.evaluation import EvalReport, evaluate
from ncf.models.base import Model


class CoarseMLP(Model):
    """Nonlinear scores rounded to a coarse grid, so that ties are frequent."""

    name = "coarse-mlp"

    def __init__(
        self, num_users: int, num_items: int, dim: int = 4, seed: int = 0, step: float = 0.5
    ) -> None:
        super().__init__(num_users, num_items)
        g = torch.Generator().manual_seed(seed)
        self.p = nn.Parameter(torch.randn(num_users, dim, generator=g))
        self.q = nn.Parameter(torch.randn(num_items, dim, generator=g))
        self.w = nn.Parameter(torch.randn(2 * dim, 5, generator=g))
        self.step = step

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        users, items = torch.broadcast_tensors(users, items)
        h = torch.tanh(torch.cat([self.p[users], self.q[items]], dim=-1) @ self.w).sum(-1)
        return torch.round(h / self.step) * self.step

    def get_config(self) -> dict[str, Any]:
        return {}


def score_list(model: Model, user: int, items: list[int]) -> list[float]:
    with torch.no_grad():
        return model.score(torch.full((len(items),), user), torch.tensor(items)).tolist()


# ---------------------------------------------------------------------------- references
def neumf_reference(
    model: Model, users: np.ndarray, items: np.ndarray, negatives: np.ndarray, k: int
) -> tuple[float, float, float]:
    """The NeuMF paper's evaluate.py, one row at a time, with ties counted against the item.

    Scores are keyed by item id in a dict (so repeats collapse and a negative equal to the
    test item is the test item); rank = 1 + #{other items scoring >= the test item}.
    """
    hrs, ndcgs, aucs = [], [], []
    for idx in range(len(users)):
        u, gt = int(users[idx]), int(items[idx])
        cand = [int(n) for n in negatives[idx] if n >= 0]
        cand.append(gt)
        preds = score_list(model, u, cand)
        map_item_score = {}
        for i, item in enumerate(cand):
            map_item_score[item] = preds[i]
        pos = map_item_score[gt]
        others = [s for item, s in map_item_score.items() if item != gt]
        rank = 1 + sum(1 for s in others if s >= pos)
        hrs.append(1.0 if rank <= k else 0.0)
        ndcgs.append(math.log(2) / math.log(rank + 1) if rank <= k else 0.0)
        if others:
            aucs.append(
                sum(1.0 if s < pos else 0.5 if s == pos else 0.0 for s in others) / len(others)
            )
    return float(np.mean(hrs)), float(np.mean(ndcgs)), float(np.mean(aucs))


def full_reference(
    model: Model, test: Interactions, exclude: sp.csr_matrix | None, k: int
) -> tuple[dict[str, float], int, int]:
    """Per-user loop: score all items, mask, argsort, textbook Recall/NDCG/HR/Precision@k."""
    sums = {"hr": 0.0, "recall": 0.0, "precision": 0.0, "ndcg": 0.0}
    evaluated = skipped = 0
    for u in np.unique(test.users):
        rel = set(test.items[test.users == u].tolist())
        seen = set(exclude[int(u)].indices.tolist()) if exclude is not None else set()
        rel -= seen
        if not rel:
            skipped += 1
            continue
        s = np.asarray(score_list(model, int(u), list(range(model.num_items))))
        cand = [i for i in np.argsort(-s, kind="stable").tolist() if i not in seen][:k]
        hits = [i in rel for i in cand]
        h = sum(hits)
        sums["hr"] += float(h > 0)
        sums["recall"] += h / len(rel)
        sums["precision"] += h / k
        dcg = sum(1 / math.log2(r + 2) for r, x in enumerate(hits) if x)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
        sums["ndcg"] += dcg / idcg
        evaluated += 1
    return {f"{m}@{k}": v / evaluated for m, v in sums.items()}, evaluated, skipped


def loo_data(
    num_users: int = 30, num_items: int = 60, num_neg: int = 20, seed: int = 0
) -> tuple[Interactions, Interactions, np.ndarray]:
    """Leave-one-out style data: a few train items per user, one test item, sampled negatives."""
    rng = np.random.default_rng(seed)
    tu, ti, su, si, negs = [], [], [], [], []
    for u in range(num_users):
        chosen = rng.choice(num_items, size=6, replace=False)
        tu += [u] * 5
        ti += chosen[:5].tolist()
        su.append(u)
        si.append(int(chosen[5]))
        pool = np.setdiff1d(np.arange(num_items), chosen)
        negs.append(rng.choice(pool, size=num_neg, replace=False))
    train = Interactions.from_arrays(tu, ti, num_users=num_users, num_items=num_items)
    test = Interactions.from_arrays(su, si, num_users=num_users, num_items=num_items)
    return train, test, np.asarray(negs, dtype=np.int64)


# ---------------------------------------------------------------------------- sampled protocol
@pytest.mark.parametrize("model_kind", ["mf", "coarse"])
def test_sampled_matches_neumf_reference(model_kind: str) -> None:
    _, test, negs = loo_data()
    negs[:, -3:] = -1  # ragged rows
    negs[::4, 0] = negs[::4, 1]  # repeated negatives
    model: Model = FixedMF(30, 60) if model_kind == "mf" else CoarseMLP(30, 60, step=0.5)
    report = evaluate(model, test, protocol="sampled", negatives=negs, k=(1, 5, 10), batch_size=7)
    assert report.users == 30 and report.protocol == "sampled"
    for k in (1, 5, 10):
        hr, nd, auc = neumf_reference(model, test.users, test.items, negs, k)
        assert report.metrics[f"hr@{k}"] == pytest.approx(hr)
        assert report.metrics[f"ndcg@{k}"] == pytest.approx(nd)
    assert report.metrics["auc"] == pytest.approx(auc)


def test_sampled_ties_rank_the_positive_last() -> None:
    model = CoarseMLP(5, 20, step=1e6)  # every score is 0: all tied
    _, test, negs = loo_data(5, 20, num_neg=9)
    report = evaluate(model, test, protocol="sampled", negatives=negs, k=(10, 1))
    assert report.metrics["hr@1"] == 0.0
    assert report.metrics["hr@10"] == 1.0  # rank = 10 of 10 candidates
    assert report.metrics["ndcg@10"] == pytest.approx(1 / math.log2(11))
    assert report.metrics["mrr@10"] == pytest.approx(0.1)
    assert report.metrics["auc"] == pytest.approx(0.5)


def test_negative_equal_to_test_item_is_dropped() -> None:
    model = FixedMF(1, 4, seed=0)
    s = score_list(model, 0, [0, 1, 2, 3])
    order = np.argsort(s)  # ascending
    gt, low = int(order[1]), int(order[0])  # test item beats exactly one item
    test = Interactions.from_arrays([0], [gt], num_users=1, num_items=4)
    negs = np.array([[gt, low, low, gt, -1]], dtype=np.int64)
    report = evaluate(model, test, protocol="sampled", negatives=negs, k=1)
    assert report.metrics["hr@1"] == 1.0  # the copies of gt are not competitors
    assert report.metrics["auc"] == 1.0  # low counted once
    reference = neumf_reference(model, test.users, test.items, negs, 1)
    assert reference[0] == 1.0


def test_sampled_exclude_drops_known_positive_negatives() -> None:
    model = FixedMF(1, 4, seed=0)
    s = score_list(model, 0, [0, 1, 2, 3])
    order = np.argsort(s)
    gt, high = int(order[0]), int(order[3])
    test = Interactions.from_arrays([0], [gt], num_users=1, num_items=4)
    negs = np.array([[high]], dtype=np.int64)
    train = Interactions.from_arrays([0], [high], num_users=1, num_items=4)
    assert evaluate(model, test, protocol="sampled", negatives=negs, k=1).metrics["hr@1"] == 0.0
    assert (
        evaluate(model, test, exclude=train, protocol="sampled", negatives=negs, k=1).metrics[
            "hr@1"
        ]
        == 1.0
    )


# ---------------------------------------------------------------------------- full protocol
@pytest.mark.parametrize("model_kind", ["mf", "mlp"])
def test_full_matches_per_user_loop(model_kind: str) -> None:
    rng = np.random.default_rng(3)
    nu, ni = 25, 40
    pairs = rng.choice(nu * ni, size=300, replace=False)
    users, items = pairs // ni, pairs % ni
    train = Interactions.from_arrays(users[:200], items[:200], num_users=nu, num_items=ni)
    test = Interactions.from_arrays(users[200:], items[200:], num_users=nu, num_items=ni)
    model: Model = (
        FixedMF(nu, ni, seed=4) if model_kind == "mf" else CoarseMLP(nu, ni, step=1e-6)
    )
    for k in (3, 10):
        ref, evaluated, skipped = full_reference(model, test, train.to_csr(), k)
        report = evaluate(model, test, exclude=train, k=(k, 1), batch_size=4)
        assert report.users == evaluated and report.skipped == skipped == 0
        for name, value in ref.items():
            assert report.metrics[name] == pytest.approx(value), name


def test_full_relevant_item_also_excluded_is_dropped_and_user_skipped() -> None:
    model = FixedMF(3, 10, seed=5)
    train = Interactions.from_arrays([0, 1, 2], [1, 2, 3], num_users=3, num_items=10)
    test = Interactions.from_arrays([0, 1, 1, 2], [1, 2, 5, 7], num_users=3, num_items=10)
    ref, evaluated, skipped = full_reference(model, test, train.to_csr(), 5)
    report = evaluate(model, test, exclude=train, k=5)
    assert (report.users, report.skipped) == (evaluated, skipped) == (2, 1)
    for name, value in ref.items():
        assert report.metrics[name] == pytest.approx(value)


def test_exclude_forms_agree() -> None:
    rng = np.random.default_rng(6)
    nu, ni = 10, 30
    pairs = rng.choice(nu * ni, size=120, replace=False)
    u, i = pairs // ni, pairs % ni
    train = Interactions.from_arrays(u[:60], i[:60], num_users=nu, num_items=ni)
    valid = Interactions.from_arrays(u[60:90], i[60:90], num_users=nu, num_items=ni)
    test = Interactions.from_arrays(u[90:], i[90:], num_users=nu, num_items=ni)
    model = FixedMF(nu, ni, seed=7)
    a = evaluate(model, test, exclude=[train, valid], k=(5, 10))
    b = evaluate(model, test, exclude=train.concat(valid).to_csr(), k=(5, 10))
    c = evaluate(model, test, exclude=train.concat(valid), k=(5, 10))
    assert a.metrics == b.metrics == c.metrics


def test_report_contents_rankings_and_popularity() -> None:
    train, test, _ = loo_data(12, 25, num_neg=5)
    model = FixedMF(12, 25, seed=8)
    report = evaluate(
        model, test, exclude=train, k=[10, 5], keep_rankings=True, train_counts=train.item_counts()
    )
    expected = {
        f"{m}@{k}"
        for m in ("hr", "recall", "precision", "ndcg", "mrr", "map", "coverage", "popularity")
        for k in (5, 10)
    }
    assert set(report.metrics) == expected
    assert report.rankings is not None and report.ranked_users is not None
    assert report.rankings.ids.shape == (12, 10)
    np.testing.assert_array_equal(report.ranked_users, np.arange(12))
    seen = train.to_csr()
    for row, u in enumerate(report.ranked_users):
        assert not set(report.rankings.ids[row].tolist()) & set(seen[int(u)].indices.tolist())
    d = report.to_dict()
    assert d["users"] == 12 and "seconds" in d and d["ndcg@10"] == report.metrics["ndcg@10"]
    table = report.format_table()
    assert "ndcg" in table and "@10" in table and "full" in table
    assert str(report) == table
    assert isinstance(report, EvalReport)
    no_rank = evaluate(model, test, exclude=train, k=5)
    assert no_rank.rankings is None and no_rank.ranked_users is None


def test_model_mode_restored() -> None:
    train, test, negs = loo_data(8, 20, num_neg=5)
    model = CoarseMLP(8, 20)
    model.train()
    evaluate(model, test, exclude=train, k=5)
    evaluate(model, test, protocol="sampled", negatives=negs, k=5)
    assert model.training


# ---------------------------------------------------------------------------- bad inputs
def test_bad_inputs() -> None:
    train, test, negs = loo_data(6, 15, num_neg=4)
    model = FixedMF(6, 15)
    with pytest.raises(ConfigError):
        evaluate(model, test, k=0)
    with pytest.raises(ConfigError):
        evaluate(model, test, k=[])
    with pytest.raises(ConfigError):
        evaluate(model, test, protocol="loo")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="empty"):
        evaluate(model, test.select(np.zeros(len(test), bool)))
    big = Interactions.from_arrays([0], [20], num_users=6, num_items=30)
    with pytest.raises(DataError, match="outside the model"):
        evaluate(model, big)
    other = Interactions.from_arrays([0], [1], num_users=6, num_items=16)
    with pytest.raises(DataError, match="exclude"):
        evaluate(model, test, exclude=other)
    with pytest.raises(DataError):
        evaluate(model, test, exclude=sp.csr_matrix((6, 14)))
    with pytest.raises(ConfigError, match="negatives"):
        evaluate(model, test, protocol="sampled")
    with pytest.raises(DataError, match="negatives"):
        evaluate(model, test, protocol="sampled", negatives=negs[:-1])
    with pytest.raises(DataError, match="negatives"):
        evaluate(model, test, protocol="sampled", negatives=negs + 100)
    with pytest.raises(ConfigError):
        evaluate(model, test, negatives=negs)
    with pytest.raises(DataError):
        evaluate(model, test, train_counts=np.ones(3))
    with pytest.raises(DataError, match="nothing to evaluate"):
        evaluate(model, test, exclude=test)


def test_sampled_k_beyond_the_candidates_is_refused_as_in_full_ranking() -> None:
    model = CoarseMLP(5, 20, step=1e6)
    _, test, negs = loo_data(5, 20, num_neg=9)  # 10 candidates per user
    assert evaluate(model, test, protocol="sampled", negatives=negs, k=10).metrics["hr@10"] == 1.0
    for protocol, extra, limit in (("sampled", {"negatives": negs}, 10), ("full", {}, 20)):
        with pytest.raises(ConfigError, match=f"k={limit + 1} exceeds the {limit} ranked positions available"):
            evaluate(model, test, protocol=protocol, k=limit + 1, **extra)
