"""The reader of each directory format, by the format name (:data:`ncf.data.formats.FORMATS`)."""

from __future__ import annotations

from collections.abc import Callable

from ncf._types import PathLike
from ncf.data.dataset import Dataset
from ncf.data.formats.lightgcn import read_lightgcn
from ncf.data.formats.movielens import read_movielens
from ncf.data.formats.neumf import read_neumf

__all__ = ["DIRECTORY_READERS"]

DIRECTORY_READERS: dict[str, Callable[[PathLike], Dataset]] = {
    "movielens": read_movielens,
    "lightgcn": read_lightgcn,
    "neumf": read_neumf,
}
"""The reader of each directory format, by the format name the registry uses."""
