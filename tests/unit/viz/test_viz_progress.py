"""Progress of viz/report: drawn only on a terminal, and never when switched off."""

from __future__ import annotations

import io

from ncf.viz.progress import Steps, on_terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(file: io.StringIO, show: bool) -> str:
    with Steps(3, show=show, desc="report", file=file) as steps:
        for name in ("load", "metrics", "write"):
            steps.next(name)
    return file.getvalue()


def test_a_terminal_gets_a_bar_with_the_step_names():
    out = _run(_Terminal(), show=True)
    assert "report: load (0/3 done" in out and "report: write (2/3 done" in out


def test_pipes_and_quiet_runs_get_nothing():
    assert _run(io.StringIO(), show=True) == ""
    assert _run(_Terminal(), show=False) == ""
    assert not on_terminal(io.StringIO()) and on_terminal(_Terminal())
