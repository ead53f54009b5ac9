"""Per-model defaults chosen on three datasets, on validation only.

Each candidate is literally ``ncf train DATA --model X <options> --no-refit --out DIR`` (early
stopping on the validation carve of the training part: ML-100K LOO's latest training item with
99 negatives, NDCG@10; Gowalla's and Yelp's random 10% per user, Recall@20, full ranking). The
figure compared is the carve's best validation metric (run.json ``history.best_metric``); the
test split is never read. Closed-form candidates are fitted on the carve with ``--valid`` and
scored by ``ncf evaluate --split valid``.

A rule is chosen per (model, loss) by the mean over the datasets of its validation figure
divided by the best candidate's on that dataset (1.0 = the best everywhere).

    python benchmarks/defaults_three.py                         # every group, every dataset
    python benchmarks/defaults_three.py --groups spectral --datasets yelp

Writes ``results/defaults-three.json`` (kept across invocations: a finished candidate is not
re-run unless ``--force``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, data_dir, machine, write_result

DATASETS = ("ml-100k-loo", "yelp", "gowalla")
#: dataset -> (the validation metric early stopping uses, ``ncf evaluate`` cut-off)
METRIC = {"ml-100k-loo": ("ndcg@10", 10), "yelp": ("recall@20", 20), "gowalla": ("recall@20", 20)}

#: group -> candidate -> ``ncf train`` flags (a "rule" candidate lists flags per dataset)
SOFTMAX = ["--model", "mf", "--loss", "softmax", "--cosine", "--temperature", "0.1", "--lr", "0.01",
           "--batch-size", "1024"]
CANDIDATES: dict[str, dict[str, Any]] = {
    "spectral": {**{f"rank {r}": ["--model", "spectral", "--spectral-rank", str(r)] for r in (32, 128, 512, 1024)},
                 "chosen on the carve (no rank)": ["--model", "spectral"]},
    "mf-softmax": {**{f"d{d}": [*SOFTMAX, "--dim", str(d)] for d in (64, 128, 256)},
                   "d64 projection start": [*SOFTMAX, "--dim", "64", "--init", "projection"]},
    "mf-bpr": {"ml-100k choice (d128, 8 neg, lr 2e-3, batch 1024)": ["--model", "mf", "--loss", "bpr"]},
}


def ncf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncf.cli", *args], capture_output=True, text=True)


def run_candidate(flags: list[str], dataset: str, closed_form: bool) -> dict[str, Any]:
    path = data_dir() / dataset
    metric, k = METRIC[dataset]
    tmp = Path(tempfile.mkdtemp(prefix="ncf-defaults-"))
    try:
        out = tmp / "run"
        auto = closed_form and "--spectral-rank" not in flags
        extra = ["--valid"] if closed_form and not auto else ["--no-refit"]
        t0 = time.perf_counter()
        done = ncf("train", str(path), *flags, *extra, "--out", str(out), "--json", "-q")
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
        info = json.loads((out / "run.json").read_text())
        row: dict[str, Any] = {"wall_seconds": round(seconds, 2), "train_seconds": info.get("train_seconds"),
                               "carve": info["split"].get("carve")}
        if closed_form:
            ev = ncf("evaluate", str(out), "--split", "valid", "--k", str(k), "--json")
            if ev.returncode != 0:
                return {"error": ev.stderr.strip().splitlines()[-1:]}
            row["valid"] = json.loads(ev.stdout)[metric]
            if auto:  # the rank it chose (its validation figure is the best candidate's: chosen there)
                row["chosen_rank"] = info["history"]["refit"]["spectral_rank"]["chosen"]
        else:
            h = info["history"]
            row.update(valid=h["best_metric"], best_epoch=h["best_epoch"], epochs=h["epochs"])
        return row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def choose(results: dict[str, Any]) -> dict[str, Any]:
    """Per group: each candidate's validation figure relative to the best on each dataset, and the winner."""
    out: dict[str, Any] = {}
    for group, cands in results.items():
        best = {ds: max((c.get(ds, {}).get("valid") or 0.0) for c in cands.values()) for ds in DATASETS}
        rel = {}
        for name, c in cands.items():
            have = [ds for ds in DATASETS if c.get(ds, {}).get("valid") is not None and best[ds] > 0]
            if have:
                rel[name] = {"mean_relative": sum(c[ds]["valid"] / best[ds] for ds in have) / len(have),
                             "datasets": have}
        full = {n: r for n, r in rel.items() if len(r["datasets"]) == len(DATASETS)}
        pick = max(full or rel, key=lambda n: (full or rel)[n]["mean_relative"]) if rel else None
        out[group] = {"relative": rel, "chosen": pick, "on_all_three": bool(full)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--groups", nargs="*", default=list(CANDIDATES))
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--only", nargs="*", default=None, help="candidate names to run (default: all)")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    path = RESULTS / "defaults-three.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    results: dict[str, Any] = saved.get("results", {})
    for group in args.groups:
        for name, flags in CANDIDATES[group].items():
            if args.only and name not in args.only:
                continue
            for ds in args.datasets:
                slot = results.setdefault(group, {}).setdefault(name, {})
                if ds in slot and "error" not in slot[ds] and not args.force:
                    continue
                print(f"{group} / {name} / {ds} ...", flush=True)
                slot[ds] = run_candidate(flags, ds, closed_form=group == "spectral")
                print(f"  {slot[ds]}", flush=True)
                write_result("defaults-three", {"benchmark": "defaults-three", "machine": machine(),
                                                "threads": os.environ.get("NCF_NUM_THREADS"),
                                                "metric": METRIC, "results": results, "choice": choose(results)})
    choice = choose(results)
    write_result("defaults-three", {"benchmark": "defaults-three", "machine": machine(),
                                    "threads": os.environ.get("NCF_NUM_THREADS"), "metric": METRIC,
                                    "results": results, "choice": choice})
    for group, cands in results.items():
        print(f"\n{group}: chosen {choice[group]['chosen']}")
        print("| candidate | " + " | ".join(f"{ds} valid ({METRIC[ds][0]})" for ds in DATASETS) + " | mean relative |")
        print("| --- |" + " --- |" * (len(DATASETS) + 1))
        for name, c in cands.items():
            cells = [f"{c[ds]['valid']:.4f}" if c.get(ds, {}).get("valid") is not None else "-" for ds in DATASETS]
            rel = choice[group]["relative"].get(name, {}).get("mean_relative")
            print(f"| {name} | " + " | ".join(cells) + f" | {rel:.4f} |" if rel else f"| {name} | " + " | ".join(cells) + " | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
