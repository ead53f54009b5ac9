"""Matrix factorisation: the dot-product baseline, trained with BPR or BCE by the trainer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncf._checks import positive_int
from ncf.errors import ConfigError
from ncf.models.base import DataInitialized, Factorized
from ncf.nn.blocks import embedding_lookup, init_embedding_
from ncf.nn.data_init import projection_factors

if TYPE_CHECKING:
    from ncf.data.interactions import Interactions

#: Factor starts: ``N(0, init_std^2)`` noise, or rows projected from the training graph.
INITS = ("normal", "projection")


class MatrixFactorization(Factorized, DataInitialized):
    """Biased matrix factorisation: ``score(u, i) = p_u . q_i + b_u + b_i + g``.

    With BPR this is BPR-MF (Rendle et al., 2009, "BPR: Bayesian Personalized Ranking from
    Implicit Feedback", UAI); Rendle et al. (2020), "Neural Collaborative Filtering vs. Matrix
    Factorization Revisited", RecSys, show it is a strong baseline for NeuMF.

    Parameters
    ----------
    num_users, num_items : int
        Size of the universe.
    embedding_dim : int
        Number of latent factors ``d``.
    use_bias : bool
        Learn user, item and global biases. The factorised vectors then have ``d + 2``
        columns: ``user_vectors = [p_u, 1, b_u + g]`` and ``item_vectors = [q_i, b_i, 1]``,
        so their dot product is the score exactly.
    init_std : float
        Factors start as ``N(0, init_std^2)``; biases start at zero.
    init : {"normal", "projection"}
        ``"projection"``: before the first step, the trainer replaces the factor rows of users and
        items that have training interactions by rows projected from the training graph
        (:func:`ncf.nn.data_init.projection_factors`), at the norm of an ``N(0, init_std^2)`` row.
        The model then skips the slow first part of training where random rows teach the
        ranking little.
    sparse : bool
        Embedding tables (factors and biases) produce sparse gradients, for
        ``torch.optim.SparseAdam``; the global bias stays dense (see
        :func:`ncf.nn.split_sparse_parameters`).
    normalize : bool
        Cosine MF: user and item vectors are L2-normalised, so the score is their cosine
        (the backbone of sampled-softmax / contrastive MF, e.g. SimpleX, Mao et al. 2021).
        Requires ``use_bias=False``; the trainer's temperature scales the cosine.

    Examples
    --------
    >>> model = MatrixFactorization(100, 50, embedding_dim=16)
    >>> model.score(torch.tensor([0, 1]), torch.tensor([3, 4])).shape
    torch.Size([2])
    """

    name = "mf"
    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        *,
        use_bias: bool = True,
        init_std: float = 0.1,
        sparse: bool = False,
        normalize: bool = False,
        init: str = "normal",
    ) -> None:
        super().__init__(num_users, num_items)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.use_bias = bool(use_bias)
        self.init_std = float(init_std)
        self.sparse = bool(sparse)
        self.normalize = bool(normalize)
        if self.normalize and self.use_bias:
            raise ConfigError("normalize=True (cosine MF) needs use_bias=False")
        if init not in INITS:
            raise ConfigError(f"init must be one of {', '.join(INITS)}; got {init!r}")
        self.init = init
        if init != "normal":  # saved with the weights, so a reloaded model is not started again
            self.register_buffer("data_init_done", torch.zeros((), dtype=torch.bool))
        d = self.embedding_dim
        self.user_embedding = init_embedding_(nn.Embedding(self.num_users, d, sparse=self.sparse), init_std)
        self.item_embedding = init_embedding_(nn.Embedding(self.num_items, d, sparse=self.sparse), init_std)
        self.user_bias: nn.Embedding | None = None
        self.item_bias: nn.Embedding | None = None
        self.global_bias: nn.Parameter | None = None
        if self.use_bias:
            self.user_bias = nn.Embedding(self.num_users, 1, sparse=self.sparse)
            self.item_bias = nn.Embedding(self.num_items, 1, sparse=self.sparse)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)
            self.global_bias = nn.Parameter(torch.zeros(()))

    @property
    def needs_data_init(self) -> bool:
        """Whether ``init="projection"`` is still to be applied (see :meth:`init_from_data`)."""
        done = getattr(self, "data_init_done", None)
        return done is not None and not bool(done)

    @torch.no_grad()
    def init_from_data(self, train: Interactions, *, seed: int = 0) -> None:
        """Start the factor rows from ``train`` (``init="projection"``); biases are left as they are."""
        generator = torch.Generator().manual_seed(int(seed))
        users, items, has_user, has_item = projection_factors(
            train.to_csr(), self.embedding_dim, std=self.init_std, generator=generator)
        for table, rows, has in ((self.user_embedding, users, has_user), (self.item_embedding, items, has_item)):
            weight = table.weight
            index = torch.nonzero(has).squeeze(1).to(weight.device)
            weight.index_copy_(0, index, rows[has].to(weight.device, weight.dtype))
        done = self.data_init_done
        assert isinstance(done, Tensor)
        done.fill_(True)

    def _factor(self, table: nn.Embedding, index: Tensor | None) -> Tensor:
        v = table.weight if index is None else embedding_lookup(table, index)
        if self.normalize and table.embedding_dim == self.embedding_dim:
            v = F.normalize(v, dim=-1)
        return v

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``(B, d [+ 2])`` user vectors: ``[p_u, 1, b_u + g]`` with biases, else ``p_u``."""
        b = None if self.user_bias is None else self._factor(self.user_bias, users)
        return self.user_vectors_from(self._factor(self.user_embedding, users), b, normalized=True)

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``(N, d [+ 2])`` item vectors: ``[q_i, b_i, 1]`` with biases, else ``q_i``."""
        b = None if self.item_bias is None else self._factor(self.item_bias, items)
        return self.item_vectors_from(self._factor(self.item_embedding, items), b, normalized=True)

    def user_vectors_from(self, factors: Tensor, biases: Tensor | None, *, normalized: bool = False) -> Tensor:
        """User vectors from rows of the factor (and bias) tables, as :meth:`user_vectors` builds
        them (``normalized``: the factors are already L2-normalised for cosine MF). The fused
        training step (:mod:`ncf.training.fused`) calls it on rows it gathered itself."""
        p = F.normalize(factors, dim=-1) if self.normalize and not normalized else factors
        if biases is None or self.global_bias is None:
            return p
        b = biases + self.global_bias
        return torch.cat([p, torch.ones_like(b), b], dim=-1)

    def item_vectors_from(self, factors: Tensor, biases: Tensor | None, *, normalized: bool = False) -> Tensor:
        """Item vectors from rows of the factor (and bias) tables, as :meth:`item_vectors`."""
        q = F.normalize(factors, dim=-1) if self.normalize and not normalized else factors
        if biases is None:
            return q
        return torch.cat([q, biases, torch.ones_like(biases)], dim=-1)

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """``p_u . q_i (+ b_u + b_i + g)``; ``users`` and ``items`` broadcast."""
        s: Tensor = (self._factor(self.user_embedding, users) * self._factor(self.item_embedding, items)).sum(-1)
        if self.user_bias is not None and self.item_bias is not None and self.global_bias is not None:
            s = (
                s
                + embedding_lookup(self.user_bias, users).squeeze(-1)
                + embedding_lookup(self.item_bias, items).squeeze(-1)
                + self.global_bias
            )
        return s

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "embedding_dim": self.embedding_dim,
            "use_bias": self.use_bias,
            "init_std": self.init_std,
            "sparse": self.sparse,
            "normalize": self.normalize,
            "init": self.init,
        }
