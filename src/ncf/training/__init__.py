"""Training: the Trainer, its history and checkpoints."""

from ncf.training.trainer import EpochLog, History, Trainer

__all__ = ["EpochLog", "History", "Trainer"]
