"""Thread pinning for the peer-comparison scripts; standard library only, import it first."""

from __future__ import annotations

import os


def set_threads(n: int) -> None:
    """Pin OpenMP/OpenBLAS/MKL pools to ``n`` threads; call before numpy or torch is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
