"""Serving: the :class:`Recommender` API over a trained run, and the HTTP server around it.

``Recommender`` needs only torch and the core; the HTTP parts (``create_app``, ``serve``) need
the ``serve`` extra (``pip install 'ncf[serve]'``) and are imported on use.
"""

from ncf.serving.recommender import Recommendations, Recommender

__all__ = ["Recommendations", "Recommender"]
