"""What a user gets with no --config: every model's defaults on ml-100k-loo, next to its tuned config.

Each row is literally ``ncf train DATA --model X [--loss L] --out DIR`` (the model's defaults
from ``src/ncf/app/defaults/<model>.toml``: early stopping on the validation carve), then
``ncf evaluate DIR --split valid`` (the validation carve, what the defaults were chosen on) and
``ncf evaluate DIR`` (test, 99 fixed negatives: reported once, chooses nothing). The tuned
config's figures are read from ``results/neumf-protocol-ml-100k-loo.json`` (written by
``paper_tables.py neumf-protocol``); the peer of each family from ``results/peers.json`` when it
holds the ML-100K part, else the figures docs/benchmarks.md quotes.

    python benchmarks/defaults_table.py                  # ../shared/data/ml-100k-loo
    python benchmarks/defaults_table.py --rows mf neumf

Writes ``results/defaults-ml-100k-loo.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import RESULTS, data_dir, write_result

#: row -> (extra ``ncf train`` flags beyond --model, the tuned config's row in the paper table,
#: the family's best peer on this split)
ROWS: dict[str, tuple[list[str], str, str | None]] = {
    "popularity": ([], "popularity", None),
    "mf": ([], "mf-bpr", "RecBole BPR"),
    "mf --loss softmax": (["--loss", "softmax"], "mf-softmax", None),
    "gmf": ([], "gmf", "RecBole NeuMF"),
    "mlp": ([], "mlp", "RecBole NeuMF"),
    "neumf": ([], "neumf", "RecBole NeuMF"),
    "two-tower": ([], "two-tower", "RecBole BPR"),
    "spectral": ([], "spectral", None),
    "fpmc": ([], "fpmc", None),
}
#: Peer figures quoted in docs/benchmarks.md, used when results/peers.json has no ML-100K part.
PEER_FALLBACK = {"RecBole BPR": 0.584, "RecBole NeuMF": 0.596}


def ncf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ncf.cli", *args], capture_output=True, text=True)


def peer_figures() -> dict[str, Any]:
    path = RESULTS / "peers.json"
    if path.is_file():
        table = (json.loads(path.read_text()).get("ml100k") or {}).get("table") or []
        got = {row["label"]: row["test_hr@10"] for row in table if row.get("library") != "ncf"}
        if got:
            return {"source": "results/peers.json", "hr@10": got}
    return {"source": "docs/benchmarks.md (no ML-100K part in results/peers.json)", "hr@10": PEER_FALLBACK}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="ml-100k-loo directory (default: the shared copy)")
    p.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    args = p.parse_args()
    data = Path(args.data) if args.data else data_dir() / "ml-100k-loo"
    tuned_path = RESULTS / f"neumf-protocol-{data.name}.json"
    tuned = {r["row"]: r for r in json.loads(tuned_path.read_text())["rows"]} if tuned_path.is_file() else {}
    peers = peer_figures()
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="ncf-defaults-table-"))
    try:
        for name in args.rows:
            flags, tuned_row, peer = ROWS[name]
            model = name.split()[0]
            out = tmp / name.replace(" ", "_")
            cmd = ["train", str(data), "--model", model, *flags, "--out", str(out), "--quiet"]
            train = ncf(*cmd)
            if train.returncode != 0:
                rows.append({"row": name, "error": train.stderr.strip()})
                print(f"{name}: {train.stderr.strip()}", file=sys.stderr)
                continue
            info = json.loads((out / "run.json").read_text())
            # closed-form models are fitted on all of train by default: they have no validation part
            ev = ncf("evaluate", str(out), "--split", "valid", "--protocol", "sampled", "--k", "10", "--json")
            valid = json.loads(ev.stdout) if ev.returncode == 0 else None
            test = json.loads(ncf("evaluate", str(out), "--protocol", "sampled", "--k", "10", "--json").stdout)
            t = tuned.get(tuned_row, {})
            peer_hr = peers["hr@10"].get(peer) if peer else None
            row = {
                "row": name, "threads": os.environ.get("NCF_NUM_THREADS", "all the process may use"),
                "command": "ncf " + " ".join(cmd[:-3]).replace(str(data), "DATA") + " --out DIR",
                "options": {k: v for k, v in info["options"].items() if k != "data"},
                "history": info.get("history"), "train_seconds": round(info.get("train_seconds", 0.0), 1),
                "valid_hr@10": valid and valid["hr@10"], "valid_ndcg@10": valid and valid["ndcg@10"],
                "test_hr@10": test["hr@10"], "test_ndcg@10": test["ndcg@10"],
                "tuned_config": tuned_row, "tuned_hr@10": t.get("hr@10"), "tuned_ndcg@10": t.get("ndcg@10"),
                "within_0.01_of_tuned": None if t.get("hr@10") is None else test["hr@10"] >= t["hr@10"] - 0.01,
                "family_peer": peer, "peer_hr@10": peer_hr,
                "matches_peer": None if peer_hr is None else test["hr@10"] >= peer_hr,
            }
            rows.append(row)
            print(f"{name:>18}: valid HR@10 {row['valid_hr@10'] or float('nan'):.4f}  test HR@10 "
                  f"{row['test_hr@10']:.4f} NDCG@10 {row['test_ndcg@10']:.4f}  (tuned {row['tuned_hr@10']}, "
                  f"peer {peer} {peer_hr})", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    previous = RESULTS / f"defaults-{data.name}.json"
    if previous.is_file() and set(args.rows) != set(ROWS):  # a partial run keeps the other rows
        mine = {r["row"] for r in rows}
        rows = [r for r in json.loads(previous.read_text())["rows"] if r["row"] not in mine] + rows
        rows.sort(key=lambda r: list(ROWS).index(r["row"]))
    path = write_result(f"defaults-{data.name}", {"data": str(data), "tuned_from": str(tuned_path.name),
                                                    "peers": peers, "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
