"""File formats: one reader per module, each returning a :class:`~ncf.data.dataset.Dataset`.

::

    table.py      CSV / TSV / Parquet interaction tables (read_table)
    movielens.py  GroupLens MovieLens directories, with side features
    lightgcn.py   LightGCN / NGCF split directories (train.txt, test.txt)
    neumf.py      NeuMF paper files (.train.rating, .test.rating, .test.negative)
    detect.py     detect_format and load_dataset (registry names, auto-detection)

``detect`` is deliberately not imported here: it depends on :mod:`ncf.data.datasets`, which
depends on the readers below (to verify downloads), so importing it here would close a cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from ncf._types import PathLike
from ncf.data.dataset import Dataset
from ncf.data.formats.lightgcn import read_lightgcn
from ncf.data.formats.movielens import read_movielens
from ncf.data.formats.neumf import read_neumf
from ncf.data.formats.table import read_table

__all__ = ["DIRECTORY_READERS", "read_lightgcn", "read_movielens", "read_neumf", "read_table"]

DIRECTORY_READERS: dict[str, Callable[[PathLike], Dataset]] = {
    "movielens": read_movielens,
    "lightgcn": read_lightgcn,
    "neumf": read_neumf,
}
"""The reader of each directory format, by the format name the registry uses."""
