"""Models: one contract (:mod:`ncf.models.base`), the registry, and the implementations.

Names are imported on first use (PEP 562), so importing the package does not load torch. The
models take typed constructor arguments and know nothing of run options: the application layer
maps ``ncf train``'s options onto the constructors (its name -> builder table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ncf._lazy import lazy_dir, lazy_exports

if TYPE_CHECKING:
    from ncf.models.base import (
        ClosedForm,
        DataInitialized,
        Factorized,
        FactorizedRecommender,
        HistoryScorer,
        Model,
        SequenceAware,
        is_factorized,
    )
    from ncf.models.blend import Blend, RowBlend, score_spread
    from ncf.models.fpmc import FPMC
    from ncf.models.gmf import GMF
    from ncf.models.graph_filter import GraphFilter
    from ncf.models.mf import MatrixFactorization
    from ncf.models.mlp import MLP
    from ncf.models.neumf import NeuMF
    from ncf.models.popularity import Popularity
    from ncf.models.registry import MODELS, build_model, get_model_class
    from ncf.models.spectral import SpectralMF
    from ncf.models.two_tower import TwoTower

#: Public name -> the submodule that defines it.
_LAZY: dict[str, str] = {
    "ClosedForm": "ncf.models.base",
    "Factorized": "ncf.models.base",
    "FactorizedRecommender": "ncf.models.base",
    "HistoryScorer": "ncf.models.base",
    "Model": "ncf.models.base",
    "DataInitialized": "ncf.models.base",
    "SequenceAware": "ncf.models.base",
    "is_factorized": "ncf.models.base",
    "Blend": "ncf.models.blend",
    "RowBlend": "ncf.models.blend",
    "score_spread": "ncf.models.blend",
    "FPMC": "ncf.models.fpmc",
    "GMF": "ncf.models.gmf",
    "GraphFilter": "ncf.models.graph_filter",
    "MatrixFactorization": "ncf.models.mf",
    "MLP": "ncf.models.mlp",
    "NeuMF": "ncf.models.neumf",
    "Popularity": "ncf.models.popularity",
    "MODELS": "ncf.models.registry",
    "build_model": "ncf.models.registry",
    "get_model_class": "ncf.models.registry",
    "SpectralMF": "ncf.models.spectral",
    "TwoTower": "ncf.models.two_tower",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)

__dir__ = lazy_dir(globals())


__all__ = [
    "ClosedForm",
    "Factorized",
    "DataInitialized",
    "SequenceAware",
    "Blend",
    "RowBlend",
    "score_spread",
    "FPMC",
    "GMF",
    "GraphFilter",
    "HistoryScorer",
    "MLP",
    "MODELS",
    "FactorizedRecommender",
    "MatrixFactorization",
    "NeuMF",
    "Popularity",
    "Model",
    "SpectralMF",
    "TwoTower",
    "build_model",
    "get_model_class",
    "is_factorized",
]
