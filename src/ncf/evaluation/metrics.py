"""Ranking metrics as pure functions on numpy arrays, several cut-offs ``K`` in one pass.

Two input forms are supported.

**Full ranking** (every item is ranked for a user, training items masked):

* ``hits : (U, Kmax) bool`` -- ``hits[u, r]`` says whether the item at rank ``r + 1`` of user
  ``u``'s top-``Kmax`` list is relevant (a padded slot, id -1, is never a hit);
* ``num_relevant : (U,) int`` -- how many relevant items user ``u`` has in all (it may exceed
  ``Kmax``).

With ``h_u(K)`` the number of hits in the first ``K`` ranks and ``n_u`` the number of relevant
items, the per-user metrics at ``K`` are

* ``hr@K`` -- 1 if ``h_u(K) > 0`` else 0;
* ``recall@K`` -- ``h_u(K) / n_u``;
* ``precision@K`` -- ``h_u(K) / K`` (padded slots count as misses);
* ``ndcg@K`` -- binary-relevance DCG ``sum_r hits[r] / log2(r + 1)`` (``r`` 1-based) divided by
  the ideal DCG over ``min(n_u, K)`` relevant items (the LightGCN / RecBole definition);
* ``mrr@K`` -- ``1 / r`` for the first hit at rank ``r <= K``, else 0;
* ``map@K`` -- ``sum over hit ranks r <= K of precision@r``, divided by ``min(n_u, K)``.

A user with ``n_u == 0`` scores 0 on every metric (evaluation skips such users).

Ties in full ranking are decided by whoever built ``hits`` (``ncf.retrieval.topk`` keeps the
order of ``torch.topk``); these functions only read the ranks they are given.

**Sampled ranking** (the NeuMF protocol: a positive scored against ``C`` sampled negatives):

* :func:`rank_of_positive` gives the 1-based rank ``1 + #{valid negatives with score >= the
  positive's}``: **ties count against the positive**, so a model that scores everything
  equally ranks the positive last, never first. A NaN score also counts against the positive.
* ``hr@K = [rank <= K]``, ``ndcg@K = [rank <= K] / log2(rank + 1)``,
  ``mrr@K = [rank <= K] / rank``.
* :func:`sampled_auc` is the fraction of valid negatives scored strictly below the positive,
  **ties counted as one half** (the Mann-Whitney convention); NaN when a row has no negative.

Catalogue metrics on top-``K`` lists (``ids : (U, Kmax) int``, -1 for padding):
:func:`coverage` (distinct recommended items / ``num_items``) and :func:`mean_popularity` (mean
training count of the recommended items).

Metric names are lower case with the cut-off: ``"hr@10"``, ``"recall@20"``, ``"ndcg@20"``,
``"precision@10"``, ``"mrr@10"``, ``"map@10"``, ``"coverage@10"``, ``"popularity@10"``,
``"auc"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf.errors import ConfigError, DataError

__all__ = [
    "FULL_RANKING_METRICS",
    "SAMPLED_METRICS",
    "as_cutoffs",
    "average_precision",
    "coverage",
    "full_ranking_metrics",
    "hit_rate",
    "hit_rate_from_ranks",
    "mean_popularity",
    "metric_name",
    "mrr",
    "mrr_from_ranks",
    "ndcg",
    "ndcg_from_ranks",
    "precision",
    "rank_of_positive",
    "recall",
    "sampled_auc",
    "sampled_metrics",
]

FloatArray = npt.NDArray[np.float64]

FULL_RANKING_METRICS: tuple[str, ...] = ("hr", "recall", "precision", "ndcg", "mrr", "map")
"""Per-user metrics computed from a hit matrix, in reporting order."""

SAMPLED_METRICS: tuple[str, ...] = ("hr", "ndcg", "mrr")
"""Per-row metrics computed from the rank of a positive among sampled negatives."""


def metric_name(metric: str, k: int | None = None) -> str:
    """The reported name of ``metric`` at cut-off ``k`` (``"ndcg", 20 -> "ndcg@20"``)."""
    return metric if k is None else f"{metric}@{int(k)}"


# ---------------------------------------------------------------------------- validation
def as_cutoffs(ks: int | Iterable[int], kmax: int | None = None) -> tuple[int, ...]:
    """Sorted unique positive cut-offs from an int or iterable, checked against ``kmax``.

    Raises
    ------
    ConfigError
        An empty list, a non-integer, a cut-off ``<= 0`` or above ``kmax``.
    """
    raw = [ks] if isinstance(ks, (int, np.integer)) else list(ks)
    if not raw:
        raise ConfigError("k must name at least one cut-off")
    out: list[int] = []
    for k in raw:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        if int(k) <= 0:
            raise ConfigError(f"k must be a positive integer, got {int(k)}")
        if kmax is not None and int(k) > kmax:
            raise ConfigError(f"k={int(k)} exceeds the {kmax} ranked positions available")
        out.append(int(k))
    return tuple(sorted(set(out)))


def _check_hits(
    hits: npt.ArrayLike, num_relevant: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    h = np.asarray(hits)
    if h.ndim != 2:
        raise DataError(f"hits must be a 2-D (users, Kmax) array, got shape {h.shape}")
    h = h.astype(bool, copy=False)
    if num_relevant is None:
        return h, np.zeros(h.shape[0], dtype=np.int64)
    n = np.asarray(num_relevant)
    if n.shape != (h.shape[0],):
        raise DataError(f"num_relevant must have shape ({h.shape[0]},), got {n.shape}")
    if n.size and n.dtype.kind not in "iu":
        raise DataError(f"num_relevant must be integers, got dtype {n.dtype}")
    n = n.astype(np.int64, copy=False)
    if n.size and int(n.min()) < 0:
        raise DataError("num_relevant must be >= 0")
    return h, n


def _discounts(kmax: int) -> FloatArray:
    """``1 / log2(r + 1)`` for ranks ``r = 1..kmax``."""
    return np.asarray(1.0 / np.log2(np.arange(2, kmax + 2, dtype=np.float64)), dtype=np.float64)


def _safe_divide(num: FloatArray, den: npt.NDArray[Any]) -> FloatArray:
    den_f = den.astype(np.float64)
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den_f, out=out, where=den_f > 0)
    return out


# ---------------------------------------------------------------------------- full ranking
def full_ranking_metrics(
    hits: npt.ArrayLike,
    num_relevant: npt.ArrayLike,
    ks: int | Iterable[int],
    *,
    metrics: Sequence[str] = FULL_RANKING_METRICS,
) -> dict[str, FloatArray]:
    """Per-user full-ranking metrics at every cut-off in ``ks``, from one pass over ``hits``.

    Parameters
    ----------
    hits : (U, Kmax) bool
        ``hits[u, r]``: the item at rank ``r + 1`` of user ``u`` is relevant.
    num_relevant : (U,) int
        Number of relevant items of each user (may exceed ``Kmax``).
    ks : int or iterable of int
        Cut-offs, each in ``[1, Kmax]``.
    metrics : sequence of str
        Any of ``"hr", "recall", "precision", "ndcg", "mrr", "map"``.

    Returns
    -------
    dict of str to (U,) float64
        ``{"ndcg@20": per-user values, ...}``; take ``.mean()`` for the usual average.

    Raises
    ------
    DataError
        Bad shapes or negative ``num_relevant``.
    ConfigError
        A cut-off outside ``[1, Kmax]`` or an unknown metric name.

    Examples
    --------
    >>> hits = np.array([[False, True, False]])
    >>> full_ranking_metrics(hits, [2], 2, metrics=["recall", "mrr"])
    {'recall@2': array([0.5]), 'mrr@2': array([0.5])}
    """
    h, n = _check_hits(hits, num_relevant)
    kmax = h.shape[1]
    cutoffs = as_cutoffs(ks, kmax)
    unknown = [m for m in metrics if m not in FULL_RANKING_METRICS]
    if unknown:
        raise ConfigError(
            f"unknown metric {unknown[0]!r}; choose from {', '.join(FULL_RANKING_METRICS)}"
        )
    wanted = set(metrics)
    hf = h.astype(np.float64)
    cum_hits = np.cumsum(hf, axis=1)  # (U, Kmax): hits within the first r ranks
    disc = _discounts(kmax)
    out: dict[str, FloatArray] = {}
    if "ndcg" in wanted:
        cum_dcg = np.cumsum(hf * disc, axis=1)
        ideal = np.concatenate([[0.0], np.cumsum(disc)])  # ideal[m] = IDCG with m relevant
    if "mrr" in wanted:
        any_hit = h.any(axis=1)
        first = np.where(any_hit, h.argmax(axis=1) + 1, kmax + 1)  # 1-based rank of first hit
    if "map" in wanted:
        ranks = np.arange(1, kmax + 1, dtype=np.float64)
        cum_prec = np.cumsum(hf * (cum_hits / ranks), axis=1)
    for k in cutoffs:
        hk = cum_hits[:, k - 1]
        capped = np.minimum(n, k)
        for m in metrics:
            if m == "hr":
                val = (hk > 0).astype(np.float64)
            elif m == "recall":
                val = _safe_divide(hk, n)
            elif m == "precision":
                val = hk / k
            elif m == "ndcg":
                val = _safe_divide(cum_dcg[:, k - 1], ideal[capped])
            elif m == "mrr":
                val = np.where(first <= k, 1.0 / first, 0.0)
            else:  # map
                val = _safe_divide(cum_prec[:, k - 1], capped)
            out[metric_name(m, k)] = np.asarray(val, dtype=np.float64)
    return out


def _single(
    metric: str, hits: npt.ArrayLike, num_relevant: npt.ArrayLike | None, k: int
) -> FloatArray:
    h, n = _check_hits(hits, num_relevant)
    return full_ranking_metrics(h, n, k, metrics=[metric])[metric_name(metric, k)]


def hit_rate(hits: npt.ArrayLike, k: int) -> FloatArray:
    """Per-user HR@k: 1 when any of the first ``k`` ranked items is relevant, else 0."""
    return _single("hr", hits, None, k)


def recall(hits: npt.ArrayLike, num_relevant: npt.ArrayLike, k: int) -> FloatArray:
    """Per-user Recall@k: hits in the first ``k`` ranks over the user's relevant count."""
    return _single("recall", hits, num_relevant, k)


