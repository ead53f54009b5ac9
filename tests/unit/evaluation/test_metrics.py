"""Ranking metrics against naive per-user references, hand-computed cases and ties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ncf.errors import ConfigError, DataError
from ncf.evaluation import metrics as M


# ---------------------------------------------------------------------------- naive references
def naive_user(hits_row: list[bool], n_rel: int, k: int) -> dict[str, float]:
    """Textbook definitions for one user, one cut-off."""
    top = hits_row[:k]
    h = sum(top)
    out = {"hr": 1.0 if h > 0 else 0.0, "precision": h / k}
    out["recall"] = h / n_rel if n_rel else 0.0
    dcg = sum(1.0 / math.log2(r + 2) for r, x in enumerate(top) if x)
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(n_rel, k)))
    out["ndcg"] = dcg / idcg if idcg else 0.0
    out["mrr"] = 0.0
    for r, x in enumerate(top):
        if x:
            out["mrr"] = 1.0 / (r + 1)
            break
    ap, seen = 0.0, 0
    for r, x in enumerate(top):
        if x:
            seen += 1
            ap += seen / (r + 1)
    out["map"] = ap / min(n_rel, k) if min(n_rel, k) else 0.0
    return out


def naive_rank(pos: float, negs: list[float], valid: list[bool]) -> int:
    return 1 + sum(
        1
        for s, v in zip(negs, valid, strict=True)
        if v and (s >= pos or math.isnan(s) or math.isnan(pos))
    )


def naive_auc(pos: float, negs: list[float], valid: list[bool]) -> float:
    vals = [s for s, v in zip(negs, valid, strict=True) if v]
    if not vals:
        return float("nan")
    return sum(1.0 if s < pos else 0.5 if s == pos else 0.0 for s in vals) / len(vals)


@st.composite
def hit_matrices(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    users = draw(st.integers(1, 6))
    kmax = draw(st.integers(1, 8))
    hits = draw(arrays(np.bool_, (users, kmax)))
    extra = draw(arrays(np.int64, (users,), elements=st.integers(0, 5)))
    return hits, hits.sum(axis=1).astype(np.int64) + extra


# ---------------------------------------------------------------------------- full ranking
@settings(max_examples=150, deadline=None)
@given(hit_matrices())
def test_full_ranking_metrics_match_naive(data: tuple[np.ndarray, np.ndarray]) -> None:
    hits, n_rel = data
    ks = list(range(1, hits.shape[1] + 1))
    got = M.full_ranking_metrics(hits, n_rel, ks)
    for k in ks:
        for u in range(hits.shape[0]):
            ref = naive_user(hits[u].tolist(), int(n_rel[u]), k)
            for name, value in ref.items():
                assert got[f"{name}@{k}"][u] == pytest.approx(value, abs=1e-12), (name, k, u)


@settings(max_examples=100, deadline=None)
@given(hit_matrices(), st.integers(1, 8))
def test_single_metric_functions_match_naive(data: tuple[np.ndarray, np.ndarray], k: int) -> None:
    hits, n_rel = data
    k = min(k, hits.shape[1])
    singles = {
        "hr": M.hit_rate(hits, k), "recall": M.recall(hits, n_rel, k), "precision": M.precision(hits, k),
        "ndcg": M.ndcg(hits, n_rel, k), "mrr": M.mrr(hits, k), "map": M.average_precision(hits, n_rel, k),
    }
    for u in range(hits.shape[0]):
        ref = naive_user(hits[u].tolist(), int(n_rel[u]), k)
        for name, values in singles.items():
            assert values[u] == pytest.approx(ref[name], abs=1e-12), (name, k, u)


def test_hand_computed_user() -> None:
    hits = np.array([[False, True, False, True]])
    got = M.full_ranking_metrics(hits, [3], [2, 4])
    assert got["hr@2"][0] == 1.0
    assert got["recall@2"][0] == pytest.approx(1 / 3)
    assert got["precision@2"][0] == pytest.approx(0.5)
    assert got["mrr@4"][0] == pytest.approx(0.5)
    # DCG = 1/log2(3) + 1/log2(5); IDCG over min(3, 4) = 3 items
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got["ndcg@4"][0] == pytest.approx(dcg / idcg)
    assert got["ndcg@2"][0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # AP@4 = (1/2 + 2/4) / min(3, 4)
    assert got["map@4"][0] == pytest.approx((0.5 + 0.5) / 3)
    assert got["recall@4"][0] == pytest.approx(2 / 3)


def test_more_relevant_than_k_caps_ideal() -> None:
    hits = np.array([[True, True, False]])
    got = M.full_ranking_metrics(hits, [10], [2, 3])
    assert got["ndcg@2"][0] == pytest.approx(1.0)  # IDCG over min(10, 2) = 2 items
    assert got["map@2"][0] == pytest.approx(1.0)
    assert got["recall@2"][0] == pytest.approx(0.2)
    assert got["precision@3"][0] == pytest.approx(2 / 3)


def test_no_relevant_items_scores_zero() -> None:
    got = M.full_ranking_metrics(np.zeros((2, 3), bool), [0, 0], 3)
    for values in got.values():
        assert np.all(values == 0.0)


def test_metric_selection_and_names() -> None:
    got = M.full_ranking_metrics(np.ones((1, 3), bool), [3], (3, 1), metrics=["ndcg"])
    assert list(got) == ["ndcg@1", "ndcg@3"]
    assert M.metric_name("recall", 20) == "recall@20"
    assert M.metric_name("auc") == "auc"


@pytest.mark.parametrize("ks", [0, -1, [], [1, 5], [2.0]])
def test_bad_cutoffs(ks: object) -> None:
    with pytest.raises(ConfigError):
        M.full_ranking_metrics(np.zeros((1, 3), bool), [1], ks)  # type: ignore[arg-type]


def test_bad_shapes() -> None:
    with pytest.raises(DataError):
        M.full_ranking_metrics(np.zeros(3, bool), [1], 1)
    with pytest.raises(DataError):
        M.full_ranking_metrics(np.zeros((2, 3), bool), [1], 1)
    with pytest.raises(DataError):
        M.full_ranking_metrics(np.zeros((1, 3), bool), [-1], 1)
    with pytest.raises(ConfigError):
        M.full_ranking_metrics(np.zeros((1, 3), bool), [1], 1, metrics=["nope"])


# ---------------------------------------------------------------------------- sampled ranking
def test_ties_count_against_positive() -> None:
    ranks = M.rank_of_positive([1.0, 1.0, 0.0], [[1.0, 0.5, 2.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert ranks.tolist() == [3, 1, 4]


def test_padding_by_inf_or_mask() -> None:
    neg = np.array([[0.9, -np.inf, 2.0]])
    assert M.rank_of_positive([1.0], neg).tolist() == [2]
    assert M.rank_of_positive([1.0], [[0.9, 5.0, 2.0]], mask=[[True, False, True]]).tolist() == [2]
    assert M.rank_of_positive([1.0], [[0.9, 5.0, 2.0]], mask=[[False, False, False]]).tolist() == [
        1
    ]


def test_nan_counts_against_positive() -> None:
    assert M.rank_of_positive([np.nan], [[0.0, 1.0]]).tolist() == [3]
    assert M.rank_of_positive([1.0], [[np.nan, 0.0]]).tolist() == [2]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda u: st.tuples(
            arrays(np.float64, (u,), elements=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0])),
            st.integers(0, 6).flatmap(
                lambda c: st.tuples(
                    arrays(
                        np.float64, (u, c), elements=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.0])
                    ),
                    arrays(np.bool_, (u, c)),
                )
            ),
        )
    )
)
def test_rank_and_auc_match_naive(data: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]) -> None:
    pos, (neg, mask) = data
    ranks = M.rank_of_positive(pos, neg, mask=mask)
    auc = M.sampled_auc(pos, neg, mask=mask)
    for u in range(pos.size):
        assert ranks[u] == naive_rank(pos[u], neg[u].tolist(), mask[u].tolist())
        ref = naive_auc(pos[u], neg[u].tolist(), mask[u].tolist())
        if math.isnan(ref):
            assert math.isnan(auc[u])
        else:
            assert auc[u] == pytest.approx(ref)
    got = M.sampled_metrics(ranks, [1, 3, 10])
    for k in (1, 3, 10):
        for u, r in enumerate(ranks.tolist()):
            assert got[f"hr@{k}"][u] == (1.0 if r <= k else 0.0)
            assert got[f"ndcg@{k}"][u] == pytest.approx(1 / math.log2(r + 1) if r <= k else 0.0)
            assert got[f"mrr@{k}"][u] == pytest.approx(1 / r if r <= k else 0.0)


def test_sampled_auc_ties_half() -> None:
    auc = M.sampled_auc([1.0], [[0.0, 1.0, 2.0, 1.0]])
    assert auc[0] == pytest.approx((1 + 0.5 + 0.5) / 4)
    assert math.isnan(M.sampled_auc([1.0], [[-np.inf]])[0])


def test_rank_helpers() -> None:
    ranks = np.array([1, 3, 11])
    np.testing.assert_allclose(M.hit_rate_from_ranks(ranks, 10), [1, 1, 0])
    np.testing.assert_allclose(M.ndcg_from_ranks(ranks, 10), [1, 0.5, 0])
    np.testing.assert_allclose(M.mrr_from_ranks(ranks, 10), [1, 1 / 3, 0])
    with pytest.raises(DataError):
        M.sampled_metrics([0, 1], 10)
    with pytest.raises(DataError):
        M.rank_of_positive([1.0, 2.0], [[0.0]])


# ---------------------------------------------------------------------------- catalogue metrics
def test_coverage_and_popularity_ignore_padding() -> None:
    ids = np.array([[0, 1, 2], [1, -1, -1], [3, 0, -1]])
    assert M.coverage(ids, 10, 3) == pytest.approx(4 / 10)
    assert M.coverage(ids, 10, 1) == pytest.approx(3 / 10)
    counts = np.array([10, 20, 30, 40, 0, 0, 0, 0, 0, 0])
    # slots at k=2: 0,1 | 1 | 3,0 -> counts 10,20,20,40,10
    assert M.mean_popularity(ids, counts, 2) == pytest.approx(100 / 5)
    assert M.mean_popularity(np.full((2, 2), -1), counts, 2) == 0.0
    with pytest.raises(DataError):
        M.coverage(ids, 3, 3)
    with pytest.raises(ConfigError):
        M.coverage(ids, 10, 4)
