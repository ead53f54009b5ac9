"""Format detection and ``load_dataset``: one entry point for registry names, directories and files.

Registry names resolve through :mod:`ncf.data.datasets` (cache, download, or a checked local
copy); directories are recognised by the files they hold; table files by their suffix.

Example
-------
>>> ds = load_dataset("ml-100k")                      # doctest: +SKIP
>>> ds.stats()["interactions"]                        # doctest: +SKIP
100000
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ncf._types import PathLike
from ncf.data import datasets
from ncf.data.dataset import Dataset
from ncf.data.formats import FORMATS
from ncf.data.formats._text import base_suffix
from ncf.data.formats.movielens import movielens_version
from ncf.data.formats.neumf import NEUMF_SUFFIXES
from ncf.data.formats.readers import DIRECTORY_READERS
from ncf.data.formats.table import PARQUET_SUFFIXES, read_table_auto
from ncf.errors import ConfigError, DataError, did_you_mean

__all__ = ["FORMATS", "detect_format", "load_dataset"]


def detect_format(path: PathLike) -> str | None:
    """The format a directory or file is in (``"movielens"``, ``"lightgcn"``, ...), or None."""
    p = Path(path)
    if p.is_dir():
        if movielens_version(p) is not None:
            return "movielens"
        if (p / "train.txt").is_file() and (p / "test.txt").is_file():
            return "lightgcn"
        if any(p.glob("*.train.rating")):
            return "neumf"
        subdirs = [d for d in p.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if len(subdirs) == 1 and movielens_version(subdirs[0]) is not None:
            return "movielens"
        return None
    if p.is_file():
        suffix = base_suffix(p)
        if suffix in PARQUET_SUFFIXES:
            return "parquet"
        if any(p.name.endswith(s) for s in NEUMF_SUFFIXES):
            return "neumf"
        return "tsv" if suffix in (".tsv", ".tab") else "csv"
    if (p.parent / f"{p.name}.train.rating").is_file():
        return "neumf"
    return None


def load_dataset(
    name_or_path: PathLike, *, format: str | None = None, path: PathLike | None = None
) -> Dataset:
    """Load a dataset by registry name, directory or table file.

    Parameters
    ----------
    name_or_path : str or path-like
        A registry name (``"ml-100k"``, ``"gowalla"``, ... see :mod:`ncf.data.datasets`; the
        cached copy is used, else it is downloaded), a directory (auto-detected: MovieLens,
        LightGCN, NeuMF), a NeuMF prefix path ``DIR/prefix``, or a table file whose columns
        are found by header name (``user``/``user_id``/``userId``, ``item``/``item_id``/
        ``movieId``, ``rating``, ``timestamp``) or else by position (user, item[, rating[,
        timestamp]]).
    format : {None, "movielens", "lightgcn", "neumf", "csv", "tsv", "parquet"}
        Skip auto-detection (:data:`ncf.data.formats.FORMATS`).
    path : path-like, optional
        A local copy of the registry dataset ``name_or_path`` (the CLI's ``--path``): used
        instead of the cache, and checked to hold that dataset's files, so that
        ``load_dataset("gowalla", path=<an ml-100k directory>)`` is an error, not ml-100k.

    Returns
    -------
    Dataset

    Raises
    ------
    DataError
        The path does not exist and is not a registry name, a directory is in no known
        format (the message lists what was expected), or ``path`` is not a copy of the
        named dataset.
    ConfigError
        An unknown ``format``, or ``path`` given with a name that is not registered.
    """
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    key = str(name_or_path)
    if path is not None:
        if key not in datasets.DATASETS:
            raise ConfigError(
                f"path= is a local copy of a registered dataset, and {key!r} is not one"
                f"{did_you_mean(key, datasets.DATASETS)} (known: {', '.join(sorted(datasets.DATASETS))})"
            )
        return _load_registered(key, format, path)
    p = Path(name_or_path)
    if not p.exists() and not (p.parent / f"{p.name}.train.rating").is_file():
        if key in datasets.DATASETS:
            return _load_registered(key, format, None)
        raise DataError(
            "no such file or directory, and not a registered dataset name"
            f"{did_you_mean(key, datasets.DATASETS)} (known: {', '.join(sorted(datasets.DATASETS))})", path=p,
        )
    return _load_path(p, format)


def _load_registered(name: str, format: str | None, path: PathLike | None) -> Dataset:
    info = datasets.DATASETS[name]
    root = datasets.dataset_path(name, path=path)
    return dataclasses.replace(_load_path(root, format or info.format), name=name)


def _load_path(p: Path, format: str | None) -> Dataset:
    fmt = format or detect_format(p)
    if fmt is None:
        raise DataError(
            "no known dataset format in this directory; expected one of: MovieLens (u.data, "
            "ratings.dat or ratings.csv), LightGCN (train.txt and test.txt), NeuMF "
            "(<prefix>.train.rating, <prefix>.test.rating, <prefix>.test.negative)", path=p,
        )
    reader = DIRECTORY_READERS.get(fmt)
    if reader is not None:
        return reader(p)
    if p.is_dir():
        raise DataError(f"format {fmt!r} needs a file, got a directory", path=p)
    data = read_table_auto(p, format)  # an explicit csv/tsv/parquet overrides the suffix
    name = p.name.split(".")[0] or p.name
    return Dataset(name, str(p), fmt, data)
