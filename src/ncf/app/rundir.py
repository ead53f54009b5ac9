"""The run-directory layout: one class that knows every path ``ncf train`` writes and reads.

Layout (``format_version`` 2; version-1 directories read the same)::

    RUN_DIR/run.json             data source, split settings, options, status, history
    RUN_DIR/split/               train/, valid/, test/ (saved Interactions) + *_negatives.npy
    RUN_DIR/model/               saved model (config.json, weights.safetensors, id maps)
    RUN_DIR/checkpoint/          checkpoint.pt, rewritten atomically every few epochs
    RUN_DIR/checkpoint-refit/    the refit's checkpoint (train + carve, the chosen epochs)
    RUN_DIR/pretrain-<part>/     NeuMF pre-training checkpoints (gmf, mlp)
    RUN_DIR/log.jsonl            one JSON object per epoch
    RUN_DIR/item_titles.json     titles by item index, when the dataset has them
    RUN_DIR/features/            user_features / item_features tables, when the dataset has them

Every file is written atomically (temporary name, then rename), so a killed run never leaves
a half-written file behind.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._io import atomic_directory, atomic_write, read_json, write_json
from ncf._types import PathLike
from ncf.data.features import FeatureTable
from ncf.data.interactions import Interactions, Split
from ncf.errors import DataError, NotFittedError

FORMAT_VERSION = 2
RUN_FILE = "run.json"
LAUNCH_FILE = "launch.json"  # ncf train --nproc: the spec its processes read at start
STATUS_TRAINING = "training"
STATUS_DONE = "done"
STATUS_FAILED = "failed"  # training diverged, or its data/options/memory failed: a plain re-run replaces it
FEATURE_NAMES = ("user_features", "item_features")


@dataclass
class RunInfo:
    """The contents of ``run.json``: where the data came from, the options, and the outcome."""

    options: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    status: str = STATUS_TRAINING
    train_seconds: float | None = None
    history: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION
    failure: str | None = None  # why training failed (status "failed")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": self.format_version, "data": self.data, "split": self.split,
                               "options": self.options, "status": self.status}
        if self.train_seconds is not None:
            out["train_seconds"] = self.train_seconds
        if self.history is not None:
            out["history"] = self.history
        if self.failure is not None:
            out["failure"] = self.failure
        return out

    @classmethod
    def from_json(cls, obj: Any, path: Path) -> RunInfo:
        if not isinstance(obj, dict) or not isinstance(obj.get("options"), dict):
            raise DataError("not an ncf run file (an object with \"options\" expected)", path=path)
        version = obj.get("format_version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
            raise DataError(f"run format version {version!r}; this ncf reads up to {FORMAT_VERSION}: upgrade ncf",
                            path=path, field="format_version")
        return cls(options=dict(obj["options"]), data=dict(obj.get("data") or {}), split=dict(obj.get("split") or {}),
                   status=str(obj.get("status", STATUS_TRAINING)), train_seconds=obj.get("train_seconds"),
                   history=obj.get("history"), format_version=version,
                   failure=None if obj.get("failure") is None else str(obj["failure"]))


class RunDir:
    """Paths and readers/writers of one run directory (it need not exist yet)."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ------------------------------------------------------------------ paths
    @property
    def info_path(self) -> Path:
        return self.path / RUN_FILE

    @property
    def split_dir(self) -> Path:
        return self.path / "split"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoint"

    @property
    def refit_checkpoint_dir(self) -> Path:
        """Checkpoints of the refit on all training data (after early stopping chose the epochs)."""
        return self.path / "checkpoint-refit"

    @property
    def log_path(self) -> Path:
        return self.path / "log.jsonl"

    @property
    def titles_path(self) -> Path:
        return self.path / "item_titles.json"

    @property
    def features_dir(self) -> Path:
        return self.path / "features"

    def pretrain_dir(self, part: str) -> Path:
        return self.path / f"pretrain-{part}"

    @property
    def launch_path(self) -> Path:
        """The resolved spec ``ncf train --nproc`` hands its processes (removed once the run starts)."""
        return self.path / LAUNCH_FILE

    def owned_paths(self) -> list[Path]:
        """Every path of the layout that ncf writes and reads back (not ``index``, which
        ``ncf index build`` replaces): no command's output may be, be inside or contain one of
        them (:func:`ncf._io.check_output`)."""
        return [self.info_path, self.split_dir, self.model_dir, self.checkpoint_dir, self.refit_checkpoint_dir,
                self.log_path, self.titles_path, self.features_dir, self.launch_path,
                *sorted(self.path.glob("pretrain-*"))]

    # ------------------------------------------------------------------ state
    def exists(self) -> bool:
        """Whether a run was started here (``run.json`` present)."""
        return self.info_path.is_file()

    def has_model(self) -> bool:
        return (self.model_dir / "config.json").is_file()

    def has_checkpoint(self) -> bool:
        return any(p.is_file() for p in (self.checkpoint_dir / "checkpoint.pt", *self.path.glob("pretrain-*/checkpoint.pt")))

    def is_resumable(self) -> bool:
        """Started, not finished, and with a checkpoint to continue from."""
        return self.exists() and self.read_info().status != STATUS_DONE and self.has_checkpoint()

    def require_run(self) -> None:
        if not self.path.exists():
            raise DataError("run directory does not exist", path=self.path)
        if not self.exists():
            raise DataError(f"not an ncf run directory ({RUN_FILE} missing)", path=self.path)

    def require_model(self) -> Path:
        self.require_run()
        if not self.has_model():
            hint = "use ncf train --resume to finish it" if self.has_checkpoint() else "train it again"
            raise NotFittedError(f"{self.path}: no trained model (training did not finish); {hint}")
        return self.model_dir

    def read_info(self) -> RunInfo:
        self.require_run()
        try:
            obj = read_json(self.info_path)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path=self.info_path, line=exc.lineno) from None
        except UnicodeDecodeError:
            raise DataError("not UTF-8 text", path=self.info_path) from None
        return RunInfo.from_json(obj, self.info_path)

    def write_info(self, info: RunInfo) -> None:
        write_json(self.info_path, info.to_json())

    def clear(self, *, keep_foreign: bool = True) -> None:
        """Remove what ncf wrote here (a run that never trained); files ncf did not write stay."""
        for name in (RUN_FILE, "log.jsonl", "item_titles.json", "index-info.json", LAUNCH_FILE):
            (self.path / name).unlink(missing_ok=True)
        for sub in (self.split_dir, self.model_dir, self.checkpoint_dir, self.refit_checkpoint_dir,
                    self.features_dir, self.path / "index", *self.path.glob("pretrain-*")):
            shutil.rmtree(sub, ignore_errors=True)
        if not keep_foreign or not any(self.path.iterdir()):
            shutil.rmtree(self.path, ignore_errors=True)

    # ------------------------------------------------------------------ split
    def save_split(self, split: Split) -> None:
        """The exact train/valid/test (and negatives) a run used, atomically as one directory."""
        with atomic_directory(self.split_dir) as tmp:
            split.train.save(tmp / "train")
            split.test.save(tmp / "test")
            if split.valid is not None:
                split.valid.save(tmp / "valid")
            if split.test_negatives is not None:
                np.save(tmp / "test_negatives.npy", split.test_negatives, allow_pickle=False)
            if split.valid_negatives is not None:
                np.save(tmp / "valid_negatives.npy", split.valid_negatives, allow_pickle=False)

    def load_split(self) -> Split:
        root = self.split_dir
        if not (root / "train").is_dir() or not (root / "test").is_dir():
            raise DataError("not a saved split (train/ and test/ expected)", path=root)
        train = _load_interactions(root / "train")
        test = _load_interactions(root / "test")
        valid = _load_interactions(root / "valid") if (root / "valid").is_dir() else None
        test_neg = _load_negatives(root / "test_negatives.npy", test)
        valid_neg = _load_negatives(root / "valid_negatives.npy", valid) if valid is not None else None
        try:
            return Split(train, test, valid, test_neg, valid_neg)
        except (ValueError, TypeError) as exc:
            raise DataError(f"inconsistent saved split: {exc}", path=root) from None

    # ------------------------------------------------------------------ titles and features
    def save_titles(self, titles: list[str]) -> None:
        with atomic_write(self.titles_path, "w", encoding="utf-8") as fh:
            json.dump([str(t) for t in titles], fh)

    def load_titles(self, num_items: int | None = None) -> list[str] | None:
        """Titles by item index, or None; a malformed file is a DataError, not a silent gap."""
        p = self.titles_path
        if not p.is_file():
            return None
        try:
            titles = read_json(p)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path=p, line=exc.lineno) from None
        except UnicodeDecodeError:
            raise DataError("not UTF-8 text", path=p) from None
        if not isinstance(titles, list) or not all(isinstance(t, str) for t in titles):
            raise DataError("item titles must be a JSON list of strings", path=p)
        if num_items is not None and len(titles) != num_items:
            raise DataError(f"{len(titles)} titles for {num_items} items", path=p)
        return titles

    def save_features(self, user_features: FeatureTable | None, item_features: FeatureTable | None) -> None:
        for name, table in zip(FEATURE_NAMES, (user_features, item_features), strict=True):
            if table is not None:
                table.save(self.features_dir / name)

    def load_features(self) -> tuple[FeatureTable | None, FeatureTable | None]:
        out: list[FeatureTable | None] = []
        for name in FEATURE_NAMES:
            p = self.features_dir / name
            if not p.with_suffix(".npy").is_file():
                out.append(None)
                continue
            try:
                out.append(FeatureTable.load(p))
            except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
                if isinstance(exc, DataError):
                    raise
                raise DataError(f"unreadable feature table: {exc}", path=p.with_suffix(".npy")) from None
        return out[0], out[1]


