"""FPMC: matrix factorisation plus a factorised first-order transition from the previous item."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ncf._checks import positive_int
from ncf.data.interactions import Interactions
from ncf.data.sequences import latest_items
from ncf.errors import DataError
from ncf.models.base import FOLD_IN_ALPHA, FOLD_IN_L2, Factorized, SequenceAware, implicit_fold_in
from ncf.nn.blocks import embedding_lookup, init_embedding_


class FPMC(Factorized, SequenceAware):
    """``score(u, i | l) = p_u . q_i + r_l . t_i + b_i`` with ``l`` the user's previous item.

    Factorizing Personalized Markov Chains (Rendle, Freudenthaler and Schmidt-Thieme, 2010,
    WWW), first order, with an item bias. The user-item term is BPR-MF; the item-item term
    scores the candidate ``i`` as the item that follows ``l``. The trainer gives every training
    interaction the item its user interacted with just before it
    (:func:`ncf.data.sequences.previous_items`); at ranking time the context is each user's
    latest training item, kept in the ``last_item`` buffer by :meth:`set_context` (the trainer
    calls it with the training data, and saved models keep it). Row ``num_items`` of the
    previous-item table is the learned context "no previous item" (a user's first interaction).

    Parameters
    ----------
    num_users, num_items : int
        Size of the universe.
    embedding_dim : int
        Width ``d`` of both factorisations (user vectors have ``2 d + 1`` columns).
    init_std : float
        Factors start as ``N(0, init_std^2)``; the item bias at zero.
    """

    name = "fpmc"
    last_item: Tensor

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, init_std: float = 0.05) -> None:
        super().__init__(positive_int("num_users", num_users), positive_int("num_items", num_items))
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.init_std = float(init_std)
        self.user_embedding = init_embedding_(nn.Embedding(self.num_users, self.embedding_dim), self.init_std)
        self.item_embedding = init_embedding_(nn.Embedding(self.num_items, self.embedding_dim), self.init_std)
        self.prev_embedding = init_embedding_(nn.Embedding(self.num_items + 1, self.embedding_dim), self.init_std)
        self.next_embedding = init_embedding_(nn.Embedding(self.num_items, self.embedding_dim), self.init_std)
        self.item_bias = nn.Embedding(self.num_items, 1)
        with torch.no_grad():
            self.item_bias.weight.zero_()
        self.register_buffer("last_item", torch.full((self.num_users,), self.num_items, dtype=torch.int64))

    def set_context(self, data: Interactions) -> FPMC:
        """Make each user's latest item in ``data`` the context of their rankings."""
        if data.num_users > self.num_users or data.num_items > self.num_items:
            raise DataError("the interactions' universe is larger than the model's")
        last = latest_items(data)
        full = np.full(self.num_users, self.num_items, dtype=np.int64)
        full[: last.size] = np.where(last >= 0, last, self.num_items)
        self.last_item.copy_(torch.from_numpy(full))
        return self

    def _prev_index(self, previous: Tensor) -> Tensor:
        """-1 ("none") becomes the zero row ``num_items``."""
        return torch.where(previous < 0, torch.full_like(previous, self.num_items), previous)

    def context_user_vectors(self, users: Tensor, previous: Tensor) -> Tensor:
        """``[p_u, r_l, 1]`` for explicit previous items ``l`` (-1: none)."""
        p = embedding_lookup(self.user_embedding, users)
        r = embedding_lookup(self.prev_embedding, self._prev_index(previous))
        return torch.cat([p, r, torch.ones_like(p[..., :1])], dim=-1)

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``(B, 2d + 1)`` vectors ``[p_u, r_last(u), 1]``."""
        if users is None:
            users = torch.arange(self.num_users, device=self.last_item.device)
        return self.context_user_vectors(users, self.last_item[users])

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``(N, 2d + 1)`` vectors ``[q_i, t_i, b_i]``."""
        if items is None:
            q, t, b = self.item_embedding.weight, self.next_embedding.weight, self.item_bias.weight
        else:
            q = embedding_lookup(self.item_embedding, items)
            t = embedding_lookup(self.next_embedding, items)
            b = embedding_lookup(self.item_bias, items)
        return torch.cat([q, t, b], dim=-1)

    def fold_in(self, items: Tensor, *, alpha: float = FOLD_IN_ALPHA, l2: float = FOLD_IN_L2) -> Tensor:
        """``[p, r_last, 1]`` for a new user: ``p`` folded in over the item factors ``q`` (see
        :meth:`Factorized.fold_in`), the context the history's last item (``items`` in time order)."""
        items = items.reshape(-1).long()
        p = implicit_fold_in(self.item_embedding.weight.detach().float(), items, alpha=alpha, l2=l2)
        last = items[-1:] if items.numel() else torch.full((1,), -1, dtype=torch.long, device=items.device)
        r = embedding_lookup(self.prev_embedding, self._prev_index(last))[0]
        return torch.cat([p, r.detach().float(), p.new_ones(1)])

    def score_in_context(self, users: Tensor, items: Tensor, previous: Tensor) -> Tensor:
        """Scores with explicit previous items; the three arguments broadcast."""
        shape = np.broadcast_shapes(tuple(users.shape), tuple(items.shape), tuple(previous.shape))
        users, items, previous = users.expand(shape), items.expand(shape), previous.expand(shape)
        u = self.context_user_vectors(users, previous)
        return (u * self.item_vectors(items)).sum(-1)

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """Scores in each user's latest-item context (see :meth:`set_context`)."""
        return self.score_in_context(users, items, self.last_item[users])

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "embedding_dim": self.embedding_dim,
            "init_std": self.init_std,
        }
