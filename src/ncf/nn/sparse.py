"""Scipy sparse matrices as torch CSR tensors (torch's sparse x dense product runs on all threads)."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

__all__ = ["csr_tensor"]


def csr_tensor(m: sp.spmatrix | sp.sparray) -> Tensor:
    """A scipy matrix as a float32 torch CSR tensor (int64 indices)."""
    c = sp.csr_matrix(m, dtype=np.float32)
    with warnings.catch_warnings():  # torch warns once per process that CSR support is "beta"
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(c.indptr.astype(np.int64)),
            torch.from_numpy(c.indices.astype(np.int64)),
            torch.from_numpy(c.data),
            size=c.shape,
            check_invariants=False,  # scipy's CSR is valid by construction
        )
