"""File formats: one reader per module, each returning a :class:`~ncf.data.dataset.Dataset`.

::

    table.py      CSV / TSV / Parquet interaction tables (read_table)
    movielens.py  GroupLens MovieLens directories, with side features
    lightgcn.py   LightGCN / NGCF split directories (train.txt, test.txt)
    neumf.py      NeuMF paper files (.train.rating, .test.rating, .test.negative)
    readers.py    DIRECTORY_READERS: the reader of each directory format
    detect.py     detect_format and load_dataset (registry names, auto-detection)

This package is the one home of the format names (:data:`FORMATS`): the command line's
``--format`` choices, ``RunSpec`` and ``load_dataset`` read them here. The readers are imported
on first use (PEP 562), so the names load without numpy or torch. ``detect`` is deliberately
not exported here: it depends on :mod:`ncf.data.datasets`, which depends on the readers (to
verify downloads), so it would close a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ncf._lazy import lazy_dir, lazy_exports

if TYPE_CHECKING:
    from ncf.data.formats.lightgcn import read_lightgcn
    from ncf.data.formats.movielens import read_movielens
    from ncf.data.formats.neumf import read_neumf
    from ncf.data.formats.readers import DIRECTORY_READERS
    from ncf.data.formats.table import read_table

#: Formats read from a directory (one reader each: :data:`DIRECTORY_READERS`).
DIRECTORY_FORMATS: tuple[str, ...] = ("movielens", "lightgcn", "neumf")
#: Formats of one table file (``ncf.data.formats.table.read_table_auto``).
TABLE_FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet")
#: Every input format, in the order the command line lists them.
FORMATS: tuple[str, ...] = DIRECTORY_FORMATS + TABLE_FORMATS

_LAZY: dict[str, str] = {
    "DIRECTORY_READERS": "ncf.data.formats.readers",
    "read_lightgcn": "ncf.data.formats.lightgcn",
    "read_movielens": "ncf.data.formats.movielens",
    "read_neumf": "ncf.data.formats.neumf",
    "read_table": "ncf.data.formats.table",
}

__getattr__ = lazy_exports(__name__, globals(), _LAZY)

__dir__ = lazy_dir(globals())


__all__ = ["DIRECTORY_FORMATS", "DIRECTORY_READERS", "FORMATS", "TABLE_FORMATS", "read_lightgcn", "read_movielens",
           "read_neumf", "read_table"]
