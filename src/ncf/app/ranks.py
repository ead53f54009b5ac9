"""The rank handshake of a distributed ``ncf train``: rank 0 sends its options and a fingerprint
of its split, every other rank finds the same split, and none starts training alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ncf.app.datasets import load_data, prepare_split
from ncf.app.rundir import RunDir
from ncf.app.spec import RunSpec
from ncf.data.features import FeatureTable
from ncf.data.interactions import Split
from ncf.errors import DataError, NCFError
from ncf.training.distributed import fingerprint
from ncf.training.strategy import Strategy


@dataclass(frozen=True)
class RankStart:
    """What rank 0 sends the other ranks once its run is set up (or why it could not be)."""

    options: dict[str, Any]
    fingerprint: str
    error: str | None = None


def split_fingerprint(split: Split) -> str:
    """A hash of what every rank must hold alike: the training rows and the validation set."""
    valid = split.valid
    return fingerprint(split.train.users, split.train.items, split.num_users, split.num_items,
                       None if valid is None else valid.users, None if valid is None else valid.items,
                       split.valid_negatives)


def all_ready(strategy: Strategy, error: str | None) -> None:
    """Every rank's setup outcome, gathered: all raise when one failed (none starts training alone)."""
    failed = [(rank, msg) for rank, msg in enumerate(strategy.all_gather(error)) if msg is not None]
    if failed:
        rank, msg = failed[0]
        raise NCFError(f"rank {rank}: {msg}")


def rank_split(spec: RunSpec, run: RunDir,
                expected: str) -> tuple[Split, tuple[FeatureTable | None, FeatureTable | None]]:
    """Rank 0's split: read from its run directory when this rank sees it, else rebuilt from the data."""
    if run.exists() and run.split_dir.is_dir():
        try:
            split, features = run.load_split(), run.load_features()
        except (NCFError, OSError):
            pass
        else:
            if split_fingerprint(split) == expected:
                return split, features
    if spec.data.source is None:
        raise DataError("cannot read rank 0's split and there is no data source to build it from", path=run.path)
    dataset = load_data(spec.data.source, format=spec.data.format, path=spec.data.path)
    split = prepare_split(spec, dataset)
    if split_fingerprint(split) != expected:
        raise DataError(f"the split built here from {spec.data.source} differs from rank 0's: give every node the "
                        "same data at the same path, or put the run directory on a shared file system")
    return split, (dataset.user_features, dataset.item_features)
