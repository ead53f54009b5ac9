"""Models: one contract (:mod:`ncf.models.base`), the registry, and the implementations."""

from ncf.models.base import (
    BuildContext,
    ClosedForm,
    Factorized,
    FactorizedRecommender,
    Model,
    SequenceAware,
    is_factorized,
)
from ncf.models.blend import Blend, score_spread
from ncf.models.fpmc import FPMC
from ncf.models.gmf import GMF
from ncf.models.mf import MatrixFactorization
from ncf.models.mlp import MLP
from ncf.models.neumf import NeuMF
from ncf.models.popularity import Popularity
from ncf.models.registry import MODELS, build_model, get_model_class
from ncf.models.spec import ModelSpec
from ncf.models.spectral import SpectralMF
from ncf.models.two_tower import TwoTower

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
