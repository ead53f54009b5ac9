"""Training checkpoints: model + optimizer + progress, written atomically, loaded without pickle.

A checkpoint holds what a resumed fit needs to continue exactly where an uninterrupted one
would be: the weights, the optimizers' state and the :class:`FitState` (logs, the best
validation so far and its weights, the early-stopping count). The randomness of each epoch
comes from its seed, so nothing else is needed.

In a DDP job rank 0 writes the checkpoint: the unwrapped model's weights (no ``module.``
prefixes) and rank 0's optimizer state, which every rank shares. A checkpoint therefore
resumes a run in a single process or in several, whichever wrote it.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.errors import DataError
from ncf.training.history import EpochLog

__all__ = ["CHECKPOINT_FILE", "FitState", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(path: PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically."""
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` (no arbitrary unpickling)."""
    p = Path(path)
    if not p.is_file():
        raise DataError("no checkpoint to resume from", path=p)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupted or foreign file
        raise DataError(f"unreadable checkpoint: {exc}", path=p) from exc
    if not isinstance(state, dict) or "epoch" not in state:
        raise DataError("not an ncf checkpoint", path=p)
    return state


@dataclass
class FitState:
    """A fit's progress besides the weights: what a checkpoint stores and a resume restores.

    ``next_epoch`` is the 0-based index of the next epoch to train; ``finished`` says the
    run ended (last epoch or early stop), so a resume trains nothing more.
    """

    logs: list[EpochLog] = field(default_factory=list)
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, Tensor] | None = None
    bad_evals: int = 0
    next_epoch: int = 0
    finished: bool = False
    #: Epoch (from 1) of the checkpoint this fit wrote or resumed from (not stored).
    checkpoint_epoch: int | None = None

    def update_best(self, value: float, epoch: int, model: nn.Module) -> bool:
        """Record validation ``value`` of ``epoch`` (from 1); keep a copy of the weights if best."""
        if self.best_metric is None or value > self.best_metric:
            self.best_metric, self.best_epoch, self.bad_evals = value, epoch, 0
            self.best_state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
            return True
        self.bad_evals += 1
        return False

    def save(self, path: PathLike, model: nn.Module, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Checkpoint after epoch ``next_epoch`` (the last one trained)."""
        save_checkpoint(
            path,
            {
                "epoch": self.next_epoch - 1,
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizers": [copy.deepcopy(o.state_dict()) for o in optimizers],
                "logs": [json.dumps(x.to_dict()) for x in self.logs],
                "best_metric": self.best_metric,
                "best_epoch": self.best_epoch,
                "best_state": self.best_state,
                "bad_evals": self.bad_evals,
                "finished": self.finished,
            },
        )

    @classmethod
    def restore(cls, path: PathLike, model: nn.Module, optimizers: Sequence[torch.optim.Optimizer]) -> FitState:
        """Load the checkpoint at ``path`` into ``model`` and ``optimizers``; return the progress."""
        return cls.from_checkpoint(load_checkpoint(path), model, optimizers)

    @classmethod
    def from_checkpoint(cls, state: dict[str, Any], model: nn.Module,
                        optimizers: Sequence[torch.optim.Optimizer]) -> FitState:
        """Load a checkpoint read by :func:`load_checkpoint` (on this rank, or received from rank 0).

        The weights are the plain model's (a DDP job saves the unwrapped module), so one
        checkpoint resumes in one process or in several.
        """
        model.load_state_dict(state["model"])
        for opt, st in zip(optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(st)
        return cls(
            logs=[EpochLog(**json.loads(s)) for s in state["logs"]],
            best_metric=state["best_metric"],
            best_epoch=state["best_epoch"],
            best_state=state.get("best_state"),
            bad_evals=int(state["bad_evals"]),
            next_epoch=int(state["epoch"]) + 1,
            finished=bool(state.get("finished")),
            checkpoint_epoch=int(state["epoch"]) + 1,
        )
