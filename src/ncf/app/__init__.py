"""The application layer: run specs, run directories, loaded runs and the jobs over them.

Nothing in the library core imports this package; the CLI, the server and the plots do. Names
are imported on first use, so loading a run to serve it (``Run``) does not import the trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ncf._lazy import lazy_exports

if TYPE_CHECKING:
    from ncf.app.artifact import Run
    from ncf.app.jobs import TrainResult, evaluate_run, quickstart, recommend_run, train
    from ncf.app.recommender import Recommendations, Recommender
    from ncf.app.rundir import RunDir, RunInfo
    from ncf.app.spec import OPTIONS, DataSpec, RunSpec, SplitSpec

_LAZY = {
    "OPTIONS": "ncf.app.spec",
    "DataSpec": "ncf.app.spec",
    "Recommendations": "ncf.app.recommender",
    "Recommender": "ncf.app.recommender",
    "Run": "ncf.app.artifact",
    "RunDir": "ncf.app.rundir",
    "RunInfo": "ncf.app.rundir",
    "RunSpec": "ncf.app.spec",
    "SplitSpec": "ncf.app.spec",
    "TrainResult": "ncf.app.jobs",
    "evaluate_run": "ncf.app.jobs",
    "quickstart": "ncf.app.jobs",
    "recommend_run": "ncf.app.jobs",
    "train": "ncf.app.jobs",
}


__getattr__ = lazy_exports(__name__, globals(), _LAZY)


__all__ = [
    "OPTIONS",
    "DataSpec",
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
