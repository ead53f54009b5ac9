"""A test that cannot run on this machine says so, with its reason, at the end of the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_tutorial_skip_is_named_with_its_reason_in_the_summary(tmp_path):
    env = {**os.environ, "NCF_DATA_DIR": str(tmp_path)}  # no MovieLens here: the tutorial test skips
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "tests/test_tutorial.py::test_every_tutorial_block_runs_and_prints_what_it_documents"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tail = proc.stdout[proc.stdout.index("not run on this machine"):]
    assert (f"SKIPPED tests/test_tutorial.py::test_every_tutorial_block_runs_and_prints_what_it_documents: "
            f"MovieLens 100K not found under {tmp_path} (set NCF_DATA_DIR)") in tail, proc.stdout[-3000:]
