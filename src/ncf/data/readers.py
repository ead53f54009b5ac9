"""Readers: interaction tables (CSV/TSV/Parquet), MovieLens, LightGCN and NeuMF files -> Dataset.

Every reader returns a :class:`Dataset`: all interactions with their id maps, a published split
when the format has one, and side information (titles, user/item features) when the files carry
it. Parsing is vectorised (pyarrow for tables, numpy over raw bytes for the integer-list formats);
when parsing fails, a slow Python scan runs on the error path only, so that the
:class:`~ncf.errors.DataError` names the file, the true 1-based line number and the field.

Example
-------
>>> ds = load_dataset("ml-100k")                      # doctest: +SKIP
>>> ds.stats()["interactions"]                        # doctest: +SKIP
100000
"""

from __future__ import annotations

import bz2
import csv
import dataclasses
import datetime as _dt
import gzip
import io
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ncf._types import PathLike
from ncf.data.features import FeatureTable
from ncf.data.idmap import IdMap
from ncf.data.interactions import DuplicatePolicy, Interactions, Split
from ncf.errors import DataError

logger = logging.getLogger(__name__)

__all__ = [
    "Dataset",
    "detect_format",
    "load_dataset",
    "read_lightgcn",
    "read_movielens",
    "read_neumf",
    "read_table",
]

Column = str | int
FORMATS: tuple[str, ...] = ("movielens", "lightgcn", "neumf", "csv", "tsv", "parquet")

# Values read as missing in numeric and id columns (pyarrow and the Python scan agree on them).
_NULLS: tuple[str, ...] = ("", "NaN", "nan", "-nan", "NA", "N/A", "n/a", "null", "NULL", "None")
_INT_RE = re.compile(r"\s*-?\d+\s*")
_SEP_BY_SUFFIX: dict[str, str] = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".dat": "::"}
_PARQUET_SUFFIXES = (".parquet", ".pq")
_COMPRESSED = (".gz", ".bz2")
_PEEK_BYTES = 1 << 16
_PEEK_ROWS = 200


# ====================================================================== Dataset
@dataclass(frozen=True, eq=False)
class Dataset:
    """What a reader returns: all interactions, an optional published split and side data.

    Parameters
    ----------
    name : str
        Short name (registry name, directory name or file stem).
    path : str or None
        Where the data was read from.
    format : str
        ``"movielens"``, ``"lightgcn"``, ``"neumf"``, ``"csv"``, ``"tsv"``, ``"parquet"`` or
        another producer's tag (e.g. ``"synthetic"``).
    interactions : Interactions
        Every event (train and test together for a published split), with id maps.
    split : Split, optional
        A published split kept as-is, over the same universe as ``interactions``.
    item_titles : (num_items,) str, optional
        Titles aligned with the item index.
    user_features, item_features : FeatureTable, optional
        Encoded side features, row ``r`` for index ``r``.
    """

    name: str
    path: str | None
    format: str
    interactions: Interactions
    split: Split | None = None
    item_titles: npt.NDArray[np.str_] | None = None
    user_features: FeatureTable | None = None
    item_features: FeatureTable | None = None

    def __post_init__(self) -> None:
        data = self.interactions
        if self.split is not None and self.split.train.shape != data.shape:
            raise DataError(
                f"split universe {self.split.train.shape} differs from the interactions' {data.shape}"
            )
        if self.item_titles is not None:
            titles = np.asarray(self.item_titles).astype(str)
            if titles.shape != (data.num_items,):
                raise DataError(f"{titles.shape[0]} item titles for {data.num_items} items")
            titles.setflags(write=False)
            object.__setattr__(self, "item_titles", titles)
        for what, table, n in (
            ("user_features", self.user_features, data.num_users),
            ("item_features", self.item_features, data.num_items),
        ):
            if table is not None and table.num_rows != n:
                raise DataError(f"{what} has {table.num_rows} rows, expected {n}", field=what)

    @property
    def num_users(self) -> int:
        """Number of users in the universe."""
        return self.interactions.num_users

    @property
    def num_items(self) -> int:
        """Number of items in the universe."""
        return self.interactions.num_items

    def __repr__(self) -> str:
        split = f", split={self.split!r}" if self.split is not None else ""
        return (
            f"Dataset({self.name!r}, format={self.format}, {len(self.interactions)} interactions, "
            f"{self.num_users} users x {self.num_items} items{split})"
        )

    def stats(self) -> dict[str, Any]:
        """Counts as plain JSON-ready values.

        Returns
        -------
        dict
            ``name``, ``format``, ``users``, ``items``, ``interactions``, ``density``,
            ``timestamps``/``weights`` (present or not), ``user_features``/``item_features``
            (number of encoded columns or None) and, with a split, ``train``, ``test``,
            ``test_users``, ``valid`` (when present) and ``negatives_per_user`` (the longest
            row of ``test_negatives``, or None).
        """
        data = self.interactions
        cells = data.num_users * data.num_items
        out: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "users": int(data.num_users),
            "items": int(data.num_items),
            "interactions": len(data),
            "density": float(len(data) / cells) if cells else 0.0,
            "timestamps": data.timestamps is not None,
            "weights": data.weights is not None,
            "user_features": None if self.user_features is None else self.user_features.num_features,
            "item_features": None if self.item_features is None else self.item_features.num_features,
        }
        split = self.split
        if split is not None:
            out["train"] = len(split.train)
            if split.valid is not None:
                out["valid"] = len(split.valid)
            out["test"] = len(split.test)
            out["test_users"] = int(np.unique(split.test.users).size)
            negs = split.test_negatives
            out["negatives_per_user"] = (
                int(np.max(np.sum(negs >= 0, axis=1))) if negs is not None and negs.shape[0] else None
            )
        return out


# ====================================================================== small helpers
def _open_binary(path: Path) -> IO[bytes]:
    """Open a (possibly gzip/bz2 compressed) file for binary reading."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if suffix == ".bz2":
        return cast(IO[bytes], bz2.open(path, "rb"))
    return open(path, "rb")


def _base_suffix(path: Path) -> str:
    """The extension that names the format, ignoring a compression suffix."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _require_file(path: Path) -> None:
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.is_dir():
        raise DataError("is a directory, expected a file (use load_dataset for directories)", path=path)


def _read_bytes(path: Path) -> bytes:
    _require_file(path)
    with _open_binary(path) as fh:
        return fh.read()


def _peek_lines(path: Path) -> list[str]:
    """The first lines of a file (decoded leniently), for sniffing headers, separators, types."""
    with _open_binary(path) as fh:
        head = fh.read(_PEEK_BYTES)
        more = fh.read(1)
    text = head.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if more and lines and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line was cut by the peek
    return lines[: _PEEK_ROWS + 1]


def _sniff_sep(first_line: str) -> str:
    for sep in ("\t", "::", ",", ";", "|"):
        if sep in first_line:
            return sep
    return " "