def _load_interactions(path: Path) -> Interactions:
    arrays = path / "arrays.npz"
    try:  # a truncated or foreign archive fails here, with the file closed again
        with zipfile.ZipFile(arrays) as archive:
            bad = archive.testzip()
        if bad is not None:
            raise DataError(f"corrupt member {bad}", path=arrays)
        return Interactions.load(path)
    except DataError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"unreadable saved interactions: {exc}", path=arrays) from None


def _load_negatives(path: Path, rows: Interactions | None) -> npt.NDArray[np.int64] | None:
    if not path.is_file():
        return None
    try:
        neg = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # truncated or not an .npy file
        raise DataError(f"unreadable negatives array: {exc}", path=path) from None
    if neg.ndim != 2 or neg.dtype.kind not in "iu":
        raise DataError(f"negatives must be a 2-D integer array, got {neg.dtype} of shape {neg.shape}", path=path)
    if rows is not None and neg.shape[0] != len(rows):
        raise DataError(f"{neg.shape[0]} rows of negatives for {len(rows)} evaluated interactions", path=path)
    if rows is not None and neg.size and (int(neg.max()) >= rows.num_items or int(neg.min()) < -1):
        raise DataError(f"negatives outside the item range [0, {rows.num_items})", path=path)
    return np.asarray(neg, dtype=np.int64)
