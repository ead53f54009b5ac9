"""ncf: neural collaborative filtering on implicit feedback.

The public API: data containers, readers and splits; models and their capabilities; the
trainer; evaluation and top-k recommendation; saving and loading; run specs and trained runs.
Everything else lives in submodules (``ncf.data``, ``ncf.models``, ``ncf.losses``, ...). See
README.md for a tour and docs/architecture.md for the layout.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from ncf import data, losses
from ncf.app import Run, RunSpec
from ncf.config import TrainConfig
from ncf.data import (
    Dataset,
    FeatureTable,
    IdMap,
    Interactions,
    Split,
    k_core,
    leave_one_out,
    load_dataset,
    random_split,
    synthetic,
    temporal_split,
    validation_split,
)
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
    Blend,
    ClosedForm,
    Factorized,
    MatrixFactorization,
    ModelSpec,
    NeuMF,
    Popularity,
    Recommender,
    SequenceAware,
    SpectralMF,
    TwoTower,
    build_model,
)
from ncf.persistence import SavedModel, load_model, save_model
from ncf.retrieval import TopK, recommend, topk
from ncf.sampling import HardNegativeSampler, NegativeSampler, PopularitySampler, UniformSampler
from ncf.training import EpochLog, History, Trainer

try:
    __version__ = _version("ncf")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Blend",
    "ClosedForm",
    "ConfigError",
    "DataError",
    "Dataset",
    "DownloadError",
    "EpochLog",
    "EvalReport",
    "FPMC",
    "Factorized",
    "FeatureTable",
    "GMF",
    "HardNegativeSampler",
    "History",
    "IdMap",
    "Interactions",
    "MLP",
    "MatrixFactorization",
    "ModelSpec",
    "NCFError",
    "NegativeSampler",
    "NeuMF",
    "NotFittedError",
    "ParameterWarning",
    "Popularity",
    "PopularitySampler",
    "Recommender",
    "Run",
    "RunSpec",
    "SavedModel",
    "SequenceAware",
    "SpectralMF",
    "Split",
    "TopK",
    "TrainConfig",
    "Trainer",
    "TrainingDivergedError",
    "TwoTower",
    "UniformSampler",
    "UnknownIdError",
    "__version__",
    "build_model",
    "data",
    "evaluate",
    "k_core",
    "leave_one_out",
    "load_dataset",
    "load_model",
    "losses",
    "random_split",
    "recommend",
    "save_model",
    "synthetic",
    "temporal_split",
    "topk",
    "validation_split",
]
