"""The application layer: run specs, run directories, loaded runs and the jobs over them.

Nothing in the library core imports this package; the CLI (and, later, the server) do.
"""

from ncf.app.artifact import Run
from ncf.app.jobs import TrainResult, evaluate_run, quickstart, recommend_run, train
from ncf.app.rundir import RunDir, RunInfo
from ncf.app.spec import OPTIONS, DataSpec, RunSpec, SplitSpec

__all__ = [
    "OPTIONS",
    "DataSpec",
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
