"""Facts about index kinds live with the kinds: the CLI's choices and each kind's sweep agree with them."""

from __future__ import annotations

import click

from ncf.cli import main
from ncf.index import KINDS


def test_cli_kind_choices_are_the_registered_kinds():
    # the CLI spells the names out (importing ncf.index would load torch before --help answers)
    build = main.commands["index"].commands["build"]  # type: ignore[attr-defined]
    kind = next(p for p in build.params if p.name == "kind")
    assert isinstance(kind.type, click.Choice)
    assert list(kind.type.choices) == list(KINDS)


def test_each_kind_sweeps_one_of_its_query_settings():
    for name, cls in KINDS.items():
        setting, values = cls.SWEEP
        if setting is None:
            assert values == (None,), name
        else:
            assert setting in cls.QUERY_PARAMS, name
            assert list(values) == sorted(values) and len(values) >= 2, name
