"""The NeuMF paper's files (``P.train.rating``, ``P.test.rating``, ``P.test.negative``) -> Dataset.

The published split and its negatives are kept as published; what is odd but usable (a test
pair also in train, a negative that is a training positive, ragged negative lines, cold-start
users) is logged with counts, and ids that would inflate the universe are refused.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ncf._types import PathLike
from ncf.data.dataset import Dataset
from ncf.data.formats._checks import (
    IdSource,
    check_index_range,
    grow_universe,
    warn_cold_users,
    warn_constant_timestamps,
    warn_overlap,
    warn_repeated_pairs,
)
from ncf.data.formats._text import (
    peek_lines,
    read_bytes,
    require_file,
    shorten,
    show_bytes,
    tokenize_ints,
)
from ncf.data.formats.table import Column, read_csv_columns
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split
from ncf.data.pairs import PairSet
from ncf.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["NEUMF_SUFFIXES", "neumf_prefix", "read_neumf"]

IntArray = npt.NDArray[np.int64]
NEUMF_SUFFIXES = (".train.rating", ".test.rating", ".test.negative")
_INT_ID = re.compile(r"\s*-?\d{1,18}\s*")
_NEG_PUNCT = bytes.maketrans(b"(),", b"   ")
_MAX_PAIR_CHARS = 64  # "(user,item)": two integers of at most 18 digits, a comma, some spaces


def neumf_prefix(path: Path) -> tuple[Path, str]:
    """(directory, prefix) for a directory with one triple, a prefix path or one of the files."""
    if path.is_dir():
        found = sorted(p.name[: -len(".train.rating")] for p in path.glob("*.train.rating"))
        if not found:
            raise DataError(
                "no NeuMF files: expected <prefix>.train.rating, <prefix>.test.rating and "
                "<prefix>.test.negative", path=path,
            )
        if len(found) > 1:
            raise DataError(
                f"several NeuMF file sets {found}; pass one as DIR/prefix, e.g. {path / found[0]}",
                path=path,
            )
        return path, found[0]
    name = path.name
    for suffix in NEUMF_SUFFIXES:
        if name.endswith(suffix):
            return path.parent, name[: -len(suffix)]
    return path.parent, name


# ---------------------------------------------------------------------- .rating files
class _Ratings:
    """The columns of a ``.rating`` file and the physical line of each row."""

    def __init__(self, path: Path) -> None:
        require_file(path)
        peek = [ln for ln in peek_lines(path, 1) if ln.strip()]
        if not peek:
            raise DataError("file is empty", path=path, line=1)
        ncols = len(peek[0].split("\t"))
        roles = ("user", "item", "weight", "timestamp")[: max(2, min(ncols, 4))]
        wanted: dict[str, Column | None] = {r: i for i, r in enumerate(roles)}
        cols, fields = read_csv_columns(path, wanted, sep="\t", has_header=False)
        self.path = path
        self.fields = fields
        self._num_rows = len(cols["user"])
        for role in ("user", "item"):
            arr = cols[role]
            if not isinstance(arr, np.ndarray):
                row, value = _first_non_integer(arr)
                raise DataError(
                    f"{shorten(value)} is not an integer index", path=path,
                    line=self.line_of_row(row), field=fields[role],
                )
            if int(arr.min(initial=0)) < 0:
                row = int(np.argmax(arr < 0))
                raise DataError("negative index", path=path, line=self.line_of_row(row), field=fields[role])
            check_index_range(arr, path, self.line_of_row, fields[role])
        self.users: IntArray = cols["user"]
        self.items: IntArray = cols["item"]
        self.weights: npt.NDArray[np.float32] | None = cols.get("weight")
        self.timestamps: npt.NDArray[Any] | None = cols.get("timestamp")

    def lines(self) -> IntArray:
        """1-based line of every row (pyarrow skips empty lines, so rows and lines can differ)."""
        buf = np.frombuffer(read_bytes(self.path), dtype=np.uint8)
        newlines = np.flatnonzero(buf == 10)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [buf.size]))
        length = ends - starts
        empty = (length == 0) | ((length == 1) & (buf[np.minimum(starts, max(buf.size - 1, 0))] == 13))
        full = np.flatnonzero(~empty).astype(np.int64) + 1
        if full.size < self._num_rows:  # pragma: no cover - pyarrow and this count disagree
            full = np.arange(1, self._num_rows + 1, dtype=np.int64)
        return full[: self._num_rows]

    def line_of_row(self, row: int) -> int:
        """1-based line of a 0-based row (error path only)."""
        return int(self.lines()[row]) if row < self._num_rows else row + 1


def _first_non_integer(arr: pa.ChunkedArray) -> tuple[int, str]:
    """(0-based row, value) of the first id that is not an int64 integer (error path only)."""
    for row, v in enumerate(arr.to_pylist()):
        if _INT_ID.fullmatch(str(v)) is None:
            return row, str(v)
    return 0, ""  # pragma: no cover


# ---------------------------------------------------------------------- .test.negative
class _NegativeLines:
    """The ``(user,item)\\tneg1\\tneg2 ...`` lines: pair, negatives (-1 padded) and line number."""

    def __init__(self, path: Path) -> None:
        data = read_bytes(path, strip_bom=True)
        _check_negative_lines(data, path)
        tokens = tokenize_ints(
            data.translate(_NEG_PUNCT), path, ("(user,item) user", "(user,item) item", "negative")
        )
        line_ids, line_rows = np.unique(tokens.line, return_inverse=True)
        if line_ids.size == 0:
            raise DataError("file is empty", path=path, line=1)
        counts = np.bincount(line_rows, minlength=line_ids.size)
        is_neg = tokens.pos >= 2
        width = int(counts.max()) - 2
        negatives = np.full((line_ids.size, width), -1, dtype=np.int64)
        negatives[line_rows[is_neg], tokens.pos[is_neg] - 2] = tokens.values[is_neg]
        self.path = path
        self.users: IntArray = tokens.values[tokens.pos == 0]
        self.items: IntArray = tokens.values[tokens.pos == 1]
        self.negatives: IntArray = negatives
        self.lines: IntArray = line_ids + 1
        self.counts: IntArray = counts - 2
        self.neg_lines: IntArray = np.broadcast_to(self.lines[:, None], negatives.shape)[negatives >= 0]


def _check_negative_lines(data: bytes, path: Path) -> None:
    """Every non-blank line must open with ``(user,item)``: '(', two integers, ',' and ')'.

    Vectorised: only the head of each line (up to its first ')') is gathered and checked.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise DataError("file is empty", path=path, line=1)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [buf.size]))
    keep = starts < buf.size
    starts, ends = starts[keep], ends[keep]
    opens = buf[starts] == ord("(")
    bad = np.zeros(starts.size, dtype=bool)
    for line in np.flatnonzero(~opens).tolist():  # normally none, or a trailing blank line
        if data[starts[line] : ends[line]].strip():
            bad[line] = True  # the first such line is all the message needs
            break
    closes = np.flatnonzero(buf == ord(")"))
    at = np.searchsorted(closes, starts)
    close = np.full(starts.size, buf.size, dtype=np.int64)
    close[at < closes.size] = closes[at[at < closes.size]]
    bad |= opens & ((close >= ends) | (close - starts > _MAX_PAIR_CHARS))
    rows = np.flatnonzero(opens & ~bad)
    if rows.size:
        first = starts[rows] + 1
        size = close[rows] - first
        cols = np.arange(int(size.max()) + 1, dtype=np.int64)
        inside = cols[None, :] < size[:, None]
        head = np.where(inside, buf[np.minimum(first[:, None] + cols[None, :], buf.size - 1)], ord(" "))
        digit = (head >= ord("0")) & (head <= ord("9"))
        space = (head == ord(" ")) | (head == ord("\t"))
        comma = head == ord(",")
        run_start = digit & ~np.concatenate((np.zeros((rows.size, 1), bool), digit[:, :-1]), axis=1)
        ok = (
            (run_start.sum(axis=1) == 2)
            & (comma.sum(axis=1) == 1)
            & ~(inside & ~(digit | space | comma)).any(axis=1)
        )
        bad[rows[~ok]] = True
    if bool(bad.any()):
        k = int(np.argmax(bad))
        opening = data[starts[k] : ends[k]].rstrip(b"\r").split(b"\t")[0]
        raise DataError(
            f"expected the line to open with '(user,item)', found {show_bytes(opening)}",
            path=path, line=k + 1, field="(user,item)",
        )


