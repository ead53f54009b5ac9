"""Generalized Matrix Factorization (GMF), the linear branch of NeuMF."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ncf._checks import positive_int
from ncf.models.base import Factorized
from ncf.nn.blocks import NEUMF_INIT_STD, embedding_lookup, init_embedding_, init_linear_


class GMF(Factorized):
    """GMF: ``score(u, i) = h^T (p_u * q_i) + b``, a logit (apply a sigmoid for a probability).

    He et al. (2017), "Neural Collaborative Filtering", WWW, Section 3.2. Embeddings start as
    ``N(0, 0.01^2)`` and the prediction layer ``(h, b)`` as LeCun uniform, as in the authors'
    code.

    The score is factorisable: ``user_vectors = [p_u * h, b]`` and ``item_vectors = [q_i, 1]``
    (``d + 1`` columns), so full ranking is one matrix product.

    Parameters
    ----------
    num_users, num_items : int
    embedding_dim : int
        Predictive factors ``d`` (the paper's best GMF used 8 to 64).
    """

    name = "gmf"
    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 8) -> None:
        super().__init__(num_users, num_items)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        d = self.embedding_dim
        self.user_embedding = init_embedding_(nn.Embedding(self.num_users, d), NEUMF_INIT_STD)
        self.item_embedding = init_embedding_(nn.Embedding(self.num_items, d), NEUMF_INIT_STD)
        self.output = init_linear_(nn.Linear(d, 1), "lecun")

    def interaction(self, users: Tensor, items: Tensor) -> Tensor:
        """The element-wise product ``p_u * q_i``, shape ``(*broadcast, d)``."""
        out: Tensor = embedding_lookup(self.user_embedding, users) * embedding_lookup(self.item_embedding, items)
        return out

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``(B, d + 1)`` vectors ``[p_u * h, b]``."""
        p = self.user_embedding.weight if users is None else embedding_lookup(self.user_embedding, users)
        h = self.output.weight[0]
        b = self.output.bias.expand(*p.shape[:-1], 1)
        return torch.cat([p * h, b], dim=-1)

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``(N, d + 1)`` vectors ``[q_i, 1]``."""
        q = self.item_embedding.weight if items is None else embedding_lookup(self.item_embedding, items)
        return torch.cat([q, q.new_ones(*q.shape[:-1], 1)], dim=-1)

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """Logits ``h^T (p_u * q_i) + b``; ``users`` and ``items`` broadcast."""
        out: Tensor = self.output(self.interaction(users, items)).squeeze(-1)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "embedding_dim": self.embedding_dim,
        }
