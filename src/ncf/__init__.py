"""ncf: neural collaborative filtering on implicit feedback."""

from ncf.data import IdMap, Interactions, Split
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

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "DownloadError",
    "IdMap",
    "Interactions",
    "NCFError",
    "NotFittedError",
    "ParameterWarning",
    "Split",
    "TrainingDivergedError",
    "UnknownIdError",
    "__version__",
]
