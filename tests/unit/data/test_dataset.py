"""Dataset: validation, repr and stats (an honest negatives count)."""

from __future__ import annotations

import numpy as np
import pytest

from ncf.data import Dataset, FeatureTable, Interactions, Split
from ncf.errors import DataError


def test_dataset_repr_stats_and_validation() -> None:
    data = Interactions.from_arrays([0, 1, 1], [0, 0, 1], num_users=2, num_items=3)
    split = Split(data.select([0, 1]), data.select([2]), test_negatives=np.array([[2, -1]]))
    ds = Dataset("toy", None, "synthetic", data, split, np.array(["a", "b", "c"]))
    assert "\n" not in repr(ds) and "toy" in repr(ds)
    stats = ds.stats()
    assert stats["users"] == 2 and stats["items"] == 3 and stats["interactions"] == 3
    assert stats["negatives_per_user"] == 1 and stats["test_users"] == 1
    with pytest.raises(DataError, match="titles"):
        Dataset("toy", None, "x", data, item_titles=np.array(["a"]))
    with pytest.raises(DataError, match="rows"):
        Dataset("toy", None, "x", data, user_features=FeatureTable(np.zeros((5, 1), np.float32), ("f",)))


def test_negatives_per_user_is_a_range_for_ragged_rows() -> None:
    data = Interactions.from_arrays([0, 1, 1, 0], [0, 0, 1, 2], num_users=2, num_items=4)
    ragged = np.array([[1, 3], [2, -1]])
    ds = Dataset("toy", None, "x", data, Split(data.select([0, 1]), data.select([2, 3]), test_negatives=ragged))
    assert ds.stats()["negatives_per_user"] == "1-2"
    none = Dataset("toy", None, "x", data, Split(data.select([0, 1]), data.select([2, 3])))
    assert none.stats()["negatives_per_user"] is None


def test_stats_say_when_timestamps_carry_no_order() -> None:
    users, items = [0, 0, 1, 1], [0, 1, 1, 2]
    flat = Dataset("flat", None, "csv", Interactions.from_arrays(users, items, timestamps=[7, 7, 7, 7]))
    stats = flat.stats()
    assert stats["timestamps"] is False and stats["time_order"].startswith("random: all timestamps are equal")
    ordered = Dataset("ordered", None, "csv", Interactions.from_arrays(users, items, timestamps=[1, 2, 3, 4])).stats()
    assert ordered["timestamps"] is True and ordered["time_order"].startswith("latest")
    per_user = Dataset("pu", None, "csv", Interactions.from_arrays(users, items, timestamps=[1, 1, 5, 5])).stats()
    assert per_user["timestamps"] is True and per_user["time_order"].startswith("random: each user's")
    none = Dataset("none", None, "csv", Interactions.from_arrays(users, items)).stats()
    assert none["timestamps"] is False and none["time_order"] == "random: no timestamps"
