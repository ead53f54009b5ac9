"""docs/tutorial.md never rots: every block marked to run is run, and its output checked loosely.

Blocks to run are fenced as ```` ```bash run ```` or ```` ```python run ````; ``needs=ml-100k`` marks those
that read MovieLens 100K (skipped, with the rest of the document, when it is not on this
machine). The ```` ```text output ```` block right after a block is what it prints: each documented line
must appear in the actual output, in order (other lines may come between); numbers match within a
tolerance (``tol=0.15`` relative by default, or ``abs=0.02``, whichever is looser; set per block,
e.g. ```` ```text output tol=0.3 ````), and ``...`` matches anything.

Every block runs in a fresh process, in one scratch directory shared by the document (so a run
directory trained in one block is there for the next), with ``NCF_DATA_DIR`` pointing at the shared
data and an ``ncf`` on PATH that runs this checkout (with ``viz``/``report`` added if the CLI does not
have them yet).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\s*$", re.M | re.S)
NUMBER = r"[-+]?(?:\d[\d,]*\.?\d*(?:[eE][-+]?\d+)?|\.\d+)"
TIMEOUT_S = 600


@dataclass
class Block:
    lang: str
    code: str
    line: int
    needs: set[str] = field(default_factory=set)
    expected: str | None = None
    rel: float = 0.15
    abs: float = 0.02

    def __str__(self) -> str:
        return f"tutorial.md:{self.line} ({self.lang})"


def _options(info: str) -> dict[str, str]:
    out = {}
    for word in info.split():
        key, _, value = word.partition("=")
        out[key] = value
    return out


def parse(text: str) -> list[Block]:
    """The runnable blocks of ``text``, each with the output block that follows it (if any)."""
    blocks: list[Block] = []
    for m in FENCE.finditer(text):
        lang, info, body = m.group(1), m.group(2), m.group(3)
        opts = _options(info)
        line = text.count("\n", 0, m.start()) + 1
        if lang in ("bash", "python") and "run" in opts:
            blocks.append(Block(lang, body, line, set(filter(None, opts.get("needs", "").split(",")))))
        elif lang == "text" and "output" in opts:
            if not blocks or blocks[-1].expected is not None:
                raise AssertionError(f"tutorial.md:{line}: an output block without a runnable block before it")
            blocks[-1].expected = body
            blocks[-1].rel = float(opts.get("tol") or 0.15)
            blocks[-1].abs = float(opts.get("abs") or 0.02)
    return blocks


def _pattern(line: str) -> tuple[re.Pattern[str], list[float]]:
    """A regex for one documented line (numbers captured, ``...`` anything) and its numbers."""
    parts: list[str] = []
    numbers: list[float] = []
    for token in re.split(rf"(\.\.\.|{NUMBER})", line.strip()):
        if not token:
            continue
        if token == "...":
            parts.append(".*?")
        elif re.fullmatch(NUMBER, token):
            parts.append(f"({NUMBER})")
            numbers.append(float(token.replace(",", "")))
        else:  # words exactly, any run of white space for white space
            parts.extend(r"\s+" if piece.isspace() else re.escape(piece) for piece in re.split(r"(\s+)", token) if piece)
    return re.compile("".join(parts)), numbers


def _close(actual: float, expected: float, rel: float, abs_tol: float) -> bool:
    return abs(actual - expected) <= max(abs_tol, rel * abs(expected))


def compare(actual: str, expected: str, *, rel: float = 0.15, abs_tol: float = 0.02) -> list[str]:
    """Problems found matching ``expected`` against ``actual`` (empty: they match)."""
    lines = [ln for ln in actual.splitlines() if ln.strip()]
    at = 0
    problems = []
    for want in (ln for ln in expected.splitlines() if ln.strip()):
        pattern, numbers = _pattern(want)
        for i in range(at, len(lines)):
            m = pattern.search(lines[i].strip())
            if m is None:
                continue
            got = [float(g.replace(",", "")) for g in m.groups()]
            bad = [(g, e) for g, e in zip(got, numbers, strict=True) if not _close(g, e, rel, abs_tol)]
            if bad:
                problems.append(f"numbers differ in {lines[i].strip()!r}: (actual, documented) {bad}")
            at = i + 1
            break
        else:
            problems.append(f"documented line not printed: {want.strip()!r}")
    return problems


# ---------------------------------------------------------------------- the runner's own checks
def test_compare_is_loose_on_numbers_and_strict_on_words():
    assert compare("epoch 3: HR@10 0.6510 (12.3 s)\n", "HR@10 0.65 (...)") == []
    assert compare("log line\nusers 943\nitems 1,682\n", "users 943\nitems 1682") == []
    assert compare("HR@10 0.40", "HR@10 0.65")[0].startswith("numbers differ")
    assert compare("NDCG@10 0.65", "HR@10 0.65")[0].startswith("documented line not printed")
    assert compare("b\na", "a\nb") != []  # order matters


def test_parse_pairs_blocks_with_their_outputs():
    text = "x\n```bash run needs=ml-100k\nncf --help\n```\n```text output tol=0.3\nUsage\n```\n```python\nnot run\n```\n"
    (block,) = parse(text)
    assert block.lang == "bash" and block.needs == {"ml-100k"} and block.expected == "Usage\n" and block.rel == 0.3


# ---------------------------------------------------------------------- running the tutorial
def _data_dir() -> Path:
    env = os.environ.get("NCF_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def _ncf_shim(bin_dir: Path) -> None:
    """An ``ncf`` that runs this checkout's CLI with this interpreter (viz/report added if missing)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "ncf"
    code = ("import sys; from ncf.cli import main; from ncf.viz.commands import report, viz\n"
            "for c in (viz, report):\n    main.commands.setdefault(c.name, c)\n"
            "main.main(args=sys.argv[1:], prog_name='ncf')")
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -c {shlex.quote(code)} \"$@\"\n")
    shim.chmod(0o755)


@pytest.mark.slow
def test_every_tutorial_block_runs_and_prints_what_it_documents(tmp_path):
    blocks = parse(TUTORIAL.read_text(encoding="utf-8"))
    assert len(blocks) >= 10 and all(b.expected for b in blocks if b.lang == "bash" and "ncf" in b.code)
    data = _data_dir()
    have = {"ml-100k"} if (data / "ml-100k" / "u.data").is_file() else set()
    if not have:
        pytest.skip(f"MovieLens 100K not found under {data} (set NCF_DATA_DIR)")
    work = tmp_path / "work"
    work.mkdir()
    _ncf_shim(tmp_path / "bin")
    env = {**os.environ, "NCF_DATA_DIR": str(data), "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "NCF_NUM_THREADS": os.environ.get("NCF_NUM_THREADS", "1"), "MPLBACKEND": "Agg", "COLUMNS": "200"}
    failures = []
    for block in blocks:
        if block.needs - have:
            continue
        cmd = ["bash", "-euo", "pipefail", "-c", block.code] if block.lang == "bash" else [sys.executable, "-c", block.code]
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        if proc.returncode != 0:
            failures.append(f"{block}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
            continue
        if block.expected is not None:
            problems = compare(proc.stdout, block.expected, rel=block.rel, abs_tol=block.abs)
            if problems:
                failures.append(f"{block}:\n  " + "\n  ".join(problems) + f"\n--- printed ---\n{proc.stdout[-3000:]}")
    assert not failures, "\n\n".join(failures)
