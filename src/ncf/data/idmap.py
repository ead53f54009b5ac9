"""IdMap: raw external ids (integers or strings) <-> contiguous indices 0..n-1.

One rule for every raw id a user can type or a file can hold (:func:`parse_raw_id`,
:func:`raw_id_problem`): the CLI, the library and the server all read ids through it, so
``"1_0"``, ``"٣"`` or a 30-digit number is refused the same way everywhere, never read as
user 10, 3 or an overflow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.data._plain import plain
from ncf.errors import ConfigError, DataError, InvalidIdError, UnknownIdError

#: An integer raw id as text: ASCII digits with an optional sign (no ``_``, no other scripts'
#: digits, no exponent), surrounding spaces allowed.
INT_ID_RE = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def raw_id_problem(text: str) -> str | None:
    """Why ``text`` cannot be a raw id (empty, a line break, a control character), or None."""
    if not text.strip():
        return "is empty"
    bad = _CONTROL_RE.search(text)
    if bad is None:
        return None
    if bad.group() in "\r\n":
        return "spans several lines (an unclosed '\"' quote?)"
    return f"holds the control character U+{ord(bad.group()):04X}"


def _shown(value: Any) -> str:
    text = repr(plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


def parse_raw_id(value: Any, *, integer: bool, what: str = "id") -> int | str:
    """One raw id as given (typed on the command line, sent over HTTP, passed from Python) ->
    the value an id map of that kind holds.

    Integer maps take Python/numpy integers within int64 and text of ASCII digits with an
    optional sign; string maps take text (an integer is its decimal text). Anything else
    (booleans, floats, ``"1_0"``, ``"1e1"``, non-ASCII digits, numbers beyond int64, empty text
    or text with control characters) is an :class:`InvalidIdError` (an UnknownIdError) saying why.
    """
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (float, np.floating)):
        raise InvalidIdError(f"{what} {_shown(value)} is a {type(plain(value)).__name__}, not an id "
                             "(ids are whole numbers or strings)")
    if isinstance(value, (int, np.integer)):
        number = int(value)
        if integer and not INT64_MIN <= number <= INT64_MAX:
            raise InvalidIdError(f"{what} {_shown(number)} is beyond the 64-bit integer range of the ids")
        return number if integer else str(number)
    if isinstance(value, (bytes, np.bytes_)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidIdError(f"{what} {_shown(value)} is not UTF-8 text") from None
    if not isinstance(value, str):
        raise InvalidIdError(f"{what} must be a string or a whole number, got {type(value).__name__}")
    problem = raw_id_problem(value)
    if problem is not None:
        raise InvalidIdError(f"{what} {_shown(value)} {problem}")
    if not integer:
        return str(value)
    if INT_ID_RE.fullmatch(value) is None:
        raise InvalidIdError(f"{what} {_shown(value)} is not a whole number (the ids here are integers: "
                             "ASCII digits, no '_', '.' or exponent)")
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidIdError(f"{what} {_shown(value)} is beyond the 64-bit integer range of the ids")
    return number


def raw_id_list(values: Any, *, what: str = "ids") -> list[Any]:
    """``values`` as a list of raw ids: a single string is refused (``"123"`` is not the ids
    1, 2, 3), as is anything that is not a sequence or 1-D array."""
    if isinstance(values, (str, bytes, np.str_, np.bytes_)):
        raise ConfigError(f"{what} must be a list of raw ids, not the single string {_shown(values)}: "
                          f"wrap it in a list ([{_shown(values)}])")
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ConfigError(f"{what} must be one-dimensional, got shape {values.shape}")
        return list(values)
    if isinstance(values, (bool, np.bool_, float, np.floating)):  # one id of the wrong type: say why
        parse_raw_id(values, integer=False, what=what.rstrip("s") or what)
    if isinstance(values, (dict, set, frozenset)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"{what} must be a list of raw ids, got {type(values).__name__}")
    return list(values)


def parse_raw_ids(values: Any, *, integer: bool, what: str = "id") -> npt.NDArray[Any]:
    """Many raw ids through :func:`parse_raw_id`: int64 for integer maps, str for string maps.

    Integer numpy arrays take a vectorised path; everything else is checked id by id.
    """
    arr = np.asarray(values) if not isinstance(values, list) else None
    if arr is not None and arr.dtype.kind in "iu" and (integer or arr.size == 0):
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > INT64_MAX:
            parse_raw_id(int(arr.max()), integer=True, what=what)
        return arr.astype(np.int64, copy=False)
    if arr is not None and arr.ndim == 0:
        flat: list[Any] = [arr.item() if arr.dtype.kind != "O" else arr.tolist()]
        shape: tuple[int, ...] = ()
    elif arr is not None:
        flat, shape = (arr.tolist() if arr.dtype.kind in "iub" else list(arr.ravel())), arr.shape
    else:
        flat, shape = values, (len(values),)
    parsed = [parse_raw_id(v, integer=integer, what=what) for v in flat]
    out = np.asarray(parsed, dtype=np.int64 if integer else str) if parsed else np.zeros(
        0, dtype=np.int64 if integer else str)
    return out.reshape(shape)


class IdMap:
    """Bijection between raw ids and indices; index ``i`` stands for ``raw_ids[i]``.

    Raw ids are all integers (stored int64) or all strings. Encoding is vectorised through a
    sorted copy of the raw ids, so it is fast for millions of lookups.
    """

    __slots__ = ("_raw", "_order", "_sorted")

    def __init__(self, raw_ids: Sequence[Any] | npt.NDArray[Any]) -> None:
        if not isinstance(raw_ids, np.ndarray):  # before numpy drops trailing NULs ("\\0" * 16 -> "")
            for v in raw_ids:
                if isinstance(v, str) and raw_id_problem(v) is not None:
                    raise DataError(f"raw id {_shown(v)} {raw_id_problem(v)}")
        arr = np.asarray(raw_ids)
        if arr.ndim != 1:
            raise ValueError("raw_ids must be one-dimensional")
        if arr.dtype.kind in "iu":
            arr = arr.astype(np.int64, copy=False)
        elif arr.dtype.kind in "USO":
            if arr.dtype.kind == "O":  # before numpy drops trailing NULs ("\\0" * 16 -> "")
                for v in arr.ravel():
                    if isinstance(v, str) and raw_id_problem(v) is not None:
                        raise DataError(f"raw id {_shown(v)} {raw_id_problem(v)}")
            arr = arr.astype(str)
            _check_text_ids(arr)
        elif arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise DataError(f"raw ids must be integers or strings, got dtype {arr.dtype}")
        order = np.argsort(arr, kind="stable")
        srt = arr[order]
        if srt.size > 1 and bool(np.any(srt[1:] == srt[:-1])):
            dup = srt[1:][srt[1:] == srt[:-1]][0]
            raise DataError(f"raw id {plain(dup)!r} occurs twice in the id map")
        self._raw = arr
        self._order = order.astype(np.int64, copy=False)
        self._sorted = srt

    @classmethod
    def factorize(cls, values: npt.ArrayLike) -> tuple[IdMap, npt.NDArray[np.int64]]:
        """Map each value to an index; ids are numbered in sorted raw-id order.

        Returns the map and the index array (same length as ``values``).
        """
        arr = np.asarray(values)
        if arr.dtype.kind == "O":
            for v in arr.ravel():
                if isinstance(v, str) and raw_id_problem(v) is not None:
                    raise DataError(f"raw id {_shown(v)} {raw_id_problem(v)}")
            arr = arr.astype(str)
        uniq, inverse = np.unique(arr, return_inverse=True)
        return cls(uniq), inverse.astype(np.int64, copy=False).reshape(-1)

    @property
    def raw_ids(self) -> npt.NDArray[Any]:
        return self._raw

    @property
    def is_integer(self) -> bool:
        return self._raw.dtype.kind == "i"

    def __len__(self) -> int:
        return int(self._raw.size)

    def __repr__(self) -> str:
        kind = "int" if self.is_integer else "str"
        return f"IdMap({len(self)} {kind} ids)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdMap):
            return NotImplemented
        return self._raw.dtype.kind == other._raw.dtype.kind and np.array_equal(self._raw, other._raw)

    __hash__ = None  # type: ignore[assignment]

    def _coerce(self, raw: npt.ArrayLike) -> npt.NDArray[Any]:
        return parse_raw_ids(raw, integer=self.is_integer)

    def contains(self, raw: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Boolean mask: which raw ids are known."""
        arr = self._coerce(raw)
        if len(self) == 0:
            return np.zeros(arr.shape, dtype=bool)
        pos = np.searchsorted(self._sorted, arr)
        pos = np.minimum(pos, len(self) - 1)
        return np.asarray(self._sorted[pos] == arr)

    def encode(self, raw: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Raw ids -> indices; raises UnknownIdError naming the first unknown id."""
        arr = self._coerce(raw)
        if len(self) == 0:
            if arr.size:
                raise UnknownIdError(f"unknown id {plain(arr.ravel()[0])!r}: the id map is empty")
            return np.zeros(arr.shape, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self._sorted, arr), len(self) - 1)
        ok = self._sorted[pos] == arr
        if not bool(np.all(ok)):
            bad = np.asarray(arr)[~ok].ravel()[0]
            raise UnknownIdError(f"unknown id {plain(bad)!r}")
        return self._order[pos]

    def decode(self, index: npt.ArrayLike) -> npt.NDArray[Any]:
        """Indices -> raw ids; raises UnknownIdError for an index out of range."""
        idx = np.asarray(index, dtype=np.int64)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            bad = idx[(idx < 0) | (idx >= len(self))].ravel()[0]
            raise UnknownIdError(f"index {int(bad)} out of range for {len(self)} ids")
        return self._raw[idx]

    def extend(self, raw: Iterable[Any]) -> IdMap:
        """A new map with unseen raw ids appended (existing indices unchanged)."""
        arr = self._coerce(np.asarray(list(raw) if not isinstance(raw, np.ndarray) else raw))
        new = np.unique(arr[~self.contains(arr)]) if arr.size else arr
        return IdMap(np.concatenate([self._raw, new]))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "int" if self.is_integer else "str", "ids": self._raw.tolist()}

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> IdMap:
        kind = obj.get("kind") if isinstance(obj, dict) else None
        ids = obj.get("ids") if isinstance(obj, dict) else None
        if kind not in ("int", "str") or not isinstance(ids, list):
            raise DataError("id map JSON must be an object with 'kind' ('int' or 'str') and a list 'ids'")
        wanted = int if kind == "int" else str
        bad = next((v for v in ids if not isinstance(v, wanted) or isinstance(v, bool)), None)
        if bad is not None or (kind == "int" and any(not -(2**63) <= v < 2**63 for v in ids)):
            shown = bad if bad is not None else next(v for v in ids if not -(2**63) <= v < 2**63)
            raise DataError(f"id map of kind {kind!r} holds {shown!r}, which is not a valid {kind} id")
        return cls(np.asarray(ids, dtype=np.int64 if kind == "int" else str))

    @classmethod
    def identity(cls, n: int) -> IdMap:
        """Raw id ``i`` is index ``i`` (for data whose ids are already contiguous)."""
        return cls(np.arange(n, dtype=np.int64))

    def save(self, path: PathLike) -> None:
        with atomic_write(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh)

    @classmethod
    def load(cls, path: PathLike) -> IdMap:
        if Path(path).is_dir():
            raise DataError("is a directory, expected an id map JSON file", path=path)
        try:
            with open(path, encoding="utf-8") as fh:
                obj = json.load(fh)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path=path) from exc
        try:
            return cls.from_dict(obj)
        except DataError as exc:
            raise DataError(exc.message, path=path) from exc


def _check_text_ids(arr: npt.NDArray[np.str_]) -> None:
    """DataError for the first text id that breaks :func:`raw_id_problem` (vectorised: the code
    points of a numpy string array, where NUL is padding unless a character follows it)."""
    if arr.size == 0:
        return
    width = arr.dtype.itemsize // 4
    if width == 0:
        raise DataError("raw id '' is empty")
    codes = np.ascontiguousarray(arr).view(np.uint32).reshape(arr.size, width)
    control = ((codes > 0) & (codes < 32)) | (codes == 127)
    embedded_nul = (codes[:, :-1] == 0) & (codes[:, 1:] != 0) if width > 1 else np.zeros((arr.size, 0), bool)
    blank = np.char.str_len(np.char.strip(arr)) == 0
    bad = control.any(axis=1) | embedded_nul.any(axis=1) | blank
    if bool(bad.any()):
        value = str(arr[int(np.flatnonzero(bad)[0])])
        raise DataError(f"raw id {_shown(value)} {raw_id_problem(value) or 'holds a NUL character'}")
