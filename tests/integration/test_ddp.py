"""Training in two processes (torchrun, gloo on CPU) through the command line.

Each torchrun start costs a few seconds (two Python processes importing torch), so the tests
that start one are marked ``slow``. Every subprocess has a time limit and the ranks a
collective timeout (``NCF_DIST_TIMEOUT``), so a broken job fails instead of hanging CI.

Quality tolerance: two processes with half the batch each take the same number of steps of
the same global batch as one process, but draw other negatives, so their test HR@10 is a
different sample of the same training: over seeds 0-2 the two differed by at most 0.01 (3 of
300 test users) with bpr and softmax, while one process alone moves by about 0.02 between
seeds. The tests allow 0.04 (12 users) and require a clear margin over popularity.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ncf.app.datasets import load_data, prepare_split
from ncf.app.evaluate_job import evaluate_run
from ncf.app.ranks import rank_split, split_fingerprint
from ncf.app.rundir import RunDir
from ncf.app.spec import RunSpec
from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.errors import DataError
from ncf.evaluation import evaluate
from ncf.models import Popularity

TOLERANCE = 0.04  # HR@10 (sampled, 300 users): two processes against one
LIMIT = 240  # seconds for any one job (a hang fails the test instead of CI)


def _env() -> dict[str, str]:
    return dict(os.environ, NCF_NUM_THREADS="1", OMP_NUM_THREADS="1", NCF_DIST_TIMEOUT="60")


def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", str(data), "--model", "mf", "--dim", "16", "--lr", "0.01", "--seed", "0", "--quiet",
            "--out", str(out), *extra]


def _ncf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncf", *args], capture_output=True, text=True, env=_env(),
                          timeout=LIMIT)


def _torchrun(*args: str, launch: tuple[str, ...] = ("--standalone", "--nproc-per-node", "2")
              ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", *launch, "-m", "ncf", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=LIMIT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hr10(run_dir: Path) -> float:
    return evaluate_run(run_dir, k=[10], protocol="sampled").metrics["hr@10"]


def _logged_epochs(run_dir: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def popularity_hr10(neumf_dir: Path) -> float:
    split = leave_one_out(synthetic(num_users=300, num_items=200, seed=3).interactions, num_negatives=99, seed=0)
    model = Popularity(split.num_users, split.num_items).fit(split.train)
    report = evaluate(model, split.test, exclude=split.train, k=(10,), protocol="sampled",
                      negatives=split.test_negatives)
    return float(report.metrics["hr@10"])


# ---------------------------------------------------------------------- quality
@pytest.mark.slow
@pytest.mark.parametrize("objective", [("--loss", "bpr"), ("--loss", "softmax", "--optimizer", "sparse_adam")],
                         ids=["bpr-adam", "softmax-sparse-adam"])
def test_two_processes_reach_single_process_quality(neumf_dir, tmp_path, popularity_hr10, objective) -> None:
    single, double = tmp_path / "single", tmp_path / "double"
    one = _ncf(*_train_args(neumf_dir, single, *objective, "--epochs", "10", "--batch-size", "128"))
    assert one.returncode == 0, one.stderr
    two = _torchrun(*_train_args(neumf_dir, double, *objective, "--epochs", "10", "--batch-size", "64"))
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("trained mf") == 1  # rank 0 reports, rank 1 is silent
    assert _logged_epochs(double) == list(range(1, 11))  # written once, by rank 0
    assert RunDir(double).read_info().status == "done"
    hr_one, hr_two = _hr10(single), _hr10(double)
    assert abs(hr_two - hr_one) <= TOLERANCE, (hr_one, hr_two)
    assert hr_two > popularity_hr10 + 0.3, (hr_two, popularity_hr10)


@pytest.mark.slow
def test_c10d_rendezvous_on_loopback_stops_early_on_every_rank(neumf_dir, tmp_path) -> None:
    """The two-host launch (docs/scale.md) on one machine: c10d rendezvous at 127.0.0.1. Early
    stopping must end both ranks at the same epoch, or the job would hang until the timeout."""
    out = tmp_path / "run"
    launch = ("--nnodes", "1", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
              "--rdzv-endpoint", f"127.0.0.1:{_free_port()}")
    proc = _torchrun(*_train_args(neumf_dir, out, "--loss", "bpr", "--max-epochs", "40", "--patience", "1",
                                  "--batch-size", "64", "--lr", "0.03"), launch=launch)
    assert proc.returncode == 0, proc.stderr
    history = RunDir(out).read_info().history
    assert history is not None and history["stopped_early"] and history["epochs"] < 40
    assert _logged_epochs(out) == list(range(1, history["epochs"] + 1))
    assert history["best_metric"] > 0.3


# ---------------------------------------------------------------------- failures and resume
def _rank_pid(rank: int, marker: str) -> int | None:
    """The pid of the torchrun worker of ``rank`` whose command line mentions ``marker``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        elastic = any(v.startswith(b"TORCHELASTIC_RUN_ID=") for v in environ)
        if elastic and f"RANK={rank}".encode() in environ and marker.encode() in cmdline:
            return int(entry.name)
    return None


