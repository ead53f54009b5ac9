"""Popularity baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ncf.data.interactions import Interactions
from ncf.errors import DataError
from ncf.models.base import ClosedForm, Factorized


class Popularity(Factorized, ClosedForm):
    """Non-personalised baseline: ``score(u, i) = count(i)``, the item's training interactions.

    The floor every personalised model must beat clearly (Rendle et al., 2009, "BPR", UAI, use
    it as their reference; so does the ncf quality suite). It has no trainable parameters:
    call :meth:`fit` instead of training it. Before ``fit`` every count is zero (all ties).

    Factorised as ``user_vectors = 1`` (``(B, 1)``) and ``item_vectors = count`` (``(N, 1)``).

    Parameters
    ----------
    num_users, num_items : int
    """

    name = "popularity"
    counts: Tensor

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__(num_users, num_items)
        self.register_buffer("counts", torch.zeros(self.num_items, dtype=torch.float32))

    def fit(self, train: Interactions) -> Popularity:
        """Count each item's training interactions (events, not weights); returns ``self``.

        Raises
        ------
        DataError
            When ``train`` has a different number of items.
        """
        if train.num_items != self.num_items:
            raise DataError(
                f"train has {train.num_items} items but the model was built for {self.num_items}"
            )
        counts = np.bincount(np.asarray(train.items, dtype=np.int64), minlength=self.num_items)
        with torch.no_grad():
            self.counts.copy_(torch.from_numpy(counts.astype(np.float32)))
        return self

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``(B, 1)`` ones."""
        shape = (self.num_users, 1) if users is None else (*users.shape, 1)
        return self.counts.new_ones(shape)

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``(N, 1)`` interaction counts."""
        counts = self.counts if items is None else self.counts[items]
        return counts.unsqueeze(-1)

    def get_config(self) -> dict[str, Any]:
        return {"num_users": self.num_users, "num_items": self.num_items}
