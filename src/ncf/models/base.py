"""The one contract every ncf model implements, so training, evaluation and saving stay generic.

* ``score(users, items)`` scores pairs; arguments broadcast against each other, so
  ``score(users[:, None], candidates)`` with ``candidates`` of shape ``(B, C)`` gives ``(B, C)``.
* Factorized models also give ``user_vectors(users)`` and ``item_vectors(items)`` with
  ``score(u, i) == (user_vectors(u) * item_vectors(i)).sum(-1)``, which full ranking and ANN
  export use as one matrix product. Generic code checks :func:`is_factorized`, never a name.
* ``get_config()`` returns the JSON-serialisable constructor kwargs; with the registry name
  (``cls.name``) and the weights it rebuilds the model without pickle.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


class Recommender(nn.Module, abc.ABC):
    """Base of all models: scores (user, item) index pairs over a fixed universe."""

    name: ClassVar[str] = ""

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__()
        if num_users <= 0 or num_items <= 0:
            raise ValueError("num_users and num_items must be positive")
        self.num_users = int(num_users)
        self.num_items = int(num_items)

    @abc.abstractmethod
    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """Scores of (user, item) pairs; ``users`` and ``items`` broadcast. Higher is better."""

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.score(users, items)

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]:
        """Constructor kwargs (JSON-serialisable) that rebuild this model."""

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def extra_repr(self) -> str:
        return f"num_users={self.num_users}, num_items={self.num_items}"


class FactorizedRecommender(Recommender):
    """A model whose score is a dot product of a user vector and an item vector."""

    @abc.abstractmethod
    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``(B, d)`` vectors for ``users`` (all users when None)."""

    @abc.abstractmethod
    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``(N, d)`` vectors for ``items`` (all items when None)."""

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        u = self.user_vectors(users.reshape(-1)).reshape(*users.shape, -1)
        v = self.item_vectors(items.reshape(-1)).reshape(*items.shape, -1)
        return (u * v).sum(-1)


def is_factorized(model: nn.Module) -> bool:
    """Whether ``model`` offers ``user_vectors``/``item_vectors`` for one-product ranking."""
    return callable(getattr(model, "user_vectors", None)) and callable(getattr(model, "item_vectors", None))
