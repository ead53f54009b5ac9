"""Models: one contract (:mod:`ncf.models.base`), the registry, and the implementations.

Names are imported on first use (PEP 562): ``ncf.models.spec`` (what the command line reads to
build its options) loads without the model classes, and so without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ncf._lazy import lazy_exports

if TYPE_CHECKING:
    from ncf.models.base import (
        BuildContext,
        ClosedForm,
        Factorized,
        FactorizedRecommender,
        HistoryScorer,
        Model,
        SequenceAware,
        is_factorized,
    )
    from ncf.models.blend import Blend, score_spread
    from ncf.models.fpmc import FPMC
    from ncf.models.gmf import GMF
    from ncf.models.graph_filter import GraphFilter
    from ncf.models.mf import MatrixFactorization
    from ncf.models.mlp import MLP
    from ncf.models.neumf import NeuMF
    from ncf.models.popularity import Popularity
    from ncf.models.registry import MODELS, build_model, get_model_class
    from ncf.models.spec import ModelSpec
    from ncf.models.spectral import SpectralMF
    from ncf.models.two_tower import TwoTower

#: Public name -> the submodule that defines it.
_LAZY: dict[str, str] = {
    "BuildContext": "ncf.models.base",
    "ClosedForm": "ncf.models.base",
    "Factorized": "ncf.models.base",
    "FactorizedRecommender": "ncf.models.base",
    "HistoryScorer": "ncf.models.base",
    "Model": "ncf.models.base",
    "SequenceAware": "ncf.models.base",
    "is_factorized": "ncf.models.base",
    "Blend": "ncf.models.blend",
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
    "ModelSpec": "ncf.models.spec",
    "SpectralMF": "ncf.models.spectral",
    "TwoTower": "ncf.models.two_tower",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "BuildContext",
    "ClosedForm",
    "Factorized",
    "ModelSpec",
    "SequenceAware",
    "Blend",
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
