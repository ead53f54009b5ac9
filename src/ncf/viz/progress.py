"""Step-by-step progress of ``ncf viz`` and ``ncf report``: a tqdm bar on stderr, on a terminal only.

The same rule as the trainer's :class:`~ncf.training.callbacks.ProgressBar`: nothing is drawn
when stderr is not a terminal (logs, pipes, tests) or when progress is switched off
(``--quiet``), so the output of a script stays clean.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: stderr) is an interactive terminal."""
    out = sys.stderr if stream is None else stream
    isatty = getattr(out, "isatty", None)
    return bool(callable(isatty) and isatty())


class Steps:
    """A bar over a fixed list of named steps: ``with Steps(3, show=True) as s: s.next("load")``.

    Parameters
    ----------
    total : int
        Number of steps.
    show : bool
        Draw the bar (still only when ``file`` is a terminal).
    desc : str
        Shown before the current step's name.
    file : text stream, optional
        Default: stderr.
    """

    def __init__(self, total: int, *, show: bool = True, desc: str = "", file: TextIO | None = None) -> None:
        self.total = int(total)
        self.desc = desc
        self.file = sys.stderr if file is None else file
        self.shown = bool(show) and on_terminal(self.file)
        self._bar: Any = None
        self.done = 0

    def __enter__(self) -> Steps:
        if self.shown:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, desc=self.desc, unit="step", leave=False, file=self.file,
                             bar_format="{desc} ({n_fmt}/{total_fmt} done, {elapsed})")
        return self

    def next(self, name: str) -> None:
        """Start step ``name`` (the previous one, if any, counts as done)."""
        if self.done:
            self._advance()
        self.done += 1
        if self._bar is not None:
            self._bar.set_description_str(f"{self.desc}: {name}", refresh=True)

    def _advance(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            if exc_type is None and self.done:
                self._advance()
            self._bar.close()
            self._bar = None
