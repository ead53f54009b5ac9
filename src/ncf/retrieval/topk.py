"""Exact top-k over all items, in bounded-memory user chunks, with seen items masked.

Factorized models (:func:`ncf.models.base.is_factorized`) are ranked with one matrix product
per user chunk against the item matrix, which is computed once. Any other model is scored
through ``model.score(users[:, None], items[None, :])`` in item chunks. Excluded items get a
score of ``-inf`` before ``torch.topk``; rows with fewer than ``k`` rankable items are padded
with id ``-1`` and score ``-inf`` (the faiss convention). Ties between equal scores are broken
by ``torch.topk`` (implementation-defined order).
"""

from __future__ import annotations

import logging
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch
from torch import Tensor

from ncf.errors import ConfigError, DataError, NCFError
from ncf.models.base import FactorizedRecommender, Recommender, is_factorized

__all__ = ["TopK", "topk"]

logger = logging.getLogger(__name__)

#: Floats in one ``(user chunk, num_items)`` score block (2**23 floats = 32 MiB). Measured on
#: Gowalla (29,858 x 40,981, d=64, 2 cores): blocks that fit the last-level cache rank a little
#: faster than larger ones, since ``torch.topk`` then reads the block from cache.
SCORE_BLOCK_FLOATS = 1 << 23
#: (user, item) pairs per ``model.score`` call for non-factorized models; their hidden layers
#: multiply the memory of a pair by the layer widths, so this is kept far below the score block.
PAIR_BLOCK = 1 << 17


class TopK(NamedTuple):
    """Top-k items per query: ids ``(B, k)`` int64 (-1 padding) and scores ``(B, k)`` float32.

    Unpacks like a tuple: ``ids, scores = topk(...)``. Rows are sorted by descending score;
    padded slots hold id ``-1`` and score ``-inf``.
    """

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]


def _as_user_array(users: npt.ArrayLike, num_users: int) -> npt.NDArray[np.int64]:
    arr = np.asarray(users)
    if arr.ndim != 1:
        raise DataError(f"users must be a 1-D array of indices, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise DataError(f"users must be integer indices, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.int64)  # a writable copy, as torch.from_numpy wants
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= num_users):
        raise DataError(f"user index out of the model's range [0, {num_users})", field="users")
    return arr


def _check_exclude(
    exclude: sp.spmatrix | sp.sparray | None, shape: tuple[int, int]
) -> sp.csr_matrix | None:
    if exclude is None:
        return None
    if not sp.issparse(exclude):
        raise DataError("exclude must be a scipy sparse (num_users x num_items) matrix or None")
    if tuple(exclude.shape) != shape:
        raise DataError(
            f"exclude has shape {tuple(exclude.shape)} but the model ranks {shape[0]} users x "
            f"{shape[1]} items"
        )
    return sp.csr_matrix(exclude)


def _mask_rows(scores: Tensor, exclude: sp.csr_matrix, users: npt.NDArray[np.int64]) -> None:
    """Set ``scores[b, i] = -inf`` for every stored entry ``(users[b], i)`` of ``exclude``."""
    sub = exclude[users]  # CSR row gather (vectorised in scipy)
    if sub.nnz == 0:
        return
    counts = np.diff(sub.indptr)
    rows = np.repeat(np.arange(users.size, dtype=np.int64), counts)
    cols = sub.indices.astype(np.int64, copy=False)
    dev = scores.device
    scores[torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev)] = -torch.inf


