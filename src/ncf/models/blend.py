"""Blends: weighted sums of models' scores, saved and loaded as one model.

* :class:`Blend` sums factorized models: ``score = sum_k w_k s_k(u, i)`` is the dot product of the
  concatenated vectors ``[w_1 u_1, w_2 u_2, ...]`` and ``[v_1, v_2, ...]``, so it ranks with one
  matrix product and exports to an ANN index.
* :class:`RowBlend` also takes models that score whole rows from a history (graph filters,
  :class:`~ncf.models.base.HistoryScorer`); it is itself a history scorer, ranked row by row.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import torch
from torch import Tensor, nn

from ncf.errors import ConfigError
from ncf.models.base import (
    FOLD_IN_ALPHA,
    FOLD_IN_L2,
    Factorized,
    HistoryScorer,
    Model,
    SequenceAware,
)

if TYPE_CHECKING:
    from typing_extensions import Self



class _WeightedSum:
    """What both blends share: checked parts and weights, pair scores, the saved config, rebuilding."""

    #: Whether history scorers (graph filters) may be parts, next to factorized models.
    takes_history_scorers: ClassVar[bool] = False
    num_users: int
    num_items: int
    weights: list[float]
    parts: nn.ModuleList

    def __init__(self, num_users: int, num_items: int, components: Sequence[Model], weights: Sequence[float]) -> None:
        super().__init__(num_users, num_items)  # type: ignore[call-arg]  # the Model next in the MRO
        self.weights = _checked_weights(weights, components)
        self.parts = nn.ModuleList(_checked_parts(components, self.num_users, self.num_items,
                                                  rows=self.takes_history_scorers))

    @classmethod
    def from_config(cls, config: Mapping[str, Any], build: Callable[..., Model]) -> Self:
        """Rebuild a saved blend: its components are ``{"model": name, "config": kwargs}`` specs."""
        return cls(**{**config, "components": _rebuild_components(config, build)})

    @classmethod
    def of(cls, models: Sequence[Model], weights: Sequence[float]) -> Self:
        """A blend of already built (trained) models; they are used as they are, not copied."""
        if not models:
            raise ConfigError("a blend needs at least one component")
        return cls(models[0].num_users, models[0].num_items, list(models), weights)

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """``sum_k w_k s_k(users, items)``; arguments broadcast."""
        out: Tensor | None = None
        for w, part in zip(self.weights, self.parts, strict=True):
            s = w * cast(Model, part).score(users, items).float()
            out = s if out is None else out + s
        assert out is not None
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "components": [{"model": p.name, "config": p.get_config()} for p in cast(Sequence[Model], self.parts)],
            "weights": list(self.weights),
        }


class Blend(_WeightedSum, Factorized):
    """Weighted sum of factorized models over one universe.

    Parameters
    ----------
    num_users, num_items : int
    components : sequence of models
        The parts, used as they are. A saved blend stores them as ``{"model": name, "config":
        kwargs}`` and :meth:`from_config` rebuilds them through the registry (no pickle).
    weights : sequence of float
        One finite weight per component.

    Examples
    --------
    >>> a = MatrixFactorization(5, 4, embedding_dim=3)  # doctest: +SKIP
    >>> blend = Blend.of([a, b], [1.0, 0.5])  # doctest: +SKIP
    """

    name = "blend"

    def components(self) -> list[Factorized]:
        """The blended models, in order."""
        return [cast(Factorized, p) for p in self.parts]

    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``[w_1 u_1, w_2 u_2, ...]``: the weights sit on the user side."""
        vs = [w * part.user_vectors(users).float() for w, part in zip(self.weights, self.components(), strict=True)]
        return torch.cat(vs, dim=-1)

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``[v_1, v_2, ...]``."""
        return torch.cat([part.item_vectors(items).float() for part in self.components()], dim=-1)

    def fold_in(self, items: Tensor, *, alpha: float = FOLD_IN_ALPHA, l2: float = FOLD_IN_L2) -> Tensor:
        """``[w_1 u_1, w_2 u_2, ...]`` with each part's own fold-in, so the blend weights hold."""
        return torch.cat([w * part.fold_in(items, alpha=alpha, l2=l2).float()
                          for w, part in zip(self.weights, self.components(), strict=True)])


