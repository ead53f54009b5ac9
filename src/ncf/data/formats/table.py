"""Interaction tables: CSV, TSV and Parquet files -> Interactions, with pyarrow doing the parsing.

Parsing is vectorised (pyarrow with explicit column types); when it fails, a slow Python scan
runs on the error path only, so that the :class:`~ncf.errors.DataError` names the file, the
true 1-based line number and the field. Raw ids (integers or strings) are factorized into
contiguous indices in sorted raw-id order.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ncf._types import PathLike
from ncf.data.formats._checks import warn_constant_timestamps
from ncf.data.formats._text import (
    base_suffix,
    decompressing,
    first_invalid_utf8,
    open_binary,
    peek_lines,
    read_bytes,
    require_file,
    shorten,
    sniff_sep,
)
from ncf.data.idmap import IdMap, raw_id_problem
from ncf.data.interactions import DuplicatePolicy, Interactions
from ncf.data.pairs import PairSet, pair_keys
from ncf.errors import ConfigError, DataError, first_line

logger = logging.getLogger(__name__)

__all__ = ["Column", "PARQUET_SUFFIXES", "read_csv_columns", "read_table", "read_table_auto"]

Column = str | int

# Values read as missing in numeric and id columns (pyarrow and the Python scan agree on them).
_NULLS: tuple[str, ...] = ("", "NaN", "nan", "-nan", "NA", "N/A", "n/a", "null", "NULL", "None")
_INT_RE = re.compile(r"\s*-?[0-9]+\s*", re.ASCII)  # ASCII digits only, as pyarrow reads them
_SEP_BY_SUFFIX: dict[str, str] = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".dat": "::"}
PARQUET_SUFFIXES = (".parquet", ".pq")
_PEEK_ROWS = 200
_USER_NAMES = ("user", "user_id", "userid", "uid", "u")
_ITEM_NAMES = ("item", "item_id", "itemid", "movieid", "movie_id", "iid", "i")
_RATING_NAMES = ("rating", "ratings", "weight", "score", "count")
_TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date")


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



# ====================================================================== delimited text
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
        return None if ok else ("not_int", f"{shorten(v)} is not an integer id")
    if kind == "id_str":
        return None
    if kind == "time_int":
        if _INT_RE.fullmatch(v):
            return None
        if _is_float(v) and math.isfinite(float(v)):
            return "float_in_int", f"{shorten(v)} is not an integer"
        return "non_numeric", f"{shorten(v)} is not a number"
    if kind == "time_ts":
        return None if _is_datetime(v) else ("non_numeric", f"{shorten(v)} is not a number or ISO date-time")
    # time_float, weight
    if not _is_float(v):
        return "non_numeric", f"{shorten(v)} is not a number"
    if not math.isfinite(float(v)):
        return "non_finite", f"{shorten(v)} is not a finite number"
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
    """(1-based first line, fields) of every non-empty record, as pyarrow sees them (slow path).

    A record the csv module cannot take (a field beyond its size limit, typically from an
    unclosed quote) is a DataError naming the line where the record starts.
    """
    delim = "\x1f" if len(sep) > 1 else sep

    def lines() -> Iterator[str]:
        with open_binary(path) as fh:
            text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace", newline="")
            for i, line in enumerate(text):
                if i == 0 and line.startswith("\ufeff"):
                    line = line[1:]
                yield line.replace(sep, delim) if len(sep) > 1 else line

    with decompressing(path):
        reader = _csv_reader(lines(), sep)
        start = 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                hint = " (an unclosed '\"' quote?)" if sep == "," else ""
                what = (
                    f"a field of more than {csv.field_size_limit()} characters, far longer than any "
                    "id or number" if "field limit" in str(exc) else f"unreadable record ({exc})"
                )
                raise DataError(what + hint, path=path, line=start) from exc
            if fields:
                yield start, fields
            start = reader.line_num + 1


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
            raise TypeError(
                f"{role}_col must be a column name or an integer position, got {type(spec).__name__}"
            )
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
        elif header.count(spec) > 1:
            where = [k for k, name in enumerate(header) if name == spec]
            raise DataError(
                f"the header names {len(where)} columns {spec!r} (positions {where}); pass the "
                "integer position of the one to read", path=path, line=1, field=spec,
            )
        else:
            index = header.index(spec)
        label = header[index] if header is not None else f"{role} (column {index})"
        taken = next((c for c in cols if c.index == index), None)
        if taken is not None:
            raise DataError(
                f"{role} and {taken.role} are the same column; give each its own column",
                path=path, line=1, field=label,
            )
        cols.append(_Col(role, index, label, ""))
    return cols



def read_csv_columns(
    path: Path, wanted: Mapping[str, Column | None], *, sep: str | None, has_header: bool,
    integer_ids: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the requested columns of a delimited file with pyarrow; DataError with line on failure.

    Returns the arrays by role (numpy for numbers and int ids, pyarrow for string ids) and the
    column labels by role. ``integer_ids``: the format defines its ids as integers, so a
    non-integer id is an error naming its line, not a reason to read every id as text.
    """
    require_file(path)
    peek = peek_lines(path, _PEEK_ROWS)
    nonblank = [ln for ln in peek if ln.strip()]
    if not nonblank:
        raise DataError("file is empty", path=path, line=1)
    if sep is None:
        sep = _SEP_BY_SUFFIX.get(base_suffix(path)) or sniff_sep(nonblank[0])
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
        if integer_ids and col.role in ("user", "item"):
            col.kind = "id_int"

    names = [f"f{i}" for i in range(ncols)]
    read_opts = pacsv.ReadOptions(column_names=names, skip_rows=1 if has_header else 0, use_threads=True)
    parse_opts = pacsv.ParseOptions(delimiter=delim, quote_char='"' if sep == "," else False)
    source: Any
    if len(sep) > 1:
        source = pa.BufferReader(read_bytes(path).replace(sep.encode(), delim.encode()))
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
            with decompressing(path):
                table = pacsv.read_csv(source, read_options=read_opts, parse_options=parse_opts, convert_options=convert_opts)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
            if isinstance(exc, UnicodeDecodeError) or "UTF8" in str(exc):
                _raise_not_utf8(path, exc)
            found = _scan(path, sep, has_header, ncols, cols)
            if found is not None:
                line, bad_col, problem, message = found
                if bad_col is not None and problem == "not_int" and bad_col.kind == "id_int" and not integer_ids:
                    bad_col.kind = "id_str"  # integer-looking ids turned out to be strings
                    continue
                if bad_col is not None and problem == "float_in_int" and bad_col.kind == "time_int":
                    bad_col.kind = "time_float"
                    continue
                field = None if bad_col is None else bad_col.field
                raise DataError(message, path=path, line=line, field=field) from exc
            raise DataError(f"could not parse the file: {first_line(exc, 200)}", path=path) from exc
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
            if pc.any(pc.match_substring_regex(arr, _CONTROL)).as_py():
                _raise_bad_id(path, sep, has_header, col)
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



