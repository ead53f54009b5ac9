from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ncf.data import IdMap, Interactions, Split
from ncf.errors import DataError, UnknownIdError


def test_idmap_roundtrip_int_and_str(tmp_path):
    for raw in (np.array([30, 10, 20]), np.array(["b", "a", "c"])):
        m = IdMap(raw)
        assert len(m) == 3
        np.testing.assert_array_equal(m.decode(m.encode(raw)), raw)
        m.save(tmp_path / "m.json")
        assert IdMap.load(tmp_path / "m.json") == m


def test_idmap_unknown_and_duplicates():
    m = IdMap(["a", "b"])
    with pytest.raises(UnknownIdError, match="'zz'"):
        m.encode(["a", "zz"])
    with pytest.raises(UnknownIdError):
        m.decode([2])
    with pytest.raises(DataError, match="twice"):
        IdMap([1, 2, 1])
    assert m.contains(["a", "q"]).tolist() == [True, False]


@given(st.lists(st.integers(-(10**12), 10**12), min_size=0, max_size=60))
@settings(max_examples=50, deadline=None)
def test_idmap_factorize_matches_python(values):
    m, codes = IdMap.factorize(np.asarray(values, dtype=np.int64))
    assert [m.decode([c])[0] for c in codes] == values
    assert len(m) == len(set(values))


def test_interactions_validates_and_is_readonly():
    x = Interactions.from_arrays([0, 1], [1, 2], num_users=2, num_items=3)
    assert x.shape == (2, 3) and len(x) == 2
    with pytest.raises(ValueError):
        x.users[0] = 5
    with pytest.raises(DataError, match="out of range"):
        Interactions(np.array([0]), np.array([3]), 1, 3)
    with pytest.raises(DataError, match="NaN"):
        Interactions.from_arrays([0], [0], weights=[np.nan])
    assert "2 interactions" in repr(x)


def test_duplicate_policies():
    u, i, t = [0, 0, 1, 0], [1, 1, 2, 1], [5, 9, 1, 3]
    with pytest.raises(DataError, match="duplicate"):
        Interactions.from_arrays(u, i, timestamps=t)
    last = Interactions.from_arrays(u, i, timestamps=t, weights=[1, 2, 3, 4], duplicates="keep_last")
    assert len(last) == 2
    row = np.flatnonzero(last.users == 0)[0]
    assert last.timestamps[row] == 9 and last.weights[row] == 2
    summed = Interactions.from_arrays(u, i, duplicates="sum")
    assert sorted(summed.weights.tolist()) == [1.0, 3.0]
    assert len(Interactions.from_arrays(u, i, duplicates="keep")) == 4


def test_csr_and_counts():
    x = Interactions.from_arrays([0, 0, 2], [1, 3, 1], num_users=3, num_items=4)
    dense = x.to_csr().toarray()
    assert dense.shape == (3, 4) and dense[0, 1] == 1 and dense[2, 1] == 1 and dense.sum() == 3
    assert x.user_counts().tolist() == [2, 0, 1]
    assert x.item_counts().tolist() == [0, 2, 0, 1]


def test_save_load_roundtrip(tmp_path):
    umap, u = IdMap.factorize(["x", "y", "x"])
    imap, i = IdMap.factorize([10, 20, 30])
    x = Interactions.from_arrays(u, i, timestamps=[1, 2, 3], weights=[1.0, 2.0, 5.0], user_map=umap, item_map=imap)
    x.save(tmp_path / "d")
    y = Interactions.load(tmp_path / "d")
    for a in ("users", "items", "timestamps", "weights"):
        np.testing.assert_array_equal(getattr(x, a), getattr(y, a))
    assert y.user_map == umap and y.item_map == imap
    with pytest.raises(DataError, match="arrays.npz"):
        Interactions.load(tmp_path)


