"""Former home of the readers, kept so that ``from ncf.data.readers import ...`` still works.

The readers now live in :mod:`ncf.data.formats` (one module per format) and :class:`Dataset`
in :mod:`ncf.data.dataset`; import them from :mod:`ncf.data` instead.
"""

from __future__ import annotations

from ncf.data.dataset import Dataset
from ncf.data.formats.detect import FORMATS, detect_format, load_dataset
from ncf.data.formats.lightgcn import read_lightgcn
from ncf.data.formats.movielens import read_movielens
from ncf.data.formats.neumf import read_neumf
from ncf.data.formats.table import read_table

__all__ = [
    "FORMATS",
    "Dataset",
    "detect_format",
    "load_dataset",
    "read_lightgcn",
    "read_movielens",
    "read_neumf",
    "read_table",
]