def precision(hits: npt.ArrayLike, k: int) -> FloatArray:
    """Per-user Precision@k: hits in the first ``k`` ranks over ``k``."""
    return _single("precision", hits, None, k)


def ndcg(hits: npt.ArrayLike, num_relevant: npt.ArrayLike, k: int) -> FloatArray:
    """Per-user binary NDCG@k with the ideal DCG over ``min(num_relevant, k)`` items."""
    return _single("ndcg", hits, num_relevant, k)


def mrr(hits: npt.ArrayLike, k: int) -> FloatArray:
    """Per-user MRR@k: reciprocal rank of the first hit within ``k``, else 0."""
    return _single("mrr", hits, None, k)


def average_precision(hits: npt.ArrayLike, num_relevant: npt.ArrayLike, k: int) -> FloatArray:
    """Per-user AP@k: sum of precision@r over hit ranks ``r <= k``, over ``min(num_relevant, k)``."""
    return _single("map", hits, num_relevant, k)


# ---------------------------------------------------------------------------- sampled ranking
def _check_sampled(
    pos_scores: npt.ArrayLike, neg_scores: npt.ArrayLike, mask: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    pos = np.asarray(pos_scores, dtype=np.float64)
    neg = np.asarray(neg_scores, dtype=np.float64)
    if pos.ndim != 1:
        raise DataError(f"pos_scores must be 1-D, got shape {pos.shape}")
    if neg.ndim != 2 or neg.shape[0] != pos.shape[0]:
        raise DataError(f"neg_scores must have shape ({pos.shape[0]}, C), got {neg.shape}")
    if mask is None:
        valid = neg != -np.inf
    else:
        valid = np.asarray(mask, dtype=bool)
        if valid.shape != neg.shape:
            raise DataError(
                f"mask must have the shape of neg_scores {neg.shape}, got {valid.shape}"
            )
    return pos, neg, valid


def rank_of_positive(
    pos_scores: npt.ArrayLike,
    neg_scores: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
) -> npt.NDArray[np.int64]:
    """1-based rank of each positive among its negatives; ties count against the positive.

    ``rank = 1 + #{valid negatives with score >= positive score}``, so an item scored exactly
    like the positive is ranked above it (the pessimistic rule of the NeuMF evaluation). A NaN
    on either side also counts against the positive.

    Parameters
    ----------
    pos_scores : (U,) float
        Score of each row's positive.
    neg_scores : (U, C) float
        Scores of the negatives; padding is ``-inf`` unless ``mask`` is given.
    mask : (U, C) bool, optional
        True where a negative is real. Without it, entries equal to ``-inf`` are padding.

    Returns
    -------
    (U,) int64
        Ranks in ``[1, 1 + C]``.
    """
    pos, neg, valid = _check_sampled(pos_scores, neg_scores, mask)
    with np.errstate(invalid="ignore"):
        against = (neg >= pos[:, None]) | np.isnan(neg) | np.isnan(pos)[:, None]
    return np.asarray(1 + np.count_nonzero(against & valid, axis=1), dtype=np.int64)


def _check_ranks(ranks: npt.ArrayLike) -> npt.NDArray[np.int64]:
    r = np.asarray(ranks)
    if r.ndim != 1:
        raise DataError(f"ranks must be 1-D, got shape {r.shape}")
    if r.size and (r.dtype.kind not in "iu" or int(r.min()) < 1):
        raise DataError("ranks must be 1-based integers")
    return r.astype(np.int64, copy=False)


def hit_rate_from_ranks(ranks: npt.ArrayLike, k: int) -> FloatArray:
    """Per-row HR@k from 1-based ranks: 1 if ``rank <= k`` else 0."""
    return sampled_metrics(ranks, k, metrics=["hr"])[metric_name("hr", k)]


def ndcg_from_ranks(ranks: npt.ArrayLike, k: int) -> FloatArray:
    """Per-row NDCG@k of a single relevant item: ``1 / log2(rank + 1)`` if ``rank <= k``, else 0."""
    return sampled_metrics(ranks, k, metrics=["ndcg"])[metric_name("ndcg", k)]


def mrr_from_ranks(ranks: npt.ArrayLike, k: int) -> FloatArray:
    """Per-row MRR@k from 1-based ranks: ``1 / rank`` if ``rank <= k``, else 0."""
    return sampled_metrics(ranks, k, metrics=["mrr"])[metric_name("mrr", k)]


def sampled_metrics(
    ranks: npt.ArrayLike,
    ks: int | Iterable[int],
    *,
    metrics: Sequence[str] = SAMPLED_METRICS,
) -> dict[str, FloatArray]:
    """Per-row HR/NDCG/MRR at every cut-off from the 1-based rank of one relevant item.

    Parameters
    ----------
    ranks : (U,) int
        From :func:`rank_of_positive`.
    ks : int or iterable of int
        Positive cut-offs.
    metrics : sequence of str
        Any of ``"hr", "ndcg", "mrr"``.

    Returns
    -------
    dict of str to (U,) float64
        ``{"hr@10": ..., "ndcg@10": ..., "mrr@10": ...}``.
    """
    r = _check_ranks(ranks)
    cutoffs = as_cutoffs(ks)
    unknown = [m for m in metrics if m not in SAMPLED_METRICS]
    if unknown:
        raise ConfigError(
            f"unknown metric {unknown[0]!r}; choose from {', '.join(SAMPLED_METRICS)}"
        )
    rf = r.astype(np.float64)
    out: dict[str, FloatArray] = {}
    for k in cutoffs:
        inside = r <= k
        for m in metrics:
            if m == "hr":
                val = inside.astype(np.float64)
            elif m == "ndcg":
                val = np.where(inside, 1.0 / np.log2(rf + 1.0), 0.0)
            else:  # mrr
                val = np.where(inside, 1.0 / rf, 0.0)
            out[metric_name(m, k)] = np.asarray(val, dtype=np.float64)
    return out


def sampled_auc(
    pos_scores: npt.ArrayLike,
    neg_scores: npt.ArrayLike,
    mask: npt.ArrayLike | None = None,
) -> FloatArray:
    """Per-row AUC of a positive against its negatives, ties counted as one half.

    ``auc = (#{neg < pos} + 0.5 * #{neg == pos}) / #valid negatives``. Unlike
    :func:`rank_of_positive`, a tie is neither a win nor a loss here (the Mann-Whitney
    convention); a NaN score counts as a loss. Rows without a valid negative give NaN.

    Parameters
    ----------
    pos_scores : (U,) float
    neg_scores : (U, C) float
        Padding is ``-inf`` unless ``mask`` is given.
    mask : (U, C) bool, optional
        True where a negative is real.

    Returns
    -------
    (U,) float64
    """
    pos, neg, valid = _check_sampled(pos_scores, neg_scores, mask)
    p = pos[:, None]
    below = np.count_nonzero((neg < p) & valid, axis=1)
    ties = np.count_nonzero((neg == p) & valid, axis=1)
    total = np.count_nonzero(valid, axis=1)
    auc = np.full(pos.shape, np.nan, dtype=np.float64)
    np.divide(below + 0.5 * ties, total, out=auc, where=total > 0)
    return auc


# ---------------------------------------------------------------------------- catalogue metrics
def _check_ids(ids: npt.ArrayLike, k: int) -> npt.NDArray[np.int64]:
    a = np.asarray(ids)
    if a.ndim != 2:
        raise DataError(f"ids must be a 2-D (users, Kmax) array, got shape {a.shape}")
    as_cutoffs(k, a.shape[1])
    a = a[:, :k].astype(np.int64, copy=False)
    return a[a >= 0]


def coverage(ids: npt.ArrayLike, num_items: int, k: int) -> float:
    """Item coverage@k: distinct items in the top-``k`` lists over ``num_items``.

    ``ids`` is ``(U, Kmax)`` with -1 for padding (ignored).
    """
    if num_items <= 0:
        raise ConfigError("num_items must be positive")
    flat = _check_ids(ids, k)
    if flat.size and int(flat.max()) >= num_items:
        raise DataError(f"recommended item ids must be < num_items={num_items}")
    return float(np.unique(flat).size / num_items)


def mean_popularity(ids: npt.ArrayLike, train_counts: npt.ArrayLike, k: int) -> float:
    """Mean training count of the items recommended in the top-``k`` lists (popularity bias).

    Averaged over all non-padded ``(user, rank)`` slots; 0.0 when there are none.

    Parameters
    ----------
    ids : (U, Kmax) int
        Recommended item ids, -1 for padding.
    train_counts : (num_items,) int or float
        Interactions per item in the training data.
    k : int
        Cut-off.
    """
    counts = np.asarray(train_counts, dtype=np.float64)
    if counts.ndim != 1:
        raise DataError("train_counts must be a 1-D array with one count per item")
    flat = _check_ids(ids, k)
    if flat.size and int(flat.max()) >= counts.size:
        raise DataError(f"recommended item ids must be < len(train_counts)={counts.size}")
    return float(counts[flat].mean()) if flat.size else 0.0
