"""Choose ``configs/gowalla-fast.toml`` on validation: the smallest spectral rank that matches
implicit ALS there, with its quality/time trade-off.

The validation split is the one ``ncf train`` carves for full ranking (10% of each user's
training items, seed 0: ``ncf.data.validation_split(method="random")``); the test file is never
read. It is written as a LightGCN directory (``train.txt`` = the other 90%, ``test.txt`` = the
validation items) under a temporary root, and both sides run through the peer-comparison
runners on it, each in its own process:

* implicit ALS, the tuned setting (64 factors, reg 1, alpha 100, 15 iterations), scored after
  every iteration (``run_implicit.py --curve gowalla-als``, in the peers venv);
* ncf's SpectralMF at ranks 32 ... 1024, each fitted from scratch (``run_ncf.py --curve
  gowalla-spectral``).

The chosen rank is the smallest whose validation Recall@20 *and* NDCG@20 reach ALS's after its
15 iterations. Seconds are data loading + fitting (evaluation excluded); they are only
comparable when the machine is otherwise idle.

    python benchmarks/gowalla_fast.py            # needs benchmarks/.venv-peers (peers/setup.sh)

Writes ``results/gowalla-fast-validation.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import HERE, data_dir, write_result

from ncf.data import read_lightgcn, validation_split


def write_lightgcn(path: Path, users: np.ndarray, items: np.ndarray) -> None:
    order = np.lexsort((items, users))
    users, items = users[order], items[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    with open(path, "w", encoding="utf-8") as fh:
        for a, b in zip(starts, np.r_[starts[1:], len(users)], strict=True):
            fh.write(f"{users[a]} " + " ".join(map(str, items[a:b])) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="gowalla directory (default: the shared copy)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--venv", default=str(HERE / ".venv-peers"))
    args = p.parse_args()
    src = Path(args.data) if args.data else data_dir() / "gowalla"
    ds = read_lightgcn(src)
    assert ds.split is not None
    fit, valid, _ = validation_split(ds.split.train, method="random", fraction=0.1, seed=0)
    root = Path(tempfile.mkdtemp(prefix="ncf-gowalla-fast-"))
    try:
        (root / "gowalla").mkdir()
        write_lightgcn(root / "gowalla" / "train.txt", fit.users, fit.items)
        write_lightgcn(root / "gowalla" / "test.txt", valid.users, valid.items)
        for name in ("user_list.txt", "item_list.txt"):  # the universe: every user and item id
            if (src / name).is_file():
                shutil.copy(src / name, root / "gowalla" / name)
        out: dict[str, Any] = {}
        runners = (("implicit", [str(Path(args.venv) / "bin" / "python"), str(HERE / "peers" / "run_implicit.py"),
                                 "--curve", "gowalla-als"]),
                   ("ncf", [sys.executable, str(HERE / "peers" / "run_ncf.py"), "--curve", "gowalla-spectral"]))
        for name, cmd in runners:
            target = root / f"{name}.json"
            proc = subprocess.run([*cmd, "--data", str(root), "--threads", str(args.threads), "--out", str(target)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed:\n{proc.stderr[-2000:]}")
            out[name] = json.loads(target.read_text())["curve_data"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    als = out["implicit"]["points"][-1]
    ranks = out["ncf"]["points"]
    chosen = next((r for r in ranks if r["recall@20"] >= als["recall@20"] and r["ndcg@20"] >= als["ndcg@20"]), None)
    for r in ranks:
        print(f"rank {r['step']:>5}: valid Recall@20 {r['recall@20']:.4f} NDCG@20 {r['ndcg@20']:.4f} "
              f"({r['seconds']:.1f} s: load + fit)")
    print(f"implicit ALS 15 it: valid Recall@20 {als['recall@20']:.4f} NDCG@20 {als['ndcg@20']:.4f} "
          f"({als['seconds']:.1f} s: load + fit)")
    print(f"chosen rank: {chosen['step'] if chosen else None}")
    path = write_result("gowalla-fast-validation", {
        "validation": "10% of each user's training items (ncf's full-ranking carve, seed 0); test never read",
        "threads": args.threads, "implicit_als": out["implicit"], "ncf_spectral": out["ncf"],
        "chosen_rank": chosen["step"] if chosen else None,
        "rule": "smallest rank with valid Recall@20 and NDCG@20 >= implicit ALS's after 15 iterations",
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
