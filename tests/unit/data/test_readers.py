"""Readers: tables (CSV/TSV/Parquet), MovieLens, LightGCN, NeuMF, auto-detection and errors."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncf.data.features import FeatureTable
from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split
from ncf.data.readers import (
    Dataset,
    detect_format,
    load_dataset,
    read_lightgcn,
    read_movielens,
    read_neumf,
    read_table,
)
from ncf.errors import ConfigError, DataError

SHARED = Path("/work/shared/data")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


# ====================================================================== read_table: happy paths
def test_csv_with_header_string_ids(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "user,item,rating,ts\nbob,x,5,30\nalice,y,3,10\nbob,y,4,20\n")
    data = read_table(p, user_col="user", item_col="item", weight_col="rating", time_col="ts")
    assert isinstance(data, Interactions)
    assert data.shape == (2, 2)
    assert data.user_map is not None and data.item_map is not None
    assert list(data.user_map.raw_ids) == ["alice", "bob"]  # sorted raw-id order
    assert list(data.user_map.decode(data.users)) == ["bob", "alice", "bob"]
    assert list(data.item_map.decode(data.items)) == ["x", "y", "y"]
    assert data.weights is not None and data.weights.dtype == np.float32
    np.testing.assert_array_equal(data.weights, [5, 3, 4])
    assert data.timestamps is not None and data.timestamps.dtype == np.int64
    np.testing.assert_array_equal(data.timestamps, [30, 10, 20])


def test_tsv_without_header_positional_int_ids(tmp_path: Path) -> None:
    p = write(tmp_path / "r.tsv", "10\t7\n30\t7\n10\t9\n")
    data = read_table(p, user_col=0, item_col=1, has_header=False)
    assert data.user_map is not None and data.user_map.is_integer
    assert list(data.user_map.raw_ids) == [10, 30]
    np.testing.assert_array_equal(data.users, [0, 1, 0])
    np.testing.assert_array_equal(data.items, [0, 0, 1])
    assert data.weights is None and data.timestamps is None


def test_position_with_header_and_sparse_int_ids(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "a,b\n1000000000000,5\n3,5\n")
    data = read_table(p, user_col=0, item_col="b")
    assert data.user_map is not None
    assert list(data.user_map.raw_ids) == [3, 1000000000000]
    np.testing.assert_array_equal(data.users, [1, 0])


def test_double_colon_dat_and_gzip(tmp_path: Path) -> None:
    p = write(tmp_path / "ratings.dat", "1::10::5::100\n2::10::3::200\n")
    data = read_table(p, user_col=0, item_col=1, weight_col=2, time_col=3, has_header=False)
    assert data.shape == (2, 1) and len(data) == 2
    gz = tmp_path / "r.csv.gz"
    with gzip.open(gz, "wb") as fh:
        fh.write(b"u,i\n1,2\n3,4\n")
    data = read_table(gz, user_col="u", item_col="i")
    assert data.shape == (2, 2)


def test_sniffed_separator_for_unknown_extension(tmp_path: Path) -> None:
    p = write(tmp_path / "r.data", "u|i\n1|2\n3|4\n")
    assert read_table(p, user_col="u", item_col="i").shape == (2, 2)


def test_parquet_named_and_positional(tmp_path: Path) -> None:
    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"uid": ["a", "b", "a"], "iid": [5, 6, 7], "r": [1.0, 2.0, 3.0], "t": [3, 2, 1]}), p)
    data = read_table(p, user_col="uid", item_col=1, weight_col="r", time_col="t")
    assert data.shape == (2, 3)
    np.testing.assert_array_equal(data.weights, [1, 2, 3])
    np.testing.assert_array_equal(data.timestamps, [3, 2, 1])


def test_parquet_null_is_reported_with_row(tmp_path: Path) -> None:
    p = tmp_path / "r.pq"
    pq.write_table(pa.table({"u": [1, 2, 3], "i": [1, None, 2]}), p)
    with pytest.raises(DataError) as err:
        read_table(p, user_col="u", item_col="i")
    assert err.value.field == "i" and err.value.line == 2 and err.value.path == str(p)


def test_threshold_keeps_high_ratings_and_drops_emptied_users(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "u,i,r\n1,1,5\n1,2,2\n2,1,1\n3,3,4\n")
    data = read_table(p, user_col="u", item_col="i", weight_col="r", threshold=4)
    assert len(data) == 2
    assert data.user_map is not None and list(data.user_map.raw_ids) == [1, 3]  # user 2 gone
    assert data.item_map is not None and list(data.item_map.raw_ids) == [1, 3]
    with pytest.raises(ValueError, match="weight_col"):
        read_table(p, user_col="u", item_col="i", threshold=4)
    with pytest.raises(DataError, match="no rows"):
        read_table(p, user_col="u", item_col="i", weight_col="r", threshold=9)


def test_duplicate_policies(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "u,i,r,t\n1,1,5,20\n1,1,2,10\n2,1,1,5\n")
    last = read_table(p, user_col="u", item_col="i", weight_col="r", time_col="t")
    assert len(last) == 2 and 5.0 in last.weights.tolist()  # the later event (t=20) kept
    kept = read_table(p, user_col="u", item_col="i", duplicates="keep")
    assert len(kept) == 3
    summed = read_table(p, user_col="u", item_col="i", weight_col="r", duplicates="sum")
    assert sorted(summed.weights.tolist()) == [1.0, 7.0]
    with pytest.raises(DataError, match="repeated"):
        read_table(p, user_col="u", item_col="i", duplicates="error")


def test_ids_that_turn_out_to_be_strings_after_the_peek(tmp_path: Path) -> None:
    rows = [f"{k},{k % 7}" for k in range(1000)] + ["u-x,3"]
    p = write(tmp_path / "r.csv", "u,i\n" + "\n".join(rows) + "\n")
    data = read_table(p, user_col="u", item_col="i")
    assert data.user_map is not None and not data.user_map.is_integer
    assert "u-x" in set(data.user_map.raw_ids.tolist()) and len(data.user_map) == 1001


def test_ids_beyond_int64_are_strings(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "u,i\n123456789012345678901234,1\n5,1\n")
    data = read_table(p, user_col="u", item_col="i")
    assert data.user_map is not None and not data.user_map.is_integer
    assert "123456789012345678901234" in data.user_map.raw_ids.tolist()


def test_float_and_datetime_timestamps(tmp_path: Path) -> None:
    rows = [f"{k},1,{k}" for k in range(400)] + ["400,1,1.5"]
    p = write(tmp_path / "f.csv", "u,i,t\n" + "\n".join(rows) + "\n")
    data = read_table(p, user_col="u", item_col="i", time_col="t")
    assert data.timestamps is not None and data.timestamps.dtype == np.float64
    assert data.timestamps[-1] == 1.5
    p = write(tmp_path / "d.csv", "u,i,t\n1,1,2020-01-01 00:00:00\n2,1,2020-01-01T00:00:10\n")
    data = read_table(p, user_col="u", item_col="i", time_col="t")
    np.testing.assert_array_equal(data.timestamps, [1577836800, 1577836810])


# ====================================================================== read_table: errors
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as err:
        read_table(tmp_path / "nope.csv", user_col=0, item_col=1)
    assert err.value.path == str(tmp_path / "nope.csv")


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    p = write(tmp_path / "e.csv", "")
    with pytest.raises(DataError, match="empty") as err:
        read_table(p, user_col=0, item_col=1)
    assert err.value.line == 1 and err.value.path == str(p)
    p = write(tmp_path / "h.csv", "u,i\n")
    with pytest.raises(DataError, match="no data rows") as err:
        read_table(p, user_col="u", item_col="i")
    assert err.value.line == 2


def test_missing_column_names_field(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv", "user,item\n1,2\n")
    with pytest.raises(DataError, match="not found") as err:
        read_table(p, user_col="user", item_col="movie")
    assert (err.value.path, err.value.line, err.value.field) == (str(p), 1, "movie")
    with pytest.raises(DataError, match="out of range") as err:
        read_table(p, user_col=0, item_col=5)
    with pytest.raises(DataError, match="no header"):
        read_table(p, user_col="user", item_col="item", has_header=False)


@pytest.mark.parametrize(
    ("body", "line", "field", "match"),
    [
        ("1,2,5,100\n3,4,5,abc\n", 3, "ts", "not a number"),  # non-numeric timestamp
        ("1,2,x,100\n", 2, "rating", "not a number"),  # non-numeric weight
        ("1,2,5,100\n1,,5,100\n", 3, "item", "missing"),  # empty id
        ("1,2,NaN,100\n", 2, "rating", "missing"),  # NaN weight
        ("1,2,inf,100\n", 2, "rating", "finite"),  # infinite weight
        ("1,2,5,100\n\n\n3,4,5,\n", 5, "ts", "missing"),  # blank lines do not shift numbers
        ("1,2,5,100\n3,4,5\n", 3, None, "expected 4 fields"),  # malformed line
        ("1,2,5,100\n3,4,5,6,7\n", 3, None, "expected 4 fields"),
    ],
)
def test_bad_values_name_path_line_field(tmp_path: Path, body: str, line: int, field: str | None, match: str) -> None:
    p = write(tmp_path / "r.csv", "user,item,rating,ts\n" + body)
    with pytest.raises(DataError, match=match) as err:
        read_table(p, user_col="user", item_col="item", weight_col="rating", time_col="ts")
    assert err.value.path == str(p)
    assert err.value.line == line
    assert err.value.field == field
    assert f"{p}:{line}" in str(err.value)


def test_error_far_beyond_the_peek_has_true_line(tmp_path: Path) -> None:
    rows = [f"{k}\t{k}\t{k}" for k in range(5000)]
    rows[4321] = "4321\t7\toops"
    p = write(tmp_path / "r.tsv", "\n".join(rows) + "\n")
    with pytest.raises(DataError) as err:
        read_table(p, user_col=0, item_col=1, time_col=2, has_header=False)
    assert err.value.line == 4322 and err.value.field == "timestamp (column 2)"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.integers(0, 50), st.text("abcxyz", min_size=1, max_size=3)),
            st.integers(-5, 5),
            st.integers(1, 5),
        ),
        min_size=1,
        max_size=40,
        unique_by=lambda r: (str(r[0]), r[1]),
    )
)
def test_csv_round_trip_property(tmp_path: Path, rows: list[tuple[object, int, int]]) -> None:
    """Whatever the ids, decoding the read indices gives back the written raw ids and weights."""
    p = tmp_path / "prop.csv"
    p.write_text("u,i,w\n" + "".join(f"{u},{i},{w}\n" for u, i, w in rows))
    data = read_table(p, user_col="u", item_col="i", weight_col="w")
    assert data.user_map is not None and data.item_map is not None
    raw_users = [str(u) for u, _, _ in rows]
    if data.user_map.is_integer:
        raw_users = [str(int(u)) for u in raw_users]
    assert [str(u) for u in data.user_map.decode(data.users)] == raw_users
    assert data.item_map.decode(data.items).tolist() == [i for _, i, _ in rows]
    assert data.weights is not None and data.weights.tolist() == [float(w) for _, _, w in rows]
    assert list(data.user_map.raw_ids) == sorted(data.user_map.raw_ids.tolist())


# ====================================================================== MovieLens fixtures
def make_ml100k(root: Path) -> Path:
    write(root / "u.data", "1\t10\t5\t881250949\n2\t10\t3\t891717742\n1\t20\t4\t878887116\n3\t30\t1\t880606923\n")
    write(root / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    genres = ["unknown", "Action", "Comedy"]
    write(root / "u.genre", "".join(f"{g}|{k}\n" for k, g in enumerate(genres)) + "\n")
    write(
        root / "u.item",
        "10|Toy Story (1995)|01-Jan-1995||http://x|0|0|1\n"
        "20|Caf\xe9 Society|01-Jan-1990||http://y|0|1|1\n"
        "30|unknown||||1|0|0\n"
        "40|Never Rated (1980)|01-Jan-1980||http://z|0|1|0\n",
        encoding="latin-1",
    )
    return root


def make_ml1m(root: Path) -> Path:
    write(root / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(root / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    write(
        root / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "5::Am\xe9lie (2001)::Comedy|Romance\n",
        encoding="latin-1",
    )
    return root


def make_ml20m(root: Path) -> Path:
    write(root / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n7,2,4.0,1094785740\n")
    write(
        root / "movies.csv",
        'movieId,title,genres\n2,"Jumanji, The (1995)",Adventure|Children\n29,No Year Here,(no genres listed)\n',
    )
    return root


def test_movielens_100k(tmp_path: Path) -> None:
    ds = read_movielens(make_ml100k(tmp_path / "ml-100k"))
    assert ds.format == "movielens" and ds.name == "ml-100k" and ds.split is None
    assert ds.interactions.shape == (3, 3)  # movie 40 has no ratings: not in the universe
    np.testing.assert_array_equal(ds.interactions.weights, [5, 3, 4, 1])
    assert ds.item_titles is not None and list(ds.item_titles) == ["Toy Story (1995)", "Caf\xe9 Society", "unknown"]
    assert ds.item_features is not None and ds.user_features is not None
    names = ds.item_features.names
    assert names == ("year", "genre=unknown", "genre=Action", "genre=Comedy")
    genre = ds.item_features.values[:, 1:]
    np.testing.assert_array_equal(genre, [[0, 0, 1], [0, 1, 1], [1, 0, 0]])
    year = ds.item_features.values[:, 0]
    assert year[2] == pytest.approx(year[0:2].mean())  # missing year -> median (of 1995, 1990)
    assert "gender=F" in ds.user_features.names and "occupation=writer" in ds.user_features.names
    assert "age" in ds.user_features.names and ds.user_features.num_rows == 3


def test_movielens_1m(tmp_path: Path) -> None:
    ds = read_movielens(make_ml1m(tmp_path / "ml-1m"))
    assert ds.interactions.shape == (2, 2)
    assert ds.item_titles is not None
    assert list(ds.item_titles) == ["James and the Giant Peach (1996)", "One Flew Over the Cuckoo's Nest (1975)"]
    assert ds.item_features is not None
    assert "genre=Musical" in ds.item_features.names and "genre=Romance" in ds.item_features.names
    assert ds.user_features is not None and "occupation=K-12 student" in ds.user_features.names
    assert "occupation=self-employed" in ds.user_features.names


def test_movielens_20m_csv(tmp_path: Path) -> None:
    ds = read_movielens(make_ml20m(tmp_path / "ml-20m"))
    assert ds.interactions.shape == (2, 2)
    np.testing.assert_array_equal(ds.interactions.weights, [3.5, 3.5, 4.0])
    assert ds.item_titles is not None and list(ds.item_titles) == ["Jumanji, The (1995)", "No Year Here"]
    assert ds.user_features is None
    assert ds.item_features is not None and ds.item_features.names == ("year", "genre=Adventure", "genre=Children")
    np.testing.assert_array_equal(ds.item_features.values[1, 1:], [0, 0])


def test_movielens_nested_directory_and_not_movielens(tmp_path: Path) -> None:
    make_ml100k(tmp_path / "outer" / "ml-100k")
    assert read_movielens(tmp_path / "outer").name == "ml-100k"
    with pytest.raises(DataError, match="u.data"):
        read_movielens(tmp_path)


def test_movielens_bad_item_line(tmp_path: Path) -> None:
    root = make_ml100k(tmp_path / "ml")
    write(root / "u.item", "10|Toy Story (1995)|01-Jan-1995||http://x|0|0|1\n20|short\n")
    with pytest.raises(DataError) as err:
        read_movielens(root)
    assert err.value.line == 2 and err.value.path == str(root / "u.item")


# ====================================================================== LightGCN
def make_lightgcn(root: Path) -> Path:
    write(root / "train.txt", "0 0 1 2\n1 2 3\n2 4\n")
    write(root / "test.txt", "0 3\n1\n2 1 0\n")
    return root


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


# ====================================================================== NeuMF
def make_neumf(root: Path, prefix: str = "tiny") -> Path:
    write(root / f"{prefix}.train.rating", "0\t0\t5\t100\n0\t1\t3\t101\n1\t1\t4\t102\n2\t0\t1\t103\n")
    write(root / f"{prefix}.test.rating", "0\t2\t4\t200\n1\t3\t2\t201\n2\t4\t5\t202\n")
    # lines in another order than the test rows, ragged (user 2 has one negative)
    write(root / f"{prefix}.test.negative", "(1,3)\t0\t2\t4\n(2,4)\t3\n(0,2)\t3\t4\t5\n")
    return root


def test_neumf(tmp_path: Path) -> None:
    ds = read_neumf(make_neumf(tmp_path / "nm"))
    assert ds.format == "neumf" and ds.name == "tiny"
    split = ds.split
    assert split is not None and split.test_negatives is not None
    assert ds.interactions.shape == (3, 6)  # item 5 appears only as a negative
    np.testing.assert_array_equal(split.test_negatives, [[3, 4, 5], [0, 2, 4], [3, -1, -1]])
    np.testing.assert_array_equal(split.train.weights, [5, 3, 4, 1])
    np.testing.assert_array_equal(split.test.timestamps, [200, 201, 202])
    stats = ds.stats()
    assert stats["negatives_per_user"] == 3 and stats["test_users"] == 3
    assert stats["train"] + stats["test"] == stats["interactions"] == 7


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


@pytest.mark.parametrize(
    ("negative", "path_of", "line", "match"),
    [
        ("(1,3)\t0\n(0,2)\t3\n", "test.rating", 3, "no line"),  # test row (2,4) has no negatives
        ("(1,3)\t0\n(2,4)\t3\n(0,2)\t3\n(2,9)\t1\n", "test.negative", 4, "not a row"),
        ("(1,3)\t0\n(2,4)\t3\n(1,3)\t1\n(0,2)\t3\n", "test.negative", 3, "two negative lines"),
        ("(1,3)\t0\n2,4\t3\n(0,2)\t3\n", "test.negative", 2, "open with"),
        ("(1,3)\t0\n(2,4)\tz\n(0,2)\t3\n", "test.negative", 2, "'z'"),
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


# ====================================================================== load_dataset
def test_load_dataset_autodetects_directories(tmp_path: Path) -> None:
    assert load_dataset(make_ml100k(tmp_path / "a")).format == "movielens"
    assert load_dataset(make_lightgcn(tmp_path / "b")).format == "lightgcn"
    assert load_dataset(make_neumf(tmp_path / "c")).format == "neumf"
    assert detect_format(tmp_path / "b") == "lightgcn"
    assert load_dataset(tmp_path / "b", format="lightgcn").split is not None


def test_load_dataset_table_files(tmp_path: Path) -> None:
    p = write(tmp_path / "events.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n5,6,7,8\n")
    ds = load_dataset(p)
    assert ds.format == "csv" and ds.name == "events" and ds.interactions.weights is not None
    assert ds.interactions.timestamps is not None
    p = write(tmp_path / "plain.tsv", "1\t2\t5\n3\t4\t1\n")
    ds = load_dataset(p)
    assert ds.format == "tsv" and ds.interactions.weights is not None and ds.interactions.timestamps is None
    p = write(tmp_path / "two.txt", "a b\nc d\n")
    ds = load_dataset(p)  # space separated, a header of unknown names: positional columns
    assert ds.interactions.shape == (1, 1)
    pq.write_table(pa.table({"user_id": ["a", "b"], "item_id": [1, 2]}), tmp_path / "t.parquet")
    assert load_dataset(tmp_path / "t.parquet").interactions.shape == (2, 2)


def test_load_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    write(tmp_path / "junk" / "notes.md", "hello")
    with pytest.raises(DataError, match="train.txt") as err:
        load_dataset(tmp_path / "junk")
    assert "u.data" in str(err.value) and ".train.rating" in str(err.value)
    with pytest.raises(DataError, match="not a registered dataset"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(ConfigError, match="unknown format"):
        load_dataset(tmp_path, format="excel")


def test_load_dataset_registry_name_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_ml100k(tmp_path / "cache" / "ml-100k")
    monkeypatch.setenv("NCF_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("ml-100k")
    assert ds.name == "ml-100k" and ds.interactions.shape == (3, 3)


# ====================================================================== Dataset
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


# ====================================================================== the real files, when present
@pytest.mark.skipif(not (SHARED / "ml-100k" / "u.data").is_file(), reason="shared ml-100k not present")
def test_real_ml100k() -> None:
    stats = load_dataset(SHARED / "ml-100k").stats()
    assert (stats["users"], stats["items"], stats["interactions"]) == (943, 1682, 100000)


@pytest.mark.skipif(not (SHARED / "gowalla" / "train.txt").is_file(), reason="shared gowalla not present")
def test_real_gowalla() -> None:
    stats = load_dataset(SHARED / "gowalla").stats()
    assert (stats["users"], stats["items"], stats["train"], stats["test"]) == (29858, 40981, 810128, 217242)


@pytest.mark.skipif(not (SHARED / "ml-100k-loo").is_dir(), reason="shared ml-100k-loo not present")
def test_real_ml100k_loo() -> None:
    stats = load_dataset(SHARED / "ml-100k-loo").stats()
    assert (stats["test_users"], stats["negatives_per_user"], stats["train"]) == (943, 99, 99057)


def test_no_stray_files(tmp_path: Path) -> None:
    """Readers never write next to the data they read."""
    root = make_neumf(tmp_path / "nm")
    before = sorted(os.listdir(root))
    read_neumf(root)
    assert sorted(os.listdir(root)) == before
