"""``ncf viz`` and ``ncf report``: click commands over :mod:`ncf.viz`, registered by the CLI.

The CLI adds them with ``main.add_command(viz)`` and ``main.add_command(report)``; they raise
library errors (:class:`~ncf.errors.ConfigError` exits 2, other :class:`~ncf.errors.NCFError`
exit 1 under ``ncf``'s group). ``-v``/``-q``/``--threads`` are :mod:`ncf.app.console`'s, as on
every ``ncf`` command. Importing this module loads neither torch nor the plotting packages (the
CLI starts before it has chosen torch's threads).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import click

from ncf.app.console import common_options, show_progress, state
from ncf.viz.constants import DEFAULT_SAMPLE, METHODS

__all__ = ["report", "viz"]

logger = logging.getLogger(__name__)


def _state() -> dict[str, Any]:
    return state()


def _show_progress() -> bool:
    return show_progress()


def _sample(value: str) -> int | None:
    if value.lower() in ("all", "none", "0"):
        return None
    try:
        n = int(value.replace("_", "").replace(",", ""))
    except ValueError:
        raise click.BadParameter(f"a number of points or 'all', got {value!r}") from None
    if n < 1:
        raise click.BadParameter("must be positive (or 'all')")
    return n


# ---------------------------------------------------------------------- ncf viz
@click.command("viz")
@click.argument("run_dir", type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="FILE.png (matplotlib) or FILE.html (interactive plotly page, works offline).")
@click.option("--method", type=click.Choice(METHODS), default="umap", show_default=True,
              help="Projection to 2-D.")
@click.option("--what", type=click.Choice(["items", "users"]), default="items", show_default=True)
@click.option("--color-by", "color_by", default=None, metavar="genre|popularity|cluster|FEATURE",
              help="Colour: genre, popularity (training counts), cluster (k-means), or a feature of the run "
                   "(e.g. occupation, gender, year, genre=Comedy). Default: genre when items have genres, "
                   "else popularity.")
@click.option("--clusters", type=click.IntRange(2, 50), default=10, show_default=True,
              help="k-means clusters for --color-by cluster.")
@click.option("--sample", "sample", default=str(DEFAULT_SAMPLE), show_default=True, metavar="N|all",
              help="Most points drawn; more are sampled (stratified by the colour, seeded).")
@click.option("--metric", type=click.Choice(["cosine", "euclidean"]), default="cosine", show_default=True,
              help="cosine: L2-normalise the vectors before projecting.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--title", default=None, help="Plot title (default: what, how many, method, colour).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@common_options
def viz(run_dir: str, out: str, method: str, what: str, color_by: str | None, clusters: int, sample: str,
        metric: str, seed: int, title: str | None, as_json: bool) -> None:
    """Map a trained run's item (or user) vectors to 2-D: a PNG or an interactive HTML page."""
    from ncf.app.artifact import Run
    from ncf.viz.embedding import embedding_map
    from ncf.viz.plot import write_map

    t0 = time.perf_counter()
    if not out.lower().endswith((".png", ".html", ".htm")):
        raise click.BadParameter("must end in .png or .html", param_hint="--out")
    from ncf._io import check_output

    run = Run.load(run_dir)
    check_output(out, run.dir.owned_paths())
    result = embedding_map(run, what=what, method=method, color_by=color_by, clusters=clusters,
                           sample=_sample(sample), seed=seed, metric=metric, show_progress=_show_progress())
    write_map(result, out, title=title)
    seconds = time.perf_counter() - t0
    if as_json:
        click.echo(json.dumps({"out": out, **result.to_dict(), "total_seconds": seconds}))
    else:
        click.echo(f"wrote {out}: {result.summary()} ({seconds:.1f}s in all)")


# ---------------------------------------------------------------------- ncf report
@click.command("report")
@click.argument("run_dir", type=click.Path())
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="report.html: one self-contained page (plotly.js inlined, no network needed).")
@click.option("--k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="Length of the recommendation lists shown and measured for coverage.")
@click.option("--cutoffs", default="10,20", show_default=True, help="Cut-offs of the metrics table.")
@click.option("--users", "num_users", type=click.IntRange(min=0), default=5, show_default=True,
              help="Users whose history and top-k are shown.")
@click.option("--map", "map_method", type=click.Choice([*METHODS, "none"]), default="umap", show_default=True,
              help="Projection of the item map (none: leave it out).")
@click.option("--color-by", "color_by", default=None, help="Colour of the map (as in ncf viz).")
@click.option("--sample", "sample", default=str(DEFAULT_SAMPLE), show_default=True, metavar="N|all",
              help="Most points on the map.")
@click.option("--max-users", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Test users whose top-k lists measure coverage (a seeded sample beyond it).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@common_options
def report(run_dir: str, out: str, k: int, cutoffs: str, num_users: int, map_method: str, color_by: str | None,
           sample: str, max_users: int, seed: int) -> None:
    """Write one HTML page about a trained run: data, options, curves, metrics, map, examples, coverage."""
    from ncf.viz.report import write_report

    try:
        cuts = tuple(sorted({int(c) for c in cutoffs.replace(" ", "").split(",") if c}))
    except ValueError:
        raise click.BadParameter(f"comma-separated whole numbers, got {cutoffs!r}", param_hint="--cutoffs") from None
    if not cuts or min(cuts) < 1:
        raise click.BadParameter("cut-offs must be positive", param_hint="--cutoffs")
    if not out.lower().endswith((".html", ".htm")):
        raise click.BadParameter("must end in .html", param_hint="--out")
    from ncf._io import check_output
    from ncf.app.rundir import RunDir

    check_output(out, RunDir(run_dir).owned_paths())
    t0 = time.perf_counter()
    result = write_report(run_dir, out, k=k, cutoffs=cuts, num_examples=num_users,
                          map_method=None if map_method == "none" else map_method, map_color=color_by,
                          sample=_sample(sample), max_users=max_users, seed=seed, show_progress=_show_progress())
    main = next(iter(result.metrics.get("full", {}).values()), {})
    headline = ", ".join(f"{m} {main[m]:.4f}" for m in (f"recall@{cuts[0]}", f"ndcg@{cuts[0]}") if m in main)
    click.echo(f"wrote {out} ({result.model}; full ranking {headline}) in {time.perf_counter() - t0:.1f}s")
