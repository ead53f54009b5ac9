"""Tiny fixture files for the reader tests, written into a test's tmp_path."""

from __future__ import annotations

from pathlib import Path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


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


def make_lightgcn(root: Path) -> Path:
    write(root / "train.txt", "0 0 1 2\n1 2 3\n2 4\n")
    write(root / "test.txt", "0 3\n1\n2 1 0\n")
    return root


def make_neumf(root: Path, prefix: str = "tiny") -> Path:
    """Three users, six items (all in train), negatives that are never a user's positive."""
    write(root / f"{prefix}.train.rating", "0\t0\t5\t100\n0\t1\t3\t101\n1\t1\t4\t102\n2\t5\t1\t103\n1\t3\t2\t104\n")
    write(root / f"{prefix}.test.rating", "0\t2\t4\t200\n1\t4\t2\t201\n2\t0\t5\t202\n")
    # lines in another order than the test rows
    write(root / f"{prefix}.test.negative", "(1,4)\t0\t2\t5\n(2,0)\t3\t4\t1\n(0,2)\t3\t4\t5\n")
    return root