def _warn_duplicates(users: npt.NDArray[np.int64], items: npt.NDArray[np.int64], num_items: int, where: str) -> None:
    """Log (do not fix) repeated (user, item) pairs in a published file."""
    if users.size < 2:
        return
    key = np.sort(users * np.int64(max(num_items, 1)) + items)
    dups = int(np.count_nonzero(key[1:] == key[:-1]))
    if dups:
        logger.warning("%s: %d repeated (user, item) pairs kept as published", where, dups)


# ====================================================================== factorize
def _factorize(values: npt.NDArray[np.int64] | pa.ChunkedArray | pa.Array) -> tuple[IdMap, npt.NDArray[np.int64]]:
    """Raw ids -> (IdMap in sorted raw-id order, int64 codes), vectorised.

    Integer ids in a compact range use a presence bitmap (O(n)); other integers use a sort;
    strings use pyarrow's hash-based ``dictionary_encode`` and a sort of the distinct values.
    """
    if isinstance(values, np.ndarray):
        x = values.astype(np.int64, copy=False)
        if x.size == 0:
            return IdMap(np.zeros(0, dtype=np.int64)), np.zeros(0, dtype=np.int64)
        lo, hi = int(x.min()), int(x.max())
        span = hi - lo + 1
        if span <= max(4 * x.size, 1 << 20):
            shifted = x - lo
            present = np.zeros(span, dtype=bool)
            present[shifted] = True
            rank = np.cumsum(present, dtype=np.int64) - 1
            codes = rank[shifted]
            uniq = np.flatnonzero(present).astype(np.int64) + lo
            return IdMap(uniq), codes
        uniq, inverse = np.unique(x, return_inverse=True)
        return IdMap(uniq), inverse.astype(np.int64, copy=False).reshape(-1)
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    encoded = pc.dictionary_encode(arr)
    dictionary = np.asarray(encoded.dictionary.to_pylist(), dtype=str)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    order = np.argsort(dictionary, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size, dtype=np.int64)
    return IdMap(dictionary[order]), rank[indices]


# ====================================================================== tables
@dataclass
class _Col:
    """One requested column of a table: its role, position, label for errors and parse kind."""

    role: str  # "user" | "item" | "timestamp" | "weight"
    index: int
    field: str
    kind: str  # id_int | id_str | time_int | time_float | time_ts | weight


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def _is_datetime(v: str) -> bool:
    try:
        _dt.datetime.fromisoformat(v.strip())
    except ValueError:
        return False
    return True


def _guess_kind(role: str, samples: Sequence[str]) -> str:
    vals = [s for s in samples if s.strip() not in _NULLS]
    if role in ("user", "item"):
        ints = all(_INT_RE.fullmatch(v) and len(v.strip().lstrip("-")) <= 18 for v in vals)
        return "id_int" if ints else "id_str"
    if role == "weight":
        return "weight"
    if all(_INT_RE.fullmatch(v) for v in vals):
        return "time_int"
    if all(_is_float(v) for v in vals):
        return "time_float"
    if vals and all(_is_datetime(v) for v in vals):
        return "time_ts"
    return "time_int"  # the read fails and the scan names the offending value


def _check_value(kind: str, raw: str) -> tuple[str, str] | None:
    """Validate one field as pyarrow would; return (problem, message) or None."""
    v = raw.strip()
    if v in _NULLS:
        return "empty", "missing value (empty, NaN or NA)"
    if kind == "id_int":  # ids beyond int64 are read as strings
        ok = _INT_RE.fullmatch(v) is not None and len(v.lstrip("-")) <= 18
        return None if ok else ("not_int", f"{v!r} is not an integer id")
    if kind == "id_str":
        return None
    if kind == "time_int":
        if _INT_RE.fullmatch(v):
            return None
        if _is_float(v) and math.isfinite(float(v)):
            return "float_in_int", f"{v!r} is not an integer"
        return "non_numeric", f"{v!r} is not a number"
    if kind == "time_ts":
        return None if _is_datetime(v) else ("non_numeric", f"{v!r} is not a number or ISO date-time")
    # time_float, weight
    if not _is_float(v):
        return "non_numeric", f"{v!r} is not a number"
    if not math.isfinite(float(v)):
        return "non_finite", f"{v!r} is not a finite number"
    return None


def _csv_reader(lines: Iterable[str], sep: str) -> Any:
    """A csv.reader for ``sep`` (a multi-character sep must already be replaced by \\x1f).

    Only commas quote fields, as in the pyarrow parse options used for the fast path.
    """
    delim = "\x1f" if len(sep) > 1 else sep
    if sep == ",":
        return csv.reader(lines, delimiter=delim, quoting=csv.QUOTE_MINIMAL)
    return csv.reader(lines, delimiter=delim, quoting=csv.QUOTE_NONE)


