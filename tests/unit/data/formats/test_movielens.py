"""read_movielens: 100K, 1M and 20M layouts with side features, and malformed side files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ncf.data import read_movielens
from ncf.errors import DataError

from ._files import make_ml1m, make_ml20m, make_ml100k, write


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


# ====================================================================== hostile side files
def test_movie_listed_twice(tmp_path: Path) -> None:
    root = make_ml100k(tmp_path / "ml")
    write(root / "u.item", "10|A (1995)|||x|0|0|1\n20|B (1990)|||y|0|1|1\n30|C|||z|1|0|0\n10|D (1999)|||w|0|0|1\n")
    with pytest.raises(DataError, match="raw id 10 occurs twice.*one line only") as err:
        read_movielens(root)
    assert err.value.path == str(root / "u.item")


def test_user_listed_twice(tmp_path: Path) -> None:
    root = make_ml100k(tmp_path / "ml")
    write(root / "u.user", "1|24|M|technician|85711\n1|53|F|other|94043\n")
    with pytest.raises(DataError, match="raw id 1 occurs twice") as err:
        read_movielens(root)
    assert err.value.path == str(root / "u.user")


def test_genre_index_not_a_number(tmp_path: Path) -> None:
    root = make_ml100k(tmp_path / "ml")
    write(root / "u.genre", "unknown|0\nAction|one\nComedy|2\n")
    with pytest.raises(DataError, match="'one' is not a genre index") as err:
        read_movielens(root)
    assert (err.value.path, err.value.line) == (str(root / "u.genre"), 2)


def test_movies_csv_missing_id_and_not_utf8(tmp_path: Path) -> None:
    root = make_ml20m(tmp_path / "ml")
    write(root / "movies.csv", "movieId,title,genres\n2,Jumanji,Adventure\n,No Id,Drama\n")
    with pytest.raises(DataError, match="missing movie id") as err:
        read_movielens(root)
    assert (err.value.line, err.value.field) == (3, "movieId")
    write(root / "movies.csv", "movieId,title,genres\n2,Caf\xe9,Drama\n", encoding="latin-1")
    with pytest.raises(DataError, match="could not read it as a CSV") as err:
        read_movielens(root)
    assert err.value.path == str(root / "movies.csv")


def test_ratings_with_a_bad_line(tmp_path: Path) -> None:
    root = make_ml1m(tmp_path / "ml")
    write(root / "ratings.dat", "1::1193::5::978300760\n1::661::five::978302109\n")
    with pytest.raises(DataError, match="'five' is not a number") as err:
        read_movielens(root)
    assert (err.value.path, err.value.line) == (str(root / "ratings.dat"), 2)
