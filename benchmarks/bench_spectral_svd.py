"""SpectralMF's randomised SVD on Gowalla: ``torch.svd_lowrank`` (COO, what the library calls)
against the same algorithm with CSR operands (``A`` and ``A^T`` both kept as CSR tensors).

The library's fit (``src/ncf/models/spectral.py``) hands a COO tensor to ``torch.svd_lowrank``,
whose ``A^H Q`` products transpose and re-coalesce the COO matrix on every call; a profile puts
the fit's largest share there. This script measures what the CSR form would save, with the
same ``q = rank + 16``, 4 power iterations and seed, and checks the singular values agree. It
changes nothing in the library.

    python benchmarks/bench_spectral_svd.py               # ranks 64 128 256, best of 3, 2 threads
    python benchmarks/bench_spectral_svd.py --ranks 128 --repeat 1

Writes ``results/spectral_svd.json``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result

from ncf.data import read_lightgcn
from ncf.models import SpectralMF


def csr(m: Any) -> torch.Tensor:
    m = m.tocsr().astype(np.float32)
    return torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)),
                                   torch.from_numpy(m.indices.astype(np.int64)),
                                   torch.from_numpy(m.data), size=m.shape)


def svd_csr(rn: Any, q: int, niter: int, seed: int) -> tuple[torch.Tensor, float]:
    """``torch.svd_lowrank``'s algorithm (tall orientation) with CSR operands; (singular values, s)."""
    t = time.perf_counter()
    tall = rn.T if rn.shape[0] < rn.shape[1] else rn
    a, at = csr(tall), csr(tall.T)
    torch.manual_seed(seed)
    x = torch.randn(tall.shape[1], q)
    basis = torch.linalg.qr(a @ x).Q
    for _ in range(niter):
        basis = torch.linalg.qr(at @ basis).Q
        basis = torch.linalg.qr(a @ basis).Q
    b = (at @ basis).T
    u, s, vh = torch.linalg.svd(b, full_matrices=False)  # the factors too, as svd_lowrank returns them
    _ = basis @ u, vh.mH
    return s, time.perf_counter() - t


def svd_coo(rn: Any, q: int, niter: int, seed: int) -> tuple[torch.Tensor, float]:
    t = time.perf_counter()
    c = rn.tocoo()
    a = torch.sparse_coo_tensor(torch.from_numpy(np.vstack([c.row, c.col]).astype(np.int64)),
                                torch.from_numpy(c.data.astype(np.float32)), size=c.shape,
                                check_invariants=False).coalesce()
    torch.manual_seed(seed)
    _, s, _ = torch.svd_lowrank(a, q=q, niter=niter)
    return s, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", nargs="*", type=int, default=[64, 128, 256])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    train = read_lightgcn(data_dir() / "gowalla").split.train
    model = SpectralMF(train.num_users, train.num_items, rank=8)
    rn = model.normalized_matrix(train)
    rows = []
    for rank in args.ranks:
        q = rank + 16
        coo = [svd_coo(rn, q, 4, 0) for _ in range(args.repeat)]
        fast = [svd_csr(rn, q, 4, 0) for _ in range(args.repeat)]
        s_coo, s_csr = coo[0][0][:rank], fast[0][0][:rank]
        row = {"rank": rank, "coo_seconds": [round(x[1], 3) for x in coo],
               "csr_seconds": [round(x[1], 3) for x in fast],
               "speedup_best": min(x[1] for x in coo) / min(x[1] for x in fast),
               "top10_singular_values_max_rel_diff": float(((s_coo[:10] - s_csr[:10]).abs() / s_coo[:10]).max())}
        rows.append(row)
        print(f"rank {rank}: COO {min(row['coo_seconds']):.2f} s, CSR {min(row['csr_seconds']):.2f} s "
              f"({row['speedup_best']:.2f}x), top-10 singular values within {row['top10_singular_values_max_rel_diff']:.1e}")
    path = write_result("spectral_svd", {"threads": args.threads, "niter": 4, "oversample": 16, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
