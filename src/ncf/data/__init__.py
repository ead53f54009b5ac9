"""Data layer: interactions, id maps, readers, splits, synthetic data and datasets.

::

    interactions.py  Interactions, Split         idmap.py     IdMap
    dataset.py       Dataset (a reader's result) pairs.py     PairSet (sorted pair keys)
    formats/         readers: table, movielens, lightgcn, neumf; detect (load_dataset)
    datasets.py      registry and downloads      splits.py, filters.py, sequences.py
    features.py      FeatureTable                synthetic.py, writers.py

Names are imported on first use (PEP 562), so ``ncf.data.formats.FORMATS`` (what the command
line reads for ``--format``) loads without numpy or torch.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from ncf._lazy import lazy_dir, lazy_exports

if TYPE_CHECKING:
    from ncf.data.dataset import Dataset
    from ncf.data.datasets import DATASETS, DatasetInfo, data_dir, dataset_path, download
    from ncf.data.features import FeatureTable
    from ncf.data.filters import k_core
    from ncf.data.formats import read_lightgcn, read_movielens, read_neumf, read_table
    from ncf.data.formats.detect import detect_format, load_dataset
    from ncf.data.idmap import IdMap
    from ncf.data.interactions import Interactions, Split
    from ncf.data.pairs import PairSet
    from ncf.data.sequences import latest_items, previous_items
    from ncf.data.splits import leave_one_out, random_split, temporal_split, validation_split
    from ncf.data.synthetic import SyntheticData, synthetic
    from ncf.data.writers import write_neumf

#: Public name -> the submodule that defines it.
_LAZY: dict[str, str] = {
    "Dataset": "ncf.data.dataset",
    "DATASETS": "ncf.data.datasets",
    "DatasetInfo": "ncf.data.datasets",
    "data_dir": "ncf.data.datasets",
    "dataset_path": "ncf.data.datasets",
    "download": "ncf.data.datasets",
    "FeatureTable": "ncf.data.features",
    "k_core": "ncf.data.filters",
    "read_lightgcn": "ncf.data.formats",
    "read_movielens": "ncf.data.formats",
    "read_neumf": "ncf.data.formats",
    "read_table": "ncf.data.formats",
    "detect_format": "ncf.data.formats.detect",
    "load_dataset": "ncf.data.formats.detect",
    "IdMap": "ncf.data.idmap",
    "Interactions": "ncf.data.interactions",
    "Split": "ncf.data.interactions",
    "PairSet": "ncf.data.pairs",
    "latest_items": "ncf.data.sequences",
    "previous_items": "ncf.data.sequences",
    "leave_one_out": "ncf.data.splits",
    "random_split": "ncf.data.splits",
    "temporal_split": "ncf.data.splits",
    "validation_split": "ncf.data.splits",
    "SyntheticData": "ncf.data.synthetic",
    "synthetic": "ncf.data.synthetic",
    "write_neumf": "ncf.data.writers",
}

__getattr__ = lazy_exports(__name__, globals(), _LAZY)

__dir__ = lazy_dir(globals())


class _Package(types.ModuleType):
    """``synthetic`` names both a submodule and the function this package exports. The import
    system sets a submodule on its package when it first loads it; the exported name keeps the
    function (as the eager imports this package had gave it)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == value.__name__ == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "FeatureTable",
    "IdMap",
    "Interactions",
    "PairSet",
    "Split",
    "SyntheticData",
    "data_dir",
    "dataset_path",
    "detect_format",
    "download",
    "k_core",
    "latest_items",
    "leave_one_out",
    "previous_items",
    "load_dataset",
    "random_split",
    "read_lightgcn",
    "read_movielens",
    "read_neumf",
    "read_table",
    "synthetic",
    "temporal_split",
    "validation_split",
    "write_neumf",
]
