"""write_neumf: the NeuMF file format, exact round trips through read_neumf, atomic output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ncf.data.writers as writers
from ncf.data import read_neumf
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split
from ncf.data.writers import write_neumf
from ncf.errors import DataError


def toy_split(*, with_maps: bool = True, float_weights: bool = False) -> Split:
    umap = IdMap(np.array(["ann", "bob", "cid"])) if with_maps else None
    imap = IdMap(np.array([10, 20, 30, 40, 50])) if with_maps else None
    weights = [4.5, 3.0, 2.25, 5.0] if float_weights else [4, 3, 2, 5]
    train = Interactions(
        np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 3, 5,
        np.array([10, 11, 12, 13]), np.array(weights, np.float32), umap, imap,
    )
    test = Interactions(np.array([0, 1, 2]), np.array([2, 3, 4]), 3, 5, np.array([20, 21, 22]), np.array([1, 2, 3], np.float32), umap, imap)
    negs = np.array([[3, 4, -1], [0, 2, 4], [-1, -1, -1]])
    return Split(train, test, test_negatives=negs)


def assert_same(a: Split, b: Split) -> None:
    for part in ("train", "test"):
        x, y = getattr(a, part), getattr(b, part)
        assert x.shape == y.shape
        np.testing.assert_array_equal(x.users, y.users)
        np.testing.assert_array_equal(x.items, y.items)
        # the format always has a rating and a timestamp: absent ones come back as 1 and 0
        np.testing.assert_array_equal(np.ones(len(x)) if x.weights is None else x.weights, y.weights)
        np.testing.assert_array_equal(np.zeros(len(x)) if x.timestamps is None else x.timestamps, y.timestamps)
    assert a.test_negatives is not None and b.test_negatives is not None
    width = max(a.test_negatives.shape[1], b.test_negatives.shape[1])

    def pad(m: np.ndarray) -> np.ndarray:
        return np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=-1)

    np.testing.assert_array_equal(pad(a.test_negatives), pad(b.test_negatives))


def test_exact_file_format(tmp_path: Path) -> None:
    out = write_neumf(toy_split(), tmp_path / "out", prefix="toy")
    assert out == tmp_path / "out"
    assert (out / "toy.train.rating").read_text() == "0\t0\t4\t10\n0\t1\t3\t11\n1\t1\t2\t12\n2\t0\t5\t13\n"
    assert (out / "toy.test.rating").read_text() == "0\t2\t1\t20\n1\t3\t2\t21\n2\t4\t3\t22\n"
    assert (out / "toy.test.negative").read_text() == "(0,2)\t3\t4\n(1,3)\t0\t2\t4\n(2,4)\n"
    assert sorted(p.name for p in out.iterdir()) == [
        "item_map.json", "toy.test.negative", "toy.test.rating", "toy.train.rating", "user_map.json",
    ]


def test_round_trip_keeps_arrays_negatives_maps_and_universe(tmp_path: Path) -> None:
    split = toy_split(float_weights=True)
    write_neumf(split, tmp_path / "out", prefix="toy")
    ds = read_neumf(tmp_path / "out")
    assert ds.split is not None
    assert_same(split, ds.split)
    assert ds.interactions.user_map == split.train.user_map
    assert ds.interactions.item_map == split.train.item_map
    assert ds.split.test_negatives is not None and ds.split.test_negatives.shape == (3, 3)


def test_round_trip_without_maps_and_weights(tmp_path: Path) -> None:
    base = toy_split(with_maps=False)
    train = Interactions(base.train.users, base.train.items, 3, 8)  # items 5..7 unused: the map keeps them
    test = Interactions(base.test.users, base.test.items, 3, 8)
    split = Split(train, test, test_negatives=base.test_negatives)
    write_neumf(split, tmp_path / "o")
    ds = read_neumf(tmp_path / "o")
    assert ds.name == "data" and ds.split is not None
    assert ds.interactions.shape == (3, 8)
    np.testing.assert_array_equal(ds.split.train.weights, np.ones(4))
    np.testing.assert_array_equal(ds.split.train.timestamps, np.zeros(4))
    assert ds.interactions.item_map == IdMap.identity(8)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    nu = data.draw(st.integers(1, 6))
    ni = data.draw(st.integers(1, 9))
    n_train = data.draw(st.integers(1, 20))
    n_test = data.draw(st.integers(1, 6))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    ts = rng.integers(0, 10**10, n_train) if data.draw(st.booleans()) else rng.random(n_train) * 1e9
    train = Interactions(
        rng.integers(0, nu, n_train), rng.integers(0, ni, n_train), nu, ni, ts,
        rng.random(n_train).astype(np.float32) * 5,
    )
    test = Interactions(rng.integers(0, nu, n_test), rng.integers(0, ni, n_test), nu, ni)
    # distinct (user, item) test pairs: the negative file is keyed by them
    keys = test.users * ni + test.items
    _, first = np.unique(keys, return_index=True)
    test = test.select(np.sort(first))
    width = data.draw(st.integers(0, 5))
    negs = rng.integers(-1, ni, (len(test), width))
    negs = -np.sort(-negs, axis=1)  # padding (-1) at the end of each row
    split = Split(train, test, test_negatives=negs)
    out = tmp_path_factory.mktemp("rt") / "d"
    write_neumf(split, out, prefix="p")
    back = read_neumf(out)
    assert back.split is not None
    assert_same(split, back.split)


def test_needs_negatives_and_a_plain_prefix(tmp_path: Path) -> None:
    split = toy_split()
    with pytest.raises(DataError, match="test_negatives"):
        write_neumf(Split(split.train, split.test), tmp_path / "x")
    with pytest.raises(DataError, match="prefix"):
        write_neumf(split, tmp_path / "x", prefix="../evil")
    assert not (tmp_path / "x").exists()


def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writers, "_write_negatives", boom)
    with pytest.raises(OSError, match="disk full"):
        write_neumf(toy_split(), tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "old"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(OSError, match="disk full"):
        write_neumf(toy_split(), existing)
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_existing_directory_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("notes")
    write_neumf(toy_split(), out, prefix="a")
    write_neumf(toy_split(), out, prefix="a")  # overwrite in place
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "a.test.negative", "a.test.rating", "a.train.rating", "item_map.json", "user_map.json"]
    assert read_neumf(out).split is not None
