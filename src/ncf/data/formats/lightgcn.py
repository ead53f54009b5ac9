"""LightGCN / NGCF split directories (``train.txt``, ``test.txt``: ``user item item ...``) -> Dataset.

Ids are already contiguous indices; the files are tokenized as raw bytes with numpy (no
per-line Python loop), and the published split is kept as published.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ncf._types import PathLike
from ncf.data.dataset import Dataset
from ncf.data.formats._checks import (
    IdSource,
    check_index_range,
    grow_universe,
    warn_cold_users,
    warn_overlap,
    warn_repeated_pairs,
)
from ncf.data.formats._text import read_bytes, require_file, tokenize_ints
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split
from ncf.data.pairs import PairSet
from ncf.errors import DataError

logger = logging.getLogger(__name__)

__all__ = ["read_lightgcn"]

IntArray = npt.NDArray[np.int64]


def _count_list_file(path: Path) -> int:
    """Entries of a LightGCN ``user_list.txt``/``item_list.txt`` (``org_id remap_id`` lines)."""
    require_file(path)
    lines = read_bytes(path, strip_bom=True).splitlines()
    count = sum(1 for ln in lines if ln.strip())
    first = next((ln.split() for ln in lines if ln.strip()), [])
    if first and not first[-1].isdigit():
        count -= 1  # header line "org_id remap_id"
    return count


class _UserItemLists:
    """The tokens of a ``user item item ...`` file: listed users, then (user, item) pairs."""

    def __init__(self, path: Path) -> None:
        tokens = tokenize_ints(read_bytes(path, strip_bom=True), path, ("user", "item"))
        head = tokens.pos == 0
        self.path = path
        self.line_users: IntArray = tokens.values[head]
        self.user_lines: IntArray = tokens.line[head] + 1
        owner = self.line_users[np.cumsum(head) - 1]
        rest = ~head
        self.users: IntArray = owner[rest]
        self.items: IntArray = tokens.values[rest]
        self.item_lines: IntArray = tokens.line[rest] + 1
        check_index_range(self.line_users, path, lambda row: int(self.user_lines[row]), "user")
        check_index_range(self.items, path, lambda row: int(self.item_lines[row]), "item")


def read_lightgcn(path: PathLike) -> Dataset:
    """Read a LightGCN/NGCF split directory (``train.txt``, ``test.txt``).

    Each line is ``user item item ...`` with ids already contiguous (a user may list no
    items). The universe is ``max id + 1`` over ``train.txt``, or the entry count of
    ``user_list.txt``/``item_list.txt`` when present and larger; ``test.txt`` may extend it
    only contiguously (cold-start users or items, logged as a warning). Id maps are the identity.

    Parameters
    ----------
    path : path-like
        The directory.

    Returns
    -------
    Dataset
        ``format="lightgcn"``, ``split=Split(train, test)`` as published and ``interactions``
        = train followed by test.

    Raises
    ------
    DataError
        Missing files, a token that is not a non-negative integer (with its line), or a test
        id past a gap in the training range (e.g. item 99999 when training has 40,981 items),
        which would inflate the universe.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError("expected a directory with train.txt and test.txt", path=root)
    train = _UserItemLists(root / "train.txt")
    test = _UserItemLists(root / "test.txt")
    if train.items.size == 0:
        raise DataError("no training interactions (empty file?)", path=root / "train.txt", line=1)
    listed = {}
    for kind, fname in (("user", "user_list.txt"), ("item", "item_list.txt")):
        listed[kind] = _count_list_file(root / fname) if (root / fname).is_file() else 0
    base_users = max(int(train.line_users.max(initial=-1)) + 1, listed["user"])
    base_items = max(int(train.items.max(initial=-1)) + 1, listed["item"])
    known = "train.txt" + (" and user_list.txt" if listed["user"] else "")
    num_users = grow_universe(
        "user", base_users, [IdSource(test.line_users, test.user_lines, test.path, "user")],
        known_from=known, warn=False,  # warn_cold_users reports them
    )
    known = "train.txt" + (" and item_list.txt" if listed["item"] else "")
    num_items = grow_universe(
        "item", base_items, [IdSource(test.items, test.item_lines, test.path, "item")], known_from=known
    )
    user_map, item_map = IdMap.identity(num_users), IdMap.identity(num_items)
    made, pairs = {}, {}
    for part in (train, test):
        name = part.path.stem
        pairs[name] = PairSet(part.users, part.items, num_users=num_users, num_items=num_items)
        warn_repeated_pairs(part.users.size, pairs[name], str(part.path))
        made[name] = Interactions(part.users, part.items, num_users, num_items, None, None, user_map, item_map)
    train_pairs = pairs["train"]
    warn_overlap(train_pairs, test.users, test.items, str(root))
    warn_cold_users(train_pairs, test.users, str(test.path))
    split = Split(made["train"], made["test"])
    logger.info("%s: LightGCN split %r", root, split)
    return Dataset(root.name, str(root), "lightgcn", split.train.concat(split.test), split)
