"""The `ncf` command line end to end on small synthetic data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ncf.cli import main
from ncf.persistence import load_model


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_data_stats_json(neumf_dir):
    res = run("data", "stats", str(neumf_dir), "--json")
    assert res.exit_code == 0, res.output
    stats = json.loads(res.output)
    assert stats["users"] == 300 and stats["items"] == 200
    assert stats["negatives_per_user"] == 99 and stats["test"] == 300
    assert stats["train"] + stats["test"] == stats["interactions"]


def test_train_evaluate_recommend_mf(neumf_dir, tmp_path):
    out = tmp_path / "run"
    res = run("train", str(neumf_dir), "--model", "mf", "--loss", "bpr", "--dim", "16", "--lr", "0.01",
              "--max-epochs", "15", "--quiet", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert (out / "model" / "weights.safetensors").is_file()
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert logs and all({"loss", "seconds", "samples_per_s", "metrics"} <= set(x) for x in logs)

    res = run("evaluate", str(out), "--k", "10", "20", "--json", "--save-rankings", str(tmp_path / "r.tsv"))
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert {"hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10", "users", "seconds"} <= set(report)
    assert report["users"] == 300
    pop_out = tmp_path / "pop"
    assert run("train", str(neumf_dir), "--model", "popularity", "--quiet", "--out", str(pop_out)).exit_code == 0
    pop = json.loads(run("evaluate", str(pop_out), "--k", "10", "--json").output)
    assert report["hr@10"] > pop["hr@10"] + 0.1, (report, pop)

    lines = (tmp_path / "r.tsv").read_text().splitlines()
    assert lines[0] == "user\trank\titem\tscore"
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == 300 * 20 and all(len(r) == 4 for r in rows)
    first = [r for r in rows if r[0] == rows[0][0]]
    assert [int(r[1]) for r in first] == list(range(1, 21))
    scores = [float(r[3]) for r in first]
    assert scores == sorted(scores, reverse=True)

    saved = load_model(out / "model")
    raw_user = str(saved.user_map.decode([0])[0])
    res = run("recommend", str(out), "--user", raw_user, "--k", "5", "--json")
    assert res.exit_code == 0, res.output
    recs = json.loads(res.output)[raw_user]
    assert len(recs) == 5


def test_config_file_and_overrides(neumf_dir, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "gmf"\nloss = "bce"\ndim = 8\nepochs = 2\nnegatives = 2\n')
    out = tmp_path / "run"
    res = run("train", "--data", str(neumf_dir), "--config", str(cfg), "--epochs", "1", "--quiet", "--out", str(out))
    assert res.exit_code == 0, res.output
    info = json.loads((out / "run.json").read_text())
    assert info["options"]["model"] == "gmf" and info["options"]["epochs"] == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("epoch = 3\n")
    proc = subprocess.run([sys.executable, "-m", "ncf.cli", "train", str(neumf_dir), "--config", str(bad),
                           "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "did you mean 'epochs'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["evaluate", "/nonexistent/run"], 1),
        (["data", "stats", "/nonexistent/data"], 1),
        (["train", "--model", "mf"], 2),
        (["train", "x", "--model", "nope", "--out", "y"], 2),
        (["evaluate", "RUN", "--k", "0"], 2),
        (["frobnicate"], 2),
    ],
)
def test_errors_are_one_line(args, code, tmp_path):
    args = [a if a != "RUN" else str(tmp_path) for a in args]
    proc = subprocess.run([sys.executable, "-m", "ncf.cli", *args], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def _train_cmd(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ncf.cli", "train", str(data), "--model", "mf", "--loss", "bpr", "--dim", "8",
            "--epochs", "6", "--batch-size", "64", "--lr", "0.01", "--seed", "7", "--quiet", "--out", str(out), *extra]


def test_kill_and_resume_matches_uninterrupted(neumf_dir, tmp_path):
    full = tmp_path / "full"
    subprocess.run(_train_cmd(neumf_dir, full), check=True, capture_output=True)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(neumf_dir, killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoint" / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline:
        logs = killed / "log.jsonl"
        if logs.is_file() and len(logs.read_text().splitlines()) >= 2 and ckpt.is_file():
            break
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists(), "the run finished before it could be killed"
    res = subprocess.run(_train_cmd(neumf_dir, killed, "--resume"), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    a, b = load_model(full / "model").model, load_model(killed / "model").model
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb
        np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_diverging_loss_raises(neumf_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ncf.cli", "train", str(neumf_dir), "--model", "mf", "--loss", "bce", "--lr", "1e30",
         "--optimizer", "sgd", "--epochs", "3", "--quiet", "--out", str(tmp_path / "r")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 1
    assert "loss became" in proc.stderr


def test_quickstart_runs_and_cleans_up_its_temporary_directory(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.run([sys.executable, "-m", "ncf", "quickstart", "--quiet"], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TMPDIR": str(tmp)})
    assert proc.returncode == 0, proc.stderr
    assert "top-10 for user" in proc.stdout and "HR@10" in proc.stdout
    hr = {line.split()[0]: float(line.split("HR@10")[1].split()[0]) for line in proc.stdout.splitlines() if "HR@10" in line}
    assert hr["mf"] > hr["popularity"] + 0.1 and hr["neumf"] > hr["popularity"] + 0.1, hr
    assert not list(tmp.glob("ncf-quickstart-*"))  # (torch may leave its own cache here)


def test_data_split_writes_neumf_format(tmp_path, small_data):
    x = small_data.interactions
    csv = tmp_path / "log.csv"
    raw_u = x.user_map.decode(x.users)
    raw_i = x.item_map.decode(x.items)
    lines = ["user,item,timestamp"] + [f"{u},{i},{t}" for u, i, t in zip(raw_u, raw_i, x.timestamps, strict=True)]
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "split"
    res = run("data", "split", str(csv), "--protocol", "loo", "--negatives", "50", "--seed", "1", "--out", str(out))
    assert res.exit_code == 0, res.output
    stats = json.loads(run("data", "stats", str(out), "--json").output)
    assert stats["negatives_per_user"] == 50
    assert stats["interactions"] == len(x) and stats["test"] == x.num_users
    again = tmp_path / "split2"
    run("data", "split", str(csv), "--protocol", "loo", "--negatives", "50", "--seed", "1", "--out", str(again))
    for f in sorted(p.name for p in out.iterdir()):
        assert (out / f).read_bytes() == (again / f).read_bytes(), f


def test_bad_csv_names_file_line_and_field(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("user,item,timestamp\n1,2,100\n3,4,not-a-time\n")
    proc = subprocess.run([sys.executable, "-m", "ncf.cli", "data", "stats", str(csv)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "bad.csv:3" in proc.stderr and "timestamp" in proc.stderr


def test_fpmc_ranks_after_the_latest_item_of_train_plus_validation(neumf_dir, tmp_path):
    from ncf.data import latest_items, read_neumf

    out = tmp_path / "fpmc"
    res = run("train", str(neumf_dir), "--model", "fpmc", "--loss", "bpr", "--dim", "8", "--max-epochs", "3",
              "--quiet", "--out", str(out))
    assert res.exit_code == 0, res.output
    info = json.loads((out / "run.json").read_text())
    assert info["history"]["epochs"] >= 1  # trained with the carved validation split
    # the validation rows (each user's latest training interaction) are back in the context
    full_train = read_neumf(neumf_dir).split.train
    saved = load_model(out / "model")
    np.testing.assert_array_equal(saved.model.last_item.numpy(), latest_items(full_train))
    res = run("evaluate", str(out), "--k", "10", "--json")
    assert res.exit_code == 0, res.output
    split = read_neumf(neumf_dir).split
    assert json.loads(res.output)["hr@10"] == pytest.approx(_sampled_hr_by_hand(saved.model, split, 10))


def test_spectral_model_and_spectral_blend(neumf_dir, tmp_path):
    spec_out, blend_out = tmp_path / "spectral", tmp_path / "blend"
    res = run("train", str(neumf_dir), "--model", "spectral", "--spectral-rank", "24", "--quiet", "--out", str(spec_out))
    assert res.exit_code == 0, res.output
    assert "trained spectral in" in res.output
    spec = json.loads(run("evaluate", str(spec_out), "--k", "10", "--json").output)
    pop_out = tmp_path / "pop"
    assert run("train", str(neumf_dir), "--model", "popularity", "--quiet", "--out", str(pop_out)).exit_code == 0
    pop = json.loads(run("evaluate", str(pop_out), "--k", "10", "--json").output)
    assert spec["hr@10"] > pop["hr@10"] + 0.1, (spec, pop)

    res = run("train", str(neumf_dir), "--model", "mf", "--cosine", "--loss", "softmax", "--temperature", "0.1",
              "--epochs", "2", "--spectral-weight", "0.5", "--spectral-rank", "24", "--quiet", "--out", str(blend_out))
    assert res.exit_code == 0, res.output
    assert "+ 0.5 x spectral" in res.output
    saved = load_model(blend_out / "model")
    assert saved.model.name == "blend" and saved.model.weights == [1.0, 0.5]
    assert [p.name for p in saved.model.parts] == ["mf", "spectral"]
    report = json.loads(run("evaluate", str(blend_out), "--protocol", "full", "--k", "10", "--json").output)
    assert report["users"] == 300
    from ncf.app import Run

    split = Run.load(blend_out).split
    assert report["recall@10"] == pytest.approx(_full_recall_by_hand(saved.model, split, 10))

    res = run("train", str(neumf_dir), "--model", "fpmc", "--epochs", "1", "--spectral-weight", "0.5",
              "--quiet", "--out", str(tmp_path / "fpmc"))
    assert res.exit_code == 2 and "spectral-weight needs a trained factorized model" in res.output
    assert not (tmp_path / "fpmc" / "log.jsonl").exists()  # refused before any training


def _sampled_hr_by_hand(model, split, k: int) -> float:
    """HR@k of the NeuMF protocol from ``model.score`` alone: ties count against the test item."""
    import torch

    hits = 0
    with torch.no_grad():
        for r in range(len(split.test)):
            u, i = int(split.test.users[r]), int(split.test.items[r])
            negs = [int(n) for n in split.test_negatives[r] if n >= 0 and n != i]
            scores = model.score(torch.full((1 + len(negs),), u), torch.tensor([i, *negs])).numpy()
            hits += int(1 + np.sum(scores[1:] >= scores[0]) <= k)
    return hits / len(split.test)


def _full_recall_by_hand(model, split, k: int) -> float:
    """Recall@k under full ranking from a dense score matrix (train and valid items removed)."""
    import torch

    with torch.no_grad():
        scores = model.score(torch.arange(split.num_users)[:, None], torch.arange(split.num_items)[None, :]).numpy()
    for part in (split.train, split.valid):
        if part is not None:
            scores[part.users, part.items] = -np.inf
    recalls = []
    for u in np.unique(split.test.users):
        relevant = set(split.test.items[split.test.users == u].tolist())
        top = np.argsort(-scores[u], kind="stable")[:k]
        recalls.append(len(relevant & set(top.tolist())) / len(relevant))
    return float(np.mean(recalls))


def test_paper_table_runs_unchanged_on_files_named_like_the_neumf_papers(small_data, tmp_path):
    # The NeuMF paper's ML-1M/Pinterest files are not here: the same pipeline on synthetic
    # files with the paper's names (ml-1m.train.rating, ml-1m.test.rating, ml-1m.test.negative).
    from ncf.data.splits import leave_one_out
    from ncf.data.writers import write_neumf

    data = tmp_path / "ml-1m-neumf"
    write_neumf(leave_one_out(small_data.interactions, num_negatives=99, seed=0), data, prefix="ml-1m")
    assert sorted(p.name for p in data.glob("ml-1m.*")) == ["ml-1m.test.negative", "ml-1m.test.rating", "ml-1m.train.rating"]
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "paper_tables.py"
    env = {**os.environ, "NCF_RESULTS_DIR": str(tmp_path / "results")}
    proc = subprocess.run([sys.executable, str(script), "neumf-protocol", "--data", str(data), "--rows",
                           "neumf-protocol-best", "popularity", "--runs", str(tmp_path / "runs")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {r["row"]: r for r in json.loads((tmp_path / "results" / "neumf-protocol-ml-1m-neumf.json").read_text())["rows"]}
    assert set(rows) == {"neumf-protocol-best", "popularity"} and not any("error" in r for r in rows.values())
    assert rows["neumf-protocol-best"]["users"] == 300
    assert rows["neumf-protocol-best"]["hr@10"] > rows["popularity"]["hr@10"] + 0.1, rows


@pytest.mark.parametrize("protocol", ["temporal", "random"])
def test_data_split_by_time_or_at_random_writes_a_readable_split(small_data, tmp_path, protocol):
    x = small_data.interactions
    csv = tmp_path / "log.csv"
    raw_u, raw_i = x.user_map.decode(x.users), x.item_map.decode(x.items)
    csv.write_text("user,item,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for u, i, t in zip(raw_u, raw_i, x.timestamps, strict=True)))
    out = tmp_path / "split"
    res = run("data", "split", str(csv), "--protocol", protocol, "--negatives", "20", "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["train"] + summary["test"] == len(x) and summary["negatives_per_row"] == 20
    assert abs(summary["test"] / len(x) - 0.2) < 0.05
    stats = json.loads(run("data", "stats", str(out), "--json").output)
    assert stats["train"] == summary["train"] and stats["test"] == summary["test"]
    again = run("data", "split", str(csv), "--protocol", protocol, "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.stderr
    assert run("data", "split", str(csv), "--protocol", protocol, "--out", str(out), "--force").exit_code == 0


def test_batch_recommendations_to_a_file(neumf_dir, tmp_path):
    out = tmp_path / "run"
    assert run("train", str(neumf_dir), "--model", "mf", "--epochs", "1", "--quiet", "--out", str(out)).exit_code == 0
    users = tmp_path / "users.txt"
    users.write_text("u1\nu2\n\nu7\n")
    res = run("recommend", str(out), "--users-file", str(users), "--k", "4", "--out", str(tmp_path / "r.tsv"))
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "r.tsv").read_text().splitlines()
    assert lines[0] == "user\trank\titem\tscore" and len(lines) == 1 + 3 * 4
    assert [line.split("\t")[0] for line in lines[1:]] == ["u1"] * 4 + ["u2"] * 4 + ["u7"] * 4
    res = run("recommend", str(out), "--all-users", "--k", "2", "--out", str(tmp_path / "all.tsv"))
    assert res.exit_code == 0 and len((tmp_path / "all.tsv").read_text().splitlines()) == 1 + 300 * 2


def _help_line(text: str, flag: str) -> str:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(flag + " "))
    out = [lines[start]]
    for line in lines[start + 1:]:
        if line.strip().startswith("--") or not line.startswith(" " * 10):
            break
        out.append(line.strip())
    return " ".join(out)


def test_train_help_shows_the_chosen_models_own_defaults():
    from ncf.app.spec import OPTIONS, model_defaults

    plain = run("train", "--help").output
    own = model_defaults("mf", "softmax")
    assert own["lr"] != OPTIONS["lr"].default  # else this test shows nothing
    assert f"[default: {OPTIONS['lr'].default}]" in _help_line(plain, "--lr")
    mf = run("train", "--model", "mf", "--loss", "softmax", "--help").output
    assert f"[default: {own['lr']}]" in _help_line(mf, "--lr")
    assert f"[default: {own['batch-size']}]" in _help_line(mf, "--batch-size")
    assert "--model mf --loss softmax" in mf
    neumf = run("train", "--model=neumf", "--help").output
    assert f"[default: {model_defaults('neumf')['lr']}]" in _help_line(neumf, "--lr")


def test_train_off_a_terminal_prints_one_plain_line_per_epoch(neumf_dir, tmp_path):
    # CliRunner's stderr is not a terminal: no progress bar, one line per epoch instead (and none under -q)
    res = run("train", str(neumf_dir), "--model", "mf", "--epochs", "2", "--spectral-weight", "0", "--dim", "8",
              "--out", str(tmp_path / "run"))
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2, res.stderr
    assert re.fullmatch(r"epoch 1/2: loss \d+\.\d{4}, \d+\.\d s \([\d,]+ pos/s\); eta \d+:\d\d", lines[0])
    assert re.fullmatch(r"epoch 2/2: loss \d+\.\d{4}, \d+\.\d s \([\d,]+ pos/s\)", lines[1])
    assert "{" not in res.stderr and "INFO" not in res.stderr
    # with a validation split the line carries its metric; -v does not print the epoch twice
    res = run("-v", "train", str(neumf_dir), "--model", "mf", "--epochs", "2", "--valid", "--no-refit",
              "--spectral-weight", "0", "--dim", "8", "--out", str(tmp_path / "valid"))
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if "epoch 1/2" in line]
    assert len(lines) == 1 and re.search(r"; (hr|ndcg)@10 \d\.\d{4}, best \d\.\d{4} at epoch 1", lines[0]), res.stderr
    quiet = run("train", str(neumf_dir), "--model", "mf", "--epochs", "2", "--spectral-weight", "0", "--dim", "8",
                "-q", "--out", str(tmp_path / "quiet"))
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
