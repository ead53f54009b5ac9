"""read_lightgcn: the published split, the universe, and hostile files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ncf.data import IdMap, read_lightgcn
from ncf.errors import DataError

from ._files import make_lightgcn, write


def test_lightgcn(tmp_path: Path) -> None:
    ds = read_lightgcn(make_lightgcn(tmp_path / "lg"))
    assert ds.format == "lightgcn" and ds.split is not None
    assert ds.interactions.shape == (3, 5)
    np.testing.assert_array_equal(ds.split.train.users, [0, 0, 0, 1, 1, 2])
    np.testing.assert_array_equal(ds.split.train.items, [0, 1, 2, 2, 3, 4])
    np.testing.assert_array_equal(ds.split.test.users, [0, 2, 2])
    np.testing.assert_array_equal(ds.split.test.items, [3, 1, 0])
    assert len(ds.interactions) == 9
    assert ds.interactions.user_map == IdMap.identity(3)
    stats = ds.stats()
    assert (stats["train"], stats["test"], stats["test_users"], stats["negatives_per_user"]) == (6, 3, 2, None)


def test_lightgcn_universe_from_lists_and_crlf(tmp_path: Path) -> None:
    root = tmp_path / "lg"
    write(root / "train.txt", "0 0 1 \r\n1 1\r\n")
    write(root / "test.txt", "0 1\r\n")
    write(root / "user_list.txt", "org_id remap_id\n77 0\n78 1\n79 2\n80 3\n")
    write(root / "item_list.txt", "org_id remap_id\nA 0\nB 1\n")
    ds = read_lightgcn(root)
    assert ds.interactions.shape == (4, 2)


def test_lightgcn_errors(tmp_path: Path) -> None:
    root = make_lightgcn(tmp_path / "lg")
    write(root / "test.txt", "0 3\n1 x7\n")
    with pytest.raises(DataError, match="x7") as err:
        read_lightgcn(root)
    assert (err.value.path, err.value.line, err.value.field) == (str(root / "test.txt"), 2, "item")
    write(root / "test.txt", "0 3\n-1 2\n")
    with pytest.raises(DataError) as err:
        read_lightgcn(root)
    assert (err.value.line, err.value.field) == (2, "user")
    write(root / "train.txt", "")
    write(root / "test.txt", "0 1\n")
    with pytest.raises(DataError, match="no training") as err:
        read_lightgcn(root)
    assert err.value.path == str(root / "train.txt")
    (root / "test.txt").unlink()
    with pytest.raises(DataError, match="not found") as err:
        read_lightgcn(root)
    assert err.value.path == str(root / "test.txt")


# ====================================================================== hostile input
def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "lg"
    write(root / "train.txt", "\ufeff0 0 1\n1 1\n")
    write(root / "test.txt", "\ufeff0 2\n")
    ds = read_lightgcn(root)
    assert ds.interactions.shape == (2, 3)


def test_non_digit_bytes_are_shown_escaped(tmp_path: Path) -> None:
    root = tmp_path / "lg"
    (root).mkdir()
    (root / "train.txt").write_bytes(b"0 0 1\n1 \xe9\n")
    write(root / "test.txt", "0 1\n")
    with pytest.raises(DataError, match=r"b'\\xe9' is not a non-negative integer") as err:
        read_lightgcn(root)
    assert (err.value.line, err.value.field) == (2, "item")


@pytest.mark.parametrize(
    ("test", "line", "field", "match"),
    [
        ("0 2\n7 1\n", 2, "user", "user 7 is outside the 2 users of train.txt .* would add 5 user ids"),
        ("0 99999\n", 1, "item", "item 99999 is outside the 3 items of train.txt .* would add 99996 item ids"),
    ],
)
def test_test_ids_past_a_gap_are_refused(tmp_path: Path, test: str, line: int, field: str, match: str) -> None:
    root = tmp_path / "lg"
    write(root / "train.txt", "0 0 1\n1 1 2\n")
    write(root / "test.txt", test)
    with pytest.raises(DataError, match=match) as err:
        read_lightgcn(root)
    assert (err.value.path, err.value.line, err.value.field) == (str(root / "test.txt"), line, field)


def test_contiguous_cold_ids_are_kept_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "lg"
    write(root / "train.txt", "0 0 1\n1 1 2\n")
    write(root / "test.txt", "0 3\n2 0\n")  # user 2 and item 3 never occur in train
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        ds = read_lightgcn(root)
    assert ds.interactions.shape == (3, 4)
    assert "1 item ids past the training range (3..3) never occur in train.txt" in caplog.text
    assert "1 test users have no training interactions (cold start, e.g. user 2)" in caplog.text


def test_repeats_and_overlap_are_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "lg"
    write(root / "train.txt", "0 0 0 1\n1 1 2\n")
    write(root / "test.txt", "0 1\n1 0\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        ds = read_lightgcn(root)
    assert ds.split is not None and len(ds.split.train) == 5  # kept as published
    assert "1 repeated (user, item) pairs kept as published" in caplog.text
    assert "1 test pairs also occur in train" in caplog.text


def test_clean_split_logs_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "lg"
    write(root / "train.txt", "0 0 1\n1 1 2\n")
    write(root / "test.txt", "0 2\n1 0\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        read_lightgcn(root)
    assert caplog.text == ""


def test_a_directory_named_train_txt(tmp_path: Path) -> None:
    root = tmp_path / "lg"
    (root / "train.txt").mkdir(parents=True)
    write(root / "test.txt", "0 1\n")
    with pytest.raises(DataError, match="is a directory") as err:
        read_lightgcn(root)
    assert err.value.path == str(root / "train.txt")
