"""A synthetic stand-in for MovieLens-25M: same shape, same files, any size.

Writes ``DIR/ratings.csv`` (``userId,movieId,rating,timestamp``, rows sorted by userId then
movieId, as GroupLens ships them) and ``DIR/movies.csv`` (``movieId,title,genres``), so that
``ncf.data.load_dataset(DIR)`` reads it as a MovieLens 20M/25M directory (the reader keys on
``ratings.csv``; ``movies.csv`` gives titles, genres and years).

Shape at ``--rows 25000095`` (the default): 162,541 users x 59,047 movies, as ML-25M. Other
sizes keep the proportions (users and movies scale with the rows), so 1M rows have 6,502 users
x 2,362 movies, with the same mean of about 154 ratings per user.

* Per-user activity: ``20 + LogNormal(ln 51, 1.39)`` ratings (ML-25M: minimum 20, median 71,
  mean 154, maximum 32,202), at most 55% of the catalogue, then adjusted to the exact row
  count; each user rates distinct movies.
* Movie popularity: a log-log interpolation of ML-25M's rating counts by popularity rank,
  with ranks taken as fractions of the catalogue (most rated ~81k of 25M ratings, the 100th
  ~30k, the 1,000th ~5k, the 10,000th ~100, the 30,000th ~5, the last 1). Users draw movies
  from it without replacement (heavy users by Gumbel top-k over the whole catalogue, the others
  by seeded draws with replacement whose repeats are dropped), so the head saturates as in
  the real data. Movie ids are a sorted random subset of 1..209,171 (ML-25M's id range).
* Timestamps: each user's ratings are strictly increasing seconds in a random order of their
  movies, starting at a uniform time between 1995-01-09 and 2019-06-01, with exponential gaps
  (minutes within a session; one gap in 200 of days).
* Ratings: half stars 0.5..5.0 with ML-25M's frequencies.

Everything is vectorised and seeded (``--seed``): the same arguments give the same bytes.

Run: ``python benchmarks/ml25m_standin.py --out /tmp/ml25m-standin [--rows 1000000]``.
Writes ``DIR/standin.json`` (the arguments, counts and generation seconds) next to the CSVs.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ML25M_ROWS = 25_000_095
ML25M_USERS = 162_541
ML25M_ITEMS = 59_047
ML25M_MAX_MOVIE_ID = 209_171
MIN_PER_USER = 20
MAX_USER_SHARE = 0.55  # the most active ML-25M user rated 32,202 of 59,047 movies
T_START = 789_652_009  # 1995-01-09, the first ML-25M rating
T_LAST_START = 1_559_347_200  # 2019-06-01
#: (popularity rank, ratings) of ML-25M, read off its rating counts; ranks are scaled by the
#: catalogue size, so they are fractions of 59,047.
POPULARITY_ANCHORS = ((1, 81_000), (10, 60_000), (100, 30_000), (1_000, 5_000), (10_000, 100),
                      (30_000, 5), (ML25M_ITEMS, 1))
HALF_STARS = np.arange(1, 11) / 2.0
#: Share of each half-star rating in ML-25M (0.5, 1.0, ..., 5.0).
RATING_SHARES = np.array([0.016, 0.031, 0.016, 0.066, 0.050, 0.196, 0.127, 0.266, 0.085, 0.147])
GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western")
GUMBEL_BLOCK = 1 << 24  # floats per block of the heavy users' Gumbel top-k
CSV_CHUNK = 2_000_000

IntArray = npt.NDArray[np.int64]


def shape_for(rows: int) -> tuple[int, int]:
    """(users, movies) for ``rows`` ratings, in ML-25M's proportions."""
    scale = rows / ML25M_ROWS
    users = max(2, round(ML25M_USERS * scale))
    items = max(MIN_PER_USER * 2, round(ML25M_ITEMS * scale))
    return users, items


def item_weights(num_items: int) -> npt.NDArray[np.float64]:
    """Sampling weight of the movie at each popularity rank (rank 0 is the most rated)."""
    ranks = (np.arange(num_items, dtype=np.float64) + 1.0) * (ML25M_ITEMS / num_items)
    r = np.log([a[0] for a in POPULARITY_ANCHORS])
    c = np.log([a[1] for a in POPULARITY_ANCHORS])
    w = np.exp(np.interp(np.log(ranks), r, c))
    return np.asarray(w / w.sum())


