"""Data-dependent starting points for embedding tables.

From a small random start, factor models first sit on a plateau: user and item rows are unrelated,
so a step moves each row in a direction its partners do not share, and the early steps of an
epoch teach the ranking almost nothing. Starting item rows as a random projection of their user
sets breaks that symmetry at the cost of two sparse products.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ncf.nn.sparse import csr_tensor

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
    r = torch.randn(a.shape[0], dim, generator=generator, dtype=torch.float32)
    with torch.no_grad():
        items = csr_tensor(a.T) @ r
        has_item = _unit_rows_(items)
        users = csr_tensor(a) @ items
        has_user = _unit_rows_(users)
        scale = float(std) * math.sqrt(dim)
        return users.mul_(scale), items.mul_(scale), has_user, has_item


def _unit_rows_(x: Tensor) -> Tensor:
    """Scale the non-zero rows of ``x`` to unit L2 norm in place; which rows were non-zero."""
    norms = torch.linalg.vector_norm(x, dim=1)
    nonzero: Tensor = norms > 0
    x.div_(torch.where(nonzero, norms, 1.0)[:, None])
    return nonzero
