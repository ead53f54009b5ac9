"""An epoch's batches: one shuffle of the positives, vectorised negatives, index arrays on the device.

Everything random in an epoch comes from the one generator it is given, in a fixed order: the
permutation, the sampled negatives (bpr/bce) and the shared extra negatives (softmax). The
trainer seeds that generator with ``(seed, epoch)``, which is what makes resume exact.

Negatives are drawn for all rows of the epoch at once when they fit in
:data:`NEGATIVE_CHUNK_CELLS` item indices, otherwise per chunk of whole batches, each chunk
when the loop reaches it (with the uniform sampler the draws are the same either way; other
samplers consume the generator differently per chunk). A batch alone over that limit is refused
by :func:`check_negatives` before training starts.

With several processes (:mod:`ncf.training.distributed`), every rank draws the same permutation
from the shared epoch generator and takes its contiguous shard of it (:func:`shard_positions`);
the rank's negatives and extra negatives come from its own generator, seeded by
``(seed, epoch, rank)``. A single process (``world_size=1``) draws exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from ncf.data.interactions import Interactions
from ncf.errors import ConfigError
from ncf.sampling import NegativeSampler
from ncf.training.objectives import Batch

__all__ = ["NEGATIVE_CHUNK_CELLS", "EpochBatches", "check_negatives", "shard_positions"]

#: Most sampled negatives (item indices, int64: 256 MiB) drawn at once, and allowed in a batch.
NEGATIVE_CHUNK_CELLS = 1 << 25


def _to_device(array: npt.NDArray[Any], device: torch.device) -> Tensor:
    """An index array on ``device``: pinned host memory and an async copy on CUDA."""
    t = torch.from_numpy(np.ascontiguousarray(array))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t


def _gib(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:,.1f} GiB"


def shard_positions(num_rows: int, *, rank: int, world_size: int) -> npt.NDArray[np.int64]:
    """Positions in an epoch's permutation that rank ``rank`` of ``world_size`` trains on.

    The permutation is cut into ``world_size`` contiguous shards of ``ceil(num_rows /
    world_size)`` positions; when the rows do not divide evenly, the last shards wrap around
    to the start of the permutation (like :class:`torch.utils.data.DistributedSampler`), so
    every rank takes the same number of steps, as DistributedDataParallel needs. The union of
    the shards is every row of the epoch, ``world_size * ceil(num_rows / world_size) -
    num_rows < world_size`` of them twice.

    >>> shard_positions(5, rank=1, world_size=2)
    array([3, 4, 0])
    """
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size), got rank {rank} of {world_size}")
    per_rank = -(-num_rows // world_size)
    return np.arange(rank * per_rank, (rank + 1) * per_rank, dtype=np.int64) % max(num_rows, 1)


def check_negatives(num_samples: int, *, batch_size: int, num_negatives: int) -> None:
    """Refuse, before training, a batch whose sampled negatives exceed :data:`NEGATIVE_CHUNK_CELLS`.

    An epoch's negatives are drawn per chunk of whole batches, so a batch is the least drawn
    at once; its ``k`` negatives per row are also scored, and factorized models gather a
    vector for each (``batch_size * k * dim`` floats).

    Raises
    ------
    ConfigError
        Naming the sizes and the way out (fewer negatives or a smaller batch).
    """
    rows, k = min(batch_size, num_samples), num_negatives
    cells = rows * k
    if cells > NEGATIVE_CHUNK_CELLS:
        raise ConfigError(
            f"{rows:,} rows x {k:,} negatives = {cells:,} negative items per batch ({_gib(8 * cells)} of "
            f"indices, {_gib(8 * num_samples * k)} for the epoch, before their scores and vectors); at most "
            f"{NEGATIVE_CHUNK_CELLS:,} per batch: use fewer negatives or a smaller batch size"
        )


class EpochBatches:
    """Draws the batches of each epoch from a generator.

    Parameters
    ----------
    train : Interactions
        Training positives (and ratings, with ``ratings=True``).
    batch_size : int
    device : torch.device
        Where the batches' tensors live.
    sampler : NegativeSampler, optional
        Draws ``sampler.num_negatives`` negatives per row (bpr/bce).
    ratings : bool, default False
        Give each batch its rows' ratings (``train.weights``; mse).
    previous : (len(train),) int64, optional
        Each row's previous item (sequence-aware models).
    extra_negatives : int, default 0
        Uniform negatives shared by each batch (softmax).
    rank, world_size : int, default 0 and 1
        This process's share of each epoch (:func:`shard_positions`); ``batch_size`` is per
        rank.
    """

    def __init__(
        self,
        train: Interactions,
        *,
        batch_size: int,
        device: torch.device,
        sampler: NegativeSampler | None = None,
        ratings: bool = False,
        previous: npt.NDArray[np.int64] | None = None,
        extra_negatives: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if ratings and train.weights is None:
            raise ConfigError("the training data has no ratings (weights)")
        self.users = train.users
        self.items = train.items
        self.ratings = train.weights if ratings else None
        self.previous = previous
        self.num_items = train.num_items
        self.batch_size = int(batch_size)
        self.device = device
        self.sampler = sampler
        self.extra_negatives = int(extra_negatives)
        self.rank = int(rank)
        self.world_size = int(world_size)
        shard_positions(0, rank=self.rank, world_size=self.world_size)  # checks rank and world_size

    @property
    def num_samples(self) -> int:
        """Positives in an epoch (all ranks together)."""
        return len(self.users)

    @property
    def num_rows(self) -> int:
        """Positives this rank trains on per epoch (all of them in a single process)."""
        return math.ceil(self.num_samples / self.world_size)

    @property
    def num_batches(self) -> int:
        """Batches (optimizer steps) per epoch, the same on every rank."""
        return math.ceil(self.num_rows / self.batch_size)

    @property
    def num_negatives(self) -> int:
        return 0 if self.sampler is None else int(self.sampler.num_negatives)

    @property
    def chunk_rows(self) -> int:
        """Rows whose negatives are drawn at once: all of them, or whole batches within the limit."""
        n, k = self.num_rows, self.num_negatives
        if k == 0 or n * k <= NEGATIVE_CHUNK_CELLS:
            return n
        return max(1, NEGATIVE_CHUNK_CELLS // (k * self.batch_size)) * self.batch_size

    def epoch(self, rng: np.random.Generator, *, rank_rng: np.random.Generator | None = None) -> Iterator[Batch]:
        """The epoch's batches, in order; all their randomness from ``rng``.

        With several ranks, ``rng`` (the same on every rank) draws the permutation and
        ``rank_rng`` (this rank's own) the negatives of this rank's shard of it.
        """
        bs, device = self.batch_size, self.device
        perm = rng.permutation(self.num_samples)
        if self.world_size > 1:
            if rank_rng is None:
                raise ValueError("with several ranks, give each its own generator (rank_rng)")
            perm = perm[shard_positions(len(perm), rank=self.rank, world_size=self.world_size)]
            rng = rank_rng
        users_perm = self.users[perm]
        users = _to_device(users_perm, device)
        items = _to_device(self.items[perm], device)
        ratings = _to_device(self.ratings[perm], device) if self.ratings is not None else None
        previous = _to_device(self.previous[perm], device) if self.previous is not None else None
        chunk = self.chunk_rows
        negatives = self._negatives(users_perm[:chunk], rng)
        extra = (
            _to_device(rng.integers(0, self.num_items, size=(self.num_batches, self.extra_negatives)), device)
            if self.extra_negatives > 0
            else None
        )
        chunk_start = 0
        for b in range(self.num_batches):
            lo, hi = b * bs, (b + 1) * bs
            if negatives is not None and lo >= chunk_start + chunk:
                chunk_start = lo
                negatives = self._negatives(users_perm[lo : lo + chunk], rng)
            yield Batch(
                users=users[lo:hi],
                items=items[lo:hi],
                negatives=None if negatives is None else negatives[lo - chunk_start : hi - chunk_start],
                ratings=None if ratings is None else ratings[lo:hi],
                extra=None if extra is None else extra[b],
                previous=None if previous is None else previous[lo:hi],
            )

    def _negatives(self, users: npt.NDArray[np.int64], rng: np.random.Generator) -> Tensor | None:
        if self.sampler is None:
            return None
        return _to_device(self.sampler.sample(users, rng), self.device)
