"""Where a training epoch's time goes: one of ``bench_train.py``'s Gowalla setups under py-spy.

The setup trains ``--epochs`` epochs (no validation) in a child process that ``py-spy record``
samples; the samples inside ``Trainer._train_epoch`` are summed per function (inclusive: a
function's share holds everything it calls) and per leaf (where the time was spent). Shares only:
py-spy slows nothing it samples, but the machine should be otherwise idle for the seconds.

    python benchmarks/profile_train.py --setup mf-softmax-inbatch-d128-b512-bf16

Writes ``results/profile-<setup>.json``.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import HERE, write_result

CHILD = """
import sys, torch
sys.path.insert(0, {here!r})
from bench_train import SETUPS
from _common import data_dir
from ncf.config import TrainConfig
from ncf.data import read_lightgcn
from ncf.training import Trainer
torch.set_num_threads({threads})
train = read_lightgcn(data_dir() / "gowalla").split.train
build, kw = SETUPS[{setup!r}]
torch.manual_seed(0)
Trainer(TrainConfig(epochs={epochs}, show_progress=False, seed=0, **kw)).fit(build(train.num_users, train.num_items), train)
"""


def shares(raw: Path, *, top: int) -> dict[str, Any]:
    """Inclusive and leaf shares of the samples taken inside ``Trainer._train_epoch``."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] for f in stack.split(";")]
        if "Trainer._train_epoch" not in frames:
            continue
        n = int(count)
        total += n
        for name in dict.fromkeys(frames[frames.index("Trainer._train_epoch") + 1:]):
            inclusive[name] += n
        leaf[frames[-1]] += n
    return {"samples": total,
            "inclusive": {k: round(v / total, 4) for k, v in inclusive.most_common(top)},
            "leaf": {k: round(v / total, 4) for k, v in leaf.most_common(top)}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setup", required=True, help="a key of bench_train.SETUPS")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    tmp = Path(tempfile.mkdtemp(prefix="ncf-profile-"))
    try:
        raw = tmp / "raw.txt"
        code = CHILD.format(here=str(HERE), threads=args.threads, setup=args.setup, epochs=args.epochs)
        subprocess.run(["py-spy", "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--",
                        sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
        result = {"setup": args.setup, "epochs": args.epochs, "threads": args.threads, "rate": args.rate,
                  **shares(raw, top=args.top),
                  "command": "python benchmarks/profile_train.py " + " ".join(sys.argv[1:])}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for k, v in list(result["inclusive"].items())[:15]:
        print(f"{v:7.1%}  {k}")
    print(f"wrote {write_result(f'profile-{args.setup}', result)}")


if __name__ == "__main__":
    main()
