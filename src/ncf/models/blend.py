"""Blend: a weighted sum of factorized models, itself one factorized model.

``score = sum_k w_k s_k(u, i)`` is the dot product of the concatenated vectors
``[w_1 u_1, w_2 u_2, ...]`` and ``[v_1, v_2, ...]``, so a blend ranks with one matrix product,
exports to an ANN index and saves/loads like any other model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from ncf.errors import ConfigError
from ncf.models.base import FOLD_IN_ALPHA, FOLD_IN_L2, Factorized, Model, SequenceAware


class Blend(Factorized):
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

    def __init__(
        self,
        num_users: int,
        num_items: int,
        components: Sequence[Model],
        weights: Sequence[float],
    ) -> None:
        super().__init__(num_users, num_items)
        if not components:
            raise ConfigError("a blend needs at least one component")
        if len(weights) != len(components):
            raise ConfigError(f"a blend needs one weight per component: {len(weights)} weights, {len(components)} components")
        self.weights = [float(w) for w in weights]
        if not all(math.isfinite(w) for w in self.weights):
            raise ConfigError(f"blend weights must be finite, got {list(weights)}")
        parts = list(components)
        for i, part in enumerate(parts):
            if not isinstance(part, Model):
                raise ConfigError(f"blend component {i} must be a model, got {type(part).__name__}")
            if not isinstance(part, Factorized):
                raise ConfigError(f"blend component {i} ({part.name!r}) is not factorized")
            if isinstance(part, SequenceAware):
                raise ConfigError(f"blend component {i} ({part.name!r}) ranks in a sequence context, which a blend does not pass on")
            if (part.num_users, part.num_items) != (self.num_users, self.num_items):
                raise ConfigError(
                    f"blend component {i} ({part.name!r}) spans {part.num_users} x {part.num_items}, "
                    f"the blend {self.num_users} x {self.num_items}"
                )
        self.parts = nn.ModuleList(parts)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], build: Callable[..., Model]) -> Blend:
        """Rebuild a saved blend: its components are ``{"model": name, "config": kwargs}`` specs."""
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
        return cls(**{**config, "components": parts})

    @classmethod
    def of(cls, models: Sequence[Model], weights: Sequence[float]) -> Blend:
        """A blend of already built (trained) models; they are used as they are, not copied."""
        if not models:
            raise ConfigError("a blend needs at least one component")
        return cls(models[0].num_users, models[0].num_items, list(models), weights)

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

    def score(self, users: Tensor, items: Tensor) -> Tensor:
        """``sum_k w_k s_k(users, items)``; arguments broadcast."""
        out: Tensor | None = None
        for w, part in zip(self.weights, self.components(), strict=True):
            s = w * part.score(users, items).float()
            out = s if out is None else out + s
        assert out is not None
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "components": [{"model": p.name, "config": p.get_config()} for p in self.components()],
            "weights": list(self.weights),
        }


def score_spread(model: Factorized, *, seed: int = 0, users: int = 1024) -> float:
    """Standard deviation of ``model``'s scores over up to ``users`` seeded random users and every
    item: the scale by which a blend normalises a part (1.0 for a model whose scores are constant)."""
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(model.num_users, generator=gen)[:users]
    with torch.no_grad():
        items = model.item_vectors().float()
        scores = model.user_vectors(pick.to(items.device)).float() @ items.T
    spread = float(scores.std())
    return spread if math.isfinite(spread) and spread > 0 else 1.0
