"""Training in several processes with PyTorch's DistributedDataParallel (DDP).

Launch ``ncf train`` under torchrun (``torchrun --standalone --nproc-per-node N -m ncf train
...``, or ``ncf train --nproc N ...``, which does it for you); :func:`init_distributed` reads
torchrun's environment and joins the process group, and the :class:`DistributedContext` it
returns goes to :class:`~ncf.training.Trainer` (``Trainer(config, distributed=context)``). A
process started without torchrun's variables gets ``None`` and trains exactly as before.

What each rank does (``docs/scale.md`` says it for users):

- Data: every rank draws the same permutation of the epoch's positives (seeded by
  ``(seed, epoch)``) and trains on its contiguous shard of it
  (:func:`~ncf.training.batches.shard_positions`); its negatives come from its own generator,
  seeded by ``(seed, epoch, rank)`` (:func:`rank_seed`). ``batch_size`` is per rank, so a step
  of N processes sees ``N * batch_size`` positives.
- Gradients: DDP averages them over the ranks after every backward pass (gloo on CPU, NCCL on
  CUDA, chosen by the device: :func:`backend_for`), so every rank keeps the same weights.
  Row-sparse embedding gradients (``sparse_adam``/``adagrad``) are averaged outside DDP by
  gathering their rows (:mod:`~ncf.training.sparse_reduce`); under NCCL that case is still
  refused (:func:`check_distributable`): it has not been run on GPUs.
- Rank 0 alone validates, writes checkpoints, ``log.jsonl`` and the run directory; the others
  receive the validation metrics and rank 0's early-stopping decision by broadcast.

Environment read here: torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``,
``MASTER_ADDR``, ``MASTER_PORT`` (documented by PyTorch) and ``NCF_DIST_TIMEOUT``: seconds a
collective may wait for the other ranks before the job fails (default 1800, as PyTorch's;
rank 0's validation must fit in it, since the other ranks wait for its result).
"""

from __future__ import annotations

import gc
import hashlib
import inspect
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from ncf.errors import ConfigError, NCFError, first_line
from ncf.models.base import Model
from ncf.nn.blocks import sparse_parameters
from ncf.training.objectives import Batch, Objective
from ncf.training.sparse_reduce import all_reduce_sparse_gradients

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIMEOUT_ENV",
    "DistributedContext",
    "RankModule",
    "World",
    "backend_for",
    "check_distributable",
    "ddp_device_ids",
    "distributed_from_environment",
    "fingerprint",
    "init_distributed",
    "rank_device",
    "rank_seed",
    "shutdown",
    "timeout_from_environment",
    "world_from_environment",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Environment variable: seconds a collective waits for the other ranks.
TIMEOUT_ENV = "NCF_DIST_TIMEOUT"
#: Its default, PyTorch's own for gloo.
DEFAULT_TIMEOUT_S = 1800.0

