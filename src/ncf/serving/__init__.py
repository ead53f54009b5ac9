"""Serving: the :class:`Recommender` API over a trained run, and the HTTP server around it.

``Recommender`` needs only torch and the core; the HTTP parts (``create_app``, ``serve``) need
the ``serve`` extra (``pip install 'ncf[serve]'``) and are imported on use. The names here are
imported on first use too, so ``ncf serve`` checks its port before torch loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ncf._lazy import lazy_exports

if TYPE_CHECKING:
    from ncf.app.recommender import Recommendations, Recommender


__getattr__ = lazy_exports(__name__, globals(), dict.fromkeys(("Recommendations", "Recommender"), "ncf.app.recommender"))


__all__ = ["Recommendations", "Recommender"]
