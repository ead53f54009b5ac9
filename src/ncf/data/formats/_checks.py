"""Checks on published data that the readers share: universe growth, repeats, overlap, time.

Published splits are kept as published, so what is odd but usable is logged as a warning
(with counts), and what would silently change the result (an id that inflates the catalogue)
is a :class:`~ncf.errors.DataError` naming the file, the line and the field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ncf.data.pairs import PairSet
from ncf.errors import DataError

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class IdSource:
    """Ids read from one file after the training file, with the 1-based line of each id."""

    ids: IntArray
    lines: IntArray
    path: Path
    field: str


#: The largest index an index-format file (LightGCN, NeuMF: ids already 0..n-1) may hold: the
#: universe is max index + 1, so a larger one asks for billions of embedding rows.
MAX_INDEX = 2**31 - 2


def check_index_range(values: IntArray, path: Path, line_of: Callable[[int], int], field: str | None) -> None:
    """DataError naming the file, line and value of the first index beyond :data:`MAX_INDEX`
    (an id of 10**12 in a file of contiguous indices is a raw id, not an index)."""
    if values.size and int(values.max()) > MAX_INDEX:
        row = int(np.argmax(values > MAX_INDEX))
        raise DataError(f"index {int(values[row]):,} is beyond {MAX_INDEX:,}: ids in this format are contiguous "
                        "indices 0..n-1 (the universe is the largest + 1); a file of raw ids reads as a CSV table",
                        path=path, line=line_of(row), field=field)


def grow_universe(
    kind: str, base: int, sources: Sequence[IdSource], *, known_from: str, warn: bool = True
) -> int:
    """The universe size once ``sources`` are read, refusing ids that would leave a gap.

    Ids are contiguous indices, so the ids that a later file (test, negatives) adds past the
    training range ``[0, base)`` must continue it without a gap: ``base, base + 1, ...``.
    Those are kept, with a warning (they never occur in training). An id past a gap (e.g. item
    99999 when training has items 0..1681) would inflate the universe with ids no file uses:
    a DataError naming its file, line and field.

    Parameters
    ----------
    kind : {"user", "item"}
    base : int
        Universe size from the training data (max id + 1, or a declared size).
    sources : sequence of IdSource
    known_from : str
        Where ``base`` comes from, for messages (e.g. ``"ml-1m.train.rating"``).
    warn : bool
        Log the ids added past ``base`` (off when the caller reports them another way, e.g.
        :func:`warn_cold_users`).
    """
    new = [s.ids[s.ids >= base] for s in sources]
    added = np.unique(np.concatenate(new)) if new else np.zeros(0, np.int64)
    if added.size == 0:
        return base
    expected = np.arange(base, base + added.size, dtype=np.int64)
    gap = added != expected
    if bool(gap.any()):
        bad = int(added[int(np.argmax(gap))])
        unused = bad - base - int(np.argmax(gap))
        for src in sources:
            hit = np.flatnonzero(src.ids == bad)
            if hit.size:
                raise DataError(
                    f"{kind} {bad} is outside the {base} {kind}s of {known_from} (ids 0..{base - 1}) "
                    f"and would add {unused} {kind} ids that no file uses; ids must be contiguous "
                    "indices (fix or remove the line)",
                    path=src.path, line=int(src.lines[hit[0]]), field=src.field,
                )
    if not warn:
        return base + int(added.size)
    files = " and ".join(dict.fromkeys(str(s.path) for s, ids in zip(sources, new, strict=True) if ids.size))
    logger.warning(
        "%s: %d %s ids past the training range (%d..%d) never occur in %s; kept as cold-start %ss",
        files, added.size, kind, base, int(added[-1]), known_from, kind,
    )
    return base + int(added.size)


def warn_repeated_pairs(rows: int, pairs: PairSet, where: str) -> None:
    """Log (do not fix) repeated (user, item) pairs in a published file of ``rows`` rows."""
    repeats = rows - len(pairs)
    if repeats:
        logger.warning("%s: %d repeated (user, item) pairs kept as published", where, repeats)


def warn_overlap(train: PairSet, test_users: IntArray, test_items: IntArray, where: str) -> None:
    """Log test rows whose pair also occurs in training (kept as published)."""
    if len(train) == 0 or test_users.size == 0:
        return
    both = int(np.count_nonzero(train.contains(test_users, test_items)))
    if both:
        logger.warning("%s: %d test pairs also occur in train (kept as published)", where, both)


def warn_cold_users(train: PairSet, test_users: IntArray, where: str) -> None:
    """Log test users inside the universe that have no training pair."""
    users = np.unique(test_users)
    cold = users[train.degrees()[users] == 0] if users.size else users
    if cold.size:
        logger.warning(
            "%s: %d test users have no training interactions (cold start, e.g. user %d); their "
            "embeddings are never trained", where, cold.size, int(cold[0]),
        )


def warn_constant_timestamps(timestamps: npt.NDArray[np.generic] | None, where: str) -> None:
    """Log timestamps that carry no order (all equal): time-based splits and sequences fall
    back to file order."""
    if timestamps is None or timestamps.size < 2:
        return
    if timestamps.min() == timestamps.max():
        logger.warning(
            "%s: all %d timestamps are equal (%s), so they carry no order: leave-one-out, "
            "temporal splits and sequence models fall back to item index or row order",
            where, timestamps.size, timestamps.flat[0].item(),
        )