_RANK_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class World:
    """Where this process stands in the job, as torchrun describes it."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_environment(environ: Mapping[str, str] | None = None) -> World | None:
    """The :class:`World` of torchrun's variables; None without them or for a world of one.

    Raises
    ------
    ConfigError
        When the variables are incomplete or inconsistent (a launcher other than torchrun).
    """
    env = os.environ if environ is None else environ
    if "RANK" not in env and "WORLD_SIZE" not in env:
        return None
    values: dict[str, int] = {}
    for name in _RANK_VARS:
        raw = env.get(name)
        if raw is None and name in ("LOCAL_RANK", "LOCAL_WORLD_SIZE"):
            continue
        try:
            values[name] = int(str(raw))
        except ValueError:
            raise ConfigError(f"environment variable {name}={raw!r}: launch several processes with torchrun "
                              "(it sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT)") from None
    rank, size = values["RANK"], values["WORLD_SIZE"]
    local_rank = values.get("LOCAL_RANK", rank)
    local_size = values.get("LOCAL_WORLD_SIZE", size)
    if size < 1 or not 0 <= rank < size or not 0 <= local_rank < local_size:
        raise ConfigError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={size}, "
                          f"LOCAL_RANK={local_rank}, LOCAL_WORLD_SIZE={local_size}")
    if size == 1:
        return None
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if not env.get(v)]
    if missing:
        raise ConfigError(f"{' and '.join(missing)} not set: launch several processes with torchrun")
    return World(rank, size, local_rank, local_size)


def timeout_from_environment(environ: Mapping[str, str] | None = None) -> timedelta:
    """``NCF_DIST_TIMEOUT`` (seconds, > 0) as a timedelta; :data:`DEFAULT_TIMEOUT_S` without it."""
    env = os.environ if environ is None else environ
    raw = env.get(TIMEOUT_ENV)
    if not raw:
        return timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return timedelta(seconds=seconds)


def rank_device(name: str, world: World, *, cuda_count: int) -> torch.device:
    """The device of this rank: ``cuda:LOCAL_RANK`` for ``cuda``/``auto`` with GPUs, else the CPU.

    ``cuda_count`` is the number of visible CUDA devices (0 without CUDA).

    Raises
    ------
    ConfigError
        For ``mps``, for ``cuda:N`` with several processes per node (each takes its own GPU),
        for ``cuda`` without GPUs, and for more processes per node than GPUs.
    """
    base, _, index = str(name).partition(":")
    if base == "auto":
        base = "cuda" if cuda_count > 0 else "cpu"
    if base == "cpu":
        return torch.device("cpu")
    if base != "cuda":
        raise ConfigError(f"device {name!r}: training in several processes needs device cpu, cuda or auto")
    if cuda_count == 0:
        raise ConfigError(f"device {name!r}: no CUDA GPU is visible; use device cpu or auto")
    if index:
        if world.local_world_size > 1:
            raise ConfigError(f"device {name!r} names one GPU, but each of the {world.local_world_size} processes "
                              "on a node takes its own (cuda:LOCAL_RANK): use device cuda or auto")
        if int(index) >= cuda_count:
            raise ConfigError(f"device {name!r} is not available: {cuda_count} CUDA GPU(s) visible")
        return torch.device("cuda", int(index))
    if world.local_world_size > cuda_count:
        raise ConfigError(f"{world.local_world_size} processes on this node but {cuda_count} CUDA GPU(s) visible: "
                          f"start at most {cuda_count} per node (--nproc-per-node {cuda_count})")
    return torch.device("cuda", world.local_rank)


def backend_for(device: torch.device) -> str:
    """The collective backend of a device: NCCL for CUDA, gloo otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def ddp_device_ids(device: torch.device) -> list[int] | None:
    """``device_ids`` for DistributedDataParallel: the rank's GPU, or None on the CPU."""
    if device.type == "cuda":
        return [device.index if device.index is not None else 0]
    return None


def _object_device(device: torch.device) -> torch.device | None:
    """Where ``broadcast_object_list`` stages objects: the rank's GPU under NCCL, else the CPU."""
    return device if device.type == "cuda" else None


def check_distributable(model: nn.Module, backend: str) -> None:
    """Refuse, before training, a model DDP cannot train with ``backend``.

    Row-sparse embeddings (``nn.Embedding(sparse=True)``, what optimizers ``sparse_adam`` and
    ``adagrad`` ask for) have sparse gradients: gloo all-reduces them, NCCL cannot.

    Raises
    ------
    ConfigError
        One line naming the alternative (``--optimizer adam``).
    """
    sparse = sparse_parameters(model)
    if sparse and backend == "nccl":
        raise ConfigError("row-sparse embeddings (optimizer sparse_adam or adagrad) cannot train on several GPUs: "
                          "NCCL has no sparse all-reduce; use --optimizer adam (dense gradients), or CPU processes")


def rank_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of rank ``rank``'s own draws in epoch ``epoch`` (0-based): distinct per (seed, epoch, rank)."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(rank), 0x6E6366]).generate_state(2, np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) % (2**63 - 1)


