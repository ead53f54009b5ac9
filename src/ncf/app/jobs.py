"""The jobs behind the command line, in one place: train a run directory, evaluate it, recommend,
quickstart.

Each job lives in its own module; this one re-exports them so ``from ncf.app.jobs import train``
keeps working:

- :mod:`ncf.app.datasets`: ``load_data``, ``split_dataset``, ``prepare_split``
- :mod:`ncf.app.train_job`: ``train`` and ``TrainResult``; its run-directory rules are in
  :mod:`ncf.app.run_rules` (``check_train_target``, ``train_device``), the model's fitting in
  :mod:`ncf.app.fitting` (``build_model``), the rank handshake of a distributed run in
  :mod:`ncf.app.ranks`
- :mod:`ncf.app.blend`: the spectral rank and blend share chosen on the validation carve
- :mod:`ncf.app.evaluate_job`: ``evaluate_run``, ``write_rankings``
- :mod:`ncf.app.recommend_job`: ``recommend_run``, ``write_recommendations``
- :mod:`ncf.app.quickstart_job`: ``quickstart``
"""

from __future__ import annotations

from ncf.app.blend import BLEND_SHARES, choose_blend_share, choose_spectral_rank
from ncf.app.datasets import load_data, prepare_split, split_dataset
from ncf.app.evaluate_job import evaluate_run, write_rankings
from ncf.app.fitting import build_model
from ncf.app.quickstart_job import quickstart
from ncf.app.recommend_job import recommend_run, write_recommendations
from ncf.app.run_rules import check_train_target, train_device
from ncf.app.train_job import TrainResult, train

__all__ = [
    "BLEND_SHARES",
    "TrainResult",
    "build_model",
    "check_train_target",
    "choose_blend_share",
    "choose_spectral_rank",
    "evaluate_run",
    "load_data",
    "prepare_split",
    "quickstart",
    "recommend_run",
    "split_dataset",
    "train",
    "train_device",
    "write_rankings",
    "write_recommendations",
]
