"""Spectral MF: factors from a truncated SVD of the degree-normalised interaction matrix.

No gradient descent: :meth:`SpectralMF.fit` computes the factors in closed form (seconds to a
minute on 2 CPU cores for Gowalla). On its own it is a strong full-ranking baseline; blended
with a softmax-trained MF (:class:`ncf.models.Blend`) it adds the smooth, graph-wide signal that
per-interaction training misses (see docs/benchmarks.md, Gowalla).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from ncf._checks import positive_int
from ncf.data.interactions import Interactions
from ncf.errors import ConfigError, DataError, NotFittedError
from ncf.models.base import ClosedForm, Factorized
from ncf.nn.sparse import csr_tensor

#: Users sampled to measure the score scale that :meth:`SpectralMF.fit` normalises away.
_SCALE_USERS = 2048
#: Cut-off of the top scores averaged for that scale.
_SCALE_K = 20


class SpectralMF(Factorized, ClosedForm):
    """Matrix factorisation whose factors are the top singular vectors of the normalised graph.

    With ``R`` the binary user-item matrix, ``D_u``/``D_i`` its degrees and
    ``R~ = (D_u + alpha)^-1/2 R (D_i + alpha)^-1/2 ~ P diag(s) Q^T`` (the ``rank`` largest
    singular values), the score is ``sum_k exp(2 beta s_k) P_uk Q_ik (d_i + alpha)^gamma``:

    * the truncation is the "ideal low-pass filter" of GF-CF (Shen et al. 2021, "How Powerful is
      Graph Convolution for Recommendation?", CIKM) and SVD-GCN-S (Peng et al. 2022, CIKM);
      ``alpha`` is SVD-GCN's renormalisation, ``exp(beta s)`` its spectral weighting;
    * ``(d_i + alpha)^gamma`` puts back part of the item popularity that the normalisation
      removed (GF-CF uses ``gamma = 1/2``).

    The top triplets come from a randomised SVD (``niter`` power iterations, ``oversample``
    extra directions), so on large matrices they are close to, not exactly, the leading ones;
    on Gowalla the default approximation ranked slightly better than a more exact one (see
    docs/benchmarks.md), so ``niter`` and ``oversample`` are part of the tuned configuration.
    The defaults were chosen on a validation split of Gowalla (docs/benchmarks.md). User
    vectors are scaled once at fit time so that a user's top-20 scores average 1 over a sample
    of users: blend weights then mean the same on every dataset.

    Parameters
    ----------
    num_users, num_items : int
    rank : int
        Number of singular components ``K`` (the embedding size).
    alpha : float
        Degree renormalisation, >= 0.
    beta : float
        Spectral weighting ``exp(beta * s)`` on each side.
    gamma : float
        Item popularity exponent on ``d_i + alpha``.
    oversample : int
        Extra random directions for the randomised SVD (Halko et al. 2011).
    niter : int
        Power iterations of the randomised SVD.
    seed : int
        Seeds the randomised SVD, so a fit is repeatable.

    Examples
    --------
    >>> from ncf.data import synthetic
    >>> data = synthetic(num_users=50, num_items=40, seed=0).interactions
    >>> model = SpectralMF(data.num_users, data.num_items, rank=8).fit(data)
    >>> model.user_vectors().shape
    torch.Size([50, 8])
    """

    name = "spectral"
    user_factors: Tensor
    item_factors: Tensor
    singular_values: Tensor
    fitted: Tensor

    def __init__(
        self,
        num_users: int,
        num_items: int,
        rank: int = 1024,
        *,
        alpha: float = 3.0,
        beta: float = 1.0,
        gamma: float = 0.5,
        oversample: int = 16,
        niter: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(num_users, num_items)
        self.rank = positive_int("rank", rank)
        if self.rank > min(self.num_users, self.num_items):
            raise ConfigError(
                f"rank {self.rank} exceeds min(num_users, num_items) = {min(self.num_users, self.num_items)}"
            )
        self.alpha = float(alpha)
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise ConfigError(f"alpha must be a finite number >= 0, got {alpha!r}")
        self.beta = float(beta)
        self.gamma = float(gamma)
        if not (np.isfinite(self.beta) and np.isfinite(self.gamma)):
            raise ConfigError("beta and gamma must be finite")
        self.oversample = int(oversample)
        self.niter = int(niter)
        if self.oversample < 0 or self.niter < 0:
            raise ConfigError("oversample and niter must be >= 0")
        self.seed = int(seed)
        self.register_buffer("user_factors", torch.zeros(self.num_users, self.rank))
        self.register_buffer("item_factors", torch.zeros(self.num_items, self.rank))
        self.register_buffer("singular_values", torch.zeros(self.rank))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def normalized_matrix(self, interactions: Interactions) -> sp.csr_matrix:
        """``(D_u + alpha)^-1/2 R (D_i + alpha)^-1/2`` of the binarised interactions (float64)."""
        return self._normalize(self._binary(interactions))

    def _binary(self, interactions: Interactions) -> sp.csr_matrix:
        """``R``: 1 for every (user, item) pair seen at least once."""
        if interactions.shape != (self.num_users, self.num_items):
            raise DataError(
                f"interactions span {interactions.shape[0]} users x {interactions.shape[1]} items, "
                f"the model {self.num_users} x {self.num_items}"
            )
        r: sp.csr_matrix = interactions.to_csr().astype(np.float64)
        r.sum_duplicates()
        r.data[:] = 1.0
        return r

    def _normalize(self, r: sp.csr_matrix) -> sp.csr_matrix:
        return normalized_graph(r, self.alpha)

    def fit(self, interactions: Interactions) -> SpectralMF:
        """Compute the factors from ``interactions`` (the training split); returns ``self``."""
        if len(interactions) == 0:
            raise DataError("cannot fit a spectral model on no interactions")
        r = self._binary(interactions)
        rn = self._normalize(r)
        q = min(self.rank + self.oversample, min(rn.shape))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            p, s, v = _randomized_svd(rn, q=q, niter=self.niter)
        order = torch.argsort(s, descending=True)[: self.rank]
        p, s, v = p[:, order], s[order], v[:, order]
        w = torch.exp(self.beta * s)
        degrees = np.asarray(r.sum(axis=0)).ravel()
        pop = torch.from_numpy((degrees + self.alpha) ** self.gamma).float()
        users = p * w
        items = v * w * pop[:, None]
        scale = _top_score_scale(users, items, seed=self.seed)
        with torch.no_grad():
            self.user_factors.copy_(users / scale if scale > 0 else users)
            self.item_factors.copy_(items)
            self.singular_values.copy_(s)
            self.fitted.fill_(True)
        return self

    def truncated(self, rank: int) -> SpectralMF:
        """This fit with only its ``rank`` leading components (the low-pass at a lower cut-off):
        one SVD serves every smaller rank when choosing one on validation."""
        self._check_fitted()
        rank = positive_int("rank", rank)
        if rank > self.rank:
            raise ConfigError(f"cannot truncate a rank-{self.rank} fit to rank {rank}")
        config = {**self.get_config(), "rank": rank}
        out = SpectralMF(**config)
        with torch.no_grad():
            out.user_factors.copy_(self.user_factors[:, :rank])
            out.item_factors.copy_(self.item_factors[:, :rank])
            out.singular_values.copy_(self.singular_values[:rank])
            out.fitted.fill_(True)
        return out

    def _check_fitted(self) -> None:
        if not bool(self.fitted):
            raise NotFittedError("SpectralMF is not fitted: call .fit(train) first")

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``(B, rank)`` user factors ``P exp(beta s)``, scaled at fit time."""
        self._check_fitted()
        f = self.user_factors
        return f if users is None else f[users]

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``(N, rank)`` item factors ``Q exp(beta s) (d_i + alpha)^gamma``."""
        self._check_fitted()
        f = self.item_factors
        return f if items is None else f[items]

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "rank": self.rank,
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "oversample": self.oversample,
            "niter": self.niter,
            "seed": self.seed,
        }


def normalized_graph(r: sp.csr_matrix, offset: float) -> sp.csr_matrix:
    """``(D_u + offset)^-1/2 R (D_i + offset)^-1/2`` with ``D`` the row and column sums of ``R``
    (SVD-GCN's renormalisation; rows and columns without interactions stay 0)."""
    du = np.asarray(r.sum(axis=1)).ravel() + offset
    di = np.asarray(r.sum(axis=0)).ravel() + offset
    with np.errstate(divide="ignore"):
        su = np.where(du > 0, 1.0 / np.sqrt(du), 0.0)
        si = np.where(di > 0, 1.0 / np.sqrt(di), 0.0)
    out: sp.csr_matrix = sp.csr_matrix(sp.diags(su) @ r @ sp.diags(si))
    return out


def _randomized_svd(m: sp.csr_matrix, *, q: int, niter: int) -> tuple[Tensor, Tensor, Tensor]:
    """``torch.svd_lowrank(m, q, niter)`` (Halko et al. 2009, algorithm 5): the same steps and the
    same random draw from torch's generator, with ``m`` and its transpose both held as CSR tensors.

    ``svd_lowrank`` on a COO tensor transposes and re-coalesces it for every ``A^T Q`` product;
    keeping both orientations in CSR gives the same factors (up to float32 rounding) about 3x
    faster (``benchmarks/bench_spectral_svd.py``). Returns ``(U, S, V)`` with ``m ~ U diag(S) V^T``.
    """
    transposed = m.shape[0] < m.shape[1]
    tall = m.T if transposed else m  # the basis is built on the longer side, as svd_lowrank does
    a, at = csr_tensor(tall), csr_tensor(tall.T)
    x = torch.randn(tall.shape[1], q, dtype=torch.float32)
    basis = torch.linalg.qr(a @ x).Q
    for _ in range(niter):
        basis = torch.linalg.qr(at @ basis).Q
        basis = torch.linalg.qr(a @ basis).Q
    u, s, vh = torch.linalg.svd((at @ basis).T, full_matrices=False)
    left, right = basis @ u, vh.mH
    return (right, s, left) if transposed else (left, s, right)


def _top_score_scale(users: Tensor, items: Tensor, *, seed: int) -> float:
    """Mean of the top-20 scores of up to 2048 seeded random users (with a non-zero vector)."""
    active = torch.nonzero(users.abs().sum(1) > 0).ravel()
    if len(active) == 0:
        return 0.0
    gen = torch.Generator().manual_seed(seed)
    pick = active[torch.randperm(len(active), generator=gen)[:_SCALE_USERS]]
    k = min(_SCALE_K, items.shape[0])
    top = (users[pick] @ items.T).topk(k, dim=1).values
    return float(top.mean())


def rank_candidates(num_users: int, num_items: int, *, smallest: int = 16, largest: int = 1024) -> list[int]:
    """Ranks tried when none is given: powers of two from ``smallest`` up to ``largest`` and to half
    of ``min(users, items)`` (a rank near the full spectrum filters nothing)."""
    cap = max(1, min(largest, min(num_users, num_items) // 2))
    out = [r for r in (2**k for k in range(4, 11)) if smallest <= r <= cap]
    return out or [cap]
