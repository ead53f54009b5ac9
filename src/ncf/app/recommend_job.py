"""``ncf recommend``: top-k unseen items per user, through the engine the server uses, and the
lists as TSV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.app.artifact import Run
from ncf.errors import ConfigError


def recommend_run(run: Run | PathLike, raw_users: list[str], *, k: int = 10, titles: list[str] | None = None,
                  index: str | None = "auto", chunk: int = 1024,
                  announce: Callable[[str], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Top-``k`` unseen items per raw user id, with titles when the run has them (``titles``, by
    item index, replaces them: :meth:`Run.titles_from` a file).

    Ranks through :meth:`Recommender.from_run`, the engine the server and the library use, so
    ``ncf recommend`` and ``GET /recommend`` give the same lists; ``index`` as in
    :meth:`Recommender.load` (``"auto"``: the run's index when ``ncf index build`` made one).
    Users are ranked ``chunk`` at a time, which bounds memory for ``--all-users``. ``announce``
    gets one line on how they were ranked (:meth:`Recommender.describe_ranking`), after the last.
    """
    from ncf.app.recommender import Recommender

    run = run if isinstance(run, Run) else Run.load(run)
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"k must be positive, got {k}")
    rec = Recommender.from_run(run, index=index, titles=titles)
    out: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(raw_users), chunk):
        part = raw_users[start:start + chunk]
        for raw, res in zip(part, rec.recommend(part, k), strict=True):
            out[str(raw)] = res.to_dict()["items"]
    if announce is not None:  # once every user was ranked: an error stays the only line
        announce(f"ranking: {rec.describe_ranking(index)}")
    return out


def write_recommendations(path: PathLike, recommendations: dict[str, list[dict[str, Any]]]) -> None:
    """``recommend_run``'s result as TSV: a header, then ``user rank item score [title]`` rows."""
    with_titles = any("title" in rec for recs in recommendations.values() for rec in recs)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        fh.write("user\trank\titem\tscore" + ("\ttitle" if with_titles else "") + "\n")
        for user, recs in recommendations.items():
            for rank, rec in enumerate(recs, 1):
                title = "\t" + str(rec.get("title", "")).replace("\t", " ") if with_titles else ""
                fh.write(f"{user}\t{rank}\t{rec['item']}\t{rec['score']:.6g}{title}\n")