def _text_records(path: Path, sep: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, fields) of every non-empty record, as pyarrow sees them (slow path)."""
    delim = "\x1f" if len(sep) > 1 else sep

    def lines() -> Iterator[str]:
        with _open_binary(path) as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            for i, line in enumerate(text):
                if i == 0 and line.startswith("\ufeff"):
                    line = line[1:]
                yield line.replace(sep, delim) if len(sep) > 1 else line

    reader = _csv_reader(lines(), sep)
    for fields in reader:
        if fields:
            yield reader.line_num, fields


def _scan(path: Path, sep: str, has_header: bool, ncols: int, cols: Sequence[_Col]) -> tuple[int, _Col | None, str, str] | None:
    """Find the first bad record: (line, column or None, problem, message), or None."""
    first = True
    for line, fields in _text_records(path, sep):
        if first and has_header:
            first = False
            continue
        first = False
        if len(fields) != ncols:
            return line, None, "malformed", f"expected {ncols} fields, found {len(fields)}"
        for col in cols:
            bad = _check_value(col.kind, fields[col.index])
            if bad is not None:
                return line, col, bad[0], bad[1]
    return None


def _arrow_type(kind: str) -> pa.DataType:
    return {
        "id_int": pa.int64(),
        "id_str": pa.string(),
        "time_int": pa.int64(),
        "time_float": pa.float64(),
        "time_ts": pa.timestamp("s"),
        "weight": pa.float32(),
    }[kind]


def _resolve_columns(
    path: Path, header: list[str] | None, ncols: int, wanted: Mapping[str, Column | None]
) -> list[_Col]:
    cols: list[_Col] = []
    for role, spec in wanted.items():
        if spec is None:
            continue
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            raise TypeError(f"{role}_col must be a column name or an integer position, got {spec!r}")
        if isinstance(spec, int):
            if not 0 <= spec < ncols:
                raise DataError(
                    f"column position {spec} out of range: the file has {ncols} columns",
                    path=path, line=1, field=f"{role} (column {spec})",
                )
            index = spec
        elif header is None:
            raise DataError(
                f"column {spec!r} given by name but the file has no header; pass its integer position",
                path=path, line=1, field=spec,
            )
        elif spec not in header:
            raise DataError(f"column not found; the header has {header}", path=path, line=1, field=spec)
        else:
            index = header.index(spec)
        label = header[index] if header is not None else f"{role} (column {index})"
        cols.append(_Col(role, index, label, ""))
    return cols


def _read_csv_columns(
    path: Path, wanted: Mapping[str, Column | None], *, sep: str | None, has_header: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the requested columns of a delimited file with pyarrow; DataError with line on failure.

    Returns the arrays by role (numpy for numbers and int ids, pyarrow for string ids) and the
    column labels by role.
    """
    _require_file(path)
    peek = _peek_lines(path)
    nonblank = [ln for ln in peek if ln.strip()]
    if not nonblank:
        raise DataError("file is empty", path=path, line=1)
    if sep is None:
        sep = _SEP_BY_SUFFIX.get(_base_suffix(path)) or _sniff_sep(nonblank[0])
    delim = "\x1f" if len(sep) > 1 else sep

    def split_line(line: str) -> list[str]:
        text = line.replace(sep, delim) if len(sep) > 1 else line
        fields: list[str] = next(_csv_reader([text], sep), [])
        return fields

    first = split_line(nonblank[0])
    ncols = len(first)
    header = [h.strip() for h in first] if has_header else None
    data_lines = nonblank[1:] if has_header else nonblank
    cols = _resolve_columns(path, header, ncols, wanted)
    samples = [split_line(ln) for ln in data_lines[:_PEEK_ROWS]]
    for col in cols:
        col.kind = _guess_kind(col.role, [r[col.index] for r in samples if len(r) > col.index])

    names = [f"f{i}" for i in range(ncols)]
    read_opts = pacsv.ReadOptions(column_names=names, skip_rows=1 if has_header else 0, use_threads=True)
    parse_opts = pacsv.ParseOptions(delimiter=delim, quote_char='"' if sep == "," else False)
    source: Any
    if len(sep) > 1:
        source = pa.BufferReader(_read_bytes(path).replace(sep.encode(), delim.encode()))
    else:
        source = str(path)

    for _attempt in range(4):
        convert_opts = pacsv.ConvertOptions(
            include_columns=[names[c.index] for c in cols],
            column_types={names[c.index]: _arrow_type(c.kind) for c in cols},
            null_values=list(_NULLS),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        if isinstance(source, pa.BufferReader):
            source.seek(0)
        try:
            table = pacsv.read_csv(source, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            found = _scan(path, sep, has_header, ncols, cols)
            if found is not None:
                line, bad_col, problem, message = found
                if bad_col is not None and problem == "not_int" and bad_col.kind == "id_int":
                    bad_col.kind = "id_str"  # integer-looking ids turned out to be strings
                    continue
                if bad_col is not None and problem == "float_in_int" and bad_col.kind == "time_int":
                    bad_col.kind = "time_float"
                    continue
                field = None if bad_col is None else bad_col.field
                raise DataError(message, path=path, line=line, field=field) from exc
            raise DataError(f"could not parse the file: {exc}", path=path) from exc
        break
    else:  # pragma: no cover - each retry widens one column, so this is not reached
        raise DataError("could not parse the file", path=path)

    if table.num_rows == 0:
        raise DataError("no data rows", path=path, line=2 if has_header else 1)
    out: dict[str, Any] = {}
    bad_values = False
    for col in cols:
        arr = table.column(names[col.index])
        table = table.drop_columns([names[col.index]])  # release each column once converted
        if arr.null_count:
            bad_values = True
            break
        if col.kind == "id_str":
            out[col.role] = arr
            continue
        if col.kind == "time_ts":
            arr = arr.cast(pa.int64())
        values = arr.to_numpy()
        if values.dtype.kind == "f" and not bool(np.isfinite(values).all()):
            bad_values = True
            break
        out[col.role] = values
    del table
    if bad_values:
        found = _scan(path, sep, has_header, ncols, cols)
        if found is None:  # pragma: no cover - pyarrow and the scan disagree on a value
            raise DataError("missing or non-finite values", path=path)
        line, bad_col, _problem, message = found
        raise DataError(message, path=path, line=line, field=None if bad_col is None else bad_col.field)
    return out, {c.role: c.field for c in cols}


def _read_parquet_columns(path: Path, wanted: Mapping[str, Column | None]) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the requested columns of a Parquet file; errors name the column and 1-based row."""
    import pyarrow.parquet as pq

    _require_file(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {exc}", path=path) from exc
    header = list(schema.names)
    cols = _resolve_columns(path, header, len(header), wanted)
    table = pq.read_table(path, columns=[header[c.index] for c in cols])
    if table.num_rows == 0:
        raise DataError("no data rows", path=path)
    out: dict[str, Any] = {}
    for col in cols:
        arr = table.column(header[col.index])
        if arr.null_count:
            row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0]) + 1
            raise DataError(f"missing value in row {row}", path=path, line=row, field=col.field)
        typ = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
        if col.role in ("user", "item"):
            if pa.types.is_integer(typ):
                out[col.role] = arr.cast(pa.int64()).to_numpy()
            elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
                out[col.role] = arr
            else:
                raise DataError(f"ids must be integers or strings, got {typ}", path=path, field=col.field)
            continue
        if pa.types.is_timestamp(typ) and col.role == "timestamp":
            values = arr.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
        elif pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ):
            target = pa.float32() if col.role == "weight" else (pa.int64() if pa.types.is_integer(typ) else pa.float64())
            values = arr.cast(target).to_numpy()
        else:
            raise DataError(f"expected numbers, got column type {typ}", path=path, field=col.field)
        if values.dtype.kind == "f" and not bool(np.isfinite(values).all()):
            row = int(np.flatnonzero(~np.isfinite(values))[0]) + 1
            raise DataError(f"non-finite value in row {row}", path=path, line=row, field=col.field)
        out[col.role] = values
    return out, {c.role: c.field for c in cols}


def _read_columns(
    path: Path,
    wanted: Mapping[str, Column | None],
    *,
    sep: str | None = None,
    has_header: bool = True,
) -> tuple[dict[str, Any], dict[str, str]]:
    if _base_suffix(path) in _PARQUET_SUFFIXES:
        return _read_parquet_columns(path, wanted)
    return _read_csv_columns(path, wanted, sep=sep, has_header=has_header)


def _filter(values: Any, mask: npt.NDArray[np.bool_]) -> Any:
    if isinstance(values, np.ndarray):
        return values[mask]
    return values.filter(pa.array(mask))


def read_table(
    path: PathLike,
    *,
    user_col: Column,
    item_col: Column,
    time_col: Column | None = None,
    weight_col: Column | None = None,
    sep: str | None = None,
    has_header: bool = True,
    threshold: float | None = None,
    duplicates: DuplicatePolicy = "keep_last",
) -> Interactions:
    """Read an interaction table (CSV, TSV or Parquet) into :class:`Interactions`.

    Parsing is multithreaded pyarrow with explicit column types; raw ids (integers or strings)
    are factorized into contiguous indices in sorted raw-id order.

    Parameters
    ----------
    path : path-like
        ``.csv``, ``.tsv``/``.tab``, ``.dat`` (``::``-separated), ``.parquet``/``.pq``; a
        ``.gz``/``.bz2`` suffix is decompressed. Other extensions sniff the separator.
    user_col, item_col : str or int
        Column names (with a header) or 0-based positions.
    time_col, weight_col : str or int, optional
        Timestamps (integers, floats or ISO date-times -> seconds) and weights (e.g. ratings).
    sep : str, optional
        Field separator (may be multi-character, e.g. ``"::"``); inferred when omitted.
    has_header : bool
        Whether the first line names the columns (delimited files only).
    threshold : float, optional
        Keep only rows with ``weight >= threshold`` (implicit from explicit feedback, e.g. 4).
    duplicates : {"keep_last", "error", "sum", "keep"}
        Policy for repeated (user, item) pairs, see :meth:`Interactions.from_arrays`.

    Returns
    -------
    Interactions
        With ``user_map``/``item_map``; ``timestamps``/``weights`` when those columns are given.

    Raises
    ------
    DataError
        Naming the path, the 1-based line and the field, for a missing or empty file, a missing
        column, a malformed line, an empty/NaN field or a non-numeric timestamp/weight.
    """
    p = Path(path)
    if threshold is not None and weight_col is None:
        raise ValueError("threshold needs weight_col: it keeps rows with weight >= threshold")
    wanted = {"user": user_col, "item": item_col, "timestamp": time_col, "weight": weight_col}
    cols, fields = _read_columns(p, wanted, sep=sep, has_header=has_header)
    return _to_interactions(p, cols, fields, threshold=threshold, duplicates=duplicates)


def _to_interactions(
    path: Path,
    cols: dict[str, Any],
    fields: Mapping[str, str],
    *,
    threshold: float | None,
    duplicates: DuplicatePolicy,
) -> Interactions:
    users_raw, items_raw = cols["user"], cols["item"]
    ts = cols.get("timestamp")
    w = cols.get("weight")
    if threshold is not None and w is not None:
        mask = w >= np.float32(threshold)
        kept = int(np.count_nonzero(mask))
        logger.info("%s: kept %d of %d rows with %s >= %g", path, kept, mask.size, fields["weight"], threshold)
        if kept == 0:
            raise DataError(f"no rows with weight >= {threshold}", path=path, field=fields["weight"])
        users_raw, items_raw = _filter(users_raw, mask), _filter(items_raw, mask)
        ts = None if ts is None else ts[mask]
        w = w[mask]
    user_map, users = _factorize(users_raw)
    del users_raw
    item_map, items = _factorize(items_raw)
    del items_raw
    policy: DuplicatePolicy = duplicates
    if duplicates != "keep" and users.size > 1:
        key = np.sort(users * np.int64(max(len(item_map), 1)) + items)
        repeats = int(np.count_nonzero(key[1:] == key[:-1]))
        del key
        if repeats == 0:
            policy = "keep"  # nothing to resolve: skip the sort inside from_arrays
        elif duplicates == "error":
            raise DataError(f"{repeats} repeated (user, item) pairs; choose duplicates='keep_last', 'sum' or 'keep'", path=path)
        else:
            logger.info("%s: %d repeated (user, item) pairs resolved by %r", path, repeats, duplicates)
    return Interactions.from_arrays(
        users, items, num_users=len(user_map), num_items=len(item_map), timestamps=ts, weights=w,
        user_map=user_map, item_map=item_map, duplicates=policy,
    )


# ====================================================================== integer-list files
_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 32]] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[48:58] = True


@dataclass
class _Tokens:
    """Non-negative integer tokens of a text file with their physical line and position."""

    values: npt.NDArray[np.int64]
    line: npt.NDArray[np.int64]  # 0-based physical line of each token
    pos: npt.NDArray[np.int64]  # 0-based position of the token within its line


def _line_of(buf: npt.NDArray[np.uint8], offset: int) -> int:
    return int(np.count_nonzero(buf[:offset] == 10)) + 1


def _tokenize_ints(data: bytes, path: Path, field_at: Sequence[str]) -> _Tokens:
    """Parse whitespace-separated non-negative integers, keeping the line structure (vectorised).

    ``field_at[k]`` names the field of the token at position ``k`` of a line (the last entry
    names every later position), for error messages.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    ws = _WS[buf]
    bad = ~(ws | _DIGIT[buf])
    if bool(bad.any()):
        at = int(np.argmax(bad))
        start = at
        while start > 0 and not ws[start - 1]:
            start -= 1
        end = at
        while end < buf.size and not ws[end]:
            end += 1
        line_start = start
        while line_start > 0 and buf[line_start - 1] != 10:
            line_start -= 1
        pos = len(data[line_start:start].split())
        token = data[start:end].decode("utf-8", errors="replace")
        raise DataError(
            f"{token!r} is not a non-negative integer",
            path=path, line=_line_of(buf, at), field=field_at[min(pos, len(field_at) - 1)],
        )
    nonws = ~ws
    starts = np.flatnonzero(nonws & np.concatenate(([True], ws[:-1])))
    ends = np.flatnonzero(nonws & np.concatenate((ws[1:], [True])))
    if starts.size and int((ends - starts).max()) >= 18:
        k = int(np.argmax(ends - starts))
        raise DataError("integer too large", path=path, line=_line_of(buf, int(starts[k])), field=None)
    newlines = np.flatnonzero(buf == 10)
    line = np.searchsorted(newlines, starts).astype(np.int64)
    values = np.fromstring(data, dtype=np.int64, sep=" ") if starts.size else np.zeros(0, np.int64)  # noqa: NPY201
    if values.size != starts.size:  # pragma: no cover - characters were validated above
        raise DataError("could not parse integers", path=path)
    first = np.ones(starts.size, dtype=bool)
    first[1:] = line[1:] != line[:-1]
    first_idx = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    pos = np.arange(starts.size, dtype=np.int64) - first_idx[group]
    return _Tokens(values, line, pos)


def _count_list_file(path: Path) -> int:
    """Entries of a LightGCN ``user_list.txt``/``item_list.txt`` (``org_id remap_id`` lines)."""
    lines = path.read_bytes().splitlines()
    count = sum(1 for ln in lines if ln.strip())
    first = next((ln.split() for ln in lines if ln.strip()), [])
    if first and not first[-1].isdigit():
        count -= 1  # header line "org_id remap_id"
    return count


def _read_user_item_lists(path: Path) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(listed users, user of each item, item) of a ``user item item ...`` file."""
    tokens = _tokenize_ints(_read_bytes(path), path, ("user", "item"))
    head = tokens.pos == 0
    line_users = tokens.values[head]
    owner = line_users[np.cumsum(head) - 1]
    rest = ~head
    return line_users, owner[rest], tokens.values[rest]


def read_lightgcn(path: PathLike) -> Dataset:
    """Read a LightGCN/NGCF split directory (``train.txt``, ``test.txt``).

    Each line is ``user item item ...`` with ids already contiguous (a user may list no
    items). The universe is ``max id + 1`` over both files, or the entry count of
    ``user_list.txt``/``item_list.txt`` when present and larger. Id maps are the identity.

    Parameters
    ----------
    path : path-like
        The directory.

    Returns
    -------
    Dataset
        ``format="lightgcn"``, ``split=Split(train, test)`` as published and ``interactions``
        = train followed by test.

    Raises
    ------
    DataError
        Missing files, or a token that is not a non-negative integer (with its line).
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError("expected a directory with train.txt and test.txt", path=root)
    parts = {}
    for name in ("train", "test"):
        parts[name] = _read_user_item_lists(root / f"{name}.txt")
    if parts["train"][2].size == 0:
        raise DataError("no training interactions (empty file?)", path=root / "train.txt", line=1)
    num_users = max(int(max(lu.max(initial=-1), u.max(initial=-1))) for lu, u, _ in parts.values()) + 1
    num_items = max(int(i.max(initial=-1)) for _, _, i in parts.values()) + 1
    for fname, current in (("user_list.txt", "users"), ("item_list.txt", "items")):
        listed = root / fname
        if listed.is_file():
            n = _count_list_file(listed)
            if current == "users":
                num_users = max(num_users, n)
            else:
                num_items = max(num_items, n)
    user_map, item_map = IdMap.identity(num_users), IdMap.identity(num_items)
    made = {}
    for name, (_, users, items) in parts.items():
        _warn_duplicates(users, items, num_items, str(root / f"{name}.txt"))
        made[name] = Interactions(users, items, num_users, num_items, None, None, user_map, item_map)
    train, test = made["train"], made["test"]
    _warn_overlap(train, test, str(root))
    split = Split(train, test)
    logger.info("%s: LightGCN split %r", root, split)
    return Dataset(root.name, str(root), "lightgcn", train.concat(test), split)


def _warn_overlap(train: Interactions, test: Interactions, where: str) -> None:
    n = np.int64(max(train.num_items, 1))
    if len(train) == 0 or len(test) == 0:
        return
    train_keys = np.sort(train.users * n + train.items)
    test_keys = test.users * n + test.items
    at = np.minimum(np.searchsorted(train_keys, test_keys), train_keys.size - 1)
    both = int(np.count_nonzero(train_keys[at] == test_keys))
    if both:
        logger.warning("%s: %d test pairs also occur in train (kept as published)", where, both)


# ====================================================================== NeuMF
_NEUMF_SUFFIXES = (".train.rating", ".test.rating", ".test.negative")


def _neumf_prefix(path: Path) -> tuple[Path, str]:
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
    for suffix in _NEUMF_SUFFIXES:
        if name.endswith(suffix):
            return path.parent, name[: -len(suffix)]
    return path.parent, name


def _read_rating_file(path: Path) -> dict[str, Any]:
    """Columns of a NeuMF ``.rating`` file: user, item[, rating[, timestamp]] (tab separated)."""
    _require_file(path)
    peek = [ln for ln in _peek_lines(path) if ln.strip()]
    if not peek:
        raise DataError("file is empty", path=path, line=1)
    ncols = len(peek[0].split("\t"))
    roles = ("user", "item", "weight", "timestamp")[: max(2, min(ncols, 4))]
    wanted: dict[str, Column | None] = {r: i for i, r in enumerate(roles)}
    cols, fields = _read_csv_columns(path, wanted, sep="\t", has_header=False)
    for role in ("user", "item"):
        arr = cols[role]
        if not isinstance(arr, np.ndarray):
            line, value = _first_non_integer(arr)
            raise DataError(f"{value!r} is not an integer index", path=path, line=line, field=fields[role])
        if int(arr.min()) < 0:
            row = int(np.argmax(arr < 0))
            raise DataError("negative index", path=path, line=row + 1, field=fields[role])
    return cols


def _first_non_integer(arr: pa.ChunkedArray) -> tuple[int | None, str]:
    """(1-based row, value) of the first id that is not an int64 integer (error path only)."""
    for row, v in enumerate(arr.to_pylist()):
        if _check_value("id_int", str(v)) is not None:
            return row + 1, str(v)
    return None, ""  # pragma: no cover


def read_neumf(path: PathLike) -> Dataset:
    """Read the NeuMF paper's files: ``P.train.rating``, ``P.test.rating``, ``P.test.negative``.

    ``.rating`` lines are ``user\\titem\\trating\\ttimestamp``; ``.test.negative`` lines are
    ``(user,item)\\tneg1\\tneg2 ...`` (any count; ragged rows are padded with -1). Ids are used
    as-is: identity id maps over ``max id + 1`` of all three files, unless ``user_map.json``/
    ``item_map.json`` (written by :func:`~ncf.data.writers.write_neumf`) sit beside the files.

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
        Missing files, several prefixes in a directory, malformed lines, or a test row without
        its negative line (or a negative line without its test row).
    """
    root, prefix = _neumf_prefix(Path(path))
    train_path, test_path, neg_path = (root / f"{prefix}{s}" for s in _NEUMF_SUFFIXES)
    for p in (train_path, test_path, neg_path):
        _require_file(p)
    train_cols = _read_rating_file(train_path)
    test_cols = _read_rating_file(test_path)

    neg_data = _read_bytes(neg_path)
    _check_negative_lines(neg_data, neg_path)
    tokens = _tokenize_ints(
        neg_data.translate(_NEG_PUNCT), neg_path, ("(user,item) user", "(user,item) item", "negative")
    )
    line_ids, line_rows = np.unique(tokens.line, return_inverse=True)
    counts = np.bincount(line_rows, minlength=line_ids.size)
    if line_ids.size == 0:
        raise DataError("file is empty", path=neg_path, line=1)
    if int(counts.min()) < 2:
        k = int(np.argmin(counts))
        raise DataError("expected '(user,item)' then negatives", path=neg_path, line=int(line_ids[k]) + 1)
    neg_users = tokens.values[tokens.pos == 0]
    neg_items = tokens.values[tokens.pos == 1]
    is_neg = tokens.pos >= 2
    width = int(counts.max()) - 2
    negatives = np.full((line_ids.size, width), -1, dtype=np.int64)
    negatives[line_rows[is_neg], tokens.pos[is_neg] - 2] = tokens.values[is_neg]

    all_users = [train_cols["user"], test_cols["user"], neg_users]
    all_items = [train_cols["item"], test_cols["item"], neg_items, tokens.values[is_neg]]
    num_users = max(int(a.max(initial=-1)) for a in all_users) + 1
    num_items = max(int(a.max(initial=-1)) for a in all_items) + 1
    user_map, item_map = _neumf_maps(root, num_users, num_items)
    num_users, num_items = len(user_map), len(item_map)

    # align negative lines to test rows by (user, item)
    n = np.int64(max(num_items, 1))
    neg_key = neg_users * n + neg_items
    test_key = test_cols["user"] * n + test_cols["item"]
    order = np.argsort(neg_key, kind="stable")
    sorted_key = neg_key[order]
    if sorted_key.size > 1 and bool(np.any(sorted_key[1:] == sorted_key[:-1])):
        k = int(order[1:][sorted_key[1:] == sorted_key[:-1]][0])
        raise DataError(
            f"pair ({int(neg_users[k])},{int(neg_items[k])}) has two negative lines",
            path=neg_path, line=int(line_ids[k]) + 1, field="(user,item)",
        )
    at = np.minimum(np.searchsorted(sorted_key, test_key), max(sorted_key.size - 1, 0))
    found = sorted_key[at] == test_key
    if not bool(found.all()):
        row = int(np.argmin(found))
        raise DataError(
            f"test pair ({int(test_cols['user'][row])},{int(test_cols['item'][row])}) has no line in "
            f"{neg_path.name}", path=test_path, line=row + 1,
        )
    matched = order[at]
    if np.unique(matched).size != neg_key.size:
        unused = np.setdiff1d(np.arange(neg_key.size), matched)[0]
        raise DataError(
            f"pair ({int(neg_users[unused])},{int(neg_items[unused])}) is not a row of {test_path.name}",
            path=neg_path, line=int(line_ids[unused]) + 1, field="(user,item)",
        )
    test_negatives = negatives[matched]

    def build(cols: dict[str, Any], where: Path) -> Interactions:
        users, items = cols["user"], cols["item"]
        if int(users.max(initial=-1)) >= num_users or int(items.max(initial=-1)) >= num_items:
            raise DataError(f"index outside the id maps ({num_users} users, {num_items} items)", path=where)
        _warn_duplicates(users, items, num_items, str(where))
        return Interactions(users, items, num_users, num_items, cols.get("timestamp"), cols.get("weight"), user_map, item_map)

    train = build(train_cols, train_path)
    test = build(test_cols, test_path)
    split = Split(train, test, test_negatives=test_negatives)
    logger.info("%s: NeuMF split %r", root / prefix, split)
    return Dataset(prefix, str(root / prefix), "neumf", train.concat(test), split)


_NEG_PUNCT = bytes.maketrans(b"(),", b"   ")


def _check_negative_lines(data: bytes, path: Path) -> None:
    """Every non-empty line of a ``.test.negative`` file must open with ``(user,item)``."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise DataError("file is empty", path=path, line=1)
    starts = np.concatenate(([0], np.flatnonzero(buf == 10) + 1))
    starts = starts[starts < buf.size]
    first = buf[starts]
    nonempty = (first != 10) & (first != 13)
    bad = nonempty & (first != ord("("))
    if bool(bad.any()):
        k = int(np.argmax(bad))
        raise DataError(
            "expected the line to open with '(user,item)'", path=path, line=k + 1, field="(user,item)"
        )
    # a ")" must close the pair before the first tab
    for k in np.flatnonzero(nonempty)[:1]:
        s = int(starts[k])
        head = data[s : data.find(b"\n", s) if data.find(b"\n", s) >= 0 else len(data)].split(b"\t")[0]
        if not re.fullmatch(rb"\(\s*\d+\s*,\s*\d+\s*\)\s*", head):
            raise DataError(f"{head.decode(errors='replace')!r} is not '(user,item)'", path=path, line=int(k) + 1, field="(user,item)")


def _neumf_maps(root: Path, num_users: int, num_items: int) -> tuple[IdMap, IdMap]:
    maps = []
    for fname, n in (("user_map.json", num_users), ("item_map.json", num_items)):
        p = root / fname
        if p.is_file():
            m = IdMap.load(p)
            if len(m) < n:
                raise DataError(f"id map has {len(m)} ids but the files use index {n - 1}", path=p)
            maps.append(m)
        else:
            maps.append(IdMap.identity(n))
    return maps[0], maps[1]


# ====================================================================== MovieLens
_ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
_YEAR_IN_TITLE = re.compile(r"\((\d{4})(?:[-\u2013]\d{0,4})?\)\s*$")
_YEAR_ANYWHERE = re.compile(r"(\d{4})\s*$")


def _movielens_version(root: Path) -> str | None:
    if (root / "u.data").is_file():
        return "100k"
    if (root / "ratings.dat").is_file():
        return "1m"
    if (root / "ratings.csv").is_file():
        return "csv"
    return None


def _align(universe_raw: npt.NDArray[Any], table_raw: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Row of ``table_raw`` holding each universe id, or -1 where the table lacks it."""
    if table_raw.size == 0:
        return np.full(universe_raw.size, -1, dtype=np.int64)
    table_map = IdMap(table_raw)
    known = table_map.contains(universe_raw)
    rows = np.full(universe_raw.size, -1, dtype=np.int64)
    if bool(known.any()):
        rows[known] = table_map.encode(universe_raw[known])
    return rows


def _year(title: str, date: str = "") -> float:
    m = _YEAR_IN_TITLE.search(title.strip())
    if m is None and date:
        m = _YEAR_ANYWHERE.search(date.strip())
    return float(m.group(1)) if m else math.nan


def _fill_median(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    known = np.isfinite(x)
    fill = float(np.median(x[known])) if bool(known.any()) else 0.0
    return np.where(known, x, fill)


def _read_text_lines(path: Path, encoding: str) -> list[tuple[int, str]]:
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        return [(i + 1, ln.rstrip("\r\n")) for i, ln in enumerate(fh) if ln.strip()]


@dataclass
class _Movies:
    ids: npt.NDArray[np.int64]
    titles: list[str]
    years: npt.NDArray[np.float64]
    genre_labels: list[str]
    genres: npt.NDArray[np.float32]  # (n, G)


def _movies_100k(root: Path) -> _Movies:
    path = root / "u.item"
    labels = list(_ML100K_GENRES)
    genre_file = root / "u.genre"
    if genre_file.is_file():
        pairs = [ln.split("|") for _, ln in _read_text_lines(genre_file, "latin-1")]
        labels = [p[0] for p in sorted((p for p in pairs if len(p) == 2), key=lambda p: int(p[1]))]
    g = len(labels)
    ids, titles, years, rows = [], [], [], []
    for line, text in _read_text_lines(path, "latin-1"):
        parts = text.split("|")
        if len(parts) < 5 + g:
            raise DataError(f"expected {5 + g} '|'-separated fields, found {len(parts)}", path=path, line=line)
        try:
            ids.append(int(parts[0]))
            rows.append([int(v or 0) for v in parts[-g:]])
        except ValueError as exc:
            raise DataError(f"not an integer: {exc}", path=path, line=line) from exc
        title = "|".join(parts[1 : len(parts) - g - 3])
        titles.append(title)
        years.append(_year(title, parts[len(parts) - g - 3]))
    return _Movies(np.asarray(ids, np.int64), titles, np.asarray(years), labels, np.asarray(rows, np.float32).reshape(-1, g))


def _multi_hot(genre_lists: list[list[str]]) -> tuple[list[str], npt.NDArray[np.float32]]:
    labels = sorted({g for gs in genre_lists for g in gs})
    col = {g: k for k, g in enumerate(labels)}
    mat = np.zeros((len(genre_lists), len(labels)), dtype=np.float32)
    r = [i for i, gs in enumerate(genre_lists) for _ in gs]
    c = [col[g] for gs in genre_lists for g in gs]
    mat[r, c] = 1.0
    return labels, mat


def _clean_genres(field: str) -> list[str]:
    return [g for g in field.strip().split("|") if g and g != "(no genres listed)"]


def _movies_1m(root: Path) -> _Movies:
    path = root / "movies.dat"
    ids, titles, genre_lists = [], [], []
    for line, text in _read_text_lines(path, "latin-1"):
        parts = text.split("::")
        if len(parts) != 3:
            raise DataError(f"expected 3 '::'-separated fields, found {len(parts)}", path=path, line=line)
        try:
            ids.append(int(parts[0]))
        except ValueError as exc:
            raise DataError(f"{parts[0]!r} is not an integer movie id", path=path, line=line, field="MovieID") from exc
        titles.append(parts[1])
        genre_lists.append(_clean_genres(parts[2]))
    labels, mat = _multi_hot(genre_lists)
    years = np.asarray([_year(t) for t in titles])
    return _Movies(np.asarray(ids, np.int64), titles, years, labels, mat)


def _movies_csv(root: Path) -> _Movies:
    path = root / "movies.csv"
    try:
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(
                include_columns=["movieId", "title", "genres"],
                column_types={"movieId": pa.int64(), "title": pa.string(), "genres": pa.string()},
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        raise DataError(f"expected columns movieId,title,genres: {exc}", path=path) from exc
    ids = table.column("movieId").to_numpy()
    titles = [str(t or "") for t in table.column("title").to_pylist()]
    genre_lists = [_clean_genres(str(g or "")) for g in table.column("genres").to_pylist()]
    labels, mat = _multi_hot(genre_lists)
    years = np.asarray([_year(t) for t in titles])
    return _Movies(ids, titles, years, labels, mat)


def _item_side(movies: _Movies, item_map: IdMap) -> tuple[npt.NDArray[np.str_], FeatureTable]:
    rows = _align(item_map.raw_ids, movies.ids)
    have = rows >= 0
    if not bool(have.all()):
        logger.warning("%d rated movies are missing from the movie file", int((~have).sum()))
    titles = np.full(rows.size, "", dtype=object)
    all_titles = np.asarray(movies.titles, dtype=object)
    titles[have] = all_titles[rows[have]]
    years = np.full(rows.size, np.nan)
    years[have] = movies.years[rows[have]]
    genres = np.zeros((rows.size, len(movies.genre_labels)), dtype=np.float32)
    genres[have] = movies.genres[rows[have]]
    features = FeatureTable.from_columns(
        rows.size, dense={"year": _fill_median(years)}, multi_hot={"genre": (movies.genre_labels, genres)}
    )
    return titles.astype(str), features


def _user_side(user_map: IdMap, ids: list[int], ages: list[float], genders: list[str], occupations: list[str]) -> FeatureTable:
    rows = _align(user_map.raw_ids, np.asarray(ids, dtype=np.int64))
    have = rows >= 0
    age = np.full(rows.size, np.nan)
    age[have] = np.asarray(ages, dtype=np.float64)[rows[have]]
    gender = np.full(rows.size, "unknown", dtype=object)
    occupation = np.full(rows.size, "unknown", dtype=object)
    gender[have] = np.asarray(genders, dtype=object)[rows[have]]
    occupation[have] = np.asarray(occupations, dtype=object)[rows[have]]
    return FeatureTable.from_columns(
        rows.size, dense={"age": _fill_median(age)},
        categorical={"gender": gender.astype(str), "occupation": occupation.astype(str)},
    )


def _users_100k(root: Path, user_map: IdMap) -> FeatureTable | None:
    path = root / "u.user"
    if not path.is_file():
        return None
    ids, ages, genders, occs = [], [], [], []
    for line, text in _read_text_lines(path, "latin-1"):
        parts = text.split("|")
        if len(parts) != 5:
            raise DataError(f"expected 5 '|'-separated fields, found {len(parts)}", path=path, line=line)
        try:
            ids.append(int(parts[0]))
            ages.append(float(parts[1]))
        except ValueError as exc:
            raise DataError(f"not a number: {exc}", path=path, line=line) from exc
        genders.append(parts[2])
        occs.append(parts[3])
    return _user_side(user_map, ids, ages, genders, occs)


def _users_1m(root: Path, user_map: IdMap) -> FeatureTable | None:
    path = root / "users.dat"
    if not path.is_file():
        return None
    ids, ages, genders, occs = [], [], [], []
    for line, text in _read_text_lines(path, "latin-1"):
        parts = text.split("::")
        if len(parts) != 5:
            raise DataError(f"expected 5 '::'-separated fields, found {len(parts)}", path=path, line=line)
        try:
            ids.append(int(parts[0]))
            ages.append(float(parts[2]))
            code = int(parts[3])
        except ValueError as exc:
            raise DataError(f"not a number: {exc}", path=path, line=line) from exc
        genders.append(parts[1])
        occs.append(_ML1M_OCCUPATIONS[code] if 0 <= code < len(_ML1M_OCCUPATIONS) else str(code))
    return _user_side(user_map, ids, ages, genders, occs)


def _user_map(data: Interactions) -> IdMap:
    return data.user_map if data.user_map is not None else IdMap.identity(data.num_users)


def _item_map(data: Interactions) -> IdMap:
    return data.item_map if data.item_map is not None else IdMap.identity(data.num_items)


def read_movielens(path: PathLike) -> Dataset:
    """Read a GroupLens MovieLens directory: 100K, 1M (and 10M), or 20M/25M/32M/latest.

    Detection: ``u.data`` (100K: tab separated ``user item rating timestamp``; ``u.user``,
    ``u.item``, ``u.genre``), ``ratings.dat`` (1M/10M: ``::`` separated; ``users.dat``,
    ``movies.dat``) or ``ratings.csv`` (20M and later: header
    ``userId,movieId,rating,timestamp``; ``movies.csv``). Every rating is an interaction with
    the rating as its weight. The universe is the users and movies that have ratings.

    Parameters
    ----------
    path : path-like
        The extracted directory (or its parent holding exactly one such directory).

    Returns
    -------
    Dataset
        ``format="movielens"``; ``item_titles``; ``item_features`` (``genre=*`` multi-hot and
        ``year`` from the title or release date, missing -> median) and, for 100K/1M,
        ``user_features`` (``age`` dense, ``gender`` and ``occupation`` one-hot).
    """
    root = Path(path)
    version = _movielens_version(root) if root.is_dir() else None
    if version is None and root.is_dir():
        subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if len(subdirs) == 1 and _movielens_version(subdirs[0]) is not None:
            root = subdirs[0]
            version = _movielens_version(root)
    if version is None:
        raise DataError("not a MovieLens directory: expected u.data, ratings.dat or ratings.csv", path=root)
    user_features: FeatureTable | None = None
    movies: _Movies | None = None
    if version == "100k":
        data = read_table(root / "u.data", user_col=0, item_col=1, weight_col=2, time_col=3, sep="\t", has_header=False)
        if (root / "u.item").is_file():
            movies = _movies_100k(root)
        user_features = _users_100k(root, _user_map(data))
    elif version == "1m":
        data = read_table(root / "ratings.dat", user_col=0, item_col=1, weight_col=2, time_col=3, sep="::", has_header=False)
        if (root / "movies.dat").is_file():
            movies = _movies_1m(root)
        user_features = _users_1m(root, _user_map(data))
    else:
        data = read_table(root / "ratings.csv", user_col="userId", item_col="movieId", weight_col="rating", time_col="timestamp", sep=",")
        if (root / "movies.csv").is_file():
            movies = _movies_csv(root)
    titles: npt.NDArray[np.str_] | None = None
    item_features: FeatureTable | None = None
    if movies is not None:
        titles, item_features = _item_side(movies, _item_map(data))
    logger.info("%s: MovieLens (%s) %r", root, version, data)
    return Dataset(root.name, str(root), "movielens", data, None, titles, user_features, item_features)


# ====================================================================== auto-detection
_USER_NAMES = ("user", "user_id", "userid", "uid", "u")
_ITEM_NAMES = ("item", "item_id", "itemid", "movieid", "movie_id", "iid", "i")
_RATING_NAMES = ("rating", "ratings", "weight", "score", "count")
_TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date")


def detect_format(path: PathLike) -> str | None:
    """The format a directory or file is in (``"movielens"``, ``"lightgcn"``, ...), or None."""
    p = Path(path)
    if p.is_dir():
        if _movielens_version(p) is not None:
            return "movielens"
        if (p / "train.txt").is_file() and (p / "test.txt").is_file():
            return "lightgcn"
        if any(p.glob("*.train.rating")):
            return "neumf"
        subdirs = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if len(subdirs) == 1 and _movielens_version(subdirs[0]) is not None:
            return "movielens"
        return None
    if p.is_file():
        suffix = _base_suffix(p)
        if suffix in _PARQUET_SUFFIXES:
            return "parquet"
        if any(p.name.endswith(s) for s in _NEUMF_SUFFIXES):
            return "neumf"
        return "tsv" if suffix in (".tsv", ".tab") else "csv"
    if (p.parent / f"{p.name}.train.rating").is_file():
        return "neumf"
    return None


def _pick(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    lowered = {n.strip().lower(): n for n in names}
    for c in candidates:
        if c in lowered:
            return lowered[c]
    return None


def _read_any_table(path: Path, fmt: str | None) -> Interactions:
    """A table file with user,item[,rating[,timestamp]] columns found by name or position."""
    _require_file(path)
    sep = {"csv": ",", "tsv": "\t"}.get(fmt or "")
    if _base_suffix(path) in _PARQUET_SUFFIXES or fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names: list[str] = list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a readable Parquet file: {exc}", path=path) from exc
        has_header = True
        sep = None
    else:
        peek = [ln for ln in _peek_lines(path) if ln.strip()]
        if not peek:
            raise DataError("file is empty", path=path, line=1)
        sep = sep or _SEP_BY_SUFFIX.get(_base_suffix(path)) or _sniff_sep(peek[0])
        delim = "\x1f" if len(sep) > 1 else sep
        text = peek[0].replace(sep, delim) if len(sep) > 1 else peek[0]
        names = next(_csv_reader([text], sep), [])
        has_header = not all(_is_float(n) for n in names[:2])
    user = _pick(names, _USER_NAMES) if has_header else None
    item = _pick(names, _ITEM_NAMES) if has_header else None
    spec: dict[str, Column | None]
    if user is not None and item is not None:
        spec = {"user": user, "item": item, "weight": _pick(names, _RATING_NAMES), "timestamp": _pick(names, _TIME_NAMES)}
    else:
        if len(names) < 2:
            raise DataError("expected at least two columns (user, item)", path=path, line=1)
        spec = {"user": 0, "item": 1, "weight": 2 if len(names) > 2 else None, "timestamp": 3 if len(names) > 3 else None}
    return read_table(
        path, user_col=spec["user"] or 0, item_col=spec["item"] or 1, weight_col=spec["weight"],
        time_col=spec["timestamp"], sep=sep, has_header=has_header,
    )


def load_dataset(name_or_path: PathLike, *, format: str | None = None) -> Dataset:
    """Load a dataset by registry name, directory or table file.

    Parameters
    ----------
    name_or_path : str or path-like
        A registry name (``"ml-100k"``, ``"gowalla"``, ... see :mod:`ncf.data.datasets`; the
        cached copy is used, else it is downloaded), a directory (auto-detected: MovieLens,
        LightGCN, NeuMF), a NeuMF prefix path ``DIR/prefix``, or a table file whose columns
        are found by header name (``user``/``user_id``/``userId``, ``item``/``item_id``/
        ``movieId``, ``rating``, ``timestamp``) or else by position (user, item[, rating[,
        timestamp]]).
    format : {None, "movielens", "lightgcn", "neumf", "csv", "tsv", "parquet"}
        Skip auto-detection.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        The path does not exist and is not a registry name, or a directory is in no known
        format (the message lists what was expected).
    ConfigError
        An unknown ``format``.
    """
    from ncf.errors import ConfigError

    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    p = Path(name_or_path)
    if not p.exists() and not (p.parent / f"{p.name}.train.rating").is_file():
        from ncf.data import datasets

        key = str(name_or_path)
        if key in datasets.DATASETS:
            info = datasets.DATASETS[key]
            root = datasets.dataset_path(key)
            return dataclasses.replace(load_dataset(root, format=format or info.format), name=key)
        raise DataError(
            "no such file or directory, and not a registered dataset name "
            f"(known: {', '.join(sorted(datasets.DATASETS))})", path=p,
        )
    fmt = format or detect_format(p)
    if fmt is None:
        raise DataError(
            "no known dataset format in this directory; expected one of: MovieLens (u.data, "
            "ratings.dat or ratings.csv), LightGCN (train.txt and test.txt), NeuMF "
            "(<prefix>.train.rating, <prefix>.test.rating, <prefix>.test.negative)", path=p,
        )
    if fmt == "movielens":
        return read_movielens(p)
    if fmt == "lightgcn":
        return read_lightgcn(p)
    if fmt == "neumf":
        return read_neumf(p)
    if p.is_dir():
        raise DataError(f"format {fmt!r} needs a file, got a directory", path=p)
    data = _read_any_table(p, format)  # an explicit csv/tsv forces the separator
    name = p.name.split(".")[0] or p.name
    return Dataset(name, str(p), fmt, data)
