"""Serving: the :class:`Recommender` API over a trained run, and the HTTP server around it.

``Recommender`` needs only torch and the core; the HTTP parts (``create_app``, ``serve``) need
the ``serve`` extra (``pip install 'ncf[serve]'``) and are imported on use. The names here are
imported on first use too, so ``ncf serve`` checks its port before torch loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ncf.app.recommender import Recommendations, Recommender


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'ncf.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module("ncf.app.recommender"), name)
    globals()[name] = value
    return value


__all__ = ["Recommendations", "Recommender"]
