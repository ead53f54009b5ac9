"""A run beside a busy neighbour: how much slower does `ncf train` get when another job shares the CPU?

The job: NeuMF on ML-100K leave-one-out (`--model neumf --loss bce`, fixed epochs), the README's
example. The neighbour: another process keeping one core busy (`--neighbour spin`, pure Python)
or a torch job with its own threads (`--neighbour torch`). Each setting runs idle, then beside the
neighbour; the ratio busy/idle is the figure.

Settings:
* `ncf` — as shipped: the `ncf` entry point (OpenMP threads sleep instead of spinning when idle,
  `OMP_WAIT_POLICY=PASSIVE`) with torch threads = the CPUs the process may use;
* `before` — how ncf ran before: the same CLI started without that entry point (`python -c
  "from ncf.cli import main; main()"`), OpenMP's default spin-then-sleep waiting;
* `one-thread` — `--threads 1`.

Run: `python benchmarks/busy_neighbour.py` (a few minutes); writes
`benchmarks/results/busy_neighbour.json`. Target: as shipped, busy/idle <= 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import data_dir, write_result

SPIN = "import time\nt = time.time()\nwhile True:\n    t += 1e-9\n"
TORCH = ("import torch\na = torch.randn(1024, 1024)\n"
         "while True:\n    a = torch.tanh(a @ a.T / 1024)\n")

SETTINGS = {
    "ncf": ([sys.executable, "-m", "ncf"], {}),
    "before": ([sys.executable, "-c", "from ncf.cli import main; main()"], {}),
    "one-thread": ([sys.executable, "-m", "ncf", "--threads", "1"], {}),
}


def job(prefix: list[str], out: Path, data: Path, epochs: int) -> list[str]:
    return [*prefix, "train", str(data), "--model", "neumf", "--loss", "bce", "--epochs", str(epochs),
            "--seed", "0", "--quiet", "--out", str(out)]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(data_dir() / "ml-100k-loo"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--neighbour", choices=["spin", "torch"], nargs="+", default=["spin", "torch"])
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    p.add_argument("--name", default="busy_neighbour", help="results/NAME.json")
    args = p.parse_args()
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NCF_NUM_THREADS")}
    work = Path(tempfile.mkdtemp(prefix="ncf-busy-"))
    rows: list[dict[str, Any]] = []
    try:
        for name in args.settings:
            prefix, extra = SETTINGS[name]
            env = {**base_env, **extra}
            idle = min(timed(job(prefix, work / f"{name}-idle-{r}", Path(args.data), args.epochs), env)
                       for r in range(args.repeats))
            row: dict[str, Any] = {"setting": name, "idle_s": round(idle, 2)}
            for kind in args.neighbour:
                code = SPIN if kind == "spin" else TORCH
                neighbour = subprocess.Popen([sys.executable, "-c", code], env=base_env)
                try:
                    time.sleep(1.0)
                    busy = min(timed(job(prefix, work / f"{name}-{kind}-{r}", Path(args.data), args.epochs), env)
                               for r in range(args.repeats))
                finally:
                    neighbour.kill()
                    neighbour.wait()
                row[f"busy_{kind}_s"] = round(busy, 2)
                row[f"slowdown_{kind}"] = round(busy / idle, 2)
            rows.append(row)
            print(row, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    path = write_result(args.name, {
        "job": f"ncf train {args.data} --model neumf --loss bce --epochs {args.epochs} (best of {args.repeats})",
        "neighbours": {"spin": "one pure-Python process spinning on one core",
                       "torch": "one torch process multiplying 1024x1024 matrices with its default threads"},
        "rows": rows, "target": "as shipped (ncf), busy / idle <= 2",
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
