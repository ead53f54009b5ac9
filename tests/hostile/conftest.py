"""The hostile-input corpus: every case is generated here, run through the real CLI, and must end
in one clear error line (exit 1 or 2) or a correct result — never a traceback, never a
half-written run directory, never a deleted file that ncf did not write."""

from __future__ import annotations

import pytest
from tests_hostile_tally import TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The tally (without xdist; with -n each worker keeps its own and the summary is empty)."""
    if TALLY:
        terminalreporter.write_line("hostile corpus: " + ", ".join(f"{k} {v}" for k, v in sorted(TALLY.items())))
