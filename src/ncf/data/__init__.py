"""Data layer: interactions, id maps, readers, splits, synthetic data and datasets."""

from ncf.data.datasets import DATASETS, DatasetInfo, data_dir, dataset_path, download
from ncf.data.features import FeatureTable
from ncf.data.filters import k_core
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split
from ncf.data.readers import (
    Dataset,
    detect_format,
    load_dataset,
    read_lightgcn,
    read_movielens,
    read_neumf,
    read_table,
)
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