#: Characters no raw id may hold (:func:`ncf.data.idmap.raw_id_problem`), as an RE2 class.
_CONTROL = "[\\x00-\\x1f\\x7f]"


def _raise_bad_id(path: Path, sep: str, has_header: bool, col: _Col) -> None:
    """DataError naming the line of the first id that breaks the raw-id rule (a line break from
    an unclosed quote, a NUL or another control character)."""
    records = _text_records(path, sep)
    if has_header:
        next(records, None)
    for line, fields in records:
        value = fields[col.index] if len(fields) > col.index else ""
        problem = raw_id_problem(value)
        if problem is not None:
            raise DataError(f"the id {shorten(value)} {problem}", path=path, line=line, field=col.field)
    raise DataError("an id holds a control character", path=path, field=col.field)  # pragma: no cover


def _raise_not_utf8(path: Path, exc: BaseException) -> None:
    """DataError for text that is not UTF-8, naming the line of the first bad byte."""
    found = first_invalid_utf8(path)
    line, byte = found if found is not None else (None, "?")
    raise DataError(
        f"not UTF-8 text (byte {byte}); re-save the file as UTF-8", path=path, line=line
    ) from exc


# ====================================================================== Parquet
def _read_parquet_columns(path: Path, wanted: Mapping[str, Column | None]) -> tuple[dict[str, Any], dict[str, str]]:
    """Read the requested columns of a Parquet file; errors name the column and 1-based row."""
    import pyarrow.parquet as pq

    require_file(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a readable Parquet file: {first_line(exc, 200)}", path=path) from exc
    header = list(schema.names)
    cols = _resolve_columns(path, header, len(header), wanted)
    for col in cols:
        if header.count(header[col.index]) > 1:
            raise DataError("the file has several columns of this name", path=path, field=col.field)
    try:
        table = pq.read_table(path, columns=[header[c.index] for c in cols])
    except (pa.ArrowInvalid, OSError) as exc:  # a damaged row group, a truncated copy
        raise DataError(f"not a readable Parquet file: {first_line(exc, 200)}", path=path) from exc
    if table.num_rows == 0:
        raise DataError("no data rows", path=path)
    out: dict[str, Any] = {}
    for k, col in enumerate(cols):
        try:
            out[col.role] = _parquet_column(path, table.column(k), col)
        except pa.ArrowInvalid as exc:  # an overflowing uint64 id, a sub-second timestamp
            raise DataError(f"cannot convert the column: {first_line(exc, 200)}", path=path, field=col.field) from exc
    return out, {c.role: c.field for c in cols}


def _parquet_column(path: Path, arr: pa.ChunkedArray, col: _Col) -> Any:
    """One Parquet column as int64 ids (numpy), string ids (pyarrow) or numbers (numpy)."""
    if arr.null_count:
        row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0]) + 1
        raise DataError(f"missing value in row {row}", path=path, line=row, field=col.field)
    typ = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if col.role in ("user", "item"):
        if pa.types.is_integer(typ):
            return arr.cast(pa.int64()).to_numpy()
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            bad = pc.match_substring_regex(arr, _CONTROL)
            if pc.any(bad).as_py():
                row = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
                value = str(arr[row].as_py())
                raise DataError(f"the id {shorten(value)} {raw_id_problem(value)}", path=path, line=row + 1,
                                field=col.field)
            return arr
        raise DataError(f"ids must be integers or strings, got {typ}", path=path, field=col.field)
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
    return values


