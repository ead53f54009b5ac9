"""Training: the Trainer, its objectives, callbacks, history and checkpoints."""

from ncf.training.callbacks import BatchEnd, Callback, EpochEnd, FitStart, JsonlLogger, ProgressBar
from ncf.training.history import EpochLog, History
from ncf.training.objectives import BCE, BPR, MSE, Batch, Objective, Softmax, make_objective
from ncf.training.trainer import Trainer, resolve_device

__all__ = [
    "BCE",
    "BPR",
    "MSE",
    "Batch",
    "BatchEnd",
    "Callback",
    "EpochEnd",
    "EpochLog",
    "FitStart",
    "History",
    "JsonlLogger",
    "Objective",
    "ProgressBar",
    "Softmax",
    "Trainer",
    "make_objective",
    "resolve_device",
]
