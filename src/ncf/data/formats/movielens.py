"""MovieLens (GroupLens) directories: 100K, 1M/10M and 20M/25M/32M -> Dataset with side features.

Ratings go through :func:`~ncf.data.formats.table.read_table`; titles, genres, release years and
(for 100K/1M) user age, gender and occupation become :class:`~ncf.data.features.FeatureTable`
columns aligned with the id maps.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from ncf._types import PathLike
from ncf.data.dataset import Dataset
from ncf.data.features import FeatureTable
from ncf.data.formats._text import read_text_lines, shorten
from ncf.data.formats.table import read_table
from ncf.data.idmap import IdMap, parse_raw_id
from ncf.data.interactions import Interactions
from ncf.errors import DataError, InvalidIdError, first_line

logger = logging.getLogger(__name__)

__all__ = ["movielens_version", "read_movielens"]

_ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
)
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)
_YEAR_IN_TITLE = re.compile(r"\((\d{4})(?:[-\u2013]\d{0,4})?\)\s*$")
_YEAR_ANYWHERE = re.compile(r"(\d{4})\s*$")


def movielens_version(root: Path) -> str | None:
    if (root / "u.data").is_file():
        return "100k"
    if (root / "ratings.dat").is_file():
        return "1m"
    if (root / "ratings.csv").is_file():
        return "csv"
    return None


def _align(universe_raw: npt.NDArray[Any], table_raw: npt.NDArray[Any], path: Path) -> npt.NDArray[np.int64]:
    """Row of ``table_raw`` (the ids of a side file) holding each universe id, or -1 where absent."""
    if table_raw.size == 0:
        return np.full(universe_raw.size, -1, dtype=np.int64)
    try:
        table_map = IdMap(table_raw)
    except DataError as exc:  # an id listed twice
        raise DataError(f"{exc.message}; each id may have one line only", path=path) from exc
    known = table_map.contains(universe_raw)
    rows = np.full(universe_raw.size, -1, dtype=np.int64)
    if bool(known.any()):
        rows[known] = table_map.encode(universe_raw[known])
    return rows


def _year(title: str, date: str = "") -> float:
    m = _YEAR_IN_TITLE.search(title.strip())
    if m is None and date:
        m = _YEAR_ANYWHERE.search(date.strip())
    return float(m.group(1)) if m else math.nan


def _fill_median(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    known = np.isfinite(x)
    fill = float(np.median(x[known])) if bool(known.any()) else 0.0
    return np.where(known, x, fill)


@dataclass
class _Movies:
    path: Path
    ids: npt.NDArray[np.int64]
    titles: list[str]
    years: npt.NDArray[np.float64]
    genre_labels: list[str]
    genres: npt.NDArray[np.float32]  # (n, G)


def _movies_100k(root: Path) -> _Movies:
    path = root / "u.item"
    labels = list(_ML100K_GENRES)
    genre_file = root / "u.genre"
    if genre_file.is_file():
        pairs = [(line, ln.split("|")) for line, ln in read_text_lines(genre_file, "latin-1")]
        for line, p in pairs:
            if len(p) == 2 and not p[1].strip().isdigit():
                raise DataError(f"{shorten(p[1])} is not a genre index", path=genre_file, line=line)
        labels = [p[0] for p in sorted((p for _, p in pairs if len(p) == 2), key=lambda p: int(p[1]))]
    g = len(labels)
    ids, titles, years, rows = [], [], [], []
    for line, text in read_text_lines(path, "latin-1"):
        parts = text.split("|")
        if len(parts) < 5 + g:
            raise DataError(f"expected {5 + g} '|'-separated fields, found {len(parts)}", path=path, line=line)
        ids.append(_movie_id(parts[0], path, line, "movie id"))
        flags = parts[-g:]
        bad = next((v for v in flags if v.strip() not in ("", "0", "1")), None)
        if bad is not None:
            raise DataError(f"genre flag {shorten(bad)} is not 0 or 1", path=path, line=line, field="genres")
        rows.append([int(v or 0) for v in flags])
        title = "|".join(parts[1 : len(parts) - g - 3])
        titles.append(title)
        years.append(_year(title, parts[len(parts) - g - 3]))
    return _Movies(path, np.asarray(ids, np.int64), titles, np.asarray(years), labels, np.asarray(rows, np.float32).reshape(-1, g))


def _multi_hot(genre_lists: list[list[str]]) -> tuple[list[str], npt.NDArray[np.float32]]:
    labels = sorted({g for gs in genre_lists for g in gs})
    col = {g: k for k, g in enumerate(labels)}
    mat = np.zeros((len(genre_lists), len(labels)), dtype=np.float32)
    r = [i for i, gs in enumerate(genre_lists) for _ in gs]
    c = [col[g] for gs in genre_lists for g in gs]
    mat[r, c] = 1.0
    return labels, mat


def _clean_genres(field: str) -> list[str]:
    return [g for g in field.strip().split("|") if g and g != "(no genres listed)"]


def _movie_id(text: str, path: Path, line: int, field: str) -> int:
    """A movie id by the one rule for integer raw ids (``1_0`` or ``1e1`` is not 10)."""
    try:
        return int(parse_raw_id(text, integer=True, what="movie id"))
    except InvalidIdError as exc:
        raise DataError(str(exc), path=path, line=line, field=field) from None


def _movies_1m(root: Path) -> _Movies:
    path = root / "movies.dat"
    ids, titles, genre_lists = [], [], []
    for line, text in read_text_lines(path, "latin-1"):
        parts = text.split("::")
        if len(parts) != 3:
            raise DataError(f"expected 3 '::'-separated fields, found {len(parts)}", path=path, line=line)
        ids.append(_movie_id(parts[0], path, line, "MovieID"))
        titles.append(parts[1])
        genre_lists.append(_clean_genres(parts[2]))
    labels, mat = _multi_hot(genre_lists)
    years = np.asarray([_year(t) for t in titles])
    return _Movies(path, np.asarray(ids, np.int64), titles, years, labels, mat)


def _movies_csv(root: Path) -> _Movies:
    path = root / "movies.csv"
    try:
        table = pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(
                include_columns=["movieId", "title", "genres"],
                column_types={"movieId": pa.int64(), "title": pa.string(), "genres": pa.string()},
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        raise DataError(
            f"could not read it as a CSV with integer movieId, title and genres: {first_line(exc, 200)}", path=path
        ) from exc
    movie_ids = table.column("movieId")
    if movie_ids.null_count:
        row = int(np.flatnonzero(movie_ids.is_null().to_numpy(zero_copy_only=False))[0]) + 2
        raise DataError("missing movie id", path=path, line=row, field="movieId")
    ids = movie_ids.to_numpy()
    titles = [str(t or "") for t in table.column("title").to_pylist()]
    genre_lists = [_clean_genres(str(g or "")) for g in table.column("genres").to_pylist()]
    labels, mat = _multi_hot(genre_lists)
    years = np.asarray([_year(t) for t in titles])
    return _Movies(path, ids, titles, years, labels, mat)


def _item_side(movies: _Movies, item_map: IdMap) -> tuple[npt.NDArray[np.str_], FeatureTable]:
    rows = _align(item_map.raw_ids, movies.ids, movies.path)
    have = rows >= 0
    if not bool(have.all()):
        logger.warning("%d rated movies are missing from the movie file", int((~have).sum()))
    titles = np.full(rows.size, "", dtype=object)
    all_titles = np.asarray(movies.titles, dtype=object)
    titles[have] = all_titles[rows[have]]
    years = np.full(rows.size, np.nan)
    years[have] = movies.years[rows[have]]
    genres = np.zeros((rows.size, len(movies.genre_labels)), dtype=np.float32)
    genres[have] = movies.genres[rows[have]]
    features = FeatureTable.from_columns(
        rows.size, dense={"year": _fill_median(years)}, multi_hot={"genre": (movies.genre_labels, genres)}
    )
    return titles.astype(str), features


def _user_side(path: Path, user_map: IdMap, ids: list[int], ages: list[float], genders: list[str], occupations: list[str]) -> FeatureTable:
    rows = _align(user_map.raw_ids, np.asarray(ids, dtype=np.int64), path)
    have = rows >= 0
    age = np.full(rows.size, np.nan)
    age[have] = np.asarray(ages, dtype=np.float64)[rows[have]]
    gender = np.full(rows.size, "unknown", dtype=object)
    occupation = np.full(rows.size, "unknown", dtype=object)
    gender[have] = np.asarray(genders, dtype=object)[rows[have]]
    occupation[have] = np.asarray(occupations, dtype=object)[rows[have]]
    return FeatureTable.from_columns(
        rows.size, dense={"age": _fill_median(age)},
        categorical={"gender": gender.astype(str), "occupation": occupation.astype(str)},
    )


def _users_100k(root: Path, user_map: IdMap) -> FeatureTable | None:
    path = root / "u.user"
    if not path.is_file():
        return None
    ids, ages, genders, occs = [], [], [], []
    for line, text in read_text_lines(path, "latin-1"):
        parts = text.split("|")
        if len(parts) != 5:
            raise DataError(f"expected 5 '|'-separated fields, found {len(parts)}", path=path, line=line)
        try:
            ids.append(int(parts[0]))
            ages.append(float(parts[1]))
        except ValueError as exc:
            raise DataError(f"not a number: {exc}", path=path, line=line) from exc
        genders.append(parts[2])
        occs.append(parts[3])
    return _user_side(path, user_map, ids, ages, genders, occs)


def _users_1m(root: Path, user_map: IdMap) -> FeatureTable | None:
    path = root / "users.dat"
    if not path.is_file():
        return None
    ids, ages, genders, occs = [], [], [], []
    for line, text in read_text_lines(path, "latin-1"):
        parts = text.split("::")
        if len(parts) != 5:
            raise DataError(f"expected 5 '::'-separated fields, found {len(parts)}", path=path, line=line)
        try:
            ids.append(int(parts[0]))
            ages.append(float(parts[2]))
            code = int(parts[3])
        except ValueError as exc:
            raise DataError(f"not a number: {exc}", path=path, line=line) from exc
        genders.append(parts[1])
        occs.append(_ML1M_OCCUPATIONS[code] if 0 <= code < len(_ML1M_OCCUPATIONS) else str(code))
    return _user_side(path, user_map, ids, ages, genders, occs)


def _user_map(data: Interactions) -> IdMap:
    return data.user_map if data.user_map is not None else IdMap.identity(data.num_users)


def _item_map(data: Interactions) -> IdMap:
    return data.item_map if data.item_map is not None else IdMap.identity(data.num_items)


def read_movielens(path: PathLike) -> Dataset:
    """Read a GroupLens MovieLens directory: 100K, 1M (and 10M), or 20M/25M/32M/latest.

    Detection: ``u.data`` (100K: tab separated ``user item rating timestamp``; ``u.user``,
    ``u.item``, ``u.genre``), ``ratings.dat`` (1M/10M: ``::`` separated; ``users.dat``,
    ``movies.dat``) or ``ratings.csv`` (20M and later: header
    ``userId,movieId,rating,timestamp``; ``movies.csv``). Every rating is an interaction with
    the rating as its weight. The universe is the users and movies that have ratings.

    Parameters
    ----------
    path : path-like
        The extracted directory (or its parent holding exactly one such directory).

    Returns
    -------
    Dataset
        ``format="movielens"``; ``item_titles``; ``item_features`` (``genre=*`` multi-hot and
        ``year`` from the title or release date, missing -> median) and, for 100K/1M,
        ``user_features`` (``age`` dense, ``gender`` and ``occupation`` one-hot).
    """
    root = Path(path)
    version = movielens_version(root) if root.is_dir() else None
    if version is None and root.is_dir():
        subdirs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        if len(subdirs) == 1 and movielens_version(subdirs[0]) is not None:
            root = subdirs[0]
            version = movielens_version(root)
    if version is None:
        raise DataError("not a MovieLens directory: expected u.data, ratings.dat or ratings.csv", path=root)
    user_features: FeatureTable | None = None
    movies: _Movies | None = None
    if version == "100k":
        data = read_table(root / "u.data", user_col=0, item_col=1, weight_col=2, time_col=3, sep="\t", has_header=False,
                          integer_ids=True)
        if (root / "u.item").is_file():
            movies = _movies_100k(root)
        user_features = _users_100k(root, _user_map(data))
    elif version == "1m":
        data = read_table(root / "ratings.dat", user_col=0, item_col=1, weight_col=2, time_col=3, sep="::", has_header=False,
                          integer_ids=True)
        if (root / "movies.dat").is_file():
            movies = _movies_1m(root)
        user_features = _users_1m(root, _user_map(data))
    else:
        data = read_table(root / "ratings.csv", user_col="userId", item_col="movieId", weight_col="rating", time_col="timestamp", sep=",",
                          integer_ids=True)
        if (root / "movies.csv").is_file():
            movies = _movies_csv(root)
    titles: npt.NDArray[np.str_] | None = None
    item_features: FeatureTable | None = None
    if movies is not None:
        titles, item_features = _item_side(movies, _item_map(data))
    logger.info("%s: MovieLens (%s) %r", root, version, data)
    return Dataset(root.name, str(root), "movielens", data, None, titles, user_features, item_features)