def _wait_for_epochs(proc: subprocess.Popen[str], out: Path, epochs: int) -> None:
    deadline = time.time() + LIMIT
    while time.time() < deadline and proc.poll() is None:
        log = out / "log.jsonl"
        if log.is_file() and len(log.read_text().splitlines()) >= epochs and (out / "checkpoint").is_dir():
            return
        time.sleep(0.02)


SLOW_EPOCHS = ("--loss", "bpr", "--epochs", "8", "--batch-size", "8")  # about a second per epoch: time to kill


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="finds the rank's process through /proc")
def test_a_killed_rank_stops_the_job_and_resume_finishes_it(neumf_dir, tmp_path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ncf", *_train_args(neumf_dir, out, *SLOW_EPOCHS), "--nproc", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        _wait_for_epochs(proc, out, 1)
        pid = _rank_pid(1, str(out))
        assert pid is not None and proc.poll() is None, "the job ended before rank 1 could be killed"
        os.kill(pid, signal.SIGKILL)
        killed = time.time()
        _, stderr = proc.communicate(timeout=LIMIT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.time() - killed < 60  # the survivor does not hang
    assert proc.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: training in 2 processes failed: rank 1 was stopped by SIGKILL"), stderr
    assert f"ncf train --resume --out {out} --nproc 2" in last
    assert "Traceback" not in stderr
    info = RunDir(out).read_info()
    assert info.status == "training" and RunDir(out).has_checkpoint() and not RunDir(out).has_model()
    done = len(_logged_epochs(out))
    assert 1 <= done < 8

    resumed = _ncf("train", "--resume", "--out", str(out), "--quiet")  # the DDP checkpoint, in one process
    assert resumed.returncode == 0, resumed.stderr
    assert RunDir(out).read_info().status == "done"
    assert _logged_epochs(out) == list(range(1, 9))


@pytest.mark.slow
def test_a_single_process_checkpoint_resumes_in_two_processes(neumf_dir, tmp_path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ncf", *_train_args(neumf_dir, out, *SLOW_EPOCHS)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        _wait_for_epochs(proc, out, 1)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=LIMIT)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 1 <= len(_logged_epochs(out)) < 8
    resumed = _ncf("train", "--resume", "--out", str(out), "--quiet", "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert RunDir(out).read_info().status == "done" and RunDir(out).has_model()
    assert _logged_epochs(out) == list(range(1, 9))


@pytest.mark.slow
def test_a_failure_on_rank_zero_stops_every_rank(tmp_path) -> None:
    proc = _ncf(*_train_args(tmp_path / "no-such-data", tmp_path / "run", "--epochs", "1"), "--nproc", "2")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert any("no-such-data" in line for line in lines)  # rank 0's own message
    assert re.match(r"error: training in 2 processes failed: rank [01] exited with code 1", lines[-1]), proc.stderr
    assert not (tmp_path / "run" / "run.json").exists()


# ---------------------------------------------------------------------- quick checks (no torchrun)
def test_nproc_refuses_a_finished_run_before_starting_processes(neumf_dir, tmp_path) -> None:
    out = tmp_path / "run"
    args = ("train", str(neumf_dir), "--model", "popularity", "--quiet", "--out", str(out))
    first = _ncf(*args)
    assert first.returncode == 0, first.stderr
    again = _ncf(*args, "--nproc", "2")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [f"error: {out} already holds a finished run; use --force to "
                                                 "replace it or another --out"]


def test_nproc_under_torchrun_is_a_usage_error(neumf_dir, tmp_path) -> None:
    env = dict(_env(), RANK="0", WORLD_SIZE="2")
    proc = subprocess.run([sys.executable, "-m", "ncf", *_train_args(neumf_dir, tmp_path / "r"), "--nproc", "2"],
                          capture_output=True, text=True, env=env, timeout=LIMIT)
    assert proc.returncode == 2 and "under torchrun leave it out" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_rank_that_cannot_see_the_run_directory_builds_the_same_split(neumf_dir, tmp_path) -> None:
    """Another node without a shared file system: the split comes from the data, checked against rank 0's."""
    spec = RunSpec.from_options(("", {"data": str(neumf_dir), "model": "mf", "epochs": 1}))
    reference = prepare_split(spec, load_data(str(neumf_dir)))
    expected = split_fingerprint(reference)
    split, _ = rank_split(spec, RunDir(tmp_path / "not-here"), expected)
    np.testing.assert_array_equal(split.train.users, reference.train.users)
    with pytest.raises(DataError, match="differs from rank 0's"):
        rank_split(spec, RunDir(tmp_path / "not-here"), "0123456789abcdef")