# ---------------------------------------------------------------------- universe and checks
def _neumf_maps(root: Path) -> tuple[IdMap | None, IdMap | None]:
    """``user_map.json``/``item_map.json`` beside the files (written by write_neumf), if any."""
    maps = []
    for fname in ("user_map.json", "item_map.json"):
        p = root / fname
        maps.append(IdMap.load(p) if p.is_file() else None)
    return maps[0], maps[1]


def _check_declared(kind: str, n: int, map_path: Path, sources: list[IdSource]) -> None:
    """Every id must be an index of the declared id map."""
    for src in sources:
        outside = np.flatnonzero(src.ids >= n)
        if outside.size:
            at = int(outside[0])
            raise DataError(
                f"{kind} {int(src.ids[at])} is outside {map_path.name}, which has {n} ids",
                path=src.path, line=int(src.lines[at]), field=src.field,
            )


def _universe(
    kind: str, declared: IdMap | None, map_path: Path, train_ids: IntArray, sources: list[IdSource], train_name: str
) -> int:
    if declared is not None:
        n = len(declared)
        if int(train_ids.max(initial=-1)) >= n:
            raise DataError(f"id map has {n} ids but {train_name} uses index {int(train_ids.max())}", path=map_path)
        _check_declared(kind, n, map_path, sources)
        return n
    base = int(train_ids.max(initial=-1)) + 1
    # new users are reported by warn_cold_users, with the users inside the range
    return grow_universe(kind, base, sources, known_from=train_name, warn=kind == "item")


