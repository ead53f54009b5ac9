"""Writers: a Split in the NeuMF file format, re-readable by :func:`ncf.data.read_neumf`.

The NeuMF format holds contiguous indices; ``user_map.json`` and ``item_map.json`` are written
beside the files so that raw ids (and the full universe) survive a round trip.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ncf._io import atomic_directory
from ncf._types import PathLike
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split
from ncf.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["write_neumf"]

_SUFFIXES = (".train.rating", ".test.rating", ".test.negative")


def _number_column(values: npt.NDArray[Any] | None, n: int, default: int) -> pa.Array:
    """Integers where every value is integral (so ``4.0`` is written ``4``), else floats."""
    if values is None:
        return pa.array(np.full(n, default, dtype=np.int64))
    if values.dtype.kind in "iu":
        return pa.array(values.astype(np.int64, copy=False))
    if values.size and bool(np.all(values == np.round(values))) and float(np.max(np.abs(values))) < 2.0**53:
        return pa.array(values.astype(np.int64))
    return pa.array(values)


def _write_rating(data: Interactions, path: Path) -> None:
    """``user\\titem\\trating\\ttimestamp`` lines (rating 1 and timestamp 0 when absent)."""
    n = len(data)
    table = pa.table(
        {
            "user": pa.array(data.users),
            "item": pa.array(data.items),
            "rating": _number_column(data.weights, n, 1),
            "timestamp": _number_column(data.timestamps, n, 0),
        }
    )
    options = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    pacsv.write_csv(table, str(path), write_options=options)


def _write_negatives(test: Interactions, negatives: npt.NDArray[np.int64], path: Path) -> None:
    """``(user,item)\\tneg1\\tneg2 ...`` lines, one per test row; -1 padding is dropped."""
    valid = negatives >= 0
    counts = valid.sum(axis=1)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    flat = negatives[valid].astype(np.int64)  # row-major: each row's negatives in order
    lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat).cast(pa.string()))
    joined = pc.binary_join(lists, "\t")
    users = pa.array(test.users).cast(pa.string())
    items = pa.array(test.items).cast(pa.string())
    head = pc.binary_join_element_wise("(", users, ",", items, ")", "")
    tail = pc.if_else(pa.array(counts > 0), pc.binary_join_element_wise("\t", joined, ""), "")
    lines = pc.binary_join_element_wise(head, tail, "")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for chunk_start in range(0, len(lines), 1 << 16):
            part = lines.slice(chunk_start, 1 << 16).to_pylist()
            fh.write("\n".join(part))
            fh.write("\n")


def _write_files(split: Split, negatives: npt.NDArray[np.int64], root: Path, prefix: str) -> list[str]:
    _write_rating(split.train, root / f"{prefix}.train.rating")
    _write_rating(split.test, root / f"{prefix}.test.rating")
    _write_negatives(split.test, negatives, root / f"{prefix}.test.negative")
    user_map = split.train.user_map or IdMap.identity(split.num_users)
    item_map = split.train.item_map or IdMap.identity(split.num_items)
    user_map.save(root / "user_map.json")
    item_map.save(root / "item_map.json")
    return [f"{prefix}{s}" for s in _SUFFIXES] + ["user_map.json", "item_map.json"]


def write_neumf(split: Split, out_dir: PathLike, *, prefix: str = "data") -> Path:
    """Write a split as ``{prefix}.train.rating``, ``{prefix}.test.rating``, ``{prefix}.test.negative``.

    Lines are exactly what :func:`~ncf.data.read_neumf` reads: ``.rating`` files hold
    ``user\\titem\\trating\\ttimestamp`` (contiguous indices; rating 1 and timestamp 0 when the
    split has none) and ``.test.negative`` holds ``(user,item)\\tneg1\\tneg2 ...`` per test row.
    ``user_map.json`` and ``item_map.json`` (identity maps when the split has none) keep the raw
    ids and the universe. The files are built in a temporary directory and moved into place, so
    a failure leaves nothing half-written; a new ``out_dir`` appears whole.

    Parameters
    ----------
    split : Split
        Must carry ``test_negatives`` (the format has no file without them). A ``valid`` part
        is not written (the format has none); it is logged.
    out_dir : path-like
        Target directory; created if missing. Existing files of the same names are replaced,
        other files are left alone.
    prefix : str
        File name prefix, e.g. ``"ml-1m"``.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    DataError
        The split has no ``test_negatives``, or ``prefix`` is not a plain file name.
    """
    if split.test_negatives is None:
        raise DataError(
            "the NeuMF format needs test_negatives (a .test.negative file); make the split "
            "with sampled negatives, e.g. leave_one_out(..., num_negatives=99)"
        )
    if not prefix or os.sep in prefix or (os.altsep and os.altsep in prefix) or prefix.startswith("."):
        raise DataError(f"prefix must be a plain file name, got {prefix!r}")
    if split.valid is not None:
        logger.warning("write_neumf: the NeuMF format has no validation part; split.valid is not written")
    target = Path(out_dir)
    negatives = np.asarray(split.test_negatives, dtype=np.int64)
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        with atomic_directory(target) as tmp:
            _write_files(split, negatives, tmp, prefix)
        return target
    if not target.is_dir():
        raise DataError("exists and is not a directory", path=target)
    # an existing directory with other content: build beside, then move the files in
    tmp = Path(tempfile.mkdtemp(prefix=f".{prefix}.", suffix=".tmp", dir=target))
    try:
        names = _write_files(split, negatives, tmp, prefix)
        for name in names:
            os.replace(tmp / name, target / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
