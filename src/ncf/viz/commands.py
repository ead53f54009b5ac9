"""``ncf viz`` and ``ncf report``: click commands over :mod:`ncf.viz`, registered by the CLI.

The CLI adds them with ``main.add_command(viz)`` and ``main.add_command(report)``; they raise
library errors (:class:`~ncf.errors.ConfigError` exits 2, other :class:`~ncf.errors.NCFError`
exit 1 under ``ncf``'s group). ``-v``/``-q``/``--threads`` behave as on every ``ncf`` command and
share its state (``ncf -q viz ...`` is quiet too): ``ncf.viz`` sits below ``ncf.cli`` in the layers,
so it cannot import the CLI's helper and mirrors it here. Importing this module loads neither
torch nor the plotting packages (the CLI starts before it has chosen torch's threads).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from ncf.viz.constants import DEFAULT_SAMPLE, METHODS

__all__ = ["common_options", "report", "viz"]

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- -v / -q / --threads (as ncf.cli)
def _state() -> dict[str, Any]:
    state: dict[str, Any] = click.get_current_context().ensure_object(dict)
    return state


def _set_verbosity(ctx: click.Context, verbose: int, quiet: bool) -> None:
    state = ctx.ensure_object(dict)
    state["verbose"] = max(state.get("verbose", 0), verbose)
    state["quiet"] = state.get("quiet", False) or quiet
    level = logging.ERROR if state["quiet"] else (logging.WARNING, logging.INFO, logging.DEBUG)[min(state["verbose"], 2)]
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    root.setLevel(level)


def _set_threads(ctx: click.Context, threads: int | None) -> None:
    from ncf._threads import apply_threads, resolve_threads

    state = ctx.ensure_object(dict)
    if threads is None and "threads" in state:
        return
    state["threads"] = resolve_threads(threads)
    apply_threads(state["threads"])


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-v``/``-q``/``--threads``, with the same meaning and shared state as ``ncf.cli``'s options."""

    def apply(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if param.name == "verbose":
            _set_verbosity(ctx, value, False)
        elif param.name == "threads":
            _set_threads(ctx, value)
        elif value:
            _set_verbosity(ctx, 0, True)
        return value

    f = click.option("--threads", type=click.IntRange(min=1), default=None, expose_value=False, callback=apply,
                     help="CPU threads for torch (default: $NCF_NUM_THREADS, else the CPUs this process may use).")(f)
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=apply,
                     help="Only errors on stderr, no progress bars.")(f)
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=apply,
                        help="More log output on stderr (-v info, -vv debug).")(f)


def _show_progress() -> bool:
    return not _state().get("quiet", False)


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
    run = Run.load(run_dir)
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
    t0 = time.perf_counter()
    result = write_report(run_dir, out, k=k, cutoffs=cuts, num_examples=num_users,
                          map_method=None if map_method == "none" else map_method, map_color=color_by,
                          sample=_sample(sample), max_users=max_users, seed=seed, show_progress=_show_progress())
    main = next(iter(result.metrics.get("full", {}).values()), {})
    headline = ", ".join(f"{m} {main[m]:.4f}" for m in (f"recall@{cuts[0]}", f"ndcg@{cuts[0]}") if m in main)
    click.echo(f"wrote {out} ({result.model}; full ranking {headline}) in {time.perf_counter() - t0:.1f}s")