def _warn_negatives(neg: _NegativeLines, train: PairSet, where: str) -> None:
    """Log ragged lines, and negatives that are training positives, the test item or repeats."""
    counts = neg.counts
    if counts.size and int(counts.min()) != int(counts.max()):
        full = int(counts.max())
        short = np.flatnonzero(counts < full)
        logger.warning(
            "%s: ragged negative lines: %d of %d lines have fewer than %d negatives (min %d, first "
            "at line %d); they are padded with -1, so those test rows rank against fewer candidates",
            where, short.size, counts.size, full, int(counts.min()), int(neg.lines[short[0]]),
        )
    negs = neg.negatives
    checks = (
        ("are training positives of the line's user", train.contains(neg.users[:, None], negs)),
        ("equal the line's test item", (negs == neg.items[:, None]) & (negs >= 0)),
        ("repeat an earlier negative of the same line", _repeats_in_row(negs)),
    )
    for what, mask in checks:
        cells = int(np.count_nonzero(mask))
        if cells:
            rows = np.flatnonzero(mask.any(axis=1))
            logger.warning(
                "%s: %d negatives on %d lines %s (first at line %d)",
                where, cells, rows.size, what, int(neg.lines[rows[0]]),
            )


def _repeats_in_row(values: IntArray) -> npt.NDArray[np.bool_]:
    """Mask of entries (>= 0) equal to an earlier entry of the same row."""
    if values.shape[1] < 2:
        return np.zeros(values.shape, dtype=bool)
    order = np.argsort(values, axis=1, kind="stable")
    srt = np.take_along_axis(values, order, axis=1)
    dup_sorted = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
    out = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(out, order[:, 1:], dup_sorted, axis=1)
    return out


def _align(neg: _NegativeLines, test: _Ratings, num_users: int, num_items: int) -> IntArray:
    """The negative line of each test row, matched by the ``(user,item)`` pair."""
    outside = np.flatnonzero((neg.users >= num_users) | (neg.items >= num_items))
    if outside.size:
        k = int(outside[0])
        raise DataError(
            f"pair ({int(neg.users[k])},{int(neg.items[k])}) is not a row of {test.path.name}",
            path=neg.path, line=int(neg.lines[k]), field="(user,item)",
        )
    pairs = PairSet(neg.users, neg.items, num_users=num_users, num_items=num_items)
    at = pairs.index(neg.users, neg.items)  # position of each line's pair among the distinct pairs
    if len(pairs) < at.size:
        _, first = np.unique(at, return_index=True)
        again = np.ones(at.size, dtype=bool)
        again[first] = False
        k = int(np.argmax(again))
        raise DataError(
            f"pair ({int(neg.users[k])},{int(neg.items[k])}) has two negative lines",
            path=neg.path, line=int(neg.lines[k]), field="(user,item)",
        )
    line_of = np.empty(at.size, dtype=np.int64)
    line_of[at] = np.arange(at.size, dtype=np.int64)
    found = pairs.index(test.users, test.items)
    if bool((found < 0).any()):
        row = int(np.argmax(found < 0))
        raise DataError(
            f"test pair ({int(test.users[row])},{int(test.items[row])}) has no line in {neg.path.name}",
            path=test.path, line=test.line_of_row(row),
        )
    used = np.zeros(at.size, dtype=bool)
    used[found] = True
    if not bool(used.all()):
        k = int(np.flatnonzero(~used[at])[0])
        raise DataError(
            f"pair ({int(neg.users[k])},{int(neg.items[k])}) is not a row of {test.path.name}",
            path=neg.path, line=int(neg.lines[k]), field="(user,item)",
        )
    return line_of[found]


