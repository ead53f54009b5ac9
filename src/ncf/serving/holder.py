"""What the server serves: its settings, the recommender now loaded, and the checked swap of a new one.

:class:`ModelHolder` loads a bundle, checks it with :func:`smoke` and swaps it in with one
reference assignment (``POST /admin/reload``, SIGHUP, or the pointer file that several workers
follow), so every request is answered whole by the old or the new model.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ncf.app.recommender import Recommender
from ncf.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeConfig:
    """Limits and switches of the HTTP API."""

    max_k: int = 100
    max_batch: int = 256
    max_list: int = 10_000
    max_body_bytes: int = 1 << 20
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    index: str | None = "auto"
    pointer_file: Path | None = None  # with several workers: the bundle path all of them follow
    pointer_check_seconds: float = 1.0
    micro_batch: int = 64  # GET /recommend requests ranked together at most (1: one at a time)
    micro_batch_wait: float = 0.0  # seconds a batch waits for company (0: only requests already waiting)

    def __post_init__(self) -> None:
        for key in ("max_k", "max_batch", "max_list", "max_body_bytes", "micro_batch"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be positive")
        if not 0.0 <= self.micro_batch_wait <= 1.0:
            raise ConfigError(f"micro_batch_wait must be between 0 and 1 second, got {self.micro_batch_wait!r}")


class ModelHolder:
    """The recommender now serving; :meth:`reload` swaps in a checked new one atomically."""

    def __init__(self, path: Path, config: ServeConfig, metrics: Any = None) -> None:
        self.config = config
        self.metrics = metrics  # ncf.serving.metrics.Metrics: every reload, by any route, is counted here
        self._lock = threading.Lock()
        self.reloads = 0
        self.failed_reloads = 0
        self.current: Recommender = self._load_checked(path)
        self._pointer_seen: float | None = None
        self._pointer_checked = 0.0

    def _load_checked(self, path: Path) -> Recommender:
        rec = Recommender.load(path, index=self.config.index)
        smoke(rec)
        return rec

    def reload(self, path: Path | None = None) -> tuple[Recommender, Recommender]:
        """Load ``path`` (default: the current bundle's path again), check it, swap; returns (old, new).

        Raises the loading or checking error, leaving the current recommender in place.
        """
        with self._lock:
            old = self.current
            target = Path(path) if path is not None else old.path
            if target is None:
                raise ConfigError("no bundle path to reload")
            try:
                new = self._load_checked(target)
            except Exception:
                self.failed_reloads += 1
                if self.metrics is not None:
                    self.metrics.reload_failed()
                raise
            self.current = new  # one reference assignment: requests see the old or the new one
            self.reloads += 1
            if self.metrics is not None:
                self.metrics.reload_ok(new)
            logger.info("reloaded %s: model %s -> %s", target, old.version, new.version)
            return old, new

    def follow_pointer(self) -> None:
        """With several workers: load the bundle named in the pointer file when it changed."""
        pointer = self.config.pointer_file
        now = time.monotonic()
        if pointer is None or now - self._pointer_checked < self.config.pointer_check_seconds:
            return
        self._pointer_checked = now
        try:
            mtime = pointer.stat().st_mtime
        except OSError:
            return
        if self._pointer_seen is None:
            self._pointer_seen = mtime
            return
        if mtime != self._pointer_seen:
            self._pointer_seen = mtime
            try:
                self.reload(Path(pointer.read_text(encoding="utf-8").strip()))
            except Exception as exc:  # keep serving the old bundle
                logger.error("pointer reload refused: %s", exc)


def smoke(rec: Recommender) -> None:
    """A bundle is servable when it answers a query end to end (raises otherwise)."""
    if rec.num_items < 1:
        raise DataError("the model has no items")
    first_user = rec._cat.user_map.raw_ids[0] if rec._cat.user_map is not None else 0
    result = rec.recommend([first_user], k=1, exclude_seen=False)
    if len(result) != 1 or len(result[0]) != 1:
        raise DataError("the smoke query returned no recommendation")
    if not all(map(_finite, result[0].scores)):
        raise DataError("the smoke query returned a non-finite score (broken weights?)")


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


def write_pointer(pointer: Path, target: Path) -> None:
    from ncf._io import atomic_write

    with atomic_write(pointer, "w", encoding="utf-8") as fh:
        fh.write(str(target.resolve()))


__all__ = ["ModelHolder", "ServeConfig", "smoke", "write_pointer"]
