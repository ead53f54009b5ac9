"""Checks of settings shared by the layers: one :func:`positive_int` for the models' sizes and
the indexes' settings (``ncf.config.check_whole`` is the bounded rule at the option edges)."""

from __future__ import annotations

import numbers
from typing import Any

from ncf.errors import ConfigError


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int, or ConfigError ``"<name> must be a positive integer, got <value>"``
    when it is not one (bools, floats and text refused; numpy integers accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def optional_positive_int(name: str, value: Any) -> int | None:
    """None, or :func:`positive_int` of ``value``."""
    return None if value is None else positive_int(name, value)


__all__ = ["optional_positive_int", "positive_int"]
