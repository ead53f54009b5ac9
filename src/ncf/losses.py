"""Training losses: pure functions of score tensors (logits), averaged to a scalar.

Pointwise (:func:`bce_loss`, :func:`mse_loss`), pairwise (:func:`bpr_loss`) and listwise
(:func:`softmax_loss`, :func:`in_batch_softmax_loss`) objectives for implicit feedback. Every
function takes raw scores (``model.score`` outputs, logits) or embedding vectors, never
probabilities, and is numerically stable through ``softplus`` / ``log_softmax``. The training
objectives (:mod:`ncf.training.objectives`) compute them from a model and a batch.

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
    "in_batch_hits",
    "in_batch_log_q",
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


def in_batch_log_q(
    item_probs: Tensor,
    *,
    batch_size: int,
    num_extra: int = 0,
    num_items: int | None = None,
    weight: float = 1.0,
) -> Tensor:
    """logQ of in-batch candidates: the log of each column's expected count among them.

    With in-batch negatives every row's positive is a negative of the other rows, so an item
    of training frequency ``p`` is a candidate ``B * p`` times per batch in expectation; each
    of ``M`` extra negatives drawn uniformly adds ``M / num_items``. The logits subtract the
    log of this count (Yi et al., 2019, Eq. 3, with the count as the sampling probability up
    to a constant, which the softmax ignores).

    Parameters
    ----------
    item_probs : (N,) float
        Share of the training positives of each candidate column's item.
    batch_size : int
        ``B``, the rows of the batch (whose positives are the in-batch candidates).
    num_extra : int, default 0
        ``M``, uniform extra negatives shared by the batch.
    num_items : int, optional
        Catalogue size; required when ``num_extra > 0``.
    weight : float, default 1.0
        Scale of the correction (0 = none, 1 = the full correction).

    Returns
    -------
    (N,) float
        ``weight * log(B * p + M / num_items)``.
    """
    expected = batch_size * item_probs
    if num_extra:
        if not num_items:
            raise ValueError("num_items is required with extra negatives")
        expected = expected + num_extra / num_items
    log_q = expected.log()
    if weight != 1.0:
        log_q = log_q * weight
    return log_q


def in_batch_hits(items: Tensor, num_rows: int, *, accidental: Tensor | None = None) -> Tensor:
    """Accidental hits of an in-batch softmax: a column holding the row's own item again.

    Parameters
    ----------
    items : (N,) int64
        Item of each candidate column; the first ``num_rows`` are the rows' positives (the
        diagonal), the rest shared extra negatives.
    num_rows : int
        ``B``.
    accidental : (B, N) bool, optional
        Further hits to mask, e.g. columns holding any other positive of the row's user
        (:meth:`ncf.sampling.PositiveSet.batch_mask`).

    Returns
    -------
    (B, N) bool
        ``items[c] == items[b]``, or ``accidental[b, c]``; the diagonal is True (the target
        column is never masked by :func:`softmax_loss`).
    """
    if items.ndim != 1 or not 0 < num_rows <= items.shape[0]:
        raise ValueError(f"items must have shape (N,) with N >= num_rows={num_rows}, got {tuple(items.shape)}")
    hits = items[None, :] == items[:num_rows, None]
    if accidental is not None:
        if accidental.shape != hits.shape:
            raise ValueError(f"accidental must have shape {tuple(hits.shape)}, got {tuple(accidental.shape)}")
        hits |= accidental.to(torch.bool)
    return hits


def in_batch_softmax_loss(
    user_vecs: Tensor,
    item_vecs: Tensor,
    *,
    items: Tensor | None = None,
    log_q: Tensor | None = None,
    accidental: Tensor | None = None,
    temperature: float = 1.0,
    bf16: bool = False,
) -> Tensor:
    """In-batch sampled softmax: each row's positive against the other rows' items.

    ``logits = (U / T) V^T - log q`` of shape ``(B, N)``, one fused ``addmm``; row ``b``'s
    target is column ``b``. ``V`` holds the rows' positives first, then ``M = N - B``
    optional extra negatives shared by all rows (e.g. uniform samples: mixed negative
    sampling, Yang et al., 2020). The other in-batch items are negatives sampled by
    popularity, so pass their ``log_q`` (:func:`in_batch_log_q`) for the correction of Yi et
    al. (2019). Columns that hold the row's own item again (``items``) or another positive
    of its user (``accidental``) are dropped from the row's softmax.

    Parameters
    ----------
    user_vecs : (B, d) float
        Query (user tower) vectors.
    item_vecs : (N, d) float, N >= B
        Candidate vectors: row ``b``'s positive at ``b``, then the extra negatives.
    items : (N,) int64, optional
        Item index of each column; repeats of the row's own item are masked.
    log_q : (N,) float, optional
        Log sampling probability (or expected count) of each column, subtracted.
    accidental : (B, N) bool, optional
        Further accidental hits to mask.
    temperature : float, default 1.0
        The user vectors are divided by it (before the bfloat16 cast with ``bf16``).
    bf16 : bool, default False
        Compute ``U V^T`` as a bfloat16 product (faster on CPUs with AVX512-BF16 and on
        GPUs); the logQ term and the loss stay float32.

    Returns
    -------
    scalar tensor
        :func:`softmax_loss` with the diagonal as targets.
    """
    if user_vecs.ndim != 2 or item_vecs.ndim != 2 or item_vecs.shape[1] != user_vecs.shape[1] \
            or item_vecs.shape[0] < user_vecs.shape[0]:
        raise ValueError(
            f"user_vecs must be (B, d) and item_vecs (N, d) with N >= B, got {tuple(user_vecs.shape)} "
            f"and {tuple(item_vecs.shape)}"
        )
    b, n = user_vecs.shape[0], item_vecs.shape[0]
    if log_q is not None and log_q.shape != (n,):
        raise ValueError(f"log_q must have shape ({n},), got {tuple(log_q.shape)}")
    if items is not None and items.shape != (n,):
        raise ValueError(f"items must have shape ({n},), got {tuple(items.shape)}")
    if accidental is not None and accidental.shape != (b, n):
        raise ValueError(f"accidental must have shape ({b}, {n}), got {tuple(accidental.shape)}")
    us = user_vecs.float() * (1.0 / temperature)
    vf = item_vecs.float()
    if bf16:
        logits = (us.bfloat16() @ vf.bfloat16().T).float()
        if log_q is not None:
            logits = logits + (-log_q)[None, :]
    else:
        # one fused BLAS call: logits = (u / T) v^T - log q
        logits = us @ vf.T if log_q is None else torch.addmm((-log_q)[None, :], us, vf.T)
    invalid = accidental if items is None else in_batch_hits(items, b, accidental=accidental)
    targets = torch.arange(b, device=logits.device)
    return softmax_loss(logits, targets, invalid=invalid)