# ---------------------------------------------------------------------- reader
def read_neumf(path: PathLike) -> Dataset:
    """Read the NeuMF paper's files: ``P.train.rating``, ``P.test.rating``, ``P.test.negative``.

    ``.rating`` lines are ``user\\titem\\trating\\ttimestamp``; ``.test.negative`` lines are
    ``(user,item)\\tneg1\\tneg2 ...`` (any count; ragged rows are padded with -1 and logged).
    Ids are used as-is: identity id maps over ``max id + 1`` of the training file, which the
    test rows and negatives may extend only contiguously (cold-start users or items, logged),
    unless ``user_map.json``/``item_map.json`` (written by :func:`~ncf.data.writers.write_neumf`)
    sit beside the files and declare the universe.

    Parameters
    ----------
    path : path-like
        A directory holding exactly one such triple, or a prefix path such as ``DIR/ml-1m``
        (also accepted: the path of one of the three files).

    Returns
    -------
    Dataset
        ``format="neumf"``; ``split.test_negatives`` is aligned to the test rows by the
        ``(user,item)`` pair that opens each negative line. Weights are the ratings and
        timestamps are kept.

    Raises
    ------
    DataError
        Missing files, several prefixes in a directory, malformed lines, a test row without
        its negative line (or a negative line without its test row), or an id that would
        inflate the universe (e.g. a negative item 99999 when the ratings use items 0..1681).

    Notes
    -----
    Logged as warnings (the data is kept as published): repeated pairs, test pairs also in
    train, test users without training rows, ragged negative lines, negatives that are
    training positives of their user, equal the test item or repeat within a line, and
    timestamps that are all equal.
    """
    root, prefix = neumf_prefix(Path(path))
    train_path, test_path, neg_path = (root / f"{prefix}{s}" for s in NEUMF_SUFFIXES)
    for p in (train_path, test_path, neg_path):
        require_file(p)
    train = _Ratings(train_path)
    test = _Ratings(test_path)
    neg = _NegativeLines(neg_path)

    user_map, item_map = _neumf_maps(root)
    test_lines = test.lines()
    num_users = _universe(
        "user", user_map, root / "user_map.json", train.users,
        [IdSource(test.users, test_lines, test_path, test.fields["user"])], train_path.name,
    )
    num_items = _universe(
        "item", item_map, root / "item_map.json", train.items,
        [
            IdSource(test.items, test_lines, test_path, test.fields["item"]),
            IdSource(neg.negatives[neg.negatives >= 0], neg.neg_lines, neg_path, "negative"),
        ],
        train_path.name,
    )
    user_map = user_map if user_map is not None else IdMap.identity(num_users)
    item_map = item_map if item_map is not None else IdMap.identity(num_items)
    test_negatives = neg.negatives[_align(neg, test, num_users, num_items)]

    parts, pairs = {}, {}
    for name, part in (("train", train), ("test", test)):
        pairs[name] = PairSet(part.users, part.items, num_users=num_users, num_items=num_items)
        warn_repeated_pairs(part.users.size, pairs[name], str(part.path))
        parts[name] = Interactions(
            part.users, part.items, num_users, num_items, part.timestamps, part.weights, user_map, item_map
        )
    train_pairs = pairs["train"]
    where = str(root / prefix)
    warn_overlap(train_pairs, test.users, test.items, where)
    warn_cold_users(train_pairs, test.users, str(test_path))
    _warn_negatives(neg, train_pairs, str(neg_path))
    split = Split(parts["train"], parts["test"], test_negatives=test_negatives)
    data = split.train.concat(split.test)
    warn_constant_timestamps(data.timestamps, where)
    logger.info("%s: NeuMF split %r", where, split)
    return Dataset(prefix, str(root / prefix), "neumf", data, split)