def user_counts(num_users: int, num_items: int, rows: int, rng: np.random.Generator) -> IntArray:
    """Distinct movies per user: >= 20, heavy-tailed, at most 55% of the catalogue, summing to ``rows``."""
    cap = max(MIN_PER_USER, int(MAX_USER_SHARE * num_items))
    if not MIN_PER_USER * num_users <= rows <= cap * num_users:
        raise SystemExit(f"{rows} rows do not fit {num_users} users with {MIN_PER_USER}..{cap} ratings each")
    extra = rng.lognormal(math.log(51.0), 1.39, num_users)
    # water-filling: the scale s with sum(min(20 + s * extra, cap)) = rows, by bisection
    lo, hi = 0.0, float(cap) / float(extra.min())
    for _ in range(100):
        s = 0.5 * (lo + hi)
        if float(np.minimum(MIN_PER_USER + s * extra, cap).sum()) > rows:
            hi = s
        else:
            lo = s
    counts = np.minimum(MIN_PER_USER + np.floor(lo * extra), cap).astype(np.int64)
    deficit = rows - int(counts.sum())
    while deficit != 0:  # spread the rounding (and capped) remainder over users with room
        room = (counts < cap) if deficit > 0 else (counts > MIN_PER_USER)
        who = rng.choice(np.flatnonzero(room), size=min(abs(deficit), int(room.sum())), replace=False)
        counts[who] += 1 if deficit > 0 else -1
        deficit = rows - int(counts.sum())
    return counts


def _heavy_items(counts: IntArray, log_w: npt.NDArray[np.float64], rng: np.random.Generator) -> list[IntArray]:
    """Each heavy user's movies: weighted sampling without replacement by Gumbel top-k."""
    n = log_w.size
    per_block = max(1, GUMBEL_BLOCK // n)
    out: list[IntArray] = []
    for start in range(0, counts.size, per_block):
        c = counts[start : start + per_block]
        keys = log_w[None, :] + rng.gumbel(size=(c.size, n))
        order = np.argsort(-keys, axis=1)
        take = np.arange(n)[None, :] < c[:, None]
        out.append(order[take].astype(np.int64))
    return out


def alias_table(p: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], IntArray]:
    """Walker's alias table of the distribution ``p``: O(1) per draw (Vose's construction)."""
    n = p.size
    prob = np.asarray(p, dtype=np.float64) * n
    alias = np.arange(n, dtype=np.int64)
    small = [int(i) for i in np.flatnonzero(prob < 1.0)]
    large = [int(i) for i in np.flatnonzero(prob >= 1.0)]
    scaled = prob.tolist()
    while small and large:
        s, g = small.pop(), large.pop()
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    for i in small + large:  # what is left is 1 up to rounding
        scaled[i] = 1.0
    return np.asarray(scaled), alias


def draw(table: tuple[npt.NDArray[np.float64], IntArray], size: int, rng: np.random.Generator) -> IntArray:
    """``size`` independent draws from an :func:`alias_table`."""
    prob, alias = table
    col = rng.integers(0, prob.size, size)
    return np.where(rng.random(size) < prob[col], col, alias[col])


def _light_items(
    users: IntArray, counts: IntArray, p: npt.NDArray[np.float64], rng: np.random.Generator
) -> tuple[IntArray, IntArray]:
    """(user, movie) pairs of the light users: weighted draws, repeats dropped, topped up.

    Each round draws 1.5x each user's deficit with replacement, drops movies the user already
    has and repeats within the round (first draw kept), and keeps the first ``deficit`` of the
    rest in draw order: weighted sampling without replacement, as one sequential draw would.
    """
    n = p.size
    table = alias_table(p)
    have = np.zeros(0, dtype=np.int64)  # sorted keys user * n + item
    need = counts.copy()
    active = np.flatnonzero(need > 0)
    while active.size:
        m = np.ceil(1.5 * need[active]).astype(np.int64) + 4
        row_user = np.repeat(users[active], m)
        row_need = np.repeat(need[active], m)
        keys = row_user * n + draw(table, row_user.size, rng)
        pos = np.minimum(np.searchsorted(have, keys), max(have.size - 1, 0))
        fresh = (have[pos] != keys) if have.size else np.ones(keys.size, dtype=bool)
        by_key = np.argsort(keys, kind="stable")  # equal keys keep draw order: first is first drawn
        srt = keys[by_key]
        first_mask = np.empty(keys.size, dtype=bool)
        first_mask[by_key] = np.r_[True, srt[1:] != srt[:-1]]
        ok = np.flatnonzero(fresh & first_mask)  # still in draw order, grouped by user
        ok_users = row_user[ok]
        starts = np.searchsorted(ok_users, ok_users, side="left")
        rank = np.arange(ok.size) - starts
        take = ok[rank < row_need[ok]]
        have = np.sort(np.concatenate([have, np.sort(keys[take])]), kind="stable")  # merges two sorted runs
        got = np.bincount(row_user[take], minlength=need.size)
        need = need - got[: need.size]
        active = np.flatnonzero(need > 0)
    return have // n, have % n


