"""read_table and the table engine: CSV/TSV/Parquet, errors with path, line and field."""

from __future__ import annotations

import bz2
import gzip
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncf.data import Interactions, load_dataset, read_table
from ncf.errors import ConfigError, DataError

from ._files import write


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


# ====================================================================== hostile input
def _gzip_rows(n: int) -> bytes:
    return b"u,i\n" + b"".join(b"%d,%d\n" % (k, k % 7) for k in range(n))


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2"])
def test_truncated_compressed_file_is_a_data_error(tmp_path: Path, suffix: str) -> None:
    packed = (gzip.compress if suffix.endswith(".gz") else bz2.compress)(_gzip_rows(30000))
    p = tmp_path / f"r{suffix}"
    p.write_bytes(packed[: len(packed) // 2])
    kind = "gzip" if suffix.endswith(".gz") else "bzip2"
    for read in (lambda: read_table(p, user_col="u", item_col="i"), lambda: load_dataset(p)):
        with pytest.raises(DataError, match=f"truncated or corrupt {kind} file") as err:
            read()
        assert err.value.path == str(p)


def test_file_named_gz_that_is_not_gzip(tmp_path: Path) -> None:
    p = write(tmp_path / "r.csv.gz", "u,i\n1,2\n")
    with pytest.raises(DataError, match="truncated or corrupt gzip file"):
        read_table(p, user_col="u", item_col="i")


@pytest.mark.parametrize("suffix", [".xz", ".zst", ".zip"])
def test_unsupported_compression_is_named(tmp_path: Path, suffix: str) -> None:
    p = write(tmp_path / f"r.csv{suffix}", "garbage")
    with pytest.raises(DataError, match="not supported; decompress it"):
        read_table(p, user_col=0, item_col=1)


def test_two_megabyte_field(tmp_path: Path) -> None:
    """A huge unused field is read; a huge id field is one DataError line, never a traceback."""
    p = write(tmp_path / "big.csv", "u,i,desc\n1,2,hello\n3,4," + "x" * 2_000_000 + "\n5,6,ok\n")
    assert len(read_table(p, user_col="u", item_col="i")) == 3
    p = write(tmp_path / "big2.csv", "u,i\n1,2\n3," + "7" * 2_000_000 + "\n5,6\n")
    with pytest.raises(DataError) as err:
        read_table(p, user_col="u", item_col="i")
    assert err.value.line == 3 and "\n" not in str(err.value) and len(str(err.value)) < 400


def test_unclosed_quote(tmp_path: Path) -> None:
    p = write(tmp_path / "q.csv", "u,i\n1,2\n3,\"4\n" + "5,6\n" * 100_000)
    with pytest.raises(DataError, match="unclosed") as err:
        read_table(p, user_col="u", item_col="i")
    assert err.value.line == 3
    p = write(tmp_path / "short.csv", "u,i\n1,2\n3,\"4\n5,6\n")
    with pytest.raises(DataError, match="spans several lines") as err:
        read_table(p, user_col="u", item_col="i")
    assert err.value.line == 3 and "\n" not in str(err.value)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    p = write(tmp_path / "latin.csv", "u,i\nbob,2\ncaf\xe9,3\n", encoding="latin-1")
    with pytest.raises(DataError, match="not UTF-8 text \\(byte 0xe9\\)") as err:
        read_table(p, user_col="u", item_col="i")
    assert err.value.line == 3


def test_bom_and_crlf_are_read(tmp_path: Path) -> None:
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufeffuser,item\r\n1,2\r\n3,4\r\n".encode())
    data = read_table(p, user_col="user", item_col="item")
    assert data.shape == (2, 2) and data.user_map is not None
    assert data.user_map.raw_ids.tolist() == [1, 3]


def test_duplicate_header_names_and_one_column_twice(tmp_path: Path) -> None:
    p = write(tmp_path / "dup.csv", "u,u,i\n1,2,3\n")
    with pytest.raises(DataError, match="names 2 columns 'u'") as err:
        read_table(p, user_col="u", item_col="i")
    assert (err.value.line, err.value.field) == (1, "u")
    assert read_table(p, user_col=1, item_col="i").user_map.raw_ids.tolist() == [2]  # type: ignore[union-attr]
    with pytest.raises(DataError, match="same column"):
        read_table(p, user_col=2, item_col="i")
    p = write(tmp_path / "case.csv", "User,user,item\n1,2,3\n")
    with pytest.raises(DataError, match="2 columns are named 'user'"):
        load_dataset(p)


def test_parquet_duplicate_names_and_damage(tmp_path: Path) -> None:
    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"u": [1, 2, 3], "i": [4, 5, 6]}), p)
    damaged = tmp_path / "d.parquet"
    damaged.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(DataError, match="not a readable Parquet file"):
        read_table(damaged, user_col="u", item_col="i")
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array([3])], names=["u", "u", "i"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="names 2 columns 'u'"):
        read_table(tmp_path / "dup.parquet", user_col="u", item_col="i")


def test_parquet_uint64_overflow_is_a_data_error(tmp_path: Path) -> None:
    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"u": pa.array([2**64 - 1, 1], pa.uint64()), "i": [1, 2]}), p)
    with pytest.raises(DataError, match="cannot convert") as err:
        read_table(p, user_col="u", item_col="i")
    assert err.value.field == "u"


def test_directory_where_a_file_belongs(tmp_path: Path) -> None:
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path / "d.csv", user_col=0, item_col=1)


def test_blank_only_file_is_empty(tmp_path: Path) -> None:
    p = write(tmp_path / "b.csv", "\n\n  \n")
    with pytest.raises(DataError, match="empty"):
        load_dataset(p)


def test_negative_raw_ids_are_ids(tmp_path: Path) -> None:
    """Raw ids may be any integer: -1 is a user like any other (the map keeps it)."""
    p = write(tmp_path / "n.csv", "u,i\n-1,2\n3,4\n")
    data = read_table(p, user_col="u", item_col="i")
    assert data.user_map is not None and data.user_map.raw_ids.tolist() == [-1, 3]


@pytest.mark.parametrize("sep", ["", "\n", '"'])
def test_bad_separator_is_a_config_error(tmp_path: Path, sep: str) -> None:
    p = write(tmp_path / "r.csv", "u,i\n1,2\n")
    with pytest.raises(ConfigError, match="sep must be"):
        read_table(p, user_col="u", item_col="i", sep=sep)


def test_constant_timestamps_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = write(tmp_path / "c.csv", "u,i,t\n1,2,5\n3,4,5\n1,4,5\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        data = read_table(p, user_col="u", item_col="i", time_col="t")
    assert data.timestamps is not None
    assert "all 3 timestamps are equal (5)" in caplog.text and str(p) in caplog.text
    caplog.clear()
    p = write(tmp_path / "ok.csv", "u,i,t\n1,2,5\n3,4,6\n")
    with caplog.at_level(logging.WARNING, logger="ncf.data"):
        read_table(p, user_col="u", item_col="i", time_col="t")
    assert caplog.text == ""


def test_explicit_format_overrides_the_suffix(tmp_path: Path) -> None:
    p = tmp_path / "events.data"
    pq.write_table(pa.table({"user": ["a", "b"], "item": [1, 2]}), p)
    ds = load_dataset(p, format="parquet")
    assert ds.format == "parquet" and ds.interactions.shape == (2, 2)


def test_header_names_with_spaces_are_found(tmp_path: Path) -> None:
    p = write(tmp_path / "s.csv", "user, item, rating\n1,2,5\n3,4,1\n")
    ds = load_dataset(p)
    assert ds.interactions.shape == (2, 2) and ds.interactions.weights is not None
