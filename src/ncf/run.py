"""Run directories: everything `ncf train` produced, so `ncf evaluate RUN_DIR` needs nothing else.

Layout::

    RUN_DIR/run.json          data source, split settings, model and train settings
    RUN_DIR/split/            train/, valid/, test/ (Interactions) + *_negatives.npy
    RUN_DIR/model/            saved model (config.json, weights.safetensors, id maps)
    RUN_DIR/checkpoint/       checkpoint.pt, rewritten atomically every epoch
    RUN_DIR/log.jsonl         one JSON object per epoch
    RUN_DIR/item_titles.json  titles by item index, when the dataset has them
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._io import atomic_directory, atomic_write, read_json, write_json
from ncf._types import PathLike
from ncf.data.interactions import Interactions, Split
from ncf.errors import DataError, NotFittedError

RUN_FILE = "run.json"


def save_split(split: Split, path: PathLike) -> None:
    """Write a Split as a directory of saved Interactions plus negatives (atomic)."""
    with atomic_directory(path) as tmp:
        split.train.save(tmp / "train")
        split.test.save(tmp / "test")
        if split.valid is not None:
            split.valid.save(tmp / "valid")
        if split.test_negatives is not None:
            np.save(tmp / "test_negatives.npy", split.test_negatives, allow_pickle=False)
        if split.valid_negatives is not None:
            np.save(tmp / "valid_negatives.npy", split.valid_negatives, allow_pickle=False)


def load_split(path: PathLike) -> Split:
    """Read a Split written by :func:`save_split`."""
    root = Path(path)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise DataError("not a saved split (train/ and test/ expected)", path=root)

    def neg(name: str) -> npt.NDArray[np.int64] | None:
        p = root / f"{name}_negatives.npy"
        return np.load(p, allow_pickle=False) if p.is_file() else None

    valid = Interactions.load(root / "valid") if (root / "valid").is_dir() else None
    return Split(
        Interactions.load(root / "train"),
        Interactions.load(root / "test"),
        valid,
        neg("test"),
        neg("valid"),
    )


@dataclass(frozen=True)
class RunInfo:
    """The contents of ``run.json``."""

    path: Path
    info: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def split_dir(self) -> Path:
        return self.path / "split"

    def item_titles(self) -> list[str] | None:
        p = self.path / "item_titles.json"
        if not p.is_file():
            return None
        titles = read_json(p)
        return list(titles) if isinstance(titles, list) else None


def open_run(path: PathLike) -> RunInfo:
    """Open an existing run directory, with a clear error when it is not one."""
    root = Path(path)
    if not root.exists():
        raise DataError("run directory does not exist", path=root)
    if not (root / RUN_FILE).is_file():
        raise DataError(f"not an ncf run directory ({RUN_FILE} missing)", path=root)
    try:
        info = read_json(root / RUN_FILE)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", path=root / RUN_FILE, line=exc.lineno) from exc
    return RunInfo(root, info)


def require_model(run: RunInfo) -> Path:
    if not (run.model_dir / "config.json").is_file():
        raise NotFittedError(f"{run.path}: no trained model yet (training did not finish); use --resume")
    return run.model_dir


def write_run_info(path: PathLike, info: dict[str, Any]) -> None:
    write_json(Path(path) / RUN_FILE, info)


def write_titles(path: PathLike, titles: list[str]) -> None:
    with atomic_write(Path(path) / "item_titles.json", "w", encoding="utf-8") as fh:
        json.dump(titles, fh)
