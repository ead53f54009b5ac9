"""IdMap: raw external ids (integers or strings) <-> contiguous indices 0..n-1."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.data._plain import plain
from ncf.errors import DataError, UnknownIdError


class IdMap:
    """Bijection between raw ids and indices; index ``i`` stands for ``raw_ids[i]``.

    Raw ids are all integers (stored int64) or all strings. Encoding is vectorised through a
    sorted copy of the raw ids, so it is fast for millions of lookups.
    """

    __slots__ = ("_raw", "_order", "_sorted")

    def __init__(self, raw_ids: Sequence[Any] | npt.NDArray[Any]) -> None:
        arr = np.asarray(raw_ids)
        if arr.ndim != 1:
            raise ValueError("raw_ids must be one-dimensional")
        if arr.dtype.kind in "iu":
            arr = arr.astype(np.int64, copy=False)
        elif arr.dtype.kind in "USO":
            arr = arr.astype(str)
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
        arr = np.asarray(raw)
        if self.is_integer:
            if arr.dtype.kind in "iu":
                return arr.astype(np.int64, copy=False)
            try:
                return arr.astype(str).astype(np.int64)
            except ValueError as exc:
                raise UnknownIdError(
                    f"raw ids of this map are integers; got {plain(arr.ravel()[:3])!r}"
                ) from exc
        return arr.astype(str)

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
