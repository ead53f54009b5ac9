"""The conventions every ``ncf`` command shares: ``-v``/``-q``, ``--threads`` and progress.

The options live once here so the CLI and the commands of other front ends (``ncf viz``,
``ncf report``) behave the same and share one state in the click context (``ncf -q viz`` is
quiet too). Importing this module loads no torch: the CLI chooses torch's threads first.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import click

__all__ = ["common_options", "set_threads", "set_verbosity", "show_progress", "state"]


def state() -> dict[str, Any]:
    """The shared settings of the current command line (verbose, quiet, threads)."""
    out: dict[str, Any] = click.get_current_context().ensure_object(dict)
    return out


def set_verbosity(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """``-v`` (info), ``-vv`` (debug), ``-q`` (errors only), on stderr; the library never prints."""
    settings = ctx.ensure_object(dict)
    settings["verbose"] = max(settings.get("verbose", 0), verbose)
    settings["quiet"] = settings.get("quiet", False) or quiet
    level = logging.ERROR if settings["quiet"] else (logging.WARNING, logging.INFO, logging.DEBUG)[
        min(settings["verbose"], 2)]
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    root.setLevel(level)


def set_threads(ctx: click.Context, threads: int | None) -> None:
    """torch's threads: ``--threads``, else ``$NCF_NUM_THREADS``, else the CPUs this process may use."""
    from ncf._threads import apply_threads, resolve_threads

    settings = ctx.ensure_object(dict)
    if threads is None and "threads" in settings:
        return
    settings["threads"] = resolve_threads(threads)
    apply_threads(settings["threads"])


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``-v``/``-q``/``--threads`` on a command, the same as on ``ncf`` itself."""

    def apply(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if param.name == "verbose":
            set_verbosity(ctx, value, False)
        elif param.name == "threads":
            set_threads(ctx, value)
        elif value:
            set_verbosity(ctx, 0, True)
        return value

    f = click.option("--threads", type=click.IntRange(min=1), default=None, expose_value=False, callback=apply,
                     help="CPU threads for torch (default: $NCF_NUM_THREADS, else the CPUs this process may use).")(f)
    f = click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=apply,
                     help="Only errors on stderr, no progress bars.")(f)
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=apply,
                        help="More log output on stderr (-v info, -vv debug).")(f)


def show_progress() -> bool:
    """Progress bars unless ``-q`` (they also stay off when stderr is not a terminal)."""
    return not state().get("quiet", False)
