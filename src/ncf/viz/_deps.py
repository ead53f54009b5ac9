"""The optional packages behind ``ncf viz`` and ``ncf report``, imported on first use.

A missing package is a :class:`~ncf.errors.ConfigError` that says which extra to install, not
a traceback; any other import failure inside an installed package is left alone.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from ncf.errors import ConfigError

INSTALL_HINT = "pip install 'ncf[viz]'"


def require(module: str, *, feature: str) -> ModuleType:
    """``import module``, or a ConfigError naming the viz extra when its package is not installed."""
    try:
        with warnings.catch_warnings():
            # umap-learn warns at import that TensorFlow (for ParametricUMAP, unused here) is missing
            warnings.simplefilter("ignore", ImportWarning)
            return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        root = module.split(".")[0]
        if exc.name is None or exc.name.split(".")[0] != root:
            raise  # the package is installed but something it needs is broken: show it
        raise ConfigError(f"{feature} needs the viz extra: {INSTALL_HINT} ({root} is not installed)") from None
