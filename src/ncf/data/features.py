"""Side-feature tables for users or items, encoded as one dense float32 matrix.

Categorical columns become one-hot blocks, multi-hot columns (e.g. genres) stay multi-hot,
dense columns are standardised. A linear layer over a one-hot block is exactly an embedding
lookup, so one dense matrix serves every feature kind and keeps towers simple.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.errors import DataError


@dataclass(frozen=True, eq=False)
class FeatureTable:
    """Row ``r`` holds the encoded features of user/item index ``r``.

    Parameters
    ----------
    values : (n, F) float32
    names : list of F column names (``"gender=F"``, ``"genre=Comedy"``, ``"age"``).
    dense_stats : {dense column name: (mean, standard deviation)}
        How each dense column was standardised, so a new row can be encoded the same way
        (:meth:`encode`).
    """

    values: npt.NDArray[np.float32]
    names: tuple[str, ...]
    dense_stats: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = np.ascontiguousarray(np.asarray(self.values, dtype=np.float32))
        if v.ndim != 2 or v.shape[1] != len(self.names):
            raise DataError(f"feature values {v.shape} do not match {len(self.names)} names")
        if not bool(np.isfinite(v).all()):
            raise DataError("feature values contain NaN or infinite entries")
        v.setflags(write=False)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "names", tuple(self.names))
        stats = {str(k): (float(m), float(sd)) for k, (m, sd) in dict(self.dense_stats).items()}
        unknown = sorted(set(stats) - set(self.names))
        if unknown:
            raise DataError(f"dense statistics for columns the table does not have: {unknown[:3]}")
        object.__setattr__(self, "dense_stats", stats)

    def encode(self, raw: Mapping[str, Any]) -> npt.NDArray[np.float32]:
        """One encoded row from raw values: ``{"gender": "F", "age": 25, "genre": ["Comedy"]}``.

        A categorical or multi-hot value sets its ``name=value`` columns; a dense value is
        standardised with the table's statistics (unknown statistics: taken as already
        standardised). Columns not given stay 0 (the mean of a dense column).
        """
        row = np.zeros(self.num_features, dtype=np.float32)
        index = {n: i for i, n in enumerate(self.names)}
        for key, value in raw.items():
            if key in index and not isinstance(value, (str, list, tuple)):
                v = float(value)
                if not np.isfinite(v):
                    raise DataError(f"feature {key!r} must be a finite number, got {value!r}")
                mean, sd = self.dense_stats.get(key, (0.0, 1.0))
                row[index[key]] = (v - mean) / (sd if sd > 0 else 1.0)
                continue
            for label in value if isinstance(value, (list, tuple)) else [value]:
                column = f"{key}={label}"
                if column not in index:
                    raise DataError(f"unknown feature {column!r}", field=key)
                row[index[column]] = 1.0
        return row

    @property
    def num_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.values.shape[1])

    def __repr__(self) -> str:
        return f"FeatureTable({self.num_rows} rows x {self.num_features} features)"

    @classmethod
    def from_columns(
        cls,
        num_rows: int,
        *,
        dense: Mapping[str, npt.ArrayLike] | None = None,
        categorical: Mapping[str, Sequence[Any] | npt.NDArray[Any]] | None = None,
        multi_hot: Mapping[str, tuple[Sequence[str], npt.ArrayLike]] | None = None,
    ) -> FeatureTable:
        """Encode columns; ``multi_hot`` maps a name to ``(labels, (n, L) 0/1 matrix)``."""
        blocks: list[npt.NDArray[np.float32]] = []
        names: list[str] = []
        stats: dict[str, tuple[float, float]] = {}
        for name, col in (dense or {}).items():
            x = np.asarray(col, dtype=np.float64).reshape(-1)
            if x.size != num_rows:
                raise DataError(f"dense column has {x.size} rows, expected {num_rows}", field=name)
            if not bool(np.isfinite(x).all()):
                raise DataError("dense column contains NaN or infinite values", field=name)
            sd = x.std()
            blocks.append(((x - x.mean()) / (sd if sd > 0 else 1.0)).astype(np.float32)[:, None])
            names.append(name)
            stats[name] = (float(x.mean()), float(sd))
        for name, col in (categorical or {}).items():
            arr = np.asarray(col).astype(str)
            if arr.size != num_rows:
                raise DataError(f"categorical column has {arr.size} rows, expected {num_rows}", field=name)
            uniq, codes = np.unique(arr, return_inverse=True)
            onehot = np.zeros((num_rows, uniq.size), dtype=np.float32)
            onehot[np.arange(num_rows), codes.reshape(-1)] = 1.0
            blocks.append(onehot)
            names.extend(f"{name}={lab}" for lab in uniq)
        for name, (labels, mat) in (multi_hot or {}).items():
            m = np.asarray(mat, dtype=np.float32)
            if m.shape != (num_rows, len(labels)):
                raise DataError(f"multi-hot matrix {m.shape} != ({num_rows}, {len(labels)})", field=name)
            blocks.append(m)
            names.extend(f"{name}={lab}" for lab in labels)
        values = np.concatenate(blocks, axis=1) if blocks else np.zeros((num_rows, 0), np.float32)
        return cls(values, tuple(names), stats)

    def save(self, path: PathLike) -> None:
        """Save as ``<path>.npy`` values plus ``<path>.json`` names (no pickle), atomically."""
        p = Path(path)
        with atomic_write(p.with_suffix(".npy"), "wb") as fh:
            np.save(fh, self.values, allow_pickle=False)
        with atomic_write(p.with_suffix(".json"), "w", encoding="utf-8") as fh:
            json.dump({"names": list(self.names), "dense_stats": {k: list(v) for k, v in self.dense_stats.items()}}, fh)

    @classmethod
    def load(cls, path: PathLike) -> FeatureTable:
        """Read what :meth:`save` wrote; DataError for a damaged or foreign file."""
        p = Path(path)
        try:
            values = np.load(p.with_suffix(".npy"), allow_pickle=False)
        except (ValueError, EOFError) as exc:  # truncated, pickled or not an .npy file
            raise DataError(f"not a readable feature array ({exc})", path=p.with_suffix(".npy")) from exc
        try:
            with open(p.with_suffix(".json"), encoding="utf-8") as fh:
                meta = json.load(fh)
            names = meta["names"]
            stats = meta.get("dense_stats") or {}
        except (ValueError, KeyError, TypeError) as exc:  # bad JSON or UTF-8, no "names" list
            raise DataError(f"expected a JSON object with a 'names' list ({exc})", path=p.with_suffix(".json")) from exc
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise DataError("'names' must be a list of strings", path=p.with_suffix(".json"))
        try:
            return cls(values, tuple(names), {k: (float(v[0]), float(v[1])) for k, v in stats.items()})
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise DataError(f"bad dense_stats ({exc})", path=p.with_suffix(".json")) from exc
