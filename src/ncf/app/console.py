"""The conventions every ``ncf`` command shares: ``-v``/``-q``, ``--threads`` and progress.

The options live once here so the CLI and the commands of other front ends (``ncf viz``,
``ncf report``) behave the same and share one state in the click context (``ncf -q viz`` is
quiet too). Importing this module loads no torch: the CLI chooses torch's threads first.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

__all__ = ["common_options", "epoch_lines", "set_threads", "set_verbosity", "show_progress", "state",
           "stderr_is_terminal"]


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
    """Progress unless ``-q``: bars on a terminal, else plain lines (:func:`epoch_lines`)."""
    return not state().get("quiet", False)


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (where the progress bars draw)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(callable(isatty) and isatty())


class _PlainLines(logging.Handler):
    """Each record's message alone on the stderr of the moment (no level or logger name)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(record.getMessage() + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging's own convention
            self.handleError(record)


@contextlib.contextmanager
def epoch_lines(enabled: bool) -> Iterator[None]:
    """While inside, print one plain line per training epoch on stderr (epoch, loss, seconds,
    validation metric), from the ``ncf.training.epochs`` records: the progress display of a run
    whose stderr is not a terminal (a log file, CI), where the bars stay off."""
    if not enabled:
        yield
        return
    log = logging.getLogger("ncf.training.epochs")
    handler = _PlainLines(logging.INFO)
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False  # printed once, also under -v
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate
