"""The contract every ncf model implements, and the capabilities a model may declare.

* :class:`Model` — ``score(users, items)`` scores pairs; arguments broadcast, so
  ``score(users[:, None], candidates)`` with ``candidates`` of shape ``(B, C)`` gives ``(B, C)``.
  ``get_config()`` returns the JSON-serialisable constructor kwargs; with the registry name
  (``cls.name``) and the weights it rebuilds the model without pickle.
* :class:`Factorized` — also ``user_vectors(users)`` and ``item_vectors(items)`` with
  ``score(u, i) == (user_vectors(u) * item_vectors(i)).sum(-1)``: full ranking and ANN indexes
  use them as one matrix product.
* :class:`ClosedForm` — fitted by ``fit(train)`` in one call, not by the trainer.
* :class:`SequenceAware` — scores in the context of a user's previous item; ``set_context``
  fixes the context used by ``score`` and ``user_vectors`` (each user's latest known item).
* :class:`HistoryScorer` — scores the whole catalogue from a user's item history in one pass
  (item × item operators such as graph filters): ``score_rows(users)`` for known users,
  ``score_histories(rows)`` for any history, so a new user needs no fold-in.

Generic code asks ``isinstance(model, Factorized)`` (and so on), never a model's name. A model
class declares its capabilities by inheriting them, so the check is exact, not duck-typed.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from ncf.errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import Self

    from ncf.data.interactions import Interactions


#: Fold-in defaults: confidence of an observed item over an unobserved one, and the ridge weight.
FOLD_IN_ALPHA = 1.0
FOLD_IN_L2 = 0.1


def implicit_fold_in(vectors: Tensor, items: Tensor, *, alpha: float = FOLD_IN_ALPHA, l2: float = FOLD_IN_L2) -> Tensor:
    """Solve ``(V^T V + alpha V_I^T V_I + l2 I) u = (1 + alpha) V_I^T 1`` for ``u`` (float64 inside).

    ``vectors`` are all ``(N, d)`` item vectors; ``items`` the user's item indices (repeats
    count once). An empty history gives the zero vector.
    """
    if alpha < 0 or l2 <= 0:
        raise ConfigError(f"fold-in needs alpha >= 0 and l2 > 0, got alpha={alpha}, l2={l2}")
    v = vectors.double()
    d = v.shape[1]
    idx = torch.unique(items.reshape(-1).long())
    if idx.numel() == 0:
        return vectors.new_zeros(d)
    vi = v.index_select(0, idx)
    gram = v.T @ v + alpha * (vi.T @ vi) + l2 * torch.eye(d, dtype=v.dtype, device=v.device)
    rhs = (1.0 + alpha) * vi.sum(0)
    out: Tensor = torch.linalg.solve(gram, rhs).to(vectors.dtype)
    return out


class Model(nn.Module, abc.ABC):
    """Base of all models: scores (user, item) index pairs over a fixed universe.

    Class attributes
    ----------------
    name : str
        The registry key (``ncf.models.MODELS``).
    """

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

    @classmethod
    def from_config(cls, config: Mapping[str, Any], build: Callable[..., Model]) -> Self:
        """Rebuild from ``get_config()`` output; ``build(name, **config)`` builds nested models
        (composites such as :class:`~ncf.models.Blend` use it, so no model imports the registry)."""
        return cls(**config)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def extra_repr(self) -> str:
        return f"num_users={self.num_users}, num_items={self.num_items}"


class Factorized(Model):
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

    def fold_in(self, items: Tensor, *, alpha: float = FOLD_IN_ALPHA, l2: float = FOLD_IN_L2) -> Tensor:
        """A ``(d,)`` user vector for someone known only by the ``items`` they interacted with.

        The implicit-feedback least-squares fold-in of Hu, Koren and Volinsky (2008): the vector
        that best scores 1 on the user's items (confidence ``1 + alpha``) and 0 on every other
        item (confidence 1), ridge ``l2`` — how a new user joins without retraining.
        """
        return implicit_fold_in(self.item_vectors().detach().float(), items, alpha=alpha, l2=l2)


#: The earlier name of :class:`Factorized`.
FactorizedRecommender = Factorized


class ClosedForm(abc.ABC):
    """A model fitted in one call from the training interactions (no epochs, no optimizer)."""

    @abc.abstractmethod
    def fit(self, train: Interactions) -> Self:
        """Fit on ``train`` (same universe as the model) and return ``self``."""


class DataInitialized(abc.ABC):
    """A model whose parameters start from the training data (e.g. :class:`MatrixFactorization`
    with ``init="projection"``).

    The trainer calls :meth:`init_from_data` before the first step of a fit when
    :attr:`needs_data_init` is true; the model then records (in its state dict) that it is done, so
    a second fit, or a fit of a reloaded model, continues from the trained weights.
    """

    @property
    @abc.abstractmethod
    def needs_data_init(self) -> bool:
        """Whether the parameters still hold the data-free start."""

    @abc.abstractmethod
    def init_from_data(self, train: Interactions, *, seed: int = 0) -> None:
        """Set the starting parameters from ``train`` (same universe as the model)."""


class SequenceAware(abc.ABC):
    """A model that scores items in the context of the user's previous item.

    The trainer gives each training row its user's previous item
    (:func:`ncf.data.sequences.previous_items`); ranking uses the context fixed by
    :meth:`set_context`, each user's latest item in the given interactions.
    """

    @abc.abstractmethod
    def set_context(self, data: Interactions) -> Self:
        """Rank each user after their latest item in ``data``; returns ``self``."""

    @abc.abstractmethod
    def context_user_vectors(self, users: Tensor, previous: Tensor) -> Tensor:
        """User vectors after explicit previous items (``-1``: none)."""

    @abc.abstractmethod
    def score_in_context(self, users: Tensor, items: Tensor, previous: Tensor) -> Tensor:
        """Scores after explicit previous items; the three arguments broadcast."""


class HistoryScorer(abc.ABC):
    """A model that scores every item at once from a user's interaction history.

    Its scores are not a dot product of two low-dimensional vectors, so ranking calls
    :meth:`score_rows` per user chunk instead of ``score`` per (user, item) block, and a new
    user is scored from their history directly.
    """

    @abc.abstractmethod
    def score_rows(self, users: Tensor) -> Tensor:
        """``(B, num_items)`` scores of every item for known ``users`` (their fitted history)."""

    @abc.abstractmethod
    def score_histories(self, histories: Tensor) -> Tensor:
        """``(B, num_items)`` scores for histories given as ``(B, num_items)`` rows (1 = interacted)."""


def is_factorized(model: nn.Module) -> bool:
    """Whether ``model`` ranks by one product of user and item vectors (:class:`Factorized`)."""
    return isinstance(model, Factorized)
