"""Shared fixtures: small synthetic data (and its NeuMF-format split); test helpers on sys.path.

Every test runs torch on one thread, and so do the ``ncf`` processes the tests start: the
tensors are tiny, and under ``pytest -n 2`` (or on a loaded machine) extra OpenMP threads
contending for the cores cost far more than they save.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.data.writers import write_neumf

sys.path.insert(0, str(Path(__file__).parent / "helpers"))  # fake_models and other test-only helpers
os.environ.setdefault("NCF_NUM_THREADS", "1")  # read by the ncf processes the tests start


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_data():
    """Small synthetic dataset (planted clusters) shared by the integration tests."""
    return synthetic(num_users=300, num_items=200, seed=3)


@pytest.fixture(scope="session")
def neumf_dir(tmp_path_factory, small_data) -> Path:
    """The synthetic data split leave-one-out with 99 negatives, in the NeuMF file format."""
    out = tmp_path_factory.mktemp("data") / "syn"
    split = leave_one_out(small_data.interactions, num_negatives=99, seed=0)
    write_neumf(split, out, prefix="syn")
    return out


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the counts: the tests this machine did not run and why (the tutorial without
    ``../shared/data``, the browser test without Chromium), once per reason, so a green run
    that skipped something says so in its last lines."""
    reasons: dict[str, list[str]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            reasons.setdefault(str(longrepr[2]).removeprefix("Skipped: "), []).append(report.nodeid)
    if reasons:
        terminalreporter.section("not run on this machine", sep="-")
        for reason, ids in sorted(reasons.items()):
            more = f" and {len(ids) - 1} more" if len(ids) > 1 else ""
            terminalreporter.write_line(f"SKIPPED {ids[0]}{more}: {reason}")
