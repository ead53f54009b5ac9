"""What a user gets on a dataset ncf was not tuned on: the whole flow, next to the peers.

On each development dataset (ML-100K LOO with 99 negatives, HR@10 / NDCG@10; Yelp and Gowalla,
full ranking, Recall@20 / NDCG@20), every row is literally what a user types:

- **defaults**: ``ncf train DATA --model X --out DIR`` (no config; early stopping on the
  validation carve, then the refit on all of train), then ``ncf evaluate DIR --k K``;
- **tune**: ``ncf tune DATA --model auto --time-budget 10m --out STUDY``, then
  ``ncf train DATA --config STUDY/best.toml --out DIR`` and ``ncf evaluate``; the study's wall
  clock is measured against its budget;
- **peers**: implicit ALS tuned on the same carve (``peers/run_als_tuned.py``: a grid chosen on
  validation, refit on all of train); on ML-100K also RecBole BPR (``peers/run_recbole.py --curve
  ml100k-bpr``: epoch chosen on the same kind of carve) and RecBole NeuMF's and, on Gowalla, RecBole
  BPR's figures from ``results/peers.json`` (an earlier run on the same split; marked as such).

Test figures are read once per row; nothing here chooses anything on them.

    python benchmarks/carryover.py                                  # all parts, all datasets
    python benchmarks/carryover.py --parts defaults --datasets yelp
    python benchmarks/carryover.py --budget 10m --parts tune

Writes ``results/carryover.json`` (parts and datasets already there are kept unless re-run) and
prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import HERE, RESULTS, data_dir, machine, write_result

DATASETS = {"ml-100k-loo": 10, "yelp": 20, "gowalla": 20}
#: family rows of the defaults part; NeuMF only where the protocol is sampled (its full ranking
#: scores every (user, item) pair through the MLP: hours per evaluation at Gowalla's size on 2 cores)
DEFAULT_ROWS = {"mf": [], "spectral": ["--model", "spectral"], "neumf": ["--model", "neumf"]}
PEERS_PY = HERE / ".venv-peers" / "bin" / "python"
RUNS = HERE / "runs" / "carryover"


def ncf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncf.cli", *args], capture_output=True, text=True)


def _check(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr.strip()[-2000:]}")


def _evaluate(run: Path, k: int) -> dict[str, float]:
    done = ncf("evaluate", str(run), "--k", str(k), "--json")
    _check(done, f"ncf evaluate {run}")
    metrics = json.loads(done.stdout)
    keys = ("hr@10", "ndcg@10") if k == 10 else ("recall@20", "ndcg@20")
    return {m: metrics[m] for m in keys}


def _train_row(dataset: str, flags: list[str], out: Path, k: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    done = ncf("train", str(data_dir() / dataset), *flags, "--out", str(out), "--json", "-q")
    wall = time.perf_counter() - t0
    _check(done, f"ncf train {dataset} {' '.join(flags)}")
    info = json.loads((out / "run.json").read_text())
    h = info.get("history") or {}
    return {"command": " ".join(["ncf train", dataset, *flags]), "wall_seconds": round(wall, 1),
            "model": info["options"]["model"], "loss": info["options"]["loss"],
            "best_epoch": h.get("best_epoch"), "valid": h.get("best_metric"), "refit": h.get("refit"),
            "carve": info["split"].get("carve"), "test": _evaluate(out, k)}


def defaults_part(dataset: str, k: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, flags in DEFAULT_ROWS.items():
        if name == "neumf" and k != 10:
            rows[name] = {"skipped": "full ranking through NeuMF's MLP scores every (user, item) pair: "
                                     "too slow on 2 cores at this size"}
            continue
        flags = flags or ["--model", name]
        print(f"  defaults {name} ...", flush=True)
        rows[name] = _train_row(dataset, flags, RUNS / dataset / f"defaults-{name}", k)
        print(f"    {rows[name]['test']} ({rows[name]['wall_seconds']}s)", flush=True)
    return rows


def tune_part(dataset: str, k: int, budget: str) -> dict[str, Any]:
    study = RUNS / dataset / "tune"
    out = RUNS / dataset / "tuned"
    print(f"  tune --model auto --time-budget {budget} ...", flush=True)
    t0 = time.perf_counter()
    done = ncf("tune", str(data_dir() / dataset), "--model", "auto", "--time-budget", budget, "--out", str(study),
               "--json")
    wall = time.perf_counter() - t0
    _check(done, "ncf tune")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row = {"command": f"ncf tune {dataset} --model auto --time-budget {budget}", "wall_seconds": round(wall, 1),
           "budget_seconds": _seconds(budget), "overrun_seconds": round(wall - _seconds(budget), 1),
           "result": result, "best_toml": (study / "best.toml").read_text()}
    trials = study / "trials.tsv"
    if trials.is_file():
        row["trials_tsv"] = trials.read_text()
    print(f"    chose {result.get('model') or result.get('chosen_model')} in {wall:.0f}s; training it ...", flush=True)
    row["train"] = _train_row(dataset, ["--config", str(study / "best.toml")], out, k)
    print(f"    {row['train']['test']}", flush=True)
    return row


def _seconds(budget: str) -> float:
    from ncf.app.tune import parse_duration

    value = parse_duration(budget)
    assert value is not None
    return value


def _write_split(dataset: str, path: Path) -> None:
    """The split and carve ncf's runs use (seed 0), as arrays for the peers' venv."""
    import numpy as np

    from ncf.app.jobs import load_data
    from ncf.app.spec import RunSpec
    from ncf.app.splitting import run_split

    spec = RunSpec.from_options(("carryover", {"data": str(data_dir() / dataset), "model": "mf"}))
    split, _ = run_split(spec, load_data(spec.data.source))
    assert split.valid is not None
    full = split.train.concat(split.valid)
    arrays = {"fit_u": split.train.users, "fit_i": split.train.items, "valid_u": split.valid.users,
              "valid_i": split.valid.items, "train_u": full.users, "train_i": full.items,
              "test_u": split.test.users, "test_i": split.test.items,
              "num_users": np.int64(split.num_users), "num_items": np.int64(split.num_items)}
    if split.test_negatives is not None:
        arrays["test_negatives"] = split.test_negatives
        arrays["valid_negatives"] = split.valid_negatives
    np.savez(path, **arrays)


def _run_peers(dataset: str) -> dict[str, Any]:
    """implicit ALS tuned on the carve (every dataset) and RecBole BPR (ML-100K), in the peers' venv."""
    rows: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ncf-carryover-") as tmp:
        npz, out = Path(tmp) / "split.npz", Path(tmp) / "als.json"
        _write_split(dataset, npz)
        print("  implicit ALS (grid on the carve) ...", flush=True)
        t0 = time.perf_counter()
        done = subprocess.run([str(PEERS_PY), str(HERE / "peers" / "run_als_tuned.py"), str(npz), "--out", str(out)],
                              capture_output=True, text=True)
        _check(done, "run_als_tuned.py")
        als = json.loads(out.read_text())
        rows["implicit ALS"] = {"test": als["test"], "chosen": als["chosen"], "grid": als["grid"],
                                "wall_seconds": round(time.perf_counter() - t0, 1)}
        print(f"    {als['test']} with {als['chosen']}", flush=True)
        if dataset == "ml-100k-loo":
            for curve, label in (("ml100k-bpr", "RecBole BPR"),):
                print(f"  {label} ...", flush=True)
                target = Path(tmp) / f"{curve}.json"
                done = subprocess.run([str(PEERS_PY), str(HERE / "peers" / "run_recbole.py"), "--curve", curve,
                                       "--out", str(target), "--data", str(data_dir())], capture_output=True, text=True)
                _check(done, f"run_recbole.py --curve {curve}")
                pts = json.loads(target.read_text())["curve_data"]["points"]
                chosen = max(pts, key=lambda p: p["valid_ndcg@10"])
                rows[label] = {"test": {"hr@10": chosen["test_hr@10"], "ndcg@10": chosen["test_ndcg@10"]},
                               "chosen_epoch": chosen["step"], "valid_ndcg@10": chosen["valid_ndcg@10"]}
                print(f"    {rows[label]['test']}", flush=True)
    return rows


