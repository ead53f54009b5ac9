"""Reproduce the paper tables: every config row = `ncf train --config` + `ncf evaluate --json`.

Examples:
  python benchmarks/paper_tables.py neumf-protocol            # ../shared/data/ml-100k-loo
  python benchmarks/paper_tables.py neumf-protocol --data ~/data/ml-1m-neumf   # the paper's files
  python benchmarks/paper_tables.py gowalla
  python benchmarks/paper_tables.py yelp
  python benchmarks/paper_tables.py gowalla --rows gowalla-d512 gowalla-d512-fp32 --name gowalla-gowalla-d512
Writes benchmarks/results/<table>-<dataset>.json (or --name) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import HERE, data_dir, write_result

TABLES = {
    "neumf-protocol": {
        "data": "ml-100k-loo",
        "protocol": "sampled",
        "k": ["10"],
        "rows": ["popularity", "gmf", "mlp", "neumf", "neumf-pretrain", "mf-bpr", "mf-softmax", "two-tower", "spectral", "fpmc",
                 "neumf-protocol-best"],
    },
    # the same split, full ranking (all 1,682 items, training items masked): the sampled protocol's
    # gains are not an artefact of its 99 negatives
    "neumf-protocol-full": {
        "data": "ml-100k-loo",
        "protocol": "full",
        "k": ["10", "20"],
        "rows": ["fpmc", "mf-bpr", "neumf"],
    },
    "gowalla": {
        "data": "gowalla",
        "protocol": "full",
        "k": ["20"],
        "rows": ["gowalla-spectral", "gowalla-best", "chebycf", "chebycf-offset3", "graph-filter",
                 "gowalla-filter-blend"],
    },
    # DiffNet's Yelp in the LightGCN layout (../shared/data/yelp): the same dataset-agnostic rows
    "yelp": {
        "data": "yelp",
        "protocol": "full",
        "k": ["20"],
        "rows": ["spectral", "chebycf", "chebycf-offset3", "graph-filter", "yelp-filter-blend"],
    },
}


def ncf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncf.cli", *args], capture_output=True, text=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("table", choices=sorted(TABLES))
    p.add_argument("--data", default=None, help="dataset directory (default: the shared copy)")
    p.add_argument("--rows", nargs="*", default=None, help="config names (default: the table's rows)")
    p.add_argument("--runs", default=str(HERE / "runs"), help="where run directories go")
    p.add_argument("--name", default=None, help="results/NAME.json (default: <table>-<dataset>)")
    args = p.parse_args()
    table = TABLES[args.table]
    data = Path(args.data) if args.data else data_dir() / str(table["data"])
    rows = args.rows or list(table["rows"])
    results = []
    for name in rows:
        config = HERE / "configs" / f"{name}.toml"
        out = Path(args.runs) / f"{args.table}-{data.name}-{name}"
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        train = ncf("train", "--config", str(config), "--data", str(data), "--out", str(out), "--quiet")
        wall = time.perf_counter() - t0
        if train.returncode != 0:
            print(f"{name}: training failed: {train.stderr.strip()}", file=sys.stderr)
            results.append({"row": name, "error": train.stderr.strip()})
            continue
        ev = ncf("evaluate", str(out), "--protocol", str(table["protocol"]), "--k", *table["k"], "--json")
        if ev.returncode != 0:
            results.append({"row": name, "error": ev.stderr.strip()})
            continue
        metrics = json.loads(ev.stdout)
        info = json.loads((out / "run.json").read_text())
        row = {"row": name, "config": str(config.relative_to(HERE.parent)), "train_wall_seconds": round(wall, 1),
               "train_seconds": round(info.get("train_seconds", 0.0), 1), "history": info.get("history"),
               **{k: v for k, v in metrics.items()}}
        results.append(row)
        keys = [k for k in metrics if "@" in k and k.split("@")[0] in ("hr", "ndcg", "recall")]
        print(f"{name:>22}: " + "  ".join(f"{k} {metrics[k]:.4f}" for k in keys) + f"  ({wall:.0f}s)", flush=True)
    path = write_result(args.name or f"{args.table}-{data.name}", {"data": str(data), "rows": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
