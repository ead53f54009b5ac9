"""One home for the input formats: ``ncf.data.formats.FORMATS`` is what the readers read, what
``load_dataset`` accepts, and every ``--format`` choice of the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ncf.app.spec import OPTIONS
from ncf.cli import main
from ncf.data import detect_format, load_dataset
from ncf.data.formats import DIRECTORY_FORMATS, DIRECTORY_READERS, FORMATS, TABLE_FORMATS
from ncf.errors import ConfigError

from ._files import make_lightgcn, make_ml100k, make_neumf


def _format_options(command: click.Command, path: str = "ncf") -> list[tuple[str, click.Parameter]]:
    found = [(path, p) for p in command.params if "--format" in getattr(p, "opts", ())]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _format_options(sub, f"{path} {name}")
    return found


def test_every_format_option_of_the_cli_offers_exactly_the_formats_the_readers_know():
    options = _format_options(main)
    assert {path for path, _ in options} >= {"ncf data stats", "ncf data split", "ncf train", "ncf tune",
                                             "ncf evaluate"}
    for path, param in options:
        if isinstance(param.type, click.Choice):
            assert tuple(param.type.choices) == FORMATS, path
        else:  # the run options (train, tune): the choices RunSpec checks, listed in the metavar
            assert OPTIONS["format"].info.allowed() == FORMATS, path
            assert param.metavar == f"[{'|'.join(FORMATS)}]", path


def test_the_formats_are_the_readers():
    assert FORMATS == DIRECTORY_FORMATS + TABLE_FORMATS and len(set(FORMATS)) == len(FORMATS)
    assert tuple(DIRECTORY_READERS) == DIRECTORY_FORMATS


def test_load_dataset_reads_each_format_it_names(tmp_path: Path):
    dirs = {"movielens": make_ml100k(tmp_path / "ml"), "lightgcn": make_lightgcn(tmp_path / "lg"),
            "neumf": make_neumf(tmp_path / "nf")}
    rows = "user,item,timestamp\n1,10,5\n1,11,6\n2,10,7\n"
    (tmp_path / "t.csv").write_text(rows)
    (tmp_path / "t.tsv").write_text(rows.replace(",", "\t"))
    pq.write_table(pa.table({"user": [1, 1, 2], "item": [10, 11, 10], "timestamp": [5, 6, 7]}), tmp_path / "t.parquet")
    paths = {**dirs, **{fmt: tmp_path / f"t.{fmt}" for fmt in TABLE_FORMATS}}
    assert set(paths) == set(FORMATS)
    for fmt, path in paths.items():
        assert detect_format(path) == fmt
        assert load_dataset(path, format=fmt).format == fmt
    with pytest.raises(ConfigError, match=", ".join(FORMATS)):
        load_dataset(paths["csv"], format="xlsx")


def test_the_format_names_load_without_numpy_or_torch():
    probe = ("import sys; import ncf.data.formats as f; import ncf.app.spec; "
             "print(f.FORMATS, [m for m in ('numpy', 'torch', 'pyarrow') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out
