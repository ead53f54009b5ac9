"""The explicit model registry: registry name -> class, and building a model from its config."""

from __future__ import annotations

import inspect
from typing import Any

from ncf.errors import ConfigError, did_you_mean
from ncf.models.base import Model
from ncf.models.blend import Blend, RowBlend
from ncf.models.fpmc import FPMC
from ncf.models.gmf import GMF
from ncf.models.graph_filter import GraphFilter
from ncf.models.mf import MatrixFactorization
from ncf.models.mlp import MLP
from ncf.models.neumf import NeuMF
from ncf.models.popularity import Popularity
from ncf.models.spectral import SpectralMF
from ncf.models.two_tower import TwoTower

#: Registry name (``cls.name``) -> model class; saved models are rebuilt through it.
MODELS: dict[str, type[Model]] = {
    "mf": MatrixFactorization,
    "gmf": GMF,
    "mlp": MLP,
    "neumf": NeuMF,
    "two-tower": TwoTower,
    "popularity": Popularity,
    "fpmc": FPMC,
    "spectral": SpectralMF,
    "graph-filter": GraphFilter,
    "blend": Blend,
    "row-blend": RowBlend,
}


def get_model_class(name: str) -> type[Model]:
    """The class registered under ``name``.

    Raises
    ------
    ConfigError
        For an unknown name, with a "did you mean" suggestion.
    """
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(MODELS))
        hint = did_you_mean(str(name).lower(), sorted(MODELS))
        raise ConfigError(f"unknown model {name!r}{hint} (known models: {known})") from None


def build_model(name: str, **config: Any) -> Model:
    """Build the model registered under ``name`` from constructor kwargs.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"neumf"``.
    **config
        Constructor kwargs, e.g. the output of ``model.get_config()``.

    Returns
    -------
    Model

    Raises
    ------
    ConfigError
        For an unknown model name, an unknown or missing kwarg (with a "did you mean"), or an
        invalid value.

    Examples
    --------
    >>> build_model("mf", num_users=10, num_items=20, embedding_dim=8).name
    'mf'
    """
    cls = get_model_class(name)
    params = inspect.signature(cls).parameters
    accepted = [p for p, v in params.items() if v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise ConfigError(
            f"unknown option {unknown[0]!r} for model {name!r}{did_you_mean(unknown[0], accepted)}"
            f" (options: {', '.join(accepted)})"
        )
    missing = [
        p for p, v in params.items()
        if v.default is inspect.Parameter.empty and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)
        and p not in config
    ]
    if missing:
        raise ConfigError(f"model {name!r} needs option(s) {', '.join(map(repr, missing))}")
    try:
        return cls.from_config(config, build_model)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid config for model {name!r}: {exc}") from exc
