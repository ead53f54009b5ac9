"""Micro-batching of single-user requests: the requests that arrive together share one scan.

Scoring one user against every item reads the whole item table; scoring 32 users reads it once
too. :class:`MicroBatcher` gathers the ``GET /recommend`` requests that are waiting on the event
loop (those that arrived while the previous batch was being ranked, plus any that arrive within
``max_wait`` seconds) and ranks them with one :meth:`Recommender.recommend_indices` call per
(model, k, exclude_seen) group — the way Triton's dynamic batcher and TorchServe batch inference
requests. Each request still gets its own answer or its own error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ncf.app.recommender import Recommendations, Recommender
from ncf.errors import ConfigError

__all__ = ["MicroBatcher"]


@dataclass
class _Pending:
    rec: Recommender
    user: int  # model index; -1: unknown user answered from popularity
    query: str
    k: int
    exclude_seen: bool
    future: asyncio.Future[Recommendations]


class MicroBatcher:
    """Gathers single-user requests and ranks each group of them in one pass.

    ``max_wait``: seconds the first request of a batch waits for company (0: only the requests
    already waiting on the event loop are gathered, which adds no latency when the server is
    idle); ``max_batch``: a batch is ranked as soon as it holds this many requests.
    ``on_batch`` (optional) is told the size of every batch ranked (for metrics).
    """

    def __init__(self, *, max_wait: float = 0.0, max_batch: int = 64,
                 on_batch: Callable[[int], None] | None = None) -> None:
        if not (max_wait >= 0.0 and max_wait <= 1.0):  # also refuses NaN
            raise ConfigError(f"the batch wait must be between 0 and 1 second, got {max_wait!r}")
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigError(f"the batch size must be a positive integer, got {max_batch!r}")
        self.max_wait = float(max_wait)
        self.max_batch = max_batch
        self.on_batch = on_batch
        self._pending: list[_Pending] = []
        self._scheduled: asyncio.Handle | asyncio.TimerHandle | None = None

    async def recommend(self, rec: Recommender, user: int, query: str, k: int, *,
                        exclude_seen: bool = True) -> Recommendations:
        """The top-``k`` of one user (a model index from :meth:`Recommender.user_indices`)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Recommendations] = loop.create_future()
        self._pending.append(_Pending(rec, int(user), query, int(k), bool(exclude_seen), future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._scheduled is None:
            self._scheduled = (loop.call_later(self.max_wait, self._flush) if self.max_wait > 0
                               else loop.call_soon(self._flush))
        return await future

    def _flush(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        if self.on_batch is not None:
            self.on_batch(len(batch))
        groups: dict[tuple[int, int, bool], list[_Pending]] = {}
        for p in batch:
            groups.setdefault((id(p.rec), p.k, p.exclude_seen), []).append(p)
        for group in groups.values():
            self._rank(group)

    @staticmethod
    def _rank(group: list[_Pending]) -> None:
        """Rank one group in one call; its error (if any) goes to every request of the group."""
        first = group[0]
        live = [p for p in group if not p.future.done()]  # a cancelled request (client gone) is skipped
        if not live:
            return
        try:
            results = first.rec.recommend_indices(np.fromiter((p.user for p in live), dtype=np.int64, count=len(live)),
                                                  first.k, exclude_seen=first.exclude_seen,
                                                  queries=[p.query for p in live])
        except Exception as exc:  # noqa: BLE001 - handed to each request, which maps it to a status
            for p in live:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        for p, res in zip(live, results, strict=True):
            if not p.future.done():
                p.future.set_result(res)

    def pending(self) -> int:
        """Requests waiting for the next batch."""
        return len(self._pending)

