"""FPMC on a tie-shuffled copy of ml-100k-loo: how much of the sequence signal is the tie rule?

In ``ml-100k-loo`` the test item is each user's latest interaction, and interactions in the
same second are ordered by item id (the split's recipe): 415 of 943 users have their test item
in the same second as their latest training item, and half of the training transitions are
same-second pairs, all towards a larger item id. A sequence model can learn that ordering.

Two kinds of copy, each from a seeded random order of every user's interactions within a second:

* ``random-ties`` (the tie-shuffled copy): the random order becomes part of the data: every
  timestamp becomes ``t * 1000 + r`` (``r``: the position in that order), so there are no ties
  left. The test item is each user's latest interaction in that order (the published recipe
  with random instead of item-id tie-breaks), the rest is train, and the 99 negatives are the
  published ones (the user's items are unchanged, so they are still never-interacted items).
  Nothing about the item-id order is left to learn.
* ``row-shuffle``: the same data and test file as published, only the rows of the training
  file put in the random order within each second (timestamps unchanged). ncf orders
  same-second interactions by one rule for training and ranking (by item id,
  ``ncf.data.sequences.time_order``), so the transitions, the validation carve and the ranking
  context are those of the published file; only the batches differ (the trainer shuffles rows
  by position), so the figures match the published ones up to seed-level noise. With ``--src``
  pointing at an older tree, whose training transitions followed the row order while the
  validation carve and the ranking context followed the item-id order, it shows what that
  mismatch cost.

The copies go to a temporary directory (``--keep DIR`` to keep them; never into the repository),
and the configured rows are trained and scored on them as ``paper_tables.py neumf-protocol`` does.

    python benchmarks/ml100k_tie_shuffle.py                       # fpmc + mf-bpr, both kinds, seeds 0 1 2
    python benchmarks/ml100k_tie_shuffle.py --rows fpmc --seeds 0 --kinds row-shuffle --src /old/tree/src

Writes ``results/ml100k-tie-shuffle.json``.
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

import numpy as np
from _common import HERE, RESULTS, data_dir, write_result

PREFIX = "ml-100k"


def read_rating(path: Path) -> np.ndarray:
    return np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)


def make_copy(src: Path, dst: Path, seed: int, kind: str) -> dict[str, Any]:
    """Write a copy of ``src`` (NeuMF files) into ``dst``; return what changed."""
    train = read_rating(src / f"{PREFIX}.train.rating")
    test = read_rating(src / f"{PREFIX}.test.rating")
    negatives: dict[int, list[str]] = {}
    for line in (src / f"{PREFIX}.test.negative").read_text().splitlines():
        head, *negs = line.split("\t")
        negatives[int(head.strip("()").split(",")[0])] = negs
    rng = np.random.default_rng(seed)
    dst.mkdir(parents=True, exist_ok=True)
    if kind == "row-shuffle":
        order = np.lexsort((rng.random(len(train)), train[:, 3], train[:, 0]))  # random within (user, second)
        np.savetxt(dst / f"{PREFIX}.train.rating", train[order], fmt="%d", delimiter="\t")
        for name in (f"{PREFIX}.test.rating", f"{PREFIX}.test.negative"):
            shutil.copy(src / name, dst / name)
        moved = int((order != np.lexsort((train[:, 1], train[:, 3], train[:, 0]))).sum())
        return {"kind": kind, "seed": seed, "train_rows_moved": moved, "test_items_changed": 0}
    rows = np.concatenate([train, test])  # user, item, rating, timestamp
    order = np.lexsort((rng.random(len(rows)), rows[:, 3], rows[:, 0]))  # random within (user, second)
    rows = rows[order]
    same = np.r_[False, (rows[1:, 0] == rows[:-1, 0]) & (rows[1:, 3] == rows[:-1, 3])]
    group_start = np.maximum.accumulate(np.where(~same, np.arange(len(rows)), 0))
    rank = np.arange(len(rows)) - group_start
    if int(rank.max()) >= 1000:
        raise SystemExit("more than 1000 interactions in one second: widen the offset")
    rows[:, 3] = rows[:, 3] * 1000 + rank
    last = np.r_[rows[1:, 0] != rows[:-1, 0], True]
    new_test, new_train = rows[last], rows[~last]
    old_test = {int(u): int(i) for u, i in test[:, :2]}
    changed = sum(old_test[int(u)] != int(i) for u, i in new_test[:, :2])
    np.savetxt(dst / f"{PREFIX}.train.rating", new_train, fmt="%d", delimiter="\t")
    np.savetxt(dst / f"{PREFIX}.test.rating", new_test, fmt="%d", delimiter="\t")
    with open(dst / f"{PREFIX}.test.negative", "w", encoding="utf-8") as fh:
        for u, i in new_test[:, :2]:
            fh.write(f"({u},{i})\t" + "\t".join(negatives[int(u)]) + "\n")
    return {"kind": kind, "seed": seed, "test_items_changed": int(changed), "users": len(new_test),
            "train": len(new_train)}


def ncf(*args: str, src: str | None = None) -> subprocess.CompletedProcess[str]:
    env = None
    if src:
        env = dict(os.environ, PYTHONPATH=src)
    return subprocess.run([sys.executable, "-m", "ncf.cli", *args], capture_output=True, text=True, env=env)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="ml-100k-loo directory (default: the shared copy)")
    p.add_argument("--rows", nargs="*", default=["fpmc", "mf-bpr"], help="configs in benchmarks/configs/")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2], help="shuffle seeds, one copy each")
    p.add_argument("--kinds", nargs="*", default=["random-ties", "row-shuffle"], choices=["random-ties", "row-shuffle"])
    p.add_argument("--src", default=None, help="run ncf from this source tree (PYTHONPATH) instead of the installed one")
    p.add_argument("--name", default="ml100k-tie-shuffle", help="results/NAME.json")
    p.add_argument("--keep", default=None, help="keep the copies under this directory (outside the repo)")
    p.add_argument("--append", action="store_true", help="add to results/NAME.json (rows of other configs kept)")
    args = p.parse_args()
    src = Path(args.data) if args.data else data_dir() / "ml-100k-loo"
    tmp = Path(tempfile.mkdtemp(prefix="ncf-tie-shuffle-"))
    root = Path(args.keep) if args.keep else tmp
    results: list[dict[str, Any]] = []
    try:
        for kind in args.kinds:
            for seed in args.seeds:
                copy = root / f"ml-100k-loo-{kind}-{seed}"
                info = make_copy(src, copy, seed, kind)
                print(f"{kind} copy {seed}: {info}", flush=True)
                for name in args.rows:
                    config = HERE / "configs" / f"{name}.toml"
                    out = tmp / f"run-{kind}-{name}-{seed}"
                    train = ncf("train", "--config", str(config), "--data", str(copy), "--out", str(out), "--quiet",
                                src=args.src)
                    if train.returncode != 0:
                        results.append({"row": name, "kind": kind, "shuffle_seed": seed, "error": train.stderr.strip()})
                        continue
                    ev = ncf("evaluate", str(out), "--protocol", "sampled", "--k", "10", "--json", src=args.src)
                    metrics = json.loads(ev.stdout)
                    run = json.loads((out / "run.json").read_text())
                    results.append({"row": name, "config": str(config.relative_to(HERE.parent)), "kind": kind,
                                    "shuffle_seed": seed, "copy": info, "history": run.get("history"),
                                    "hr@10": metrics["hr@10"], "ndcg@10": metrics["ndcg@10"]})
                    print(f"  {name:>10}: HR@10 {metrics['hr@10']:.4f}  NDCG@10 {metrics['ndcg@10']:.4f}", flush=True)
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    previous = RESULTS / f"{args.name}.json"
    if args.append and previous.is_file():
        mine = {(r["row"], r["kind"], r["shuffle_seed"]) for r in results}
        results = [r for r in json.loads(previous.read_text())["rows"]
                   if (r["row"], r["kind"], r["shuffle_seed"]) not in mine] + results
    summary: dict[str, Any] = {}
    for kind in sorted({r["kind"] for r in results}):
        for name in sorted({r["row"] for r in results}):
            got = [r for r in results if r["row"] == name and r["kind"] == kind and "hr@10" in r]
            if got:
                summary[f"{kind}/{name}"] = {m: float(np.mean([r[m] for r in got])) for m in ("hr@10", "ndcg@10")}
                summary[f"{kind}/{name}"]["copies"] = len(got)
    path = write_result(args.name, {"source": str(src), "ncf_source": args.src or "installed",
                                    "rows": results, "mean": summary})
    print(json.dumps(summary, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
