"""Data-dependent starting points for embedding tables.

From a small random start, factor models first sit on a plateau: user and item rows are unrelated,
so a step moves each row in a direction its partners do not share, and the early steps of an
epoch teach the ranking almost nothing. Starting item rows as a random projection of their user
sets breaks that symmetry at the cost of two sparse products.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

__all__ = ["projection_factors"]


def projection_factors(
    matrix: sp.spmatrix | sp.sparray, dim: int, *, std: float, generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """User and item rows that start from the interaction graph instead of noise.

    Item rows are a Gaussian random projection of their columns of the user x item ``matrix``
    (any stored non-zero counts as one interaction): ``V = A^T R``, so items chosen by the same
    users start close (their cosine approximates the cosine of their user sets). User rows are the
    sum of their items' unit rows, ``U = A V``. Every row is then scaled to the norm a
    ``N(0, std^2)`` row of length ``dim`` has, ``std * sqrt(dim)``, so the optimizer's step sizes
    mean what they mean for the usual start.

    Returns
    -------
    users, items : Tensor
        ``(num_users, dim)`` and ``(num_items, dim)`` float32 rows.
    has_user, has_item : Tensor
        Bool masks of the rows that had an interaction; the others are zero and should keep the
        caller's random start.
    """
    a = sp.csr_matrix(matrix, dtype=np.float32)
    a.sum_duplicates()
    a.data = (a.data != 0).astype(np.float32)
    a.eliminate_zeros()
    num_users, num_items = a.shape
    r = torch.randn(num_users, dim, generator=generator, dtype=torch.float32).numpy()
    items = np.asarray(a.T @ r, dtype=np.float32)
    has_item = _unit_rows_(items)
    users = np.asarray(a @ items, dtype=np.float32)
    has_user = _unit_rows_(users)
    scale = float(std) * float(np.sqrt(dim))
    return (torch.from_numpy(users * scale), torch.from_numpy(items * scale),
            torch.from_numpy(has_user), torch.from_numpy(has_item))


def _unit_rows_(x: np.ndarray) -> np.ndarray:
    """Scale the non-zero rows of ``x`` to unit L2 norm in place; which rows were non-zero."""
    norms = np.linalg.norm(x, axis=1)
    nonzero: np.ndarray = norms > 0
    x[nonzero] /= norms[nonzero, None]
    return nonzero
