"""``Run``: a trained run directory loaded once — model, id maps, split, seen items, titles.

What ``ncf evaluate``, ``ncf recommend`` and the server use; each part is read on first use
and kept, so a long-lived process pays for it once.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ncf._types import PathLike
from ncf.app.rundir import RunDir, RunInfo
from ncf.app.spec import RunSpec
from ncf.data.features import FeatureTable
from ncf.data.idmap import IdMap, parse_raw_ids, raw_id_list
from ncf.data.interactions import Interactions, Split
from ncf.errors import ConfigError, DataError, UnknownIdError
from ncf.models.base import Model, SequenceAware
from ncf.persistence import SavedModel, load_model

PARTS = ("test", "valid")


class Run:
    """A finished run directory, loaded: use :meth:`load`.

    Attributes
    ----------
    dir : RunDir
    info : RunInfo
        ``run.json``.
    model : Model
        In eval mode, on ``device``.
    user_map, item_map : IdMap or None
        Raw id <-> index maps of the model's universe.
    """

    def __init__(self, rundir: RunDir, info: RunInfo, saved: SavedModel) -> None:
        self.dir = rundir
        self.info = info
        self.model: Model = saved.model
        self.user_map: IdMap | None = saved.user_map
        self.item_map: IdMap | None = saved.item_map
        self.metadata: dict[str, Any] = saved.metadata

    @classmethod
    def load(cls, path: PathLike, *, device: str = "cpu") -> Run:
        """Open the run directory ``path`` and load its trained model."""
        rundir = RunDir(path)
        info = rundir.read_info()
        saved = load_model(rundir.require_model(), device=device)
        return cls(rundir, info, saved)

    @property
    def path(self) -> Path:
        return self.dir.path

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, model={self.model.name!r})"

    @cached_property
    def spec(self) -> RunSpec:
        """The run's settings, as ``run.json`` recorded them."""
        try:
            return RunSpec.from_options((str(self.dir.info_path), self.info.options))
        except ConfigError as exc:
            raise DataError(f"run options no longer valid: {exc}", path=self.dir.info_path) from None

    @cached_property
    def split(self) -> Split:
        split = self.dir.load_split()
        if (split.num_users, split.num_items) != (self.model.num_users, self.model.num_items):
            raise DataError(f"the saved split ({split.num_users} x {split.num_items}) and the model "
                            f"({self.model.num_users} x {self.model.num_items}) disagree", path=self.dir.split_dir)
        return split

    @cached_property
    def titles(self) -> list[str] | None:
        return self.dir.load_titles(self.model.num_items)

    def titles_from(self, path: PathLike, *, offset: int = 0) -> list[str]:
        """Titles by item index from a titles file (:func:`ncf.data.titles.titles_for_items`:
        MovieLens ``u.item``/``movies.dat``/``movies.csv`` or a CSV/TSV), for a run trained
        without them; ``offset``: data id = file id + offset."""
        from ncf.data.titles import titles_for_items

        n = self.model.num_items
        ids = self.item_map.raw_ids if self.item_map is not None else np.arange(n)
        return titles_for_items(path, ids, offset=offset)

    @cached_property
    def features(self) -> tuple[FeatureTable | None, FeatureTable | None]:
        return self.dir.load_features()

    @cached_property
    def seen(self) -> sp.csr_matrix:
        """Every (user, item) the run's data holds (train, valid and test), as CSR."""
        return _union(self.known(), self.split.num_users, self.split.num_items)

    def known(self, before: str | None = None) -> list[Interactions]:
        """The interactions known before evaluating ``before`` ("test": train + valid; "valid": train);
        with ``before=None``, all of them."""
        split = self.split
        if before not in (None, *PARTS):
            raise ConfigError(f"part must be one of {', '.join(PARTS)}, got {before!r}")
        parts = [split.train]
        if before != "valid" and split.valid is not None:
            parts.append(split.valid)
        if before is None:
            parts.append(split.test)
        return parts

    def set_context(self, parts: list[Interactions]) -> None:
        """Sequence-aware models rank each user after their latest item in ``parts``."""
        if isinstance(self.model, SequenceAware):
            known = parts[0]
            for extra in parts[1:]:
                known = known.concat(extra)
            self.model.set_context(known)

    # ------------------------------------------------------------------ ids
    def encode_users(self, raw: list[str] | npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """Raw user ids -> indices; UnknownIdError names the first unknown id."""
        return _encode(self.user_map, raw, self.model.num_users, "user")

    def encode_items(self, raw: list[str] | npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        return _encode(self.item_map, raw, self.model.num_items, "item")

    def decode_items(self, items: npt.NDArray[np.int64]) -> list[str]:
        return _decode(self.item_map, items)

    def decode_users(self, users: npt.NDArray[np.int64]) -> list[str]:
        return _decode(self.user_map, users)


def _union(parts: list[Interactions], num_users: int, num_items: int) -> sp.csr_matrix:
    users = np.concatenate([p.users for p in parts])
    items = np.concatenate([p.items for p in parts])
    mat = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=(num_users, num_items))
    mat.sum_duplicates()
    return mat


def _encode(idmap: IdMap | None, raw: list[str] | npt.NDArray[Any], size: int, what: str) -> npt.NDArray[np.int64]:
    """Raw ids through the one raw-id rule (:func:`ncf.data.idmap.parse_raw_id`), then the map."""
    values = raw_id_list(raw, what=f"{what} ids")
    if idmap is None:  # the raw id is the index
        arr = parse_raw_ids(values, integer=True, what=f"{what} id")
        bad = arr[(arr < 0) | (arr >= size)]
        if bad.size:
            raise UnknownIdError(f"{what} id {int(bad[0])} is outside this run's {size} {what}s")
        return arr
    arr = parse_raw_ids(values, integer=idmap.is_integer, what=f"{what} id")
    try:
        return idmap.encode(arr)
    except UnknownIdError as exc:
        raise UnknownIdError(f"{exc} (not a {what} of this run)") from None


def _decode(idmap: IdMap | None, indices: npt.NDArray[np.int64]) -> list[str]:
    if idmap is None:
        return [str(int(i)) for i in indices]
    return [str(v) for v in idmap.decode(np.asarray(indices, dtype=np.int64))]
