"""Interactions: an immutable, validated set of implicit-feedback events over a fixed universe."""

from __future__ import annotations

import functools
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ncf._io import atomic_directory
from ncf._types import PathLike
from ncf.data._plain import plain
from ncf.data.idmap import IdMap
from ncf.data.pairs import pair_keys
from ncf.errors import DataError, ParameterWarning

DuplicatePolicy = Literal["error", "keep_last", "sum", "keep"]


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _as_indices(values: npt.ArrayLike, name: str) -> npt.NDArray[np.int64]:
    """Integer indices as int64; integral floats are accepted with a ParameterWarning.

    A non-integral, NaN or infinite float, a boolean, a string or any other kind of value is a
    DataError: truncating ``0.5`` to ``0`` would silently merge users or items.
    """
    arr = np.asarray(values)
    if arr.dtype.kind == "O" and arr.size:
        arr = np.asarray(arr.tolist())  # Python numbers in an object array: infer their kind
    if arr.dtype.kind in "iu" or arr.size == 0:
        return arr.astype(np.int64, copy=False).reshape(-1)
    if arr.dtype.kind == "f":
        flat = arr.reshape(-1)
        ok = np.isfinite(flat) & (flat == np.round(flat)) & (np.abs(flat) < 2.0**63)
        if not bool(ok.all()):
            row = int(np.flatnonzero(~ok)[0])
            raise DataError(
                f"{name} must be integer indices; row {row} holds {plain(flat[row])!r}", field=name
            )
        warnings.warn(
            f"{name} were floats with integral values; converted to int64 indices",
            ParameterWarning,
            stacklevel=3,
        )
        return flat.astype(np.int64)
    what = "booleans" if arr.dtype.kind == "b" else f"values of dtype {arr.dtype}"
    raise DataError(
        f"{name} must be integer indices, got {what}; encode raw ids first (IdMap.factorize "
        "or read_table)",
        field=name,
    )


def _as_count(value: Any, name: str) -> int:
    """A universe size: a non-negative integer (integral floats such as ``3.0`` allowed)."""
    try:
        ok = not isinstance(value, bool) and int(value) == value and value >= 0
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise DataError(f"{name} must be a non-negative integer, got {plain(value)!r}", field=name)
    return int(value)


