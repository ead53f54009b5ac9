"""Training losses: pure functions of score tensors (logits), averaged to a scalar.

Pointwise (:func:`bce_loss`, :func:`mse_loss`), pairwise (:func:`bpr_loss`) and listwise
(:func:`softmax_loss`, :func:`in_batch_softmax_loss`) objectives for implicit feedback. Every
function takes raw scores (``model.score`` outputs, logits), never probabilities, and is
numerically stable through ``softplus`` / ``log_softmax``.

References
----------
Rendle et al. (2009), "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI.
He et al. (2017), "Neural Collaborative Filtering", WWW.
Bengio & Senecal (2008), "Adaptive Importance Sampling to Accelerate Training of a Neural
Probabilistic Language Model", IEEE TNN.
Yi et al. (2019), "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
Recommendations", RecSys.
Yang et al. (2020), "Mixed Negative Sampling for Learning Two-tower Neural Networks in
Recommendations", WWW Companion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "bce_loss",
    "bpr_loss",
    "in_batch_softmax_loss",
    "mse_loss",
    "softmax_loss",
]


def _pos_neg(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
    """Validate ``pos (B,)`` and ``neg (B,)`` / ``(B, k)``; return ``(B, 1)`` and ``(B, k)``."""
    if pos.ndim != 1:
        raise ValueError(f"pos must have shape (B,), got {tuple(pos.shape)}")
    if neg.ndim == 1:
        neg = neg.unsqueeze(1)
    if neg.ndim != 2 or neg.shape[0] != pos.shape[0]:
        raise ValueError(f"neg must have shape (B,) or (B, k) with B={pos.shape[0]}, got {tuple(neg.shape)}")
    return pos.unsqueeze(1), neg


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Bayesian Personalised Ranking: mean of ``-log sigmoid(s_pos - s_neg)``.

    Maximises the probability that each observed item outranks a sampled negative of the same
    user (Rendle et al., 2009, Eq. 4, without the regulariser: use weight decay).

    Parameters
    ----------
    pos : (B,) float
        Scores of the observed (user, item) pairs.
    neg : (B, k) or (B,) float
        Scores of ``k`` negatives of each row's user.

    Returns
    -------
    scalar tensor
        ``mean(softplus(neg - pos))`` over the ``B * k`` pairs.
    """
    p, n = _pos_neg(pos, neg)
    return F.softplus(n - p).mean()


def bce_loss(pos: Tensor, neg: Tensor) -> Tensor:
    """Binary cross-entropy on logits: positives labelled 1, sampled negatives 0.

    The pointwise log loss of NeuMF (He et al., 2017, Eq. 7), with ``k`` negatives per
    positive (the paper's sampling ratio).

    Parameters
    ----------
    pos : (B,) float
        Logits of observed pairs.
    neg : (B, k) or (B,) float
        Logits of sampled negatives.

    Returns
    -------
    scalar tensor
        Average over all ``B * (1 + k)`` terms:
        ``(sum softplus(-pos) + sum softplus(neg)) / (B * (1 + k))``.
    """
    p, n = _pos_neg(pos, neg)
    total = F.softplus(-p).sum() + F.softplus(n).sum()
    return total / float(p.numel() + n.numel())


def mse_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error ``mean((pred - target)^2)``, for explicit ratings or 0/1 targets.

    Parameters
    ----------
    pred : (...) float
        Predictions.
    target : (...) float, same shape as ``pred``.

    Returns
    -------
    scalar tensor
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    return F.mse_loss(pred, target.to(pred.dtype))


