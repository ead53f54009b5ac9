"""Evaluation: ranking metrics, the full and sampled protocols and ``evaluate``."""

from ncf.evaluation import metrics
from ncf.evaluation.evaluate import EvalReport, evaluate

__all__ = ["EvalReport", "evaluate", "metrics"]