def test_split_checks_universe_and_negatives():
    a = Interactions.from_arrays([0, 1], [0, 1], num_users=2, num_items=3)
    b = Interactions.from_arrays([0], [2], num_users=2, num_items=3)
    s = Split(a, b, test_negatives=np.array([[1, -1]]))
    assert s.num_items == 3 and "negatives/row=2" in repr(s)
    with pytest.raises(DataError, match="universe"):
        Split(a, Interactions.from_arrays([0], [0], num_users=2, num_items=4))
    with pytest.raises(DataError, match="one row per"):
        Split(a, b, test_negatives=np.array([[1], [2]]))


# ---------------------------------------------------------------------- hostile input
def test_from_arrays_refuses_non_integral_ids():
    with pytest.raises(DataError, match=r"^field 'users': users must be integer indices; row 0 holds 0.5$"):
        Interactions.from_arrays([0.5, 1.0], [0, 1])
    with pytest.raises(DataError, match="row 1 holds nan"):
        Interactions.from_arrays([0, 1], [0, float("nan")])
    with pytest.raises(DataError, match="got booleans"):
        Interactions.from_arrays([True, False], [0, 1])
    with pytest.raises(DataError, match="encode raw ids first"):
        Interactions.from_arrays(["alice"], [0])
    with pytest.raises(DataError, match="row 0 holds None|dtype object"):
        Interactions.from_arrays([None, 1], [0, 1])


def test_from_arrays_accepts_integral_floats_with_a_warning():
    from ncf.errors import ParameterWarning

    with pytest.warns(ParameterWarning, match="users were floats with integral values"):
        data = Interactions.from_arrays(np.array([0.0, 2.0]), [1, 0])
    assert data.users.dtype == np.int64 and data.users.tolist() == [0, 2] and data.num_users == 3
    assert Interactions.from_arrays([], []).shape == (0, 0)  # empty lists are fine


def test_bad_indices_name_the_value():
    with pytest.raises(DataError, match=r"user index -1 out of range \[0, 2\)"):
        Interactions.from_arrays([-1, 1], [0, 1])
    with pytest.raises(DataError, match=r"item index 7 out of range \[0, 3\)"):
        Interactions.from_arrays([0, 1], [7, 1], num_items=3, duplicates="keep")
    with pytest.raises(DataError, match="num_users must be a non-negative integer, got 2.5"):
        Interactions.from_arrays([0, 1], [0, 1], num_users=2.5)  # type: ignore[arg-type]


def test_timestamps_and_weights_must_be_numbers():
    with pytest.raises(DataError, match="timestamps must be numbers, got dtype <U"):
        Interactions.from_arrays([0, 1], [0, 1], timestamps=["a", "b"])
    with pytest.raises(DataError, match="convert date-times to seconds"):
        Interactions.from_arrays([0, 1], [0, 1], timestamps=np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]"))
    with pytest.raises(DataError, match=r"weights contain NaN or infinite values \(row 1: nan\)"):
        Interactions.from_arrays([0, 1], [0, 1], weights=[1.0, float("nan")])
    with pytest.raises(DataError, match=r"timestamps contain NaN or infinite values \(row 0: inf\)"):
        Interactions.from_arrays([0, 1], [0, 1], timestamps=[float("inf"), 1.0])
    with pytest.raises(DataError, match="weights must be numbers"):
        Interactions.from_arrays([0, 1], [0, 1], weights=["x", "y"])


def test_load_of_a_damaged_directory(tmp_path):
    data = Interactions.from_arrays([0, 1], [1, 0])
    data.save(tmp_path / "d")
    (tmp_path / "d" / "arrays.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable arrays.npz"):
        Interactions.load(tmp_path / "d")
    np.savez(tmp_path / "d" / "arrays.npz", users=np.array([0]), items=np.array([0]))
    with pytest.raises(DataError, match="lacks the array 'universe'|lacks the array"):
        Interactions.load(tmp_path / "d")