def softmax_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    log_q: Tensor | None = None,
    invalid: Tensor | None = None,
) -> Tensor:
    """Sampled softmax (InfoNCE) cross-entropy with optional logQ correction and hit masking.

    Each row ``b`` is a softmax over candidate columns; ``targets[b]`` is the column of the
    row's positive. With sampled candidates the plain softmax is biased towards popular
    items; the logQ correction of Yi et al. (2019), Eq. 3 (after Bengio & Senecal, 2008)
    replaces every logit by ``s(x, y) - log q(y)``, the positive's column included.

    Parameters
    ----------
    logits : (B, N) float
        Scores of each row against ``N`` candidates.
    targets : (B,) int64
        Column of each row's positive, in ``[0, N)``.
    log_q : (N,) or (B, N) float, optional
        Log sampling probability of each candidate (finite: clamp zero probabilities).
        Subtracted from every column, which lowers popular items' logits.
    invalid : (B, N) bool, optional
        Accidental hits: negatives that are in fact positives of that row's user (e.g. the
        same item appearing twice in a batch). They are set to ``-inf``, i.e. dropped from the
        softmax. The target column is never masked, whatever ``invalid`` says.

    Returns
    -------
    scalar tensor
        Mean over rows of ``-log softmax(logits)[b, targets[b]]``.
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (B, N), got {tuple(logits.shape)}")
    b, n = logits.shape
    if targets.shape != (b,):
        raise ValueError(f"targets must have shape ({b},), got {tuple(targets.shape)}")
    targets = targets.to(torch.long)
    if log_q is not None:
        if log_q.shape not in ((n,), (b, n)):
            raise ValueError(f"log_q must have shape ({n},) or ({b}, {n}), got {tuple(log_q.shape)}")
        logits = logits - log_q.to(logits.dtype)
    if invalid is not None:
        if invalid.shape != (b, n):
            raise ValueError(f"invalid must have shape ({b}, {n}), got {tuple(invalid.shape)}")
        drop = invalid.to(torch.bool).scatter(1, targets[:, None], False)
        logits = logits.masked_fill(drop, float("-inf"))
    return F.cross_entropy(logits, targets)


def in_batch_softmax_loss(
    user_vecs: Tensor,
    item_vecs: Tensor,
    *,
    items: Tensor | None = None,
    item_log_q: Tensor | None = None,
    extra_item_vecs: Tensor | None = None,
    extra_log_q: Tensor | None = None,
    extra_items: Tensor | None = None,
    accidental: Tensor | None = None,
    users: Tensor | None = None,
) -> Tensor:
    """In-batch sampled softmax: each row's positive against the other rows' items.

    ``logits = U [V; V_extra]^T`` of shape ``(B, B + M)``; row ``b``'s target is column ``b``.
    The other in-batch items are negatives sampled by popularity, so pass ``item_log_q``
    (log of each item's estimated sampling probability) for the correction of Yi et al.
    (2019). Optional extra negatives shared by all rows (e.g. uniform samples: mixed negative
    sampling, Yang et al., 2020) add ``M`` columns with their own ``extra_log_q``.

    Parameters
    ----------
    user_vecs : (B, d) float
        Query (user tower) vectors; include any temperature scaling.
    item_vecs : (B, d) float
        Vectors of each row's positive item.
    items : (B,) int64, optional
        Item index of each row. When given, a column holding the row's own item (a duplicate
        in the batch, or among ``extra_items`` when given) is masked as an accidental hit.
    item_log_q : (B,) float, optional
        Log sampling probability of each in-batch item.
    extra_item_vecs : (M, d) float, optional
        Shared extra negatives.
    extra_log_q : (M,) float, optional
        Their log sampling probabilities; required with ``item_log_q`` when extras are given.
    extra_items : (M,) int64, optional
        Item indices of the extra negatives (used for masking with ``items``).
    accidental : (B, B + M) bool, optional
        Further accidental hits, e.g. columns whose item the row's user has interacted with.
    users : (B,) int64, optional
        User of each row; an in-batch column whose row has the same user holds another
        positive of that user and is masked.

    Returns
    -------
    scalar tensor
        :func:`softmax_loss` with the diagonal as targets.
    """
    if user_vecs.ndim != 2 or item_vecs.shape != user_vecs.shape:
        raise ValueError(
            f"user_vecs and item_vecs must both be (B, d), got {tuple(user_vecs.shape)} and {tuple(item_vecs.shape)}"
        )
    b = user_vecs.shape[0]
    has_extra = extra_item_vecs is not None
    if not has_extra and (extra_log_q is not None or extra_items is not None):
        raise ValueError("extra_log_q / extra_items need extra_item_vecs")
    candidates = item_vecs
    if extra_item_vecs is not None:
        if extra_item_vecs.ndim != 2 or extra_item_vecs.shape[1] != user_vecs.shape[1]:
            raise ValueError(f"extra_item_vecs must be (M, {user_vecs.shape[1]}), got {tuple(extra_item_vecs.shape)}")
        candidates = torch.cat([item_vecs, extra_item_vecs], dim=0)
        if (item_log_q is None) != (extra_log_q is None):
            raise ValueError("with extra negatives, give both item_log_q and extra_log_q or neither")
    n = candidates.shape[0]
    logits = user_vecs @ candidates.T

    log_q: Tensor | None = None
    if item_log_q is not None:
        if item_log_q.shape != (b,):
            raise ValueError(f"item_log_q must have shape ({b},), got {tuple(item_log_q.shape)}")
        log_q = item_log_q
        if extra_log_q is not None:
            if extra_log_q.shape != (n - b,):
                raise ValueError(f"extra_log_q must have shape ({n - b},), got {tuple(extra_log_q.shape)}")
            log_q = torch.cat([item_log_q, extra_log_q.to(item_log_q.dtype)])

    invalid: Tensor | None = None
    if accidental is not None:
        if accidental.shape != (b, n):
            raise ValueError(f"accidental must have shape ({b}, {n}), got {tuple(accidental.shape)}")
        invalid = accidental.to(torch.bool)
    if items is not None:
        if items.shape != (b,):
            raise ValueError(f"items must have shape ({b},), got {tuple(items.shape)}")
        same = items[:, None] == items[None, :]
        if n > b:
            if extra_items is None:
                same_extra = same.new_zeros(b, n - b)
            elif extra_items.shape != (n - b,):
                raise ValueError(f"extra_items must have shape ({n - b},), got {tuple(extra_items.shape)}")
            else:
                same_extra = items[:, None] == extra_items.to(items.dtype)[None, :]
            same = torch.cat([same, same_extra], dim=1)
        invalid = same if invalid is None else invalid | same
    if users is not None:
        if users.shape != (b,):
            raise ValueError(f"users must have shape ({b},), got {tuple(users.shape)}")
        same_user = users[:, None] == users[None, :]
        if n > b:
            same_user = torch.cat([same_user, same_user.new_zeros(b, n - b)], dim=1)
        invalid = same_user if invalid is None else invalid | same_user
    targets = torch.arange(b, device=logits.device)
    return softmax_loss(logits, targets, log_q=log_q, invalid=invalid)