def _first_out_of_range(arr: npt.NDArray[np.int64], n: int) -> int | None:
    """The first value outside ``[0, n)``, or None."""
    if arr.size == 0 or (int(arr.min()) >= 0 and int(arr.max()) < n):
        return None
    return int(arr[(arr < 0) | (arr >= n)][0])


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item events: index arrays plus optional timestamps and weights (ratings).

    Parameters
    ----------
    users, items : (N,) int64
        Contiguous indices in ``[0, num_users)`` and ``[0, num_items)``.
    num_users, num_items : int
        Size of the universe; splits of one dataset share it.
    timestamps : (N,) int64 or float64, optional
    weights : (N,) float32, optional
        Ratings or counts; the implicit value is 1 when absent.
    user_map, item_map : IdMap, optional
        Raw id <-> index maps.

    Arrays are read-only; build a new object instead of mutating. Construct through
    :meth:`from_arrays` to apply a duplicate policy.
    """

    users: npt.NDArray[np.int64]
    items: npt.NDArray[np.int64]
    num_users: int
    num_items: int
    timestamps: npt.NDArray[Any] | None = None
    weights: npt.NDArray[np.float32] | None = None
    user_map: IdMap | None = field(default=None, repr=False)
    item_map: IdMap | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        users = np.asarray(self.users)
        items = np.asarray(self.items)
        if users.ndim != 1 or items.ndim != 1 or users.shape != items.shape:
            raise DataError(
                f"users and items must be 1-D arrays of equal length, got shapes "
                f"{users.shape} and {items.shape}"
            )
        for name, arr in (("users", users), ("items", items)):
            if arr.size and arr.dtype.kind not in "iu":
                raise DataError(f"{name} must be integer indices, got dtype {arr.dtype}", field=name)
        users = users.astype(np.int64, copy=False)
        items = items.astype(np.int64, copy=False)
        nu = _as_count(self.num_users, "num_users")
        ni = _as_count(self.num_items, "num_items")
        for what, arr, n in (("user", users, nu), ("item", items, ni)):
            bad = _first_out_of_range(arr, n)
            if bad is not None:
                raise DataError(f"{what} index {bad} out of range [0, {n})", field=f"{what}s")
        object.__setattr__(self, "users", _readonly(users))
        object.__setattr__(self, "items", _readonly(items))
        object.__setattr__(self, "num_users", nu)
        object.__setattr__(self, "num_items", ni)
        for name in ("timestamps", "weights"):
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = np.asarray(arr)
            if arr.shape != users.shape:
                raise DataError(
                    f"{name} must have one value per interaction: {arr.shape} for {users.size}",
                    field=name,
                )
            if arr.size and arr.dtype.kind not in ("iuf" if name == "timestamps" else "biuf"):
                raise DataError(
                    f"{name} must be numbers, got dtype {arr.dtype}"
                    + (" (convert date-times to seconds)" if arr.dtype.kind in "Mm" else ""),
                    field=name,
                )
            if name == "weights":
                arr = arr.astype(np.float32, copy=False)
            if arr.dtype.kind == "f" and arr.size and not bool(np.isfinite(arr).all()):
                row = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise DataError(
                    f"{name} contain NaN or infinite values (row {row}: {plain(arr[row])!r})",
                    field=name,
                )
            object.__setattr__(self, name, _readonly(arr))
        if self.user_map is not None and len(self.user_map) != nu:
            raise DataError(f"user_map has {len(self.user_map)} ids but num_users is {nu}")
        if self.item_map is not None and len(self.item_map) != ni:
            raise DataError(f"item_map has {len(self.item_map)} ids but num_items is {ni}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        users: npt.ArrayLike,
        items: npt.ArrayLike,
        *,
        num_users: int | None = None,
        num_items: int | None = None,
        timestamps: npt.ArrayLike | None = None,
        weights: npt.ArrayLike | None = None,
        user_map: IdMap | None = None,
        item_map: IdMap | None = None,
        duplicates: DuplicatePolicy = "error",
    ) -> Interactions:
        """Build Interactions, resolving repeated (user, item) pairs by an explicit policy.

        ``duplicates``: ``"error"`` raises DataError, ``"keep_last"`` keeps the latest event
        (by timestamp, then by input order), ``"sum"`` keeps one row with summed weights (weight
        1 per event when none given) and the latest timestamp, ``"keep"`` keeps every row.

        ``users`` and ``items`` must be integer indices. Floats with integral values (``3.0``,
        e.g. from a pandas column that once held a NaN) are converted with a
        :class:`~ncf.errors.ParameterWarning`; any other float (``0.5``, NaN) is a DataError,
        never truncated.
        """
        u = _as_indices(users, "users")
        i = _as_indices(items, "items")
        ts = None if timestamps is None else np.asarray(timestamps).reshape(-1)
        w = None if weights is None else np.asarray(weights).reshape(-1)
        if w is not None and w.size and w.dtype.kind not in "biuf":
            raise DataError(f"weights must be numbers, got dtype {w.dtype}", field="weights")
        w = None if w is None else w.astype(np.float32, copy=False)
        nu = _as_count(num_users, "num_users") if num_users is not None else (len(user_map) if user_map is not None else (int(u.max()) + 1 if u.size else 0))
        ni = _as_count(num_items, "num_items") if num_items is not None else (len(item_map) if item_map is not None else (int(i.max()) + 1 if i.size else 0))
        if duplicates not in ("error", "keep_last", "sum", "keep"):
            raise ValueError(f"unknown duplicates policy {plain(duplicates)!r}")
        if duplicates != "keep" and u.size:
            for what, arr, n in (("user", u, nu), ("item", i, ni)):
                bad = _first_out_of_range(arr, n)
                if bad is not None:
                    raise DataError(f"{what} index {bad} out of range [0, {n})", field=f"{what}s")
            key = pair_keys(u, i, ni)
            # order: by key, then timestamp, then input position -> last of each group is "latest"
            sort_cols = [np.arange(u.size), key] if ts is None else [np.arange(u.size), ts, key]
            order = np.lexsort(sort_cols)
            k_sorted = key[order]
            last = np.ones(order.size, dtype=bool)
            last[:-1] = k_sorted[1:] != k_sorted[:-1]
            if not bool(last.all()):
                if duplicates == "error":
                    dup = order[np.flatnonzero(~last)[0]]
                    raise DataError(
                        f"duplicate (user, item) pair ({int(u[dup])}, {int(i[dup])}); "
                        "choose duplicates='keep_last', 'sum' or 'keep'"
                    )
                if duplicates == "sum":
                    starts = np.flatnonzero(np.r_[True, last[:-1]])
                    base = np.ones(u.size, dtype=np.float32) if w is None else w
                    w_sum = np.add.reduceat(base[order], starts).astype(np.float32)
                    keep = order[last]
                    w = np.empty(u.size, dtype=np.float32)
                    w[keep] = w_sum
                else:
                    keep = order[last]
                keep = np.sort(keep)  # preserve input order of the kept rows
                u, i = u[keep], i[keep]
                ts = None if ts is None else ts[keep]
                w = None if w is None else w[keep]
        return cls(u, i, nu, ni, ts, w, user_map, item_map)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.users.size)

    def __repr__(self) -> str:
        extra = "".join(
            f", {n}" for n, a in (("timestamps", self.timestamps), ("weights", self.weights)) if a is not None
        )
        return (
            f"Interactions({len(self)} interactions, {self.num_users} users x "
            f"{self.num_items} items{extra})"
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_users, self.num_items)

    @functools.cached_property
    def _csr(self) -> sp.csr_matrix:
        data = np.ones(len(self), dtype=np.float32) if self.weights is None else self.weights
        m = sp.csr_matrix((data, (self.users, self.items)), shape=self.shape, dtype=np.float32)
        m.sum_duplicates()
        m.sort_indices()
        return m

    def to_csr(self) -> sp.csr_matrix:
        """User x item CSR matrix (float32; weights, or 1 per event; repeats summed). Cached."""
        return self._csr

    def user_counts(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.users, minlength=self.num_users).astype(np.int64)

    def item_counts(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.items, minlength=self.num_items).astype(np.int64)

    def select(self, rows: npt.ArrayLike) -> Interactions:
        """Rows chosen by a boolean mask or index array, in the same universe."""
        idx = np.asarray(rows)
        return Interactions(
            self.users[idx],
            self.items[idx],
            self.num_users,
            self.num_items,
            None if self.timestamps is None else self.timestamps[idx],
            None if self.weights is None else self.weights[idx],
            self.user_map,
            self.item_map,
        )

    def concat(self, other: Interactions) -> Interactions:
        """Both sets of rows in one object (same universe required)."""
        if other.shape != self.shape:
            raise DataError(f"cannot concatenate interactions over {self.shape} and {other.shape}")

        def cat(a: Any, b: Any) -> Any:
            return None if a is None or b is None else np.concatenate([a, b])

        return Interactions(
            np.concatenate([self.users, other.users]),
            np.concatenate([self.items, other.items]),
            self.num_users,
            self.num_items,
            cat(self.timestamps, other.timestamps),
            cat(self.weights, other.weights),
            self.user_map,
            self.item_map,
        )

    def with_universe(self, num_users: int, num_items: int, user_map: IdMap | None = None, item_map: IdMap | None = None) -> Interactions:
        """Same rows, a (larger) universe and optionally new id maps."""
        return Interactions(self.users, self.items, num_users, num_items, self.timestamps, self.weights, user_map, item_map)

    # ------------------------------------------------------------------ persistence
    def save(self, path: PathLike) -> None:
        """Save as a directory (arrays.npz without pickle + id maps as JSON), atomically."""
        with atomic_directory(path) as tmp:
            arrays: dict[str, Any] = {
                "users": self.users,
                "items": self.items,
                "universe": np.asarray([self.num_users, self.num_items], dtype=np.int64),
            }
            if self.timestamps is not None:
                arrays["timestamps"] = self.timestamps
            if self.weights is not None:
                arrays["weights"] = self.weights
            np.savez(tmp / "arrays.npz", **arrays)
            if self.user_map is not None:
                self.user_map.save(tmp / "user_map.json")
            if self.item_map is not None:
                self.item_map.save(tmp / "item_map.json")

    @classmethod
    def load(cls, path: PathLike) -> Interactions:
        root = Path(path)
        if not (root / "arrays.npz").is_file():
            raise DataError("not a saved Interactions directory (arrays.npz missing)", path=root)
        try:
            with open(root / "arrays.npz", "rb") as fh, np.load(fh, allow_pickle=False) as z:
                nu, ni = (int(x) for x in z["universe"])
                ts = z["timestamps"] if "timestamps" in z.files else None
                w = z["weights"] if "weights" in z.files else None
                users, items = z["users"], z["items"]
        except KeyError as exc:
            raise DataError(f"arrays.npz lacks the array {exc}", path=root / "arrays.npz") from exc
        except (ValueError, EOFError, zipfile.BadZipFile) as exc:  # truncated, pickled, not a zip
            raise DataError(f"not a readable arrays.npz ({exc})", path=root / "arrays.npz") from exc
        umap = IdMap.load(root / "user_map.json") if (root / "user_map.json").is_file() else None
        imap = IdMap.load(root / "item_map.json") if (root / "item_map.json").is_file() else None
        return cls(users, items, nu, ni, ts, w, umap, imap)


@dataclass(frozen=True, eq=False)
class Split:
    """Train / (valid) / test over one universe, with optional fixed negatives per evaluated row.

    ``test_negatives`` has one row per *test interaction* (row ``r`` belongs to
    ``test.users[r]``); ragged lists are padded with -1. The same holds for ``valid_negatives``.
    """

    train: Interactions
    test: Interactions
    valid: Interactions | None = None
    test_negatives: npt.NDArray[np.int64] | None = None
    valid_negatives: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        parts = [self.train, self.test] + ([self.valid] if self.valid is not None else [])
        if any(p.shape != self.train.shape for p in parts):
            raise DataError("train, valid and test must share one universe (num_users, num_items)")
        for name, part, neg in (
            ("test_negatives", self.test, self.test_negatives),
            ("valid_negatives", self.valid, self.valid_negatives),
        ):
            if neg is None:
                continue
            arr = np.asarray(neg, dtype=np.int64)
            if part is None or arr.ndim != 2 or arr.shape[0] != len(part):
                raise DataError(f"{name} must be a 2-D array with one row per evaluated interaction", field=name)
            object.__setattr__(self, name, _readonly(arr))

    @property
    def num_users(self) -> int:
        return self.train.num_users

    @property
    def num_items(self) -> int:
        return self.train.num_items

    def __repr__(self) -> str:
        v = f", valid={len(self.valid)}" if self.valid is not None else ""
        n = f", negatives/row={self.test_negatives.shape[1]}" if self.test_negatives is not None else ""
        return f"Split(train={len(self.train)}{v}, test={len(self.test)}{n}, universe={self.num_users}x{self.num_items})"
