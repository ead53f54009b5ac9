"""The application layer: run specs, run directories, loaded runs and the jobs over them.

Nothing in the library core imports this package; the CLI, the server and the plots do. Names
are imported on first use, so loading a run to serve it (``Run``) does not import the trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ncf._lazy import lazy_exports

if TYPE_CHECKING:
    from ncf.app.artifact import Run
    from ncf.app.evaluate_job import evaluate_run
    from ncf.app.model_spec import ModelSpec
    from ncf.app.quickstart_job import quickstart
    from ncf.app.recommend_job import recommend_run
    from ncf.app.recommender import Recommendations, Recommender
    from ncf.app.rundir import RunDir, RunInfo
    from ncf.app.spec import OPTIONS, DataSpec, RunSpec, SplitSpec
    from ncf.app.train_job import TrainResult, train

_LAZY = {
    "OPTIONS": "ncf.app.spec",
    "DataSpec": "ncf.app.spec",
    "ModelSpec": "ncf.app.model_spec",
    "Recommendations": "ncf.app.recommender",
    "Recommender": "ncf.app.recommender",
    "Run": "ncf.app.artifact",
    "RunDir": "ncf.app.rundir",
    "RunInfo": "ncf.app.rundir",
    "RunSpec": "ncf.app.spec",
    "SplitSpec": "ncf.app.spec",
    "TrainResult": "ncf.app.train_job",
    "evaluate_run": "ncf.app.evaluate_job",
    "quickstart": "ncf.app.quickstart_job",
    "recommend_run": "ncf.app.recommend_job",
    "train": "ncf.app.train_job",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)


__all__ = [
    "OPTIONS",
    "DataSpec",
    "ModelSpec",
    "Recommendations",
    "Recommender",
    "Run",
    "RunDir",
    "RunInfo",
    "RunSpec",
    "SplitSpec",
    "TrainResult",
    "evaluate_run",
    "quickstart",
    "recommend_run",
    "train",
]
