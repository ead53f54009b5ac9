"""ncf: neural collaborative filtering on implicit feedback.

The public API: data containers, readers and splits; models and their capabilities; the
trainer; evaluation and top-k recommendation; saving and loading; run specs and trained runs.
Everything else lives in submodules (``ncf.data``, ``ncf.models``, ``ncf.losses``, ...). See
README.md for a tour and docs/architecture.md for the layout.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ncf._lazy import lazy_dir, lazy_exports

if TYPE_CHECKING:
    from ncf import data, index, losses
    from ncf.app import ModelSpec, Recommendations, Recommender, Run, RunSpec
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
        DataInitialized,
        Factorized,
        GraphFilter,
        HistoryScorer,
        MatrixFactorization,
        Model,
        NeuMF,
        Popularity,
        RowBlend,
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

#: Public subpackages (``ncf.index`` is also reachable as an attribute of ``ncf``).
_MODULES = ("data", "index", "losses")

#: Public name -> the module that defines it. Imported on first use (PEP 562), so ``import ncf``
#: and the command line's start-up do not load torch before they have chosen its threads.
_LAZY: dict[str, str] = {
    "Blend": "ncf.models",
    "RowBlend": "ncf.models",
    "ClosedForm": "ncf.models",
    "ConfigError": "ncf.errors",
    "DataError": "ncf.errors",
    "Dataset": "ncf.data",
    "DownloadError": "ncf.errors",
    "EpochLog": "ncf.training",
    "EvalReport": "ncf.evaluation",
    "FPMC": "ncf.models",
    "Factorized": "ncf.models",
    "FeatureTable": "ncf.data",
    "GMF": "ncf.models",
    "HardNegativeSampler": "ncf.sampling",
    "History": "ncf.training",
    "IdMap": "ncf.data",
    "Interactions": "ncf.data",
    "MLP": "ncf.models",
    "MatrixFactorization": "ncf.models",
    "ModelSpec": "ncf.app",
    "NCFError": "ncf.errors",
    "NegativeSampler": "ncf.sampling",
    "NeuMF": "ncf.models",
    "NotFittedError": "ncf.errors",
    "ParameterWarning": "ncf.errors",
    "Popularity": "ncf.models",
    "Recommendations": "ncf.app",
    "Recommender": "ncf.app",
    "PopularitySampler": "ncf.sampling",
    "Model": "ncf.models",
    "Run": "ncf.app",
    "RunSpec": "ncf.app",
    "SavedModel": "ncf.persistence",
    "DataInitialized": "ncf.models",
    "SequenceAware": "ncf.models",
    "SpectralMF": "ncf.models",
    "GraphFilter": "ncf.models",
    "HistoryScorer": "ncf.models",
    "Split": "ncf.data",
    "TopK": "ncf.retrieval",
    "TrainConfig": "ncf.config",
    "Trainer": "ncf.training",
    "TrainingDivergedError": "ncf.errors",
    "TwoTower": "ncf.models",
    "UniformSampler": "ncf.sampling",
    "UnknownIdError": "ncf.errors",
    "build_model": "ncf.models",
    "data": "ncf.data",
    "evaluate": "ncf.evaluation",
    "k_core": "ncf.data",
    "leave_one_out": "ncf.data",
    "load_dataset": "ncf.data",
    "load_model": "ncf.persistence",
    "index": "ncf.index",
    "losses": "ncf.losses",
    "random_split": "ncf.data",
    "recommend": "ncf.retrieval",
    "save_model": "ncf.persistence",
    "synthetic": "ncf.data",
    "temporal_split": "ncf.data",
    "topk": "ncf.retrieval",
    "validation_split": "ncf.data",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY, modules=_MODULES)

__dir__ = lazy_dir(globals())


__all__ = [
    "Blend",
    "ClosedForm",
    "ConfigError",
    "DataError",
    "DataInitialized",
    "Dataset",
    "DownloadError",
    "EpochLog",
    "EvalReport",
    "FPMC",
    "Factorized",
    "FeatureTable",
    "GMF",
    "GraphFilter",
    "HardNegativeSampler",
    "History",
    "HistoryScorer",
    "IdMap",
    "Interactions",
    "MLP",
    "MatrixFactorization",
    "Model",
    "ModelSpec",
    "NCFError",
    "NegativeSampler",
    "NeuMF",
    "NotFittedError",
    "ParameterWarning",
    "Popularity",
    "PopularitySampler",
    "Recommendations",
    "Recommender",
    "RowBlend",
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
    "index",
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
