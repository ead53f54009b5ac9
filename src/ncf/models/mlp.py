"""Multi-Layer Perceptron recommender, the non-linear branch of NeuMF."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from ncf._checks import positive_int
from ncf.models._common import layer_widths, probability
from ncf.models.base import Model
from ncf.nn.blocks import (
    NEUMF_INIT_STD,
    PairFeedForward,
    embedding_lookup,
    init_embedding_,
    init_linear_,
)


class MLP(Model):
    """MLP: a ReLU tower over ``[p_u; q_i]``, then a linear output (a logit).

    He et al. (2017), "Neural Collaborative Filtering", WWW, Section 3.3. The first layer is
    split as ``W_u p_u + W_i q_i + b`` (:class:`ncf.nn.PairFeedForward`), so scoring
    ``(B, 1)`` users against ``(1, N)`` items projects each user and each item once; only the
    upper layers run per pair. The model is not factorisable: evaluation scores it in chunks.

    Parameters
    ----------
    num_users, num_items : int
    embedding_dim : int
        Width of each of the user and item embeddings (the tower input is twice that).
    layers : sequence of int
        Hidden widths of the tower, e.g. ``(64, 32, 16)``; the last is the paper's
        "predictive factors".
    dropout : float
        Dropout after each hidden layer (the paper used none).
    """

    name = "mlp"
    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 32,
        layers: Sequence[int] = (64, 32, 16),
        dropout: float = 0.0,
    ) -> None:
        super().__init__(num_users, num_items)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.layers = layer_widths(layers)
        self.dropout = probability(dropout)
        d = self.embedding_dim
        self.user_embedding = init_embedding_(nn.Embedding(self.num_users, d), NEUMF_INIT_STD)
        self.item_embedding = init_embedding_(nn.Embedding(self.num_items, d), NEUMF_INIT_STD)
        self.tower = PairFeedForward(d, d, self.layers, dropout=self.dropout)
        self.output = init_linear_(nn.Linear(self.layers[-1], 1), "lecun")

    def hidden(self, users: Tensor, items: Tensor) -> Tensor:
        """Last hidden layer of the tower, shape ``(*broadcast, layers[-1])``."""
        out: Tensor = self.tower(embedding_lookup(self.user_embedding, users), embedding_lookup(self.item_embedding, items))
        return out

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """Logits; ``users`` and ``items`` broadcast against each other."""
        out: Tensor = self.output(self.hidden(users, items)).squeeze(-1)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "embedding_dim": self.embedding_dim,
            "layers": list(self.layers),
            "dropout": self.dropout,
        }
