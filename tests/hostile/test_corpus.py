"""Hostile input through the command line: malformed options, files, run directories and pipes."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tests_hostile_tally import record

from ncf.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@dataclass(frozen=True)
class Case:
    """``make(tmp, data)`` returns the CLI arguments; the run must fail with ``code`` and a message
    containing ``says`` (or succeed when ``code`` is 0), leaving ``tmp/out`` absent when ``no_out``."""

    name: str
    make: Callable[[Path, Path], list[str]]
    code: int
    says: str = ""
    no_out: bool = True


def _train(*extra: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, data: ["train", str(data), "--model", "mf", "--epochs", "1", "--out", str(tmp / "out"), *extra]


def _with_config(text: bytes | str, *extra: str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, data: Path) -> list[str]:
        cfg = tmp / "c.toml"
        cfg.write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["train", str(data), "--config", str(cfg), "--out", str(tmp / "out"), *extra]

    return make


def _csv(content: bytes, name: str = "log.csv") -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, data: Path) -> list[str]:
        (tmp / name).write_bytes(content)
        return ["data", "stats", str(tmp / name)]

    return make


def _truncated_gz(tmp: Path, data: Path) -> list[str]:
    raw = gzip.compress(b"user,item,timestamp\n" + b"".join(b"%d,%d,%d\n" % (i % 50, i % 70, i) for i in range(20000)))
    (tmp / "log.csv.gz").write_bytes(raw[: len(raw) // 2])
    return ["data", "stats", str(tmp / "log.csv.gz")]


TRAIN_OPTION_CASES = [
    Case("dim 0", _train("--dim", "0"), 2, "dim must be a positive"),
    Case("lr nan", _train("--lr", "nan"), 2, "lr must be a finite number"),
    Case("lr inf", _train("--lr", "inf"), 2, "lr must be a finite number"),
    Case("lr text", _train("--lr", "fast"), 2, "'lr' must be a number"),
    Case("epochs 0", _train("--epochs", "0"), 2, "epochs"),
    Case("epochs 1.7", _train("--epochs", "1.7"), 2, "must be a whole number"),
    Case("batch size -1", _train("--batch-size", "-1"), 2, "batch_size"),
    Case("unknown loss", _train("--loss", "hinge"), 2, "loss must be one of"),
    Case("unknown optimizer", _train("--optimizer", "adamax"), 2, "optimizer must be one of"),
    Case("unknown model", _train("--model", "svd"), 2, "model must be one of"),
    Case("device tpu", _train("--device", "tpu"), 2, "device must be"),
    Case("device cuda without cuda", _train("--device", "cuda"), 2, "cuda"),
    Case("device cuda:x", _train("--device", "cuda:x"), 2, "device must be"),
    Case("metric foo@10", _train("--metric", "foo@10"), 2, "metric's name must be one of"),
    Case("metric precision under sampling", _train("--metric", "precision@10", "--valid"), 2,
         "sampled-protocol metric"),
    Case("metric without cut-off", _train("--metric", "ndcg"), 2, "metric must look like"),
    Case("negatives 100000", _train("--negatives", "100000"), 2, "negatives"),
    Case("negatives 0 with bpr", _train("--negatives", "0"), 2, "num_negatives"),
    Case("spectral rank 0", lambda t, d: ["train", str(d), "--model", "spectral", "--spectral-rank", "0",
                                          "--out", str(t / "out")], 2, "spectral_rank must be a positive"),
    Case("spectral rank -5", lambda t, d: ["train", str(d), "--model", "spectral", "--spectral-rank", "-5",
                                           "--out", str(t / "out")], 2, "spectral_rank must be a positive"),
    Case("checkpoint every 0", _train("--checkpoint-every", "0"), 2, "checkpoint_every"),
    Case("features on mf", _train("--features"), 2, "--features does not apply to model 'mf'"),
    Case("features without side data", lambda t, d: ["train", str(d), "--model", "two-tower", "--loss", "softmax",
                                                     "--features", "--epochs", "1", "--out", str(t / "out")],
         2, "no side features"),
    Case("spectral weight on fpmc", lambda t, d: ["train", str(d), "--model", "fpmc", "--spectral-weight", "0.5",
                                                  "--epochs", "1", "--out", str(t / "out")], 2,
         "needs a trained factorized model"),
    Case("temperature 0", _train("--temperature", "0"), 2, "temperature must be positive"),
    Case("dropout 1.5", lambda t, d: ["train", str(d), "--model", "mlp", "--dropout", "1.5", "--epochs", "1",
                                      "--out", str(t / "out")], 2, "dropout"),
    Case("layers not numbers", lambda t, d: ["train", str(d), "--model", "mlp", "--layers", "a,b",
                                             "--out", str(t / "out")], 2, "comma-separated whole numbers"),
    Case("layers empty", lambda t, d: ["train", str(d), "--model", "mlp", "--layers", ",",
                                       "--out", str(t / "out")], 2, "layers"),
    Case("test negatives -1", _train("--test-negatives", "-1"), 2, "test_negatives"),
    Case("test fraction 1.5", _train("--test-fraction", "1.5"), 2, "test_fraction"),
    Case("protocol nope", _train("--protocol", "nope"), 2, "protocol must be one of"),
    Case("format nope", _train("--format", "xls"), 2, "format must be one of"),
    Case("seed -1", _train("--seed", "-1"), 2, "seed"),
    Case("data and argument differ", lambda t, d: ["train", str(d), "--data", "other", "--out", str(t / "out")],
         2, "either as an argument or with --data"),
    Case("no data", lambda t, d: ["train", "--out", str(t / "out")], 2, "missing data"),
    Case("data does not exist", lambda t, d: ["train", str(t / "nope"), "--epochs", "1", "--out", str(t / "out")],
         1, "nope"),
    Case("resume nothing", _train("--resume"), 2, "nothing to resume"),
    Case("config missing", lambda t, d: ["train", str(d), "--config", str(t / "none.toml"), "--out", str(t / "out")],
         2, "does not exist"),
    Case("config not UTF-8", _with_config(b"model = \"mf\" # caf\xe9\n"), 2, "not UTF-8"),
    Case("config bad TOML", _with_config("model = [\n"), 2, "c.toml"),
    Case("config unknown key", _with_config("epoch = 3\n"), 2, "did you mean 'epochs'"),
    Case("config epochs 1.7", _with_config("epochs = 1.7\n"), 2, "must be a whole number"),
    Case("config unknown table", _with_config("[modle]\ndim = 3\n"), 2, "unknown table"),
    Case("config wrong type", _with_config("cosine = 'yes'\n"), 2, "true or false"),
]

DATA_CASES = [
    Case("empty csv", _csv(b""), 1, "log.csv"),
    Case("header only csv", _csv(b"user,item,timestamp\n"), 1, "log.csv"),
    Case("2 MB field", _csv(b"user,item\n1,2\n" + b"3," + b"x" * (2 << 20) + b"\n"), 1, "log.csv"),
    Case("truncated gzip", _truncated_gz, 1, "log.csv.gz"),
    Case("not UTF-8 csv", _csv(b"user,item\n\xff\xfe,1\n2,3\n"), 1, "log.csv"),
    Case("bad timestamp", _csv(b"user,item,timestamp\n1,2,100\n3,4,not-a-time\n"), 1, "log.csv:3"),
    Case("directory of nothing", lambda t, d: _empty_dir(t), 1, "empty"),
    Case("unknown dataset name", lambda t, d: ["data", "stats", "ml-100"], 1, "did you mean 'ml-100k'"),
]


def _empty_dir(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["data", "stats", str(tmp / "empty")]


def _trained(tmp: Path, data: Path) -> Path:
    run = tmp / "run"
    res = CliRunner().invoke(main, ["train", str(data), "--model", "mf", "--epochs", "1", "--dim", "8", "--quiet",
                                    "--spectral-weight", "0", "--out", str(run)])  # MF alone: no carve
    assert res.exit_code == 0, res.output
    return run


def _damage(edit: Callable[[Path], None], *args: str) -> Callable[[Path, Path], list[str]]:
    def make(tmp: Path, data: Path) -> list[str]:
        run = _trained(tmp, data)
        edit(run)
        return [a.replace("RUN", str(run)) for a in args]

    return make


def _truncate(path: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        p = run / path
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])

    return edit


def _flip(path: str) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        p = run / path
        b = bytearray(p.read_bytes())
        b[-7] ^= 0x40
        p.write_bytes(bytes(b))

    return edit


RUN_CASES = [
    Case("truncated test negatives", _damage(_truncate("split/test_negatives.npy"), "evaluate", "RUN"), 1,
         "test_negatives.npy"),
    Case("truncated train arrays", _damage(_truncate("split/train/arrays.npz"), "evaluate", "RUN"), 1, "arrays"),
    Case("flipped bits in weights", _damage(_flip("model/weights.safetensors"), "evaluate", "RUN"), 1,
         "checksum mismatch"),
    Case("missing user map", _damage(lambda r: (r / "model" / "user_map.json").unlink(), "recommend", "RUN",
                                     "--user", "u1"), 1, "user_map.json is missing"),
    Case("invalid titles", _damage(lambda r: (r / "item_titles.json").write_text("[1, 2"), "recommend", "RUN",
                                   "--user", "u1"), 1, "item_titles.json"),
    Case("short titles", _damage(lambda r: (r / "item_titles.json").write_text('["a"]'), "recommend", "RUN",
                                 "--user", "u1"), 1, "1 titles for"),
    Case("run.json not JSON", _damage(lambda r: (r / "run.json").write_text("{"), "evaluate", "RUN"), 1,
         "run.json"),
    Case("run.json from the future", _damage(lambda r: (r / "run.json").write_text(json.dumps(
        {**json.loads((r / "run.json").read_text()), "format_version": 99})), "evaluate", "RUN"), 1, "upgrade ncf"),
    Case("k 0", _damage(lambda r: None, "evaluate", "RUN", "--k", "0"), 2, "--k must be positive"),
    Case("k text", _damage(lambda r: None, "evaluate", "RUN", "--k", "ten"), 2, "--k must be integers"),
    Case("no validation part", _damage(lambda r: None, "evaluate", "RUN", "--split", "valid"), 1,
         "no valid interactions"),
    Case("unknown user", _damage(lambda r: None, "recommend", "RUN", "--user", "nobody"), 1, "unknown"),
    Case("recommend nobody", _damage(lambda r: None, "recommend", "RUN"), 2, "name users"),
    Case("train over a finished run", _damage(lambda r: None, "train", "DATA", "--epochs", "1", "--out", "RUN"), 2,
         "already holds a finished run; use --force"),
    Case("resume a finished run", _damage(lambda r: None, "train", "DATA", "--resume", "--out", "RUN"), 2,
         "already finished"),
    Case("not a run", lambda t, d: ["evaluate", str(_empty_dir(t)[-1])], 1, "run.json missing"),
    Case("split over an existing split", lambda t, d: _split_twice(t, d), 2, "--force"),
    Case("serve an empty key file", lambda t, d: _serve_empty_key(t, d), 2, "empty"),
]


def _serve_empty_key(tmp: Path, data: Path) -> list[str]:
    (tmp / "k").write_text("\n")
    return ["serve", str(_trained(tmp, data)), "--api-key-file", str(tmp / "k")]


def _split_twice(tmp: Path, data: Path) -> list[str]:
    args = ["data", "split", str(data), "--out", str(tmp / "split"), "--prefix", "syn"]
    assert CliRunner().invoke(main, args).exit_code == 0
    return args


ALL = TRAIN_OPTION_CASES + DATA_CASES + RUN_CASES


@pytest.mark.parametrize("case", ALL, ids=[c.name for c in ALL])
def test_case(case: Case, tmp_path: Path, neumf_dir: Path) -> None:
    args = [a.replace("DATA", str(neumf_dir)) for a in case.make(tmp_path, neumf_dir)]
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(main, args)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        record("traceback")
        raise AssertionError(f"{case.name}: unhandled {type(res.exception).__name__}: {res.exception}")
    lines = res.stderr.strip().splitlines()
    if case.code == 0:
        assert res.exit_code == 0, res.stderr
        record("correct result")
        return
    if res.exit_code == 0:
        record("silent result")
        raise AssertionError(f"{case.name}: accepted; expected an error saying {case.says!r}")
    assert res.exit_code == case.code, (res.exit_code, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert case.says in lines[0], lines[0]
    assert "Traceback" not in res.stderr and "np.int64" not in lines[0] and "array(" not in lines[0]
    if case.no_out:
        assert not (tmp_path / "out").exists(), f"{case.name}: a half-made run directory was left"
    for path in before:  # nothing ncf did not write went missing
        assert path.exists(), f"{case.name}: {path} disappeared"
    record("clear error")


def _snapshot(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in root.rglob("*") if p.is_file() and "out" not in p.parts}


def test_a_pipe_closed_early_is_not_an_error(neumf_dir: Path, tmp_path: Path) -> None:
    run = _trained(tmp_path, neumf_dir)
    cmd = f"{shutil.which('python') or sys.executable} -m ncf recommend {run} --all-users --k 20 | head -n 1"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True,
                          env={**os.environ, "NCF_NUM_THREADS": "1"})
    assert proc.stdout.startswith("user "), proc.stdout
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    record("correct result")


def test_save_model_never_clobbers(tmp_path: Path) -> None:
    from ncf import MatrixFactorization, save_model
    from ncf.errors import DataError

    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    with pytest.raises(DataError):
        save_model(MatrixFactorization(3, 4, embedding_dim=2), precious, overwrite=True)
    assert precious.read_text() == "keep"
    record("clear error")


def test_float_ids_are_refused() -> None:
    from ncf import Interactions
    from ncf.errors import DataError

    with pytest.raises(DataError):
        Interactions.from_arrays(np.array([0.5, 1.0]), np.array([0, 1]))
    record("clear error")
