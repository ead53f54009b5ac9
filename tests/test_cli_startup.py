"""The command line answers help, ``--version`` and argument errors without loading torch.

Each case runs in a fresh interpreter (an import in this test process would hide the cost), and
asserts after the command that ``torch`` is not in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import ncf.cli
code = 0
try:
    ncf.cli.run(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "torch": "torch" in sys.modules}), file=sys.stderr)
"""


def _probe(*argv: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    return dict(json.loads(last))


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["--version"],
    ["train", "--help"],
    ["train", "--model", "neumf", "--help"],
    ["recommend", "--help"],
    ["similar", "--help"],
    ["serve", "--help"],
    ["index", "build", "--help"],
])
def test_help_and_version_do_not_load_torch(argv):
    result = _probe(*argv)
    assert result == {"code": 0, "torch": False}


@pytest.mark.parametrize("argv", [
    ["no-such-command"],
    ["train", "--no-such-option"],
    ["train", "data"],                                   # --out missing
    ["train", "data", "--out", "run", "--model", "nope"],
    ["train", "data", "--out", "run", "--epochs", "many"],
    ["train", "data", "--out", "run", "--loss", "nope"],
    ["evaluate"],
    ["recommend"],
    ["serve", "--port", "70000", "."],
])
def test_argument_errors_do_not_load_torch(argv):
    result = _probe(*argv)
    assert result == {"code": 2, "torch": False}


def test_the_model_names_the_cli_offers_are_the_registry_s():
    from ncf.models.registry import MODELS
    from ncf.models.spec import BUILDABLE_MODELS

    assert BUILDABLE_MODELS == tuple(sorted(n for n, cls in MODELS.items() if cls.spec_options is not None))
