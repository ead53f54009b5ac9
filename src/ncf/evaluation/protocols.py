"""The two evaluation protocols: full ranking over all items, and the sampled (NeuMF) protocol.

**Full ranking.** Each distinct test user ranks every item; items in ``exclude`` (train, and
valid when given) are removed from the ranking first. The user's relevant set is the set of
their test items *minus* excluded items: a test item that is also excluded can never be
ranked, so it is dropped rather than counted as a certain miss. Users left with no relevant
item are skipped and counted (``skipped``). Metrics come from the top-``max(k)`` hit matrix
(:mod:`ncf.evaluation.metrics`) and are averaged over the evaluated users. Ties between equal
scores are broken by ``torch.topk``.

**Sampled ranking** (He et al., 2017, *Neural Collaborative Filtering*). Each test row is
evaluated once: its candidates are the test item plus that row's negatives. Candidates are
de-duplicated by item id, as the paper's ``evaluate.py`` does by keying scores on item ids: a
negative equal to the test item is dropped, a repeated negative counts once, -1 padding is
ignored, and (when ``exclude`` is given) a negative that is a known positive of the user is
dropped. The test item's rank is ``1 + #{negatives scoring >= it}`` -- ties count against it.
Metrics are averaged over rows (over users for leave-one-out).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf.data.interactions import Interactions
from ncf.data.pairs import PairSet
from ncf.errors import DataError, NCFError
from ncf.evaluation.metrics import (
    coverage,
    full_ranking_metrics,
    mean_popularity,
    metric_name,
    rank_of_positive,
    sampled_auc,
    sampled_metrics,
)
from ncf.models.base import Model
from ncf.retrieval.topk import PAIR_BLOCK, TopK, topk

__all__ = [
    "ProtocolResult",
    "check_negatives",
    "full_ranking",
    "sampled_ranking",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtocolResult:
    """What a protocol returns before timing: mean metrics and who was evaluated."""

    metrics: dict[str, float]
    users: int
    skipped: int = 0
    rankings: TopK | None = None
    ranked_users: npt.NDArray[np.int64] | None = None


# ---------------------------------------------------------------------------- full ranking
def full_ranking(
    model: Model,
    test: Interactions,
    *,
    exclude: sp.csr_matrix | None,
    ks: tuple[int, ...],
    train_counts: npt.NDArray[np.float64] | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    keep_rankings: bool = False,
) -> ProtocolResult:
    """Full-ranking metrics of ``model`` on ``test`` (see the module docstring).

    ``exclude`` must already be a CSR matrix over the model's universe
    (:func:`as_exclusion_matrix`); ``ks`` sorted positive cut-offs.
    """
    num_users, num_items = model.num_users, model.num_items
    relevant = PairSet(test.users, test.items, num_users=num_users, num_items=num_items)
    if exclude is not None and exclude.nnz:
        relevant = relevant.difference(PairSet.from_csr(exclude))
    num_relevant = relevant.degrees()
    test_users = np.unique(test.users)
    eval_users = test_users[num_relevant[test_users] > 0]
    skipped = int(test_users.size - eval_users.size)
    if skipped:
        logger.warning("%d test users have no relevant item left after exclusion; skipped", skipped)
    if eval_users.size == 0:
        raise DataError(
            "no test user has a relevant item that is not excluded; nothing to evaluate"
        )
    kmax = ks[-1]
    top = topk(model, eval_users, k=kmax, exclude=exclude, batch_size=batch_size, device=device)
    ids = top.ids
    hits = relevant.contains(eval_users[:, None], ids)  # -1 padding is never contained
    per_user = full_ranking_metrics(hits, num_relevant[eval_users], ks)
    metrics = {name: float(values.mean()) for name, values in per_user.items()}
    for k in ks:
        metrics[metric_name("coverage", k)] = coverage(ids, num_items, k)
    if train_counts is not None:
        for k in ks:
            metrics[metric_name("popularity", k)] = mean_popularity(ids, train_counts, k)
    return ProtocolResult(
        metrics=metrics,
        users=int(eval_users.size),
        skipped=skipped,
        rankings=top if keep_rankings else None,
        ranked_users=eval_users if keep_rankings else None,
    )


# ---------------------------------------------------------------------------- sampled ranking
def check_negatives(negatives: Any, num_rows: int, num_items: int) -> npt.NDArray[np.int64]:
    """Validate a ``(num_rows, C)`` int negatives array padded with -1."""
    neg = np.asarray(negatives)
    if neg.ndim != 2 or neg.shape[0] != num_rows:
        raise DataError(
            f"negatives must have one row per test interaction: expected shape ({num_rows}, C), got {neg.shape}",
            field="negatives",
        )
    if neg.size and neg.dtype.kind not in "iu":
        raise DataError(
            f"negatives must be integer item indices, got dtype {neg.dtype}", field="negatives"
        )
    neg = neg.astype(np.int64, copy=False)
    if neg.size and (int(neg.min()) < -1 or int(neg.max()) >= num_items):
        raise DataError(
            f"negatives must be item indices in [0, {num_items}) or -1 padding", field="negatives"
        )
    return neg


def _valid_negatives(
    users: npt.NDArray[np.int64],
    positives: npt.NDArray[np.int64],
    negatives: npt.NDArray[np.int64],
    exclude: sp.csr_matrix | None,
) -> npt.NDArray[np.bool_]:
    """Mask of negatives that take part: not padding, not the positive, first of repeats."""
    valid = (negatives >= 0) & (negatives != positives[:, None])
    if exclude is not None and exclude.nnz:
        valid &= ~PairSet.from_csr(exclude).contains(users[:, None], negatives)
    if negatives.shape[1] > 1:
        filled = np.where(valid, negatives, -1)
        order = np.argsort(filled, axis=1, kind="stable")
        srt = np.take_along_axis(filled, order, axis=1)
        dup_sorted = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        dup = np.zeros(negatives.shape, dtype=bool)
        np.put_along_axis(dup, order[:, 1:], dup_sorted, axis=1)
        valid &= ~dup
    return np.asarray(valid)


def sampled_ranking(
    model: Model,
    test: Interactions,
    *,
    negatives: npt.NDArray[np.int64],
    exclude: sp.csr_matrix | None,
    ks: tuple[int, ...],
    batch_size: int | None = None,
    keep_rankings: bool = False,
) -> ProtocolResult:
    """Sampled-protocol metrics: each test row's item against its negatives (module docstring).

    With ``keep_rankings`` the result also holds each row's top-``max(ks)`` candidates by score,
    ranked with the same tie rule (the test item after distinct items of equal score).

    ``negatives`` is ``(len(test), C)`` int64 padded with -1 (:func:`check_negatives`);
    scoring runs on the model's device, ``batch_size`` rows per ``model.score`` call.
    """
    users = np.array(test.users, dtype=np.int64)  # writable copies: torch.from_numpy needs them
    positives = np.array(test.items, dtype=np.int64)
    valid = _valid_negatives(users, positives, negatives, exclude)
    candidates = np.concatenate([positives[:, None], np.where(valid, negatives, 0)], axis=1)
    rows = users.size
    width = candidates.shape[1]
    rb = int(batch_size) if batch_size is not None else max(1, PAIR_BLOCK // width)
    scores = np.empty((rows, width), dtype=np.float32)
    dev = model.device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, rows, rb):
                u = torch.from_numpy(users[start : start + rb]).to(dev)
                c = torch.from_numpy(candidates[start : start + rb]).to(dev)
                block = model.score(u[:, None], c)
                scores[start : start + rb] = block.to(torch.float32).cpu().numpy()
    finally:
        model.train(was_training)
    if bool(np.isnan(scores[:, 0]).any() | np.isnan(scores[:, 1:][valid]).any()):
        raise NCFError(
            "the model produced NaN scores; check its weights (training may have diverged)"
        )
    pos_scores, neg_scores = scores[:, 0], scores[:, 1:]
    ranks = rank_of_positive(pos_scores, neg_scores, mask=valid)
    metrics = {name: float(v.mean()) for name, v in sampled_metrics(ranks, ks).items()}
    auc = sampled_auc(pos_scores, neg_scores, mask=valid)
    finite = ~np.isnan(auc)
    metrics["auc"] = float(auc[finite].mean()) if finite.any() else float("nan")
    rankings = _candidate_rankings(candidates, scores, valid, max(ks)) if keep_rankings else None
    return ProtocolResult(
        metrics=metrics,
        users=int(rows),
        rankings=rankings,
        ranked_users=users if keep_rankings else None,
    )


def _candidate_rankings(
    candidates: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    valid: npt.NDArray[np.bool_],
    k: int,
) -> TopK:
    """Top-``k`` candidates per row; ties put the test item (column 0) after the negatives."""
    ok = np.concatenate([np.ones((len(candidates), 1), dtype=bool), valid], axis=1)
    s = np.where(ok, scores, -np.inf).astype(np.float32)
    is_test = np.zeros(candidates.shape, dtype=np.int8)
    is_test[:, 0] = 1
    order = np.lexsort((is_test, -s), axis=1)[:, :k]
    ids = np.take_along_axis(np.where(ok, candidates, -1), order, axis=1)
    top = np.take_along_axis(s, order, axis=1)
    ids = np.where(np.isfinite(top), ids, -1)
    return TopK(ids.astype(np.int64), top)
