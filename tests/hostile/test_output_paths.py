"""Outputs that point into what a command reads. One rule (:func:`ncf._io.check_output`): an
output path is never, never inside, and never contains, an input of the command; a directory
ncf replaces must be one it wrote. Each refusal is exit 2 before anything is written, and every
file of the run is byte-for-byte what it was."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests_hostile_tally import record

from ncf.cli import main


@pytest.fixture()
def run_dir(tmp_path: Path, neumf_dir: Path) -> Path:
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(neumf_dir), "--model", "mf", "--epochs", "1", "--dim", "8", "-q",
                                    "--spectral-weight", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _users(tmp: Path) -> str:
    (tmp / "users.txt").write_text("u1\nu2\n")
    return str(tmp / "users.txt")


# (name, arguments with RUN for the run directory and TMP for the test's folder, the refusal's relation, input)
CASES: list[tuple[str, Callable[[str, Path], list[str]], str, str]] = [
    ("index into the run itself", lambda r, t: ["index", "build", r, "--kind", "exact", "--out", r],
     "contains", "run.json"),
    ("index over the model", lambda r, t: ["index", "build", r, "--kind", "exact", "--out", f"{r}/model"], "is",
     "model"),
    ("index over the split", lambda r, t: ["index", "build", r, "--kind", "exact", "--out", f"{r}/split"], "is",
     "split"),
    ("index inside the model", lambda r, t: ["index", "build", r, "--kind", "exact", "--out", f"{r}/model/idx"],
     "is inside", "model"),
    ("index over the run's parent", lambda r, t: ["index", "build", r, "--kind", "exact", "--out", str(t)],
     "contains", "run.json"),
    ("rankings over run.json", lambda r, t: ["evaluate", r, "--save-rankings", f"{r}/run.json"], "is", "run.json"),
    ("rankings inside the split", lambda r, t: ["evaluate", r, "--save-rankings", f"{r}/split/r.tsv"], "is inside",
     "split"),
    ("recommendations over the weights", lambda r, t: ["recommend", r, "--user", "u1", "--out",
                                                       f"{r}/model/weights.safetensors"], "is inside", "model"),
    ("recommendations over the users file", lambda r, t: ["recommend", r, "--users-file", _users(t), "--out",
                                                          str(t / "users.txt")], "is", "users.txt"),
]


@pytest.mark.parametrize(("name", "make", "relation", "read"), CASES, ids=[c[0] for c in CASES])
def test_an_output_into_the_input_is_refused_and_nothing_changes(
        run_dir: Path, tmp_path: Path, name: str, make: Callable[[str, Path], list[str]], relation: str,
        read: str) -> None:
    args = make(str(run_dir), tmp_path)
    out = args[args.index("--out" if "--out" in args else "--save-rankings") + 1]
    before = _digest(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, (name, res.output)
    line = res.stderr.strip()
    assert line.startswith("error: --") and f" {out} {relation} " in line and line.endswith(
        ", which this command reads; write somewhere else"), line
    assert line.split(f" {relation} ", 1)[1].split(",")[0].endswith(read), line
    assert _digest(tmp_path) == before, f"{name}: files changed"
    assert CliRunner().invoke(main, ["evaluate", str(run_dir)]).exit_code == 0  # the run still works
    record("clear error")


def test_index_refuses_to_replace_a_directory_ncf_did_not_write(run_dir: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    res = CliRunner().invoke(main, ["index", "build", str(run_dir), "--kind", "exact", "--out", str(foreign)])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: --out {foreign} is a directory ncf did not write (no index.json); it "
                                  "would be replaced: give a new or empty directory")
    assert (foreign / "notes.txt").read_text() == "keep"
    record("clear error")


def test_index_replaces_its_own_directory_and_records_an_absolute_path(run_dir: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the second build replaces the index the first one wrote
        res = CliRunner().invoke(main, ["index", "build", "run", "--kind", "exact", "--json"])
        assert res.exit_code == 0, res.output
    info = json.loads((run_dir / "index-info.json").read_text())
    assert info["path"] == str((run_dir / "index").resolve())
    record("correct result")


def test_split_never_writes_into_its_source(neumf_dir: Path, tmp_path: Path) -> None:
    import shutil

    src = tmp_path / "src"
    shutil.copytree(neumf_dir, src)
    before = _digest(src)
    for out in (src, src / "inner"):
        res = CliRunner().invoke(main, ["data", "split", str(src), "--out", str(out), "--prefix", "syn", "--force"])
        assert res.exit_code == 2, res.output
        assert "which this command reads" in res.stderr and str(src) in res.stderr, res.stderr
    assert _digest(src) == before
    record("clear error")


def test_train_never_writes_into_its_data(neumf_dir: Path, tmp_path: Path) -> None:
    import shutil

    src = tmp_path / "src"
    shutil.copytree(neumf_dir, src)
    before = _digest(src)
    res = CliRunner().invoke(main, ["train", str(src), "--model", "mf", "--epochs", "1", "--out", str(src)])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: --out {src} is {src}, which this command reads; write somewhere else"
    assert _digest(src) == before
    record("clear error")