def peers_part(dataset: str, k: int, *, run_als: bool = True) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    if not PEERS_PY.is_file():
        return {"skipped": "no peers venv: run bash benchmarks/peers/setup.sh"}
    if not run_als and dataset == "gowalla":  # the ALS figure of the peers run, same split
        saved = json.loads((RESULTS / "peers.json").read_text())
        target = saved["gowalla"]["target"]
        rows["implicit ALS (earlier run)"] = {
            "test": {"recall@20": target["recall@20"], "ndcg@20": target["ndcg@20"]},
            "source": f"results/peers.json ({saved['date']}): {target['what']}, its tuned setting "
                      "(64 factors, regularization 1, alpha 100)"}
    else:
        rows.update(_run_peers(dataset))
    if dataset == "ml-100k-loo":  # RecBole NeuMF takes ~5 minutes here: its figure from the peers run
        saved = json.loads((RESULTS / "peers.json").read_text())
        neumf = next(r for r in saved["ml100k"]["table"] if r["label"] == "RecBole NeuMF")
        rows["RecBole NeuMF (earlier run)"] = {
            "test": {"hr@10": neumf["test_hr@10"], "ndcg@10": neumf["test_ndcg@10"]},
            "source": f"results/peers.json ({saved['date']}), same split, epoch chosen on the same kind of carve"}
    if dataset == "gowalla":
        saved = json.loads((RESULTS / "peers.json").read_text())
        bpr = next(r for r in saved["gowalla"]["table"] if r["label"] == "RecBole BPR")
        rows["RecBole BPR (earlier run)"] = {
            "test": {"recall@20": bpr["best_recall@20"], "ndcg@20": bpr["best_ndcg@20"]},
            "source": f"results/peers.json ({saved['date']}), same split, time-boxed at {bpr['at_seconds']:.0f}s, "
                      "best test point (a peer advantage: chosen on test)"}
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--parts", nargs="*", default=["defaults", "peers", "tune"])
    ap.add_argument("--budget", default="10m")
    ap.add_argument("--no-als", action="store_true", help="Gowalla: the ALS figure of results/peers.json, not a new grid")
    args = ap.parse_args()
    path = RESULTS / "carryover.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    results: dict[str, Any] = saved.get("datasets", {})
    for ds in args.datasets:
        k = DATASETS[ds]
        print(f"{ds}:", flush=True)
        slot = results.setdefault(ds, {})
        for part in args.parts:
            if part == "defaults":
                slot["defaults"] = defaults_part(ds, k)
            elif part == "peers":
                slot["peers"] = peers_part(ds, k, run_als=not args.no_als)
            elif part == "tune":
                slot["tune"] = tune_part(ds, k, args.budget)
            slot.setdefault("dates", {})[part] = time.strftime("%Y-%m-%d %H:%M:%S")
            write_result("carryover", {"benchmark": "carryover", "machine": machine(),
                                       "threads": os.environ.get("NCF_NUM_THREADS"), "datasets": results})
    print(table(results))
    return 0


def table(results: dict[str, Any]) -> str:
    lines = ["| dataset | row | test | note |", "| --- | --- | --- | --- |"]
    for ds, parts in results.items():
        for name, row in (parts.get("defaults") or {}).items():
            test = row.get("test")
            lines.append(f"| {ds} | ncf {name} (defaults) | {_fmt(test)} | {row.get('skipped', '')} |")
        tune = parts.get("tune")
        if tune:
            lines.append(f"| {ds} | ncf tune auto -> train | {_fmt(tune['train']['test'])} | "
                         f"{tune['wall_seconds']:.0f}s for a {tune['budget_seconds']:.0f}s budget |")
        for name, row in (parts.get("peers") or {}).items():
            if isinstance(row, dict) and "test" in row:
                lines.append(f"| {ds} | {name} | {_fmt(row['test'])} | |")
    return "\n".join(lines)


def _fmt(test: dict[str, float] | None) -> str:
    return " / ".join(f"{k} {v:.4f}" for k, v in test.items()) if test else "-"


if __name__ == "__main__":
    sys.exit(main())
