"""Tiny fixed-weight models shared by the evaluation and top-k tests (not the real models)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ncf.models.base import Factorized


class FixedMF(Factorized):
    """Fixed random embedding tables: score = <p_u, q_i>."""

    name = "fixed-mf-test"

    def __init__(self, num_users: int, num_items: int, dim: int = 8, seed: int = 0) -> None:
        super().__init__(num_users, num_items)
        g = torch.Generator().manual_seed(seed)
        self.p = nn.Parameter(torch.randn(num_users, dim, generator=g))
        self.q = nn.Parameter(torch.randn(num_items, dim, generator=g))

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        return self.p if users is None else self.p[users]

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        return self.q if items is None else self.q[items]

    def get_config(self) -> dict[str, Any]:
        return {"num_users": self.num_users, "num_items": self.num_items}
