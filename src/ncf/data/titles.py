"""Item titles from a file beside the data: MovieLens ``u.item`` / ``movies.dat`` /
``movies.csv``, or any CSV/TSV with an item id column and a ``title`` column.

The one path by which titles reach a run: ``ncf train --titles FILE`` stores them in the run
(``item_titles.json``), where ``ncf recommend``, ``ncf similar``, :class:`ncf.Recommender` and
the server read them; ``ncf recommend/similar --titles FILE`` use the same reader for one call
on a run trained without them.

Ids. A titles file names items by the ids of the *original* data, and some splits renumber
them: the NeuMF-format MovieLens files (``ml-100k-loo``, the NeuMF paper's ``ml-1m``) use
0-based ids. ``offset`` says how the data's item id follows from the file's
(``data id = file id + offset``; ``-1`` for ``ml-100k-loo``, whose README says
``item = original_item_id - 1``). Every item of the data must get a title: a file that leaves
some without one is refused, with the offset to use when the ids are merely shifted, so a
wrong mapping is never shown as if it were right. Ids renumbered by rank (the NeuMF paper's
``ml-1m`` files) cannot be mapped back by any offset, and are refused the same way.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._types import PathLike
from ncf.config import MAX_COUNT
from ncf.data.formats._text import require_file, shorten
from ncf.data.idmap import parse_raw_id
from ncf.errors import ConfigError, DataError, InvalidIdError

__all__ = ["ID_COLUMNS", "read_titles", "titles_for_items"]

#: Column names taken as the item id of a CSV/TSV titles file (compared without case).
ID_COLUMNS = ("item", "item_id", "itemid", "movieid", "movie_id", "id")
_MOVIELENS_FILES = ("u.item", "movies.dat", "movies.csv")
_OFFSET_LIMIT = MAX_COUNT


def read_titles(path: PathLike) -> tuple[list[Any], list[str]]:
    """``(ids, titles)`` of a titles file, in file order; ids as written (int for MovieLens).

    Raises
    ------
    DataError
        Missing file, no id or title column, a short row or a repeated id (with file and line).
    """
    entries = _entries(Path(path))
    return [raw for _, raw, _ in entries], [title for _, _, title in entries]


def _entries(p: Path) -> list[tuple[int, Any, str]]:
    """(line, raw id, title) of every title in the file; a repeated id is an error."""
    require_file(p)
    if p.name in _MOVIELENS_FILES:
        from ncf.data.formats import movielens

        reader = {"u.item": movielens._movies_100k, "movies.dat": movielens._movies_1m,
                  "movies.csv": movielens._movies_csv}[p.name]
        movies = reader(p.parent)
        first = 2 if p.name == "movies.csv" else 1  # movies.csv has a header
        entries = [(n, int(i), str(t)) for n, (i, t) in enumerate(zip(movies.ids, movies.titles, strict=True), first)]
    else:
        entries = _read_table(p)
    seen: dict[Any, int] = {}
    for line, raw, _ in entries:
        if raw in seen:
            raise DataError(f"item id {shorten(str(raw))} has a title already (line {seen[raw]})", path=p, line=line)
        seen[raw] = line
    return entries


def _read_table(p: Path) -> list[tuple[int, Any, str]]:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = p.read_text(encoding="latin-1")
    rows = list(csv.reader(text.splitlines(), delimiter="\t" if _is_tsv(p, text) else ","))
    header_at = next((n for n, row in enumerate(rows) if any(c.strip() for c in row)), None)
    if header_at is None:
        raise DataError("the titles file is empty", path=p)
    header = [c.strip().lower() for c in rows[header_at]]
    id_col = next((header.index(name) for name in ID_COLUMNS if name in header), None)
    title_col = header.index("title") if "title" in header else (header.index("name") if "name" in header else None)
    if id_col is None or title_col is None:
        raise DataError(
            f"a titles file needs a header with an item id column ({', '.join(ID_COLUMNS)}) and a 'title' "
            f"column, found {rows[header_at][:6]} (MovieLens files are recognised by name: "
            f"{', '.join(_MOVIELENS_FILES)})", path=p, line=header_at + 1)
    entries: list[tuple[int, Any, str]] = []
    for n, row in enumerate(rows[header_at + 1:], header_at + 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) <= max(id_col, title_col):
            raise DataError(f"expected at least {max(id_col, title_col) + 1} fields, found {len(row)}",
                            path=p, line=n)
        entries.append((n, row[id_col], row[title_col]))
    return entries


def _is_tsv(p: Path, text: str) -> bool:
    if p.suffix.lower() in (".tsv", ".tab"):
        return True
    if p.suffix.lower() == ".csv":
        return False
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return first.count("\t") > first.count(",")


def titles_for_items(path: PathLike, item_ids: Sequence[Any] | npt.NDArray[Any], *, offset: int = 0) -> list[str]:
    """The title of every item of a run, by item index (``item_ids[i]`` is item ``i``'s raw id).

    Parameters
    ----------
    path : path-like
        The titles file (see the module notes).
    item_ids : sequence
        The data's raw item ids by index (``run.item_map.raw_ids``; ``range(n)`` for data
        without an id map, such as NeuMF files).
    offset : int
        ``data id = file id + offset`` (integer ids only); ``-1`` for a 0-based split of
        MovieLens such as ``ml-100k-loo``.

    Raises
    ------
    ConfigError
        ``offset`` not a whole number within +-2,147,483,647, or non-zero for string ids.
    DataError
        The file cannot be read, an id in it is not an id of the data's kind (with file and
        line), or some item of the data gets no title (the message says which, and the
        offset to use when the ids are only shifted).
    """
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or abs(int(offset)) > _OFFSET_LIMIT:
        raise ConfigError(f"titles-offset must be a whole number from -{_OFFSET_LIMIT:,} to {_OFFSET_LIMIT:,}, "
                          f"got {offset!r}")
    offset = int(offset)
    p = Path(path)
    data_ids = np.asarray(item_ids)
    integer = data_ids.dtype.kind in "iu"
    if offset and not integer:
        raise ConfigError("titles-offset applies to integer item ids; this data's item ids are strings")
    by_id: dict[Any, str] = {}
    for line, raw, title in _entries(p):
        try:
            key = parse_raw_id(raw, integer=integer, what="item id")
        except InvalidIdError as exc:
            raise DataError(f"{exc} (the data's item ids are {'integers' if integer else 'strings'})",
                            path=p, line=line) from None
        if key in by_id:  # "7" and "07" are one integer id
            raise DataError(f"item id {shorten(str(raw))} has a title already", path=p, line=line)
        by_id[key] = title
    wanted = [int(v) - offset for v in data_ids.tolist()] if integer else [str(v) for v in data_ids.tolist()]
    missing = [i for i, key in enumerate(wanted) if key not in by_id]
    if missing:
        first = data_ids[missing[0]].item()
        hint = _shift_hint(data_ids, by_id, offset) if integer else ""
        raise DataError(
            f"no title for {len(missing):,} of the data's {len(wanted):,} items (the first: item {first!r}, "
            f"looked up as id {wanted[missing[0]]!r} in the file){hint}", path=p)
    return [str(by_id[key]) for key in wanted]


def _shift_hint(data_ids: npt.NDArray[Any], by_id: dict[Any, str], offset: int) -> str:
    keys = np.fromiter((int(k) for k in by_id), dtype=np.int64, count=len(by_id))
    ids = data_ids.astype(np.int64)
    for shift in (-1, 1):
        if shift == offset:
            continue
        if bool(np.isin(ids - shift, keys).all()):
            return (f"; with titles-offset {shift} every item has one (data id = file id {shift:+d}, as in a 0-based "
                    f"split of MovieLens such as the NeuMF files): add --titles-offset {shift}")
    return ("; the file must name every item by the data's own ids (plus titles-offset): splits that renumbered "
            "their items by rank cannot be mapped back to the original titles")
