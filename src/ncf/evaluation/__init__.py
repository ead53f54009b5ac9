"""Evaluation: ranking metrics, the full and sampled protocols, ``evaluate`` and ``recommend``."""

from ncf.evaluation import metrics
from ncf.evaluation.evaluate import EvalReport, evaluate, recommend

__all__ = ["EvalReport", "evaluate", "metrics", "recommend"]
