"""Data layer: interactions, id maps, readers, splits, synthetic data and datasets.

::

    interactions.py  Interactions, Split         idmap.py     IdMap
    dataset.py       Dataset (a reader's result) pairs.py     PairSet (sorted pair keys)
    formats/         readers: table, movielens, lightgcn, neumf; detect (load_dataset)
    datasets.py      registry and downloads      splits.py, filters.py, sequences.py
    features.py      FeatureTable                synthetic.py, writers.py
"""

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
