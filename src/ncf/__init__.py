"""ncf: neural collaborative filtering on implicit feedback.

The public API: data containers and readers (:mod:`ncf.data`), models, losses, the trainer,
evaluation and persistence. See README.md for a tour.
"""

from ncf import data, losses
from ncf.config import TrainConfig
from ncf.data import FeatureTable, IdMap, Interactions, Split
from ncf.errors import (
    ConfigError,
    DataError,
    DownloadError,
    NCFError,
    NotFittedError,
    ParameterWarning,
    TrainingDivergedError,
    UnknownIdError,
)
from ncf.evaluation import EvalReport, evaluate
from ncf.models import (
    FPMC,
    GMF,
    MLP,
    MODELS,
    Blend,
    FactorizedRecommender,
    MatrixFactorization,
    NeuMF,
    Popularity,
    Recommender,
    SpectralMF,
    TwoTower,
    build_model,
    is_factorized,
)
from ncf.persistence import SavedModel, load_model, save_model
from ncf.retrieval import TopK, recommend, topk
from ncf.sampling import (
    HardNegativeSampler,
    NegativeSampler,
    PopularitySampler,
    PositiveSet,
    UniformSampler,
    item_log_frequency,
)
from ncf.training import EpochLog, History, Trainer

__version__ = "0.1.0"

__all__ = [
    "FPMC",
    "GMF",
    "MLP",
    "MODELS",
    "Blend",
    "ConfigError",
    "DataError",
    "DownloadError",
    "EpochLog",
    "EvalReport",
    "FactorizedRecommender",
    "FeatureTable",
    "HardNegativeSampler",
    "History",
    "IdMap",
    "Interactions",
    "MatrixFactorization",
    "NCFError",
    "NegativeSampler",
    "NeuMF",
    "NotFittedError",
    "ParameterWarning",
    "Popularity",
    "PopularitySampler",
    "PositiveSet",
    "Recommender",
    "SavedModel",
    "SpectralMF",
    "Split",
    "TopK",
    "Trainer",
    "TrainConfig",
    "TrainingDivergedError",
    "TwoTower",
    "UniformSampler",
    "UnknownIdError",
    "__version__",
    "build_model",
    "data",
    "evaluate",
    "recommend",
    "is_factorized",
    "item_log_frequency",
    "load_model",
    "losses",
    "save_model",
    "topk",
]