# ====================================================================== read_table
def _read_columns(
    path: Path,
    wanted: Mapping[str, Column | None],
    *,
    sep: str | None = None,
    has_header: bool = True,
    parquet: bool | None = None,
    integer_ids: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    if parquet if parquet is not None else base_suffix(path) in PARQUET_SUFFIXES:
        return _read_parquet_columns(path, wanted)
    return read_csv_columns(path, wanted, sep=sep, has_header=has_header, integer_ids=integer_ids)


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
    integer_ids: bool = False,
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
    integer_ids : bool
        The format's ids are integers (MovieLens): a non-integer id is a DataError naming its
        line instead of turning every id into text.

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
    _check_sep(sep)
    wanted = {"user": user_col, "item": item_col, "timestamp": time_col, "weight": weight_col}
    cols, fields = _read_columns(p, wanted, sep=sep, has_header=has_header, integer_ids=integer_ids)
    return _to_interactions(p, cols, fields, threshold=threshold, duplicates=duplicates)


def _check_sep(sep: str | None) -> None:
    if sep is not None and (not isinstance(sep, str) or not sep or any(c in sep for c in '\r\n"')):
        raise ConfigError(f"sep must be a non-empty string without quotes or line breaks, got {sep!r}")


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
    warn_constant_timestamps(ts, str(path))
    policy: DuplicatePolicy = duplicates
    if duplicates != "keep" and users.size > 1:
        keys = pair_keys(users, items, len(item_map))
        if bool(np.all(keys[1:] > keys[:-1])):  # sorted by (user, item), as MovieLens ships it
            repeats = 0
        else:
            repeats = users.size - len(PairSet(users, items, num_users=len(user_map), num_items=len(item_map)))
        del keys
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


# ====================================================================== columns by name
def _pick(path: Path, names: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The column whose name (any case) is the first of ``candidates`` present, or None."""
    for c in candidates:
        found = [n for n in names if n.strip().lower() == c]
        if len(found) > 1:
            raise DataError(
                f"{len(found)} columns are named {c!r} (in any case): {found}; pass the column "
                "to read explicitly (read_table)", path=path, line=1, field=found[0],
            )
        if found:
            return found[0]
    return None


def read_table_auto(path: Path, fmt: str | None = None) -> Interactions:
    """A table file with user,item[,rating[,timestamp]] columns found by name or position.

    Names: ``user``/``user_id``/``userId``, ``item``/``item_id``/``movieId``, ``rating``,
    ``timestamp`` (any case, see the ``_*_NAMES`` tuples); without such a header the columns
    are taken by position. ``fmt`` (``"csv"``, ``"tsv"``, ``"parquet"``) overrides the suffix.
    """
    require_file(path)
    sep = {"csv": ",", "tsv": "\t"}.get(fmt or "")
    parquet = base_suffix(path) in PARQUET_SUFFIXES if fmt is None else fmt == "parquet"
    if parquet:
        import pyarrow.parquet as pq

        try:
            names: list[str] = list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"not a readable Parquet file: {first_line(exc, 200)}", path=path) from exc
        has_header = True
        sep = None
    else:
        peek = [ln for ln in peek_lines(path, _PEEK_ROWS) if ln.strip()]
        if not peek:
            raise DataError("file is empty", path=path, line=1)
        sep = sep or _SEP_BY_SUFFIX.get(base_suffix(path)) or sniff_sep(peek[0])
        delim = "\x1f" if len(sep) > 1 else sep
        text = peek[0].replace(sep, delim) if len(sep) > 1 else peek[0]
        names = [n.strip() for n in next(_csv_reader([text], sep), [])]
        has_header = not all(_is_float(n) for n in names[:2])
    user = _pick(path, names, _USER_NAMES) if has_header else None
    item = _pick(path, names, _ITEM_NAMES) if has_header else None
    wanted: dict[str, Column | None]
    if user is not None and item is not None:
        wanted = {
            "user": user, "item": item, "timestamp": _pick(path, names, _TIME_NAMES),
            "weight": _pick(path, names, _RATING_NAMES),
        }
    else:
        if len(names) < 2:
            raise DataError("expected at least two columns (user, item)", path=path, line=1)
        wanted = {"user": 0, "item": 1, "timestamp": 3 if len(names) > 3 else None, "weight": 2 if len(names) > 2 else None}
    cols, fields = _read_columns(path, wanted, sep=sep, has_header=has_header, parquet=parquet)
    return _to_interactions(path, cols, fields, threshold=None, duplicates="keep_last")

