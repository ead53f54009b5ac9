"""Reading and splitting a dataset for the jobs: ``ncf data stats``, ``ncf data split`` and the
split every run trains on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ncf._io import check_output
from ncf._types import PathLike
from ncf.app.spec import RunSpec
from ncf.app.splitting import make_split, run_split
from ncf.data.interactions import Split
from ncf.errors import ConfigError


def load_data(source: str, *, format: str | None = None, path: str | None = None) -> Any:
    """The dataset behind ``source`` (a registry name or a path); ``path`` is a local copy."""
    from ncf.data import load_dataset

    return load_dataset(source, format=format, path=path)


@dataclass(frozen=True)
class SplitResult:
    """What ``ncf data split`` wrote: where, how, and the size of each part."""

    out: str  # the directory holding the NeuMF files
    protocol: str
    train: int  # training rows
    test: int  # test rows
    negatives_per_row: int  # sampled negatives of the fullest test row
    users: int
    items: int

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object (keys in this order)."""
        return {"out": self.out, "protocol": self.protocol, "train": self.train, "test": self.test,
                "negatives_per_row": self.negatives_per_row, "users": self.users, "items": self.items}


def split_dataset(source: str, out: PathLike, *, format: str | None = None, path: str | None = None,
                  protocol: str = "loo", negatives: int = 99, test_fraction: float = 0.2, seed: int = 0,
                  prefix: str = "data", force: bool = False) -> SplitResult:
    """Split a dataset and write it in the NeuMF file format; an existing split is kept unless ``force``."""
    from ncf.data.writers import write_neumf

    target = check_output(out, local_paths(source, path))
    existing = sorted(target.glob(f"{prefix}.*.rating")) + sorted(target.glob(f"{prefix}.test.negative"))
    if existing and not force:
        raise ConfigError(f"{target} already holds a split ({existing[0].name}); pass --force to replace it")
    if negatives < 1:
        raise ConfigError("the NeuMF file format needs sampled negatives: --negatives must be at least 1")
    dataset = load_data(source, format=format, path=path)
    split = make_split(dataset.interactions, protocol, negatives=negatives, seed=seed, test_fraction=test_fraction)
    write_neumf(split, target, prefix=prefix)
    counts = (split.test_negatives >= 0).sum(axis=1) if split.test_negatives is not None else np.zeros(0)
    return SplitResult(out=str(target), protocol=protocol, train=len(split.train), test=len(split.test),
                       negatives_per_row=int(counts.max()) if counts.size else 0, users=int(split.num_users),
                       items=int(split.num_items))


def local_paths(*sources: str | None) -> list[Path]:
    """The data sources that are paths on this machine (a registry name is not one)."""
    return [Path(s) for s in sources if s is not None and Path(s).exists()]


def prepare_split(spec: RunSpec, dataset: Any) -> Split:
    """The dataset's published split (or one made by ``spec.split``), plus a validation carve."""
    return run_split(spec, dataset)[0]
