"""``recommend``: the top-k unseen items for users, and what "seen" may be given as.

Serving, the CLI and evaluation share this; it needs only a model and the items to exclude,
never the evaluation code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf.data.interactions import Interactions
from ncf.errors import DataError
from ncf.models.base import Model
from ncf.retrieval.topk import TopK, topk

__all__ = ["ExcludeLike", "as_exclusion_matrix", "recommend"]

#: What ``exclude`` accepts: Interactions, several of them, or a sparse user x item matrix.
ExcludeLike: TypeAlias = Interactions | Sequence[Interactions] | sp.spmatrix | sp.sparray | None


def as_exclusion_matrix(
    exclude: Any,
    shape: tuple[int, int],
    *,
    universe: tuple[int, int] | None = None,
    what: str = "the test data",
) -> sp.csr_matrix | None:
    """One CSR matrix whose stored entries are the excluded (user, item) pairs.

    Parameters
    ----------
    exclude : Interactions, sequence of Interactions, scipy sparse matrix or None
        Several inputs are combined by union.
    shape : (int, int)
        The universe every input must have.
    universe : (int, int), optional
        Resize the result to this shape (the model's universe), when it differs.
    what : str
        What ``shape`` belongs to, for the error message.

    Raises
    ------
    DataError
        An input of another shape or of an unsupported type.
    """
    if exclude is None:
        return None
    parts = (
        [exclude] if isinstance(exclude, Interactions) or sp.issparse(exclude) else list(exclude)
    )
    mats: list[sp.csr_matrix] = []
    for part in parts:
        if isinstance(part, Interactions):
            mat = part.to_csr()
        elif sp.issparse(part):
            mat = sp.csr_matrix(part)
        else:
            raise DataError(
                f"exclude must be Interactions, a sequence of them or a scipy sparse matrix, got {type(part).__name__}"
            )
        if tuple(mat.shape) != tuple(shape):
            raise DataError(
                f"exclude covers {mat.shape[0]} users x {mat.shape[1]} items but {what} "
                f"covers {shape[0]} x {shape[1]}; use interactions from the same universe"
            )
        mats.append(mat)
    if not mats:
        return None
    if len(mats) == 1:
        out = mats[0]
    else:
        total = mats[0].astype(bool)
        for mat in mats[1:]:
            total = total + mat.astype(bool)
        out = sp.csr_matrix(total, dtype=np.float32)
    return _resize(out, universe) if universe is not None else out


def _resize(mat: sp.csr_matrix, shape: tuple[int, int]) -> sp.csr_matrix:
    """``mat`` on another universe (rows/columns added empty or dropped)."""
    if tuple(mat.shape) == shape:
        return mat
    out = sp.csr_matrix(mat, copy=True)
    out.resize(shape)
    return out



def recommend(
    model: Model,
    users: int | npt.ArrayLike,
    *,
    k: int = 10,
    exclude: ExcludeLike = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> TopK:
    """Top-``k`` items for ``users``, best first, with ``exclude``'s items removed.

    A thin wrapper on :func:`ncf.retrieval.topk`. A scalar user gives 1-D ``ids``/``scores``
    of length ``k``; an array of users gives ``(B, k)``; a ``k`` beyond the catalogue is clamped
    to ``num_items``. Short rows are padded with id -1 and score -inf.

    Parameters
    ----------
    model : Model
    users : int or (B,) int
        User indices in ``[0, model.num_users)``.
    k : int
        Items per user.
    exclude : Interactions, sequence of Interactions or scipy sparse, optional
        Items not to recommend (usually the training interactions), over the model's universe.
    batch_size : int, optional
        Users per ranking chunk.
    device : str or torch.device, optional
        Where ranking runs; default: the model's device.

    Returns
    -------
    TopK
        ``ids`` int64 and ``scores`` float32.

    Examples
    --------
    >>> ids, scores = recommend(model, 0, k=5, exclude=split.train)  # doctest: +SKIP
    """
    arr = np.asarray(users)
    scalar = arr.ndim == 0
    mask = as_exclusion_matrix(exclude, (model.num_users, model.num_items), what="the model")
    top = topk(
        model,
        arr.reshape(-1) if scalar else arr,
        k=k,
        exclude=mask,
        batch_size=batch_size,
        device=device,
    )
    if scalar:
        return TopK(top.ids[0], top.scores[0])
    return top
