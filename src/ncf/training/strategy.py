"""How a fit runs: in one process, or as one rank of a DistributedDataParallel job.

The :class:`~ncf.training.Trainer` asks its :class:`Strategy` for everything that depends on
the processes taking part (as Lightning's ``SingleDeviceStrategy`` and ``DDPStrategy`` do), so it
has one code path: :class:`SingleProcess` (``Trainer(config)``), whose collectives are no-ops,
and :class:`~ncf.training.distributed.DistributedContext` (``Trainer(config, distributed=context)``).

Every collective is called by every rank in the same order; in a single process each returns at
once what it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor

from ncf.config import check_device_name
from ncf.errors import ConfigError
from ncf.models.base import Model
from ncf.training.objectives import Batch, Objective

__all__ = ["LocalModule", "SingleProcess", "StepModule", "Strategy", "resolve_device"]

T = TypeVar("T")


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device a run uses: ``auto`` -> CUDA when available, else CPU.

    Raises
    ------
    ConfigError
        For an unknown device name, or a device this machine does not have (``cuda`` without
        CUDA, ``cuda:N`` beyond the visible GPUs, ``mps`` without Metal).
    """
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    check_device_name(str(name))
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ConfigError(f"device {str(name)!r} is not available: {why}; use device 'cpu' or 'auto'")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {str(name)!r} is not available: {count} CUDA GPU(s) visible "
                              f"(cuda:0 to cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {str(name)!r} is not available on this machine; use device 'cpu' or 'auto'")
    return device


class StepModule(Protocol):
    """A model and its objective as the training step sees them: called with a batch it gives the
    loss; after the backward pass, :meth:`reduce_gradients` does whatever the strategy's
    gradients still need (nothing in one process)."""

    def __call__(self, batch: Batch) -> Tensor: ...

    def reduce_gradients(self) -> None: ...


class Strategy(Protocol):
    """What the trainer needs to know about the processes a fit runs in."""

    @property
    def rank(self) -> int: ...

    @property
    def world_size(self) -> int: ...

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that validates, logs and writes."""

    @property
    def syncs_gradients(self) -> bool:
        """Whether gradients are averaged over processes after each backward pass; the fused
        step (:mod:`~ncf.training.fused`), which has no backward pass, is taken only without."""

    def device_for(self, name: str) -> torch.device:
        """The device of this process for the run's device option ``name``."""

    def check_model(self, model: Model) -> None:
        """Refuse, before training, a model this strategy cannot train (ConfigError)."""

    def check_deadline(self, deadline: float | None) -> None:
        """Refuse a training deadline this strategy cannot keep (ConfigError)."""

    def rank_draws(self, seed: int, epoch: int, shared: int) -> tuple[int, np.random.Generator | None]:
        """The torch seed of this process's draws in epoch ``epoch`` (dropout) and the generator of
        its own negatives, None when they come from the generator every process shares (seeded
        by ``shared``)."""

    def broadcast(self, obj: T | None) -> T:
        """Rank 0's ``obj`` on every rank (the others pass anything, usually None)."""

    def from_main(self, make: Callable[[], T]) -> T:
        """``make()`` called on rank 0 alone, its result on every rank."""

    def all_gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order."""

    def all_sum(self, tensor: Tensor) -> Tensor:
        """The sum of ``tensor`` over the ranks."""

    def wrap(self, model: Model, objective: Objective) -> StepModule:
        """``model`` and ``objective`` as one training step; called after any checkpoint is loaded."""

    def guard(self) -> AbstractContextManager[None]:
        """Turn a failed collective (another rank died) into one clear error."""


@dataclass(frozen=True)
class LocalModule:
    """A model and its objective in one process: the loss of a batch, gradients left as they are."""

    model: Model
    objective: Objective

    def __call__(self, batch: Batch) -> Tensor:
        return self.objective(self.model, batch)

    def reduce_gradients(self) -> None:
        """Nothing: the gradients are the process's own."""


@dataclass(frozen=True)
class SingleProcess:
    """The strategy of a fit in one process: rank 0 of a world of one, collectives return their
    argument, the config's device (:func:`resolve_device`)."""

    @property
    def rank(self) -> int:
        return 0

    @property
    def world_size(self) -> int:
        return 1

    @property
    def is_main(self) -> bool:
        return True

    @property
    def syncs_gradients(self) -> bool:
        return False

    def device_for(self, name: str) -> torch.device:
        return resolve_device(name)

    def check_model(self, model: Model) -> None:
        pass

    def check_deadline(self, deadline: float | None) -> None:
        pass

    def rank_draws(self, seed: int, epoch: int, shared: int) -> tuple[int, np.random.Generator | None]:
        return shared, None

    def broadcast(self, obj: T | None) -> T:
        return obj  # type: ignore[return-value]

    def from_main(self, make: Callable[[], T]) -> T:
        return make()

    def all_gather(self, obj: T) -> list[T]:
        return [obj]

    def all_sum(self, tensor: Tensor) -> Tensor:
        return tensor

    def wrap(self, model: Model, objective: Objective) -> LocalModule:
        return LocalModule(model, objective)

    def guard(self) -> AbstractContextManager[None]:
        return nullcontext()
