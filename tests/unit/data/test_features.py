"""FeatureTable.load on damaged files: one DataError naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ncf.data import FeatureTable
from ncf.errors import DataError


def test_round_trip_and_damaged_files(tmp_path: Path) -> None:
    table = FeatureTable(np.ones((2, 1), np.float32), ("f",))
    table.save(tmp_path / "t")
    assert FeatureTable.load(tmp_path / "t").names == ("f",)
    (tmp_path / "t.json").write_text('{"other": 1}')
    with pytest.raises(DataError, match="'names' list") as err:
        FeatureTable.load(tmp_path / "t")
    assert err.value.path == str(tmp_path / "t.json")
    (tmp_path / "t.json").write_text('{"names": [1]}')
    with pytest.raises(DataError, match="list of strings"):
        FeatureTable.load(tmp_path / "t")
    (tmp_path / "t.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="not a readable feature array"):
        FeatureTable.load(tmp_path / "t")