class RowBlend(_WeightedSum, Model, HistoryScorer):
    """Weighted sum of factorized models and history scorers (graph filters) over one universe.

    ``score_rows(users) = sum_k w_k rows_k(users)``, where a factorized part's row is its user
    vector against every item vector and a history scorer's row is its own. It is not a dot
    product of two vectors, so it ranks (and serves) row by row like a graph filter, and
    ``ncf index build`` refuses it. A new user's history is folded into each factorized part
    (:meth:`~ncf.models.Factorized.fold_in`) and scored directly by each history scorer.

    Parameters
    ----------
    num_users, num_items : int
    components : sequence of models
        Each factorized (without sequence context) or a :class:`~ncf.models.base.HistoryScorer`.
    weights : sequence of float
        One finite weight per component.
    """

    name = "row-blend"
    takes_history_scorers = True

    def components(self) -> list[Model]:
        """The blended models, in order."""
        return list(cast(Sequence[Model], self.parts))

    def score_rows(self, users: Tensor) -> Tensor:
        """``(B, num_items)``: the weighted sum of every part's rows for known ``users``."""
        out: Tensor | None = None
        for w, part in zip(self.weights, self.components(), strict=True):
            rows = row_scores(part, users) * w
            out = rows if out is None else out + rows.to(out.device)
        assert out is not None
        return out

    def score_histories(self, histories: Tensor) -> Tensor:
        """``(B, num_items)`` for histories given as 0/1 rows: factorized parts fold each row in
        (one least-squares solve per row), history scorers score the rows directly."""
        x = histories.float()
        if x.dim() != 2 or x.shape[1] != self.num_items:
            raise ConfigError(f"histories must be (B, {self.num_items}) rows, got {tuple(histories.shape)}")
        out: Tensor | None = None
        for w, part in zip(self.weights, self.components(), strict=True):
            if isinstance(part, HistoryScorer):
                rows = part.score_histories(x).float()
            else:
                fpart = cast(Factorized, part)
                items = fpart.item_vectors().float()
                vecs = [fpart.fold_in(torch.nonzero(row > 0).reshape(-1)).float() for row in x]
                users = torch.stack(vecs) if vecs else items.new_zeros((0, items.shape[1]))
                rows = users @ items.T
            rows = rows * w
            out = rows if out is None else out + rows.to(out.device)
        assert out is not None
        return out



def row_scores(part: Model, users: Tensor) -> Tensor:
    """``(B, num_items)`` scores of every item for known ``users``: a factorized model's user
    vectors against all its item vectors, or a history scorer's own rows."""
    if isinstance(part, HistoryScorer):
        return part.score_rows(users).float()
    fpart = cast(Factorized, part)
    items = fpart.item_vectors().float()
    return fpart.user_vectors(users.to(items.device)).float() @ items.T


def _checked_weights(weights: Sequence[float], components: Sequence[Model]) -> list[float]:
    if not components:
        raise ConfigError("a blend needs at least one component")
    if len(weights) != len(components):
        raise ConfigError(f"a blend needs one weight per component: {len(weights)} weights, {len(components)} components")
    out = [float(w) for w in weights]
    if not all(math.isfinite(w) for w in out):
        raise ConfigError(f"blend weights must be finite, got {list(weights)}")
    return out


def _checked_parts(components: Sequence[Model], num_users: int, num_items: int, *, rows: bool) -> list[Model]:
    """The components, each a model over the blend's universe that the blend can score:
    factorized without sequence context, or (``rows``) a history scorer."""
    parts = list(components)
    for i, part in enumerate(parts):
        if not isinstance(part, Model):
            raise ConfigError(f"blend component {i} must be a model, got {type(part).__name__}")
        if not isinstance(part, Factorized) and not (rows and isinstance(part, HistoryScorer)):
            kinds = "factorized nor a history scorer" if rows else "factorized"
            raise ConfigError(f"blend component {i} ({part.name!r}) is not {kinds}")
        if isinstance(part, SequenceAware):
            raise ConfigError(f"blend component {i} ({part.name!r}) ranks in a sequence context, which a blend does not pass on")
        if (part.num_users, part.num_items) != (num_users, num_items):
            raise ConfigError(
                f"blend component {i} ({part.name!r}) spans {part.num_users} x {part.num_items}, "
                f"the blend {num_users} x {num_items}"
            )
    return parts


def _rebuild_components(config: Mapping[str, Any], build: Callable[..., Model]) -> list[Model]:
    """A saved blend's components: each ``{"model": name, "config": kwargs}`` built by ``build``."""
    specs = config.get("components")
    if not isinstance(specs, Sequence) or isinstance(specs, (str, bytes)):
        raise ConfigError("a blend's components must be a list of {'model': name, 'config': {...}}")
    parts: list[Model] = []
    for i, spec in enumerate(specs):
        if isinstance(spec, Model):
            parts.append(spec)
            continue
        if not isinstance(spec, Mapping) or not isinstance(spec.get("model"), str) or not isinstance(spec.get("config"), Mapping):
            raise ConfigError(f"blend component {i} must be a model or {{'model': name, 'config': {{...}}}}")
        parts.append(build(spec["model"], **dict(spec["config"])))
    return parts


def score_spread(model: Model, *, seed: int = 0, users: int = 1024) -> float:
    """Standard deviation of ``model``'s scores over up to ``users`` seeded random users and every
    item: the scale by which a blend normalises a part (1.0 for a model whose scores are constant).
    ``model`` is factorized or a history scorer."""
    if not isinstance(model, (Factorized, HistoryScorer)):
        raise ConfigError(f"score_spread needs a factorized model or a history scorer, not {model.name!r}")
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(model.num_users, generator=gen)[:users]
    with torch.no_grad():
        scores = row_scores(model, pick)
    spread = float(scores.std())
    return spread if math.isfinite(spread) and spread > 0 else 1.0
