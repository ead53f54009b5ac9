"""Validation of model hyper-parameters, shared by the model constructors."""

from __future__ import annotations

from collections.abc import Sequence

from ncf._checks import positive_int
from ncf.errors import ConfigError


def probability(value: float, name: str = "dropout") -> float:
    """``value`` as a float in ``[0, 1)``, or ConfigError."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = -1.0
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
    return p


def layer_widths(layers: Sequence[int], name: str = "layers") -> tuple[int, ...]:
    """A non-empty tuple of positive layer widths, or ConfigError."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise ConfigError(f"{name} must be a sequence of positive integers, got {layers!r}")
    widths = tuple(positive_int(f"{name}[{k}]", w) for k, w in enumerate(layers))
    if not widths:
        raise ConfigError(f"{name} must name at least one hidden layer")
    return widths

