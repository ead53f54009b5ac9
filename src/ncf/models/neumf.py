"""Neural Matrix Factorization (NeuMF): GMF and MLP branches fused in one prediction layer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ncf._checks import positive_int
from ncf.errors import ConfigError
from ncf.models._common import layer_widths, probability
from ncf.models.base import Model
from ncf.models.gmf import GMF
from ncf.models.mlp import MLP
from ncf.nn.blocks import (
    NEUMF_INIT_STD,
    PairFeedForward,
    embedding_lookup,
    init_embedding_,
    init_linear_,
)


class NeuMF(Model):
    """NeuMF: ``score = h^T [p^G_u * q^G_i ; MLP(p^M_u, q^M_i)] + b``, a logit.

    He et al. (2017), "Neural Collaborative Filtering", WWW, Section 3.4. The GMF and MLP
    branches have separate embeddings; their last layers are concatenated into one linear
    prediction layer. Use :meth:`from_pretrained` to start from trained GMF and MLP models,
    as the paper does (Section 3.4.1).

    Parameters
    ----------
    num_users, num_items : int
    gmf_dim : int
        Embedding width of the GMF branch.
    mlp_dim : int
        Embedding width of each MLP-branch embedding (the tower input is ``2 * mlp_dim``).
    layers : sequence of int
        Hidden widths of the MLP tower.
    dropout : float
        Dropout after each hidden layer of the tower.
    """

    name = "neumf"
    def __init__(
        self,
        num_users: int,
        num_items: int,
        gmf_dim: int = 8,
        mlp_dim: int = 32,
        layers: Sequence[int] = (64, 32, 16),
        dropout: float = 0.0,
    ) -> None:
        super().__init__(num_users, num_items)
        self.gmf_dim = positive_int("gmf_dim", gmf_dim)
        self.mlp_dim = positive_int("mlp_dim", mlp_dim)
        self.layers = layer_widths(layers)
        self.dropout = probability(dropout)
        nu, ni = self.num_users, self.num_items
        self.gmf_user_embedding = init_embedding_(nn.Embedding(nu, self.gmf_dim), NEUMF_INIT_STD)
        self.gmf_item_embedding = init_embedding_(nn.Embedding(ni, self.gmf_dim), NEUMF_INIT_STD)
        self.mlp_user_embedding = init_embedding_(nn.Embedding(nu, self.mlp_dim), NEUMF_INIT_STD)
        self.mlp_item_embedding = init_embedding_(nn.Embedding(ni, self.mlp_dim), NEUMF_INIT_STD)
        self.tower = PairFeedForward(self.mlp_dim, self.mlp_dim, self.layers, dropout=self.dropout)
        self.output = init_linear_(nn.Linear(self.gmf_dim + self.layers[-1], 1), "lecun")

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """Logits; ``users`` and ``items`` broadcast against each other."""
        g = embedding_lookup(self.gmf_user_embedding, users) * embedding_lookup(self.gmf_item_embedding, items)
        m = self.tower(embedding_lookup(self.mlp_user_embedding, users), embedding_lookup(self.mlp_item_embedding, items))
        out: Tensor = self.output(torch.cat([g, m], dim=-1)).squeeze(-1)
        return out

    @classmethod
    def from_pretrained(cls, gmf: GMF, mlp: MLP, alpha: float = 0.5) -> NeuMF:
        """A NeuMF whose branches are copies of a trained GMF and MLP.

        Embeddings and tower weights are copied; the prediction layer becomes
        ``h = [alpha * h_GMF ; (1 - alpha) * h_MLP]`` (He et al., 2017, Eq. 13) and, as in the
        authors' code, ``b = alpha * b_GMF + (1 - alpha) * b_MLP``. Hence, before any further
        training and with dropout off, ``neumf.score == alpha * gmf.score + (1 - alpha) *
        mlp.score`` exactly (in logits).

        Parameters
        ----------
        gmf : GMF
        mlp : MLP
            Trained over the same universe as ``gmf``.
        alpha : float
            Trade-off between the two branches, in ``[0, 1]``.

        Raises
        ------
        ConfigError
            When the universes differ or ``alpha`` is outside ``[0, 1]``.
        """
        if not 0.0 <= float(alpha) <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {alpha!r}")
        if (gmf.num_users, gmf.num_items) != (mlp.num_users, mlp.num_items):
            raise ConfigError(
                f"GMF ({gmf.num_users} x {gmf.num_items}) and MLP ({mlp.num_users} x "
                f"{mlp.num_items}) must share one universe"
            )
        a = float(alpha)
        model = cls(
            gmf.num_users,
            gmf.num_items,
            gmf_dim=gmf.embedding_dim,
            mlp_dim=mlp.embedding_dim,
            layers=mlp.layers,
            dropout=mlp.dropout,
        ).to(device=gmf.device, dtype=gmf.output.weight.dtype)
        with torch.no_grad():
            model.gmf_user_embedding.weight.copy_(gmf.user_embedding.weight)
            model.gmf_item_embedding.weight.copy_(gmf.item_embedding.weight)
            model.mlp_user_embedding.weight.copy_(mlp.user_embedding.weight)
            model.mlp_item_embedding.weight.copy_(mlp.item_embedding.weight)
            model.tower.load_state_dict(mlp.tower.state_dict())
            weight = torch.cat([a * gmf.output.weight, (1.0 - a) * mlp.output.weight], dim=1)
            model.output.weight.copy_(weight)
            model.output.bias.copy_(a * gmf.output.bias + (1.0 - a) * mlp.output.bias)
        return model

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "gmf_dim": self.gmf_dim,
            "mlp_dim": self.mlp_dim,
            "layers": list(self.layers),
            "dropout": self.dropout,
        }
