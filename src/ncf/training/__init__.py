"""Training: the Trainer, its objectives, callbacks, history, checkpoints and cost model."""

from ncf.training.callbacks import BatchEnd, Callback, EpochEnd, FitStart, JsonlLogger, ProgressBar
from ncf.training.cost import StepCost, estimate_cost, matmul_peak
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
    "StepCost",
    "Trainer",
    "estimate_cost",
    "make_objective",
    "matmul_peak",
    "resolve_device",
]
