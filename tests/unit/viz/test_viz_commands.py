"""`ncf viz` and `ncf report` through click, in a group like the one ``ncf`` registers them in."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import ncf.viz.embedding
from ncf.cli import NCFGroup
from ncf.viz.commands import common_options, report, viz


@click.group(cls=NCFGroup)
@common_options
def cli() -> None:
    """Stands in for ``ncf`` (which adds these two commands with ``main.add_command``)."""


cli.add_command(viz)
cli.add_command(report)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_viz_writes_a_png_and_says_what_it_drew(mf_run, tmp_path):
    out = tmp_path / "items.png"
    res = invoke("viz", str(mf_run), "--method", "pca", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert res.output.startswith(f"wrote {out}: 200 items by pca") and "colour: genre" in res.output
    assert "\r" not in res.output  # no progress bar off a terminal


def test_viz_json_for_users_coloured_by_a_feature(mf_run, tmp_path):
    out = tmp_path / "users.html"
    res = invoke("viz", str(mf_run), "--method", "pca", "--what", "users", "--color-by", "segment",
                 "--sample", "100", "--json", "--out", str(out))
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["what"] == "users" and info["points"] == 100 and info["total"] == 300
    assert info["color_by"] == "segment" and out.is_file()


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--out", "x.svg"), 2, "must end in .png or .html"),
    (("--color-by", "mood", "--out", "x.png"), 2, "no feature 'mood'"),
    (("--method", "mds", "--out", "x.png"), 2, "'mds' is not one of"),
])
def test_viz_usage_errors_are_one_line_and_exit_2(mf_run, tmp_path, args, code, message):
    res = CliRunner().invoke(cli, ["viz", str(mf_run), "--method", "pca", *args])
    assert res.exit_code == code and message in res.output and len(res.output.strip().splitlines()) == 1


def test_viz_runtime_errors(popularity_run, tmp_path):
    res = CliRunner().invoke(cli, ["viz", str(popularity_run), "--method", "pca", "--out", str(tmp_path / "p.png")])
    assert res.exit_code == 2 and "too few for a 2-D map" in res.output
    res = CliRunner().invoke(cli, ["viz", str(tmp_path / "nothing"), "--out", str(tmp_path / "p.png")])
    assert res.exit_code == 1 and "run directory does not exist" in res.output


def test_report_writes_the_page(mf_run, tmp_path):
    out = tmp_path / "report.html"
    res = invoke("report", str(mf_run), "--map", "pca", "--users", "2", "--cutoffs", "5,10", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "recall@5" in res.output and "ndcg@5" in res.output
    assert "<section id='map'>" in out.read_text(encoding="utf-8")
    bad = CliRunner().invoke(cli, ["report", str(mf_run), "--cutoffs", "x", "--out", str(out)])
    assert bad.exit_code == 2 and "--cutoffs" in bad.output


def test_quiet_switches_progress_off_at_either_level(mf_run, tmp_path, monkeypatch):
    seen = []
    real = ncf.viz.embedding.embedding_map

    def spy(*args, **kwargs):
        seen.append(kwargs["show_progress"])
        return real(*args, **kwargs)

    monkeypatch.setattr(ncf.viz.embedding, "embedding_map", spy)
    out = str(tmp_path / "m.png")
    assert invoke("viz", str(mf_run), "--method", "pca", "--out", out).exit_code == 0
    assert invoke("-q", "viz", str(mf_run), "--method", "pca", "--out", out).exit_code == 0
    assert invoke("viz", str(mf_run), "--method", "pca", "-q", "--threads", "1", "--out", out).exit_code == 0
    assert seen == [True, False, False]


def test_importing_the_commands_loads_neither_torch_nor_the_plotting_packages():
    """The CLI imports them at start-up, before it has chosen torch's threads."""
    code = ("import sys, ncf.viz.commands; print(' '.join(m for m in sys.modules "
            "if m.split('.')[0] in ('torch', 'matplotlib', 'plotly', 'umap', 'sklearn', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