def default_user_batch(num_items: int) -> int:
    """Users per chunk so that one score block stays near :data:`SCORE_BLOCK_FLOATS` floats."""
    return max(1, SCORE_BLOCK_FLOATS // max(1, num_items))


def topk(
    model: Recommender,
    users: npt.ArrayLike,
    *,
    k: int,
    exclude: sp.spmatrix | sp.sparray | None = None,
    batch_size: int | None = None,
    item_batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> TopK:
    """Exact top-``k`` items for each user over the whole catalogue, seen items masked.

    Parameters
    ----------
    model : Recommender
        Any ncf model. When :func:`~ncf.models.base.is_factorized` holds, each user chunk is
        ranked with one product ``user_vectors @ item_vectors.T``; otherwise ``model.score`` is
        called on ``(chunk, item_batch_size)`` blocks.
    users : (B,) int
        User indices in ``[0, model.num_users)``; repeats are allowed.
    k : int
        Items per user (``>= 1``). When ``k`` exceeds the items left after masking, the row is
        padded with id ``-1`` and score ``-inf``.
    exclude : scipy sparse (num_users, num_items), optional
        Every stored entry ``(u, i)`` removes item ``i`` from user ``u``'s ranking.
    batch_size : int, optional
        Users per chunk; the default keeps one ``(chunk, num_items)`` float32 block near 32 MiB.
    item_batch_size : int, optional
        Items per ``model.score`` call for non-factorized models (ignored for factorized ones);
        the default keeps ``chunk * item_batch_size`` near 131k pairs.
    device : str or torch.device, optional
        Where scores are computed and ranked; default: the model's device. Factorized models
        compute their vectors on their own device and move them here.

    Returns
    -------
    TopK
        ``ids`` ``(B, k)`` int64 and ``scores`` ``(B, k)`` float32, best first.

    Raises
    ------
    ConfigError
        ``k``, ``batch_size`` or ``item_batch_size`` not positive.
    DataError
        Users outside the model's universe or ``exclude`` of the wrong shape.
    NCFError
        The model produced NaN scores.

    Examples
    --------
    >>> ids, scores = topk(model, np.arange(3), k=10, exclude=train.to_csr())  # doctest: +SKIP
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    k = int(k)
    for name, value in (("batch_size", batch_size), ("item_batch_size", item_batch_size)):
        if value is not None and int(value) <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")
    num_users, num_items = int(model.num_users), int(model.num_items)
    user_arr = _as_user_array(users, num_users)
    mask = _check_exclude(exclude, (num_users, num_items))
    ub = int(batch_size) if batch_size is not None else default_user_batch(num_items)
    model_device = model.device
    dev = torch.device(device) if device is not None else model_device
    k_eff = min(k, num_items)

    ids_out = np.full((user_arr.size, k), -1, dtype=np.int64)
    scores_out = np.full((user_arr.size, k), -np.inf, dtype=np.float32)
    if user_arr.size == 0:
        return TopK(ids_out, scores_out)

    factorized = is_factorized(model)
    fmodel = cast(FactorizedRecommender, model)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if factorized:
                # (d, N) as a transposed view: BLAS runs the "NT" product, which is faster here
                # than a contiguous copy of the transpose.
                item_t = fmodel.item_vectors().to(dev, torch.float32).contiguous().T
            else:
                ib = (
                    int(item_batch_size)
                    if item_batch_size is not None
                    else max(1, PAIR_BLOCK // min(ub, user_arr.size))
                )
                all_items = torch.arange(num_items, device=model_device)
            for start in range(0, user_arr.size, ub):
                chunk = user_arr[start : start + ub]
                users_t = torch.from_numpy(chunk).to(model_device)
                if factorized:
                    uvec = fmodel.user_vectors(users_t).to(dev, torch.float32)
                    scores = uvec @ item_t
                else:
                    scores = torch.empty((chunk.size, num_items), dtype=torch.float32, device=dev)
                    for i0 in range(0, num_items, ib):
                        block = model.score(users_t[:, None], all_items[None, i0 : i0 + ib])
                        scores[:, i0 : i0 + ib] = block.to(dev, torch.float32)
                if mask is not None:
                    _mask_rows(scores, mask, chunk)
                top_scores, top_ids = torch.topk(scores, k_eff, dim=1, largest=True, sorted=True)
                if bool(torch.isnan(top_scores).any()):  # NaN ranks above every number
                    raise NCFError(
                        "the model produced NaN scores; check its weights (training may have diverged)"
                    )
                s_np = top_scores.cpu().numpy()
                i_np = top_ids.cpu().numpy().astype(np.int64, copy=False)
                i_np[s_np == -np.inf] = -1  # masked (or -inf scored) items are padding
                ids_out[start : start + chunk.size, :k_eff] = i_np
                scores_out[start : start + chunk.size, :k_eff] = s_np
    finally:
        model.train(was_training)
    return TopK(ids_out, scores_out)
