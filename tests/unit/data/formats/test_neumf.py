"""read_neumf: alignment of the negatives, the universe, and hostile files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from ncf.data import IdMap, load_dataset, read_neumf
from ncf.errors import DataError

from ._files import make_neumf, write


def test_neumf(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        ds = read_neumf(make_neumf(tmp_path / "nm"))
    assert caplog.text == ""  # a clean split logs nothing
    assert ds.format == "neumf" and ds.name == "tiny"
    split = ds.split
    assert split is not None and split.test_negatives is not None
    assert ds.interactions.shape == (3, 6)
    np.testing.assert_array_equal(split.test_negatives, [[3, 4, 5], [0, 2, 5], [3, 4, 1]])
    np.testing.assert_array_equal(split.train.weights, [5, 3, 4, 1, 2])
    np.testing.assert_array_equal(split.test.timestamps, [200, 201, 202])
    stats = ds.stats()
    assert stats["negatives_per_user"] == 3 and stats["test_users"] == 3
    assert stats["train"] + stats["test"] == stats["interactions"] == 8


def test_neumf_prefix_paths_and_several_prefixes(tmp_path: Path) -> None:
    root = make_neumf(tmp_path / "nm", "a")
    make_neumf(root, "b")
    with pytest.raises(DataError, match=r"\['a', 'b'\]"):
        read_neumf(root)
    assert read_neumf(root / "b").name == "b"
    assert read_neumf(root / "a.test.negative").name == "a"
    assert load_dataset(root / "a").format == "neumf"


def test_neumf_maps_beside_the_files(tmp_path: Path) -> None:
    root = make_neumf(tmp_path / "nm")
    IdMap(np.array(["u0", "u1", "u2", "u3"])).save(root / "user_map.json")
    ds = read_neumf(root)
    assert ds.num_users == 4 and ds.interactions.user_map is not None
    assert ds.interactions.user_map.decode([3])[0] == "u3"
    IdMap(np.array(["u0", "u1"])).save(root / "user_map.json")
    with pytest.raises(DataError, match="has 2 ids but tiny.train.rating uses index 2"):
        read_neumf(root)
    IdMap(np.arange(6)).save(root / "item_map.json")
    IdMap(np.arange(3)).save(root / "user_map.json")
    write(root / "tiny.test.negative", "(1,4)\t0\n(2,0)\t9\n(0,2)\t3\n")
    with pytest.raises(DataError, match="item 9 is outside item_map.json, which has 6 ids") as err:
        read_neumf(root)
    assert (err.value.line, err.value.field) == (2, "negative")


@pytest.mark.parametrize(
    ("negative", "path_of", "line", "match"),
    [
        ("(1,4)\t0\n(0,2)\t3\n", "test.rating", 3, "no line"),  # test row (2,0) has no negatives
        ("(1,4)\t0\n(2,0)\t3\n(0,2)\t3\n(2,3)\t1\n", "test.negative", 4, "not a row"),
        ("(1,4)\t0\n(2,0)\t3\n(1,4)\t1\n(0,2)\t3\n", "test.negative", 3, "two negative lines"),
        ("(1,4)\t0\n2,0\t3\n(0,2)\t3\n", "test.negative", 2, "open with"),
        ("(1,4)\t0\n(2,0)\tz\n(0,2)\t3\n", "test.negative", 2, "'z'"),
        ("(1,4)\t0\n(2,x)\t3\n(0,2)\t3\n", "test.negative", 2, r"found '\(2,x\)'"),
        ("(1,4)\t0\n(2,0\t3\n(0,2)\t3\n", "test.negative", 2, r"found '\(2,0'"),
        ("(1,4)\t0\n(2,0,1)\t3\n(0,2)\t3\n", "test.negative", 2, "open with"),
    ],
)
def test_neumf_negative_errors(tmp_path: Path, negative: str, path_of: str, line: int, match: str) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.test.negative", negative)
    with pytest.raises(DataError, match=match) as err:
        read_neumf(root)
    assert err.value.path == str(root / f"tiny.{path_of}")
    assert err.value.line == line


def test_neumf_missing_file_and_bad_rating(tmp_path: Path) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.train.rating", "0\t0\t5\t100\n0\t1\tfive\t101\n")
    with pytest.raises(DataError, match="not a number") as err:
        read_neumf(root)
    assert (err.value.line, err.value.field) == (2, "weight (column 2)")
    write(root / "tiny.train.rating", "0\t0\t5\t100\nbob\t1\t3\t101\n")
    with pytest.raises(DataError, match="'bob' is not an integer index") as err:
        read_neumf(root)
    assert (err.value.line, err.value.field) == (2, "user (column 0)")
    (root / "tiny.test.rating").unlink()
    with pytest.raises(DataError, match="not found"):
        read_neumf(root)
    with pytest.raises(DataError, match="no NeuMF files"):
        read_neumf(tmp_path)


# ====================================================================== hostile input
def test_unknown_negative_item_does_not_inflate_the_catalogue(tmp_path: Path) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.test.negative", "(1,4)\t0\t2\t5\n(2,0)\t3\t99999\t1\n(0,2)\t3\t4\t5\n")
    with pytest.raises(DataError, match="item 99999 is outside the 6 items of tiny.train.rating") as err:
        read_neumf(root)
    assert (err.value.path, err.value.line, err.value.field) == (str(root / "tiny.test.negative"), 2, "negative")
    assert "would add 99993 item ids that no file uses" in str(err.value)


def test_test_user_unknown_to_train(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.test.rating", "0\t2\t4\t200\n1\t4\t2\t201\n9\t0\t5\t202\n")
    write(root / "tiny.test.negative", "(1,4)\t0\n(9,0)\t3\n(0,2)\t3\n")
    with pytest.raises(DataError, match="user 9 is outside the 3 users of tiny.train.rating") as err:
        read_neumf(root)
    assert (err.value.path, err.value.line) == (str(root / "tiny.test.rating"), 3)
    # the next id after the training range is a cold-start user: kept, and said so
    write(root / "tiny.test.rating", "0\t2\t4\t200\n1\t4\t2\t201\n3\t0\t5\t202\n")
    write(root / "tiny.test.negative", "(1,4)\t0\n(3,0)\t3\n(0,2)\t3\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        ds = read_neumf(root)
    assert ds.num_users == 4
    assert "1 test users have no training interactions (cold start, e.g. user 3)" in caplog.text


def test_ragged_negative_lines_are_counted_honestly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.test.negative", "(1,4)\t0\t2\t5\n(2,0)\t3\n(0,2)\t3\t4\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        ds = read_neumf(root)
    assert ds.split is not None and ds.split.test_negatives is not None
    np.testing.assert_array_equal(ds.split.test_negatives, [[3, 4, -1], [0, 2, 5], [3, -1, -1]])
    assert ds.stats()["negatives_per_user"] == "1-3"
    assert "2 of 3 lines have fewer than 3 negatives (min 1, first at line 2)" in caplog.text


def test_leaks_between_test_negatives_and_train_are_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.test.rating", "0\t1\t4\t200\n1\t4\t2\t201\n2\t0\t5\t202\n")  # (0,1) is in train
    # line 1: 3 is a training positive of user 1; line 2: 0 is its test item, 3 repeats
    write(root / "tiny.test.negative", "(1,4)\t3\t2\n(2,0)\t0\t3\t3\n(0,1)\t3\t4\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        ds = read_neumf(root)
    assert ds.split is not None and len(ds.split.test) == 3  # kept as published
    text = caplog.text
    assert "1 test pairs also occur in train" in text
    assert "1 negatives on 1 lines are training positives of the line's user (first at line 1)" in text
    assert "1 negatives on 1 lines equal the line's test item (first at line 2)" in text
    assert "1 negatives on 1 lines repeat an earlier negative of the same line (first at line 2)" in text


def test_constant_timestamps_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.train.rating", "0\t0\t5\t0\n0\t1\t3\t0\n1\t1\t4\t0\n2\t5\t1\t0\n1\t3\t2\t0\n")
    write(root / "tiny.test.rating", "0\t2\t4\t0\n1\t4\t2\t0\n2\t0\t5\t0\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        read_neumf(root)
    assert "all 8 timestamps are equal (0), so they carry no order" in caplog.text


def test_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    root = make_neumf(tmp_path / "nm")
    for name in ("tiny.train.rating", "tiny.test.rating", "tiny.test.negative"):
        text = (root / name).read_text()
        write(root / name, "\ufeff" + text.replace("\n", "\r\n") + "\r\n")
    ds = read_neumf(root)
    assert ds.split is not None and ds.split.test_negatives is not None
    np.testing.assert_array_equal(ds.split.test_negatives, [[3, 4, 5], [0, 2, 5], [3, 4, 1]])
    # a bad value after blank lines: the line number is the file's, not the row's
    write(root / "tiny.test.rating", "0\t2\t4\t200\n\n\n1\tx\t2\t201\n2\t0\t5\t202\n")
    with pytest.raises(DataError, match="'x' is not an integer index") as err:
        read_neumf(root)
    assert (err.value.line, err.value.field) == (4, "item (column 1)")


def test_negative_ids_in_rating_files(tmp_path: Path) -> None:
    root = make_neumf(tmp_path / "nm")
    write(root / "tiny.train.rating", "0\t0\t5\t100\n\n-1\t1\t3\t101\n")
    with pytest.raises(DataError, match="negative index") as err:
        read_neumf(root)
    assert (err.value.line, err.value.field) == (3, "user (column 0)")


def test_no_stray_files(tmp_path: Path) -> None:
    """Readers never write next to the data they read."""
    root = make_neumf(tmp_path / "nm")
    before = sorted(p.name for p in root.iterdir())
    read_neumf(root)
    assert sorted(p.name for p in root.iterdir()) == before
