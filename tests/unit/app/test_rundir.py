"""RunDir: the run-directory layout, atomic writes and clear errors for damaged files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ncf.app.rundir import FORMAT_VERSION, RunDir, RunInfo
from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.errors import DataError, NotFittedError


@pytest.fixture(scope="module")
def split():
    return leave_one_out(synthetic(num_users=30, num_items=60, seed=1).interactions, num_negatives=9, seed=0)


def test_split_round_trip(tmp_path, split):
    run = RunDir(tmp_path / "r")
    run.save_split(split)
    back = run.load_split()
    np.testing.assert_array_equal(back.train.users, split.train.users)
    np.testing.assert_array_equal(back.test.items, split.test.items)
    np.testing.assert_array_equal(back.test_negatives, split.test_negatives)
    assert back.train.user_map == split.train.user_map
    assert back.valid is None and back.valid_negatives is None


def test_truncated_or_foreign_negatives_are_data_errors(tmp_path, split):
    run = RunDir(tmp_path / "r")
    run.save_split(split)
    path = run.split_dir / "test_negatives.npy"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="test_negatives.npy: unreadable negatives"):
        run.load_split()
    np.save(path, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(DataError, match="3 rows of negatives for 30"):
        run.load_split()
    np.save(path, np.full((30, 2), 10**6, dtype=np.int64))
    with pytest.raises(DataError, match="outside the item range"):
        run.load_split()


@pytest.mark.parametrize(
    ("content", "match"),
    [("[1, 2", "invalid JSON"), ('{"a": 1}', "list of strings"), ('["a", 2]', "list of strings"),
     ('["a", "b"]', "2 titles for 5 items")],
)
def test_bad_titles_are_data_errors(tmp_path, content, match):
    run = RunDir(tmp_path)
    run.titles_path.write_text(content)
    with pytest.raises(DataError, match=match):
        run.load_titles(num_items=5)


def test_titles_round_trip(tmp_path):
    run = RunDir(tmp_path)
    assert run.load_titles(3) is None
    run.save_titles(["a", "b\tc", "ü"])
    assert run.load_titles(3) == ["a", "b\tc", "ü"]


def test_run_info_versions(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(DataError, match="run.json missing"):
        run.read_info()
    run.write_info(RunInfo(options={"model": "mf"}))
    assert run.read_info().format_version == FORMAT_VERSION
    old = {"options": {"model": "mf"}, "status": "done"}  # version 1 had no format_version
    run.info_path.write_text(json.dumps(old))
    assert run.read_info().format_version == 1
    run.info_path.write_text(json.dumps({**old, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(DataError, match="upgrade ncf"):
        run.read_info()
    run.info_path.write_text("{oops")
    with pytest.raises(DataError, match="invalid JSON"):
        run.read_info()


def test_require_model_says_what_to_do(tmp_path):
    run = RunDir(tmp_path)
    run.write_info(RunInfo(options={}))
    with pytest.raises(NotFittedError, match="train it again"):
        run.require_model()
    (run.checkpoint_dir).mkdir()
    (run.checkpoint_dir / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(NotFittedError, match="--resume"):
        run.require_model()


def test_clear_removes_only_what_ncf_wrote(tmp_path, split):
    run = RunDir(tmp_path / "r")
    run.save_split(split)
    run.write_info(RunInfo(options={}))
    run.save_titles(["x"])
    (run.path / "notes.txt").write_text("mine")
    run.clear()
    assert sorted(p.name for p in run.path.iterdir()) == ["notes.txt"]
    (run.path / "notes.txt").unlink()
    run.save_split(split)
    run.clear()
    assert not run.path.exists()  # nothing foreign was left: the directory goes too