def _no_buffer_sync() -> dict[str, Any]:
    """DDP's switch for not broadcasting buffers before each forward (renamed in torch 2.13)."""
    params = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}


class _LossModule(nn.Module):
    """A model and its objective as one module, so the loss is computed by DDP's ``forward``.

    DDP arms its gradient all-reduce in ``forward``; the objectives call the model's
    ``user_vectors``/``item_vectors``/``score`` instead, so the wrapped call must be this one.
    """

    def __init__(self, model: Model, objective: Objective) -> None:
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, batch: Batch) -> Tensor:
        return self.objective(self.model, batch)


@dataclass(frozen=True)
class RankModule:
    """One rank's model and objective: call it with a batch for the loss (DDP arms its dense
    all-reduce there); after the backward pass, :meth:`reduce_gradients` averages the row-sparse
    gradients DDP was not given."""

    module: nn.Module
    sparse: tuple[nn.Parameter, ...]
    world_size: int

    def __call__(self, batch: Batch) -> Tensor:
        loss: Tensor = self.module(batch)
        return loss

    def reduce_gradients(self) -> None:
        if self.sparse:
            all_reduce_sparse_gradients(self.sparse, self.world_size)


def _comm_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says another rank went away (closed connection, timeout, backend error)."""
    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        w in text for w in ("gloo", "nccl", "connection", "timed out", "timeout", "process group", "peer")
    )


def _short_reason(exc: BaseException) -> str:
    """The gist of a backend error: ``Connection reset by peer`` from gloo's long message."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", first_line(exc))  # gloo's "[.../pair.cc:537] " source location
    return text.split(". ")[0][:160]


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a DDP job, and the few collectives the trainer needs: the
    :class:`~ncf.training.strategy.Strategy` of a rank (:class:`~ncf.training.strategy.SingleProcess`
    is the one of a single process).

    Build it with :func:`init_distributed`; every collective here is called by every rank
    in the same order.
    """

    world: World
    device: torch.device
    backend: str
    timeout: timedelta

    @property
    def rank(self) -> int:
        return self.world.rank

    @property
    def world_size(self) -> int:
        return self.world.world_size

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that validates and writes."""
        return self.world.is_main

    @property
    def syncs_gradients(self) -> bool:
        """Always: DDP averages the gradients after every backward pass (no fused step)."""
        return True

    def device_for(self, name: str) -> torch.device:
        """This rank's device, whatever the run's device option (:func:`rank_device` chose it)."""
        return self.device

    def check_model(self, model: Model) -> None:
        """:func:`check_distributable` with this job's backend."""
        check_distributable(model, self.backend)

    def check_deadline(self, deadline: float | None) -> None:
        """Refuse any deadline: each rank would read its own clock and stop after its own batch."""
        if deadline is not None:
            raise ConfigError("a training deadline is single-process: each rank of a DDP job would read its own "
                              "clock; train without the deadline or in one process")

    def rank_draws(self, seed: int, epoch: int, shared: int) -> tuple[int, np.random.Generator]:
        """This rank's own seed of epoch ``epoch`` (:func:`rank_seed`), for torch (dropout) and for
        a generator of its negatives; ``shared`` (the permutation's) is not used."""
        own = rank_seed(seed, epoch, self.rank)
        return own, np.random.default_rng(own)

    def broadcast(self, obj: T | None) -> T:
        """Rank 0's ``obj`` on every rank (the others pass anything, usually None)."""
        box: list[Any] = [obj if self.is_main else None]
        with self.guard():
            dist.broadcast_object_list(box, src=0, device=_object_device(self.device))
        return box[0]  # type: ignore[no-any-return]

    def from_main(self, make: Callable[[], T]) -> T:
        """``make()`` called on rank 0 alone, its result broadcast to every rank."""
        return self.broadcast(make() if self.is_main else None)

    def all_gather(self, obj: T) -> list[T]:
        """Every rank's ``obj``, in rank order."""
        out: list[Any] = [None] * self.world_size
        with self.guard():
            dist.all_gather_object(out, obj)
        return out

    def all_sum(self, tensor: Tensor) -> Tensor:
        """The sum of ``tensor`` over the ranks (a new tensor; the argument is kept)."""
        total = tensor.detach().clone()
        with self.guard():
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def wrap(self, model: Model, objective: Objective) -> RankModule:
        """``model`` and ``objective`` under DDP: calling the result with a batch gives its loss.

        Parameters and buffers are broadcast from rank 0 when it is built, so every rank starts
        from the same weights. ``static_graph``: every step uses the same parameters (an
        objective always takes the same path), so DDP learns once which ones a model leaves
        unused (some train only part of their parameters through their vectors) instead of
        searching the graph at every step. Buffers are not re-broadcast per step (no ncf model
        changes them in training). Row-sparse tables are kept out of DDP and averaged by
        :meth:`RankModule.reduce_gradients` (:mod:`~ncf.training.sparse_reduce` says why).
        """
        check_distributable(model, self.backend)
        module = _LossModule(model, objective)
        sparse = sparse_parameters(module)
        dense = [p for n, p in module.named_parameters() if p.requires_grad and n not in sparse]
        with self.guard(), torch.no_grad():
            for p in sparse.values():  # DDP broadcasts only what it reduces
                dist.broadcast(p, src=0)
            if sparse and not dense:  # nothing left for DDP: start from rank 0's buffers too
                for b in module.buffers():
                    dist.broadcast(b, src=0)
                return RankModule(module, tuple(sparse.values()), self.world_size)
        if sparse:
            nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, list(sparse))
        with self.guard():
            ddp = nn.parallel.DistributedDataParallel(
                module, device_ids=ddp_device_ids(self.device), static_graph=True, **_no_buffer_sync(),
            )
        return RankModule(ddp, tuple(sparse.values()), self.world_size)

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a failed collective (another rank died or timed out) into one clear NCFError."""
        try:
            yield
        except NCFError:
            raise
        except Exception as exc:
            if not _comm_failure(exc):
                raise
            raise NCFError(f"rank {self.rank}: lost contact with the other training processes "
                           f"({_short_reason(exc)}); the job stops: continue it from its last checkpoint with "
                           "--resume") from exc


def init_distributed(
    device: str = "auto", *, environ: Mapping[str, str] | None = None, timeout: timedelta | None = None,
) -> DistributedContext | None:
    """Join the process group torchrun's environment describes; None outside torchrun.

    ``device`` is the run's device option (``auto``, ``cpu``, ``cuda``); each rank gets its
    own GPU (``cuda:LOCAL_RANK``) or the CPU (:func:`rank_device`), and the backend follows
    (:func:`backend_for`).
    """
    env = os.environ if environ is None else environ
    world = world_from_environment(env)
    if world is None:
        return None
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    dev = rank_device(device, world, cuda_count=count)
    backend = backend_for(dev)
    wait = timeout if timeout is not None else timeout_from_environment(env)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method="env://", rank=world.rank, world_size=world.world_size,
                                timeout=wait)
    logger.info("rank %d of %d on %s (%s)", world.rank, world.world_size, dev, backend)
    return DistributedContext(world, dev, backend, wait)


@contextmanager
def distributed_from_environment(device: str = "auto") -> Iterator[DistributedContext | None]:
    """:func:`init_distributed`, and leave the process group at the end (see :func:`shutdown`)."""
    context = init_distributed(device)
    try:
        yield context
    finally:
        if context is not None:
            shutdown()


def shutdown() -> None:
    """Leave the process group, after freeing what still uses it.

    A DistributedDataParallel wrapper or a process group still alive when the interpreter
    exits makes it abort ("terminate called without an active exception", SIGABRT) in about
    one run out of four with torch 2.13 and gloo, so the trainer drops its wrapper at the end
    of ``fit``, reference cycles are collected here, and the group is destroyed.
    """
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def fingerprint(*arrays: Any) -> str:
    """A short hash of arrays (and numbers), to check that every rank holds the same data."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(np.asarray(a))
        h.update(str((arr.dtype.str, arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]
