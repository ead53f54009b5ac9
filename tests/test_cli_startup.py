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


def test_the_model_names_the_cli_offers_are_the_builder_table_s():
    """``--model`` offers the names written out in ``BUILDABLE_MODELS`` (no torch needed): exactly the
    builder table's, which are the registry's models but the composites (those that rebuild their
    parts in ``from_config``), each row with its registry class."""
    from ncf.app.model_builders import MODEL_BUILDERS
    from ncf.app.model_spec import BUILDABLE_MODELS
    from ncf.models.base import Model
    from ncf.models.registry import MODELS

    assert BUILDABLE_MODELS == tuple(sorted(MODEL_BUILDERS))
    composites = {n for n, cls in MODELS.items() if cls.from_config.__func__ is not Model.from_config.__func__}
    assert composites and set(MODEL_BUILDERS) == set(MODELS) - composites
    assert {name: row.model_class for name, row in MODEL_BUILDERS.items()} == {n: MODELS[n] for n in MODEL_BUILDERS}


def test_the_written_out_option_choices_are_the_models():
    """``--init`` and ``--filter`` offer choices written out without importing the models: the
    models' own."""
    from ncf.app.model_spec import GRAPH_FILTERS, MF_INITS
    from ncf.models.graph_filter import FILTERS
    from ncf.models.mf import INITS

    assert MF_INITS == INITS
    assert GRAPH_FILTERS == FILTERS