def generate(out: Path, *, rows: int = ML25M_ROWS, seed: int = 0) -> dict[str, Any]:
    """Write ``ratings.csv``, ``movies.csv`` and ``standin.json`` under ``out``; return the summary."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    num_users, num_items = shape_for(rows)
    counts = user_counts(num_users, num_items, rows, rng)
    w = item_weights(num_items)
    heavy = counts > num_items // 20
    parts_u: list[IntArray] = []
    parts_i: list[IntArray] = []
    heavy_users = np.flatnonzero(heavy)
    if heavy_users.size:
        chunks = _heavy_items(counts[heavy_users], np.log(w), rng)
        parts_i.extend(chunks)
        parts_u.append(np.repeat(heavy_users, counts[heavy_users]))
    light_counts = np.where(heavy, 0, counts)
    lu, li = _light_items(np.arange(num_users, dtype=np.int64), light_counts, w, rng)
    parts_u.append(lu)
    parts_i.append(li)
    users = np.concatenate(parts_u)
    ranks = np.concatenate(parts_i)
    del parts_u, parts_i, lu, li
    # popularity rank -> movie: a random permutation, then ML-like sparse ids
    movie_ids = np.sort(rng.choice(ML25M_MAX_MOVIE_ID, size=num_items, replace=False) + 1)
    items = rng.permutation(num_items)[ranks]
    del ranks
    # timestamps: per user, strictly increasing over a random order of the user's movies
    # (one argsort of int64 keys: several times faster than np.lexsort at these sizes)
    order = np.argsort((users << 32) | rng.integers(0, 1 << 32, users.size), kind="stable")
    users, items = users[order], items[order]
    del order
    gaps = np.where(rng.random(users.size) < 0.005, rng.exponential(2 * 86_400.0, users.size),
                    rng.exponential(120.0, users.size))
    gaps = np.floor(gaps).astype(np.int64) + 1
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    t = np.cumsum(gaps)
    t -= np.repeat(t[starts] - gaps[starts], counts)  # restart the running sum at each user
    start_time = rng.integers(T_START, T_LAST_START, num_users)
    timestamps = np.repeat(start_time, counts) + t - 1
    del gaps, t
    rating_idx = rng.choice(10, size=users.size, p=RATING_SHARES / RATING_SHARES.sum())
    # rows sorted by user, then movie id (as GroupLens ships ratings.csv)
    order = np.argsort(users * num_items + items)
    users, items, timestamps, rating_idx = users[order], items[order], timestamps[order], rating_idx[order]
    del order
    gen_s = time.perf_counter() - t0

    out.mkdir(parents=True, exist_ok=True)
    labels = pa.array([f"{r:.1f}" for r in HALF_STARS])
    schema = pa.schema([("userId", pa.int64()), ("movieId", pa.int64()), ("rating", pa.string()),
                        ("timestamp", pa.int64())])
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    tmp = out / "ratings.csv.tmp"
    with tmp.open("wb") as fh:
        fh.write(b"userId,movieId,rating,timestamp\n")
        with pacsv.CSVWriter(fh, schema, write_options=opts) as writer:
            for lo in range(0, users.size, CSV_CHUNK):
                hi = lo + CSV_CHUNK
                writer.write_batch(pa.record_batch([
                    pa.array(users[lo:hi] + 1), pa.array(movie_ids[items[lo:hi]]),
                    pc.take(labels, pa.array(rating_idx[lo:hi])), pa.array(timestamps[lo:hi]),
                ], schema=schema))
    tmp.replace(out / "ratings.csv")
    _write_movies(out / "movies.csv", movie_ids, rng)
    item_counts = np.bincount(items, minlength=num_items)
    summary = {
        "rows": int(users.size),
        "users": num_users,
        "movies": num_items,
        "seed": seed,
        "ratings_per_user": _quantiles(counts),
        "ratings_per_movie": _quantiles(item_counts),
        "movies_rated": int(np.count_nonzero(item_counts)),
        "csv_bytes": (out / "ratings.csv").stat().st_size,
        "generate_seconds": round(gen_s, 2),
        "total_seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "standin.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _quantiles(x: IntArray) -> dict[str, float]:
    q = np.percentile(x, [0, 50, 90, 99, 100])
    return {"min": int(q[0]), "median": float(q[1]), "p90": float(q[2]), "p99": float(q[3]),
            "max": int(q[4]), "mean": round(float(x.mean()), 2)}


def _write_movies(path: Path, movie_ids: IntArray, rng: np.random.Generator) -> None:
    """``movieId,title,genres``: "Movie N (year)" and one to three genres joined by '|'."""
    n = movie_ids.size
    years = rng.integers(1915, 2020, n)
    k = rng.integers(1, 4, n)
    picks = np.argsort(rng.random((n, len(GENRES))), axis=1)[:, :3]
    lines = ["movieId,title,genres"]
    for mid, year, kk, row in zip(movie_ids.tolist(), years.tolist(), k.tolist(), picks.tolist(), strict=True):
        genres = "|".join(GENRES[g] for g in sorted(row[:kk]))
        lines.append(f"{mid},Movie {mid} ({year}),{genres}")
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def ensure(out: Path, *, rows: int, seed: int = 0) -> dict[str, Any]:
    """The stand-in of ``rows`` rows in ``out``: reused when ``standin.json`` says so, else written."""
    meta = out / "standin.json"
    if meta.is_file() and (out / "ratings.csv").is_file():
        summary: dict[str, Any] = json.loads(meta.read_text())
        if summary.get("rows") == rows and summary.get("seed") == seed:
            return summary
    return generate(out, rows=rows, seed=seed)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="directory to write (created)")
    ap.add_argument("--rows", type=int, default=ML25M_ROWS, help="ratings (default: ML-25M's 25,000,095)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    summary = generate(args.out, rows=args.rows, seed=args.seed)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
