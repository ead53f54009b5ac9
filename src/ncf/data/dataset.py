"""Dataset: what every reader returns -- all interactions, a published split and side data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf.data.features import FeatureTable
from ncf.data.interactions import Interactions, Split
from ncf.errors import DataError

__all__ = ["Dataset"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """What a reader returns: all interactions, an optional published split and side data.

    Parameters
    ----------
    name : str
        Short name (registry name, directory name or file stem).
    path : str or None
        Where the data was read from.
    format : str
        ``"movielens"``, ``"lightgcn"``, ``"neumf"``, ``"csv"``, ``"tsv"``, ``"parquet"`` or
        another producer's tag (e.g. ``"synthetic"``).
    interactions : Interactions
        Every event (train and test together for a published split), with id maps.
    split : Split, optional
        A published split kept as-is, over the same universe as ``interactions``.
    item_titles : (num_items,) str, optional
        Titles aligned with the item index.
    user_features, item_features : FeatureTable, optional
        Encoded side features, row ``r`` for index ``r``.
    """

    name: str
    path: str | None
    format: str
    interactions: Interactions
    split: Split | None = None
    item_titles: npt.NDArray[np.str_] | None = None
    user_features: FeatureTable | None = None
    item_features: FeatureTable | None = None

    def __post_init__(self) -> None:
        data = self.interactions
        if self.split is not None and self.split.train.shape != data.shape:
            raise DataError(
                f"split universe {self.split.train.shape} differs from the interactions' {data.shape}"
            )
        if self.item_titles is not None:
            titles = np.asarray(self.item_titles).astype(str)
            if titles.shape != (data.num_items,):
                raise DataError(f"{titles.shape[0]} item titles for {data.num_items} items")
            titles.setflags(write=False)
            object.__setattr__(self, "item_titles", titles)
        for what, table, n in (
            ("user_features", self.user_features, data.num_users),
            ("item_features", self.item_features, data.num_items),
        ):
            if table is not None and table.num_rows != n:
                raise DataError(f"{what} has {table.num_rows} rows, expected {n}", field=what)

    @property
    def num_users(self) -> int:
        """Number of users in the universe."""
        return self.interactions.num_users

    @property
    def num_items(self) -> int:
        """Number of items in the universe."""
        return self.interactions.num_items

    def __repr__(self) -> str:
        split = f", split={self.split!r}" if self.split is not None else ""
        return (
            f"Dataset({self.name!r}, format={self.format}, {len(self.interactions)} interactions, "
            f"{self.num_users} users x {self.num_items} items{split})"
        )

    def stats(self) -> dict[str, Any]:
        """Counts as plain JSON-ready values.

        Returns
        -------
        dict
            ``name``, ``format``, ``users``, ``items``, ``interactions``, ``density``,
            ``timestamps`` (present and not all one value), ``time_order`` (what leave-one-out
            holds out and why: the latest item, or a random one when timestamps carry no
            order), ``weights`` (present or not), ``user_features``/``item_features``
            (number of encoded columns or None) and, with a split, ``train``, ``test``,
            ``test_users``, ``valid`` (when present) and ``negatives_per_user``: the number of
            negatives of every test row (an int), ``"min-max"`` (a str such as ``"2-99"``) when
            rows have different counts, or None without ``test_negatives``.
        """
        data = self.interactions
        cells = data.num_users * data.num_items
        out: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "users": int(data.num_users),
            "items": int(data.num_items),
            "interactions": len(data),
            "density": float(len(data) / cells) if cells else 0.0,
            "timestamps": data.timestamps is not None and not _constant(data.timestamps),
            "time_order": _time_order_note(data),
            "weights": data.weights is not None,
            "user_features": None if self.user_features is None else self.user_features.num_features,
            "item_features": None if self.item_features is None else self.item_features.num_features,
        }
        split = self.split
        if split is not None:
            out["train"] = len(split.train)
            if split.valid is not None:
                out["valid"] = len(split.valid)
            out["test"] = len(split.test)
            out["test_users"] = int(np.unique(split.test.users).size)
            out["negatives_per_user"] = _negatives_per_row(split.test_negatives)
        return out


def _negatives_per_row(negatives: npt.NDArray[np.int64] | None) -> int | str | None:
    """The count of every row, or ``"min-max"`` for ragged rows (never a flattering maximum)."""
    if negatives is None or negatives.shape[0] == 0:
        return None
    counts = np.sum(negatives >= 0, axis=1)
    lo, hi = int(counts.min()), int(counts.max())
    return hi if lo == hi else f"{lo}-{hi}"


def _constant(values: npt.NDArray[Any]) -> bool:
    return bool(values.size) and bool(values.min() == values.max())


def _time_order_note(data: Interactions) -> str:
    """``"latest: ..."`` or ``"random: ..."``: leave-one-out's rule on this data, with its reason."""
    from ncf.data.splits import holdout_rule

    rule = holdout_rule(data)
    return f"{rule.rule}: {rule.reason}"
