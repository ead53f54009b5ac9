"""The GPU path on Gowalla: training epochs with AMP and evaluation by full ranking on CUDA, against the CPU.

On a machine with CUDA, for two models on the LightGCN Gowalla split (29,858 users x 40,981
items, 810,128 training interactions; ``--data``, default ``$NCF_DATA_DIR/gowalla``):

* ``mf_bpr``: biased MF, d 64, BPR with 4 uniform negatives, batch 8192, lr 0.005, l2 0.01
  (``benchmarks/configs/gowalla-bpr.toml``);
* ``mf_softmax``: cosine MF, d 64, in-batch sampled softmax (temperature 0.1, logQ, accidental
  hits removed), batch 2048, lr 0.01, row-sparse Adam (``gowalla-best.toml`` at d 64, no blend);

each trained ``--epochs`` epochs (default 5) by ``ncf.Trainer`` on ``cuda`` (mixed precision:
``TrainConfig.amp``, bfloat16 where supported; each epoch's index arrays are copied from pinned
host memory with ``non_blocking=True``, see ``ncf.training.batches``), then evaluated by exact
full ranking of all test users on the GPU (``ncf.evaluate(..., device="cuda")``: the certified
bfloat16 scan with float32 re-checks), Recall/NDCG@20 with training items excluded. The same
models are then trained and evaluated on the CPU with the same seeds and epochs, and the
report gives seconds per epoch on each device, the speed-up, the GPU's peak memory and the
metric differences (AMP and a different reduction order make the runs close, not identical).

Without CUDA the script says so and runs the same code path on the CPU for one epoch of each
model on the first ``--smoke-users`` users (default 2,000) of the data, evaluates them, writes
``results/gpu_path-cpu-smoke.json`` and exits 0, so the path is exercised where no GPU exists.

Run: ``python benchmarks/gpu_path.py [--epochs 5] [--data DIR]``. Writes
``benchmarks/results/gpu_path.json`` with CUDA, ``gpu_path-cpu-smoke.json`` without.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# as the ncf entry point does (before torch loads): idle OpenMP threads sleep, not spin
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import data_dir, machine, write_result  # noqa: E402

K = (20,)


# ---------------------------------------------------------------------------- device helpers
@dataclass
class Device:
    """The few CUDA calls this script makes, behind one object (a fake stands in for tests).

    ``cuda`` is ``torch.cuda`` or anything with ``is_available``, ``synchronize``,
    ``reset_peak_memory_stats``, ``max_memory_allocated`` and ``get_device_name``.
    """

    name: str
    cuda: Any = None

    @classmethod
    def pick(cls, requested: str = "auto", cuda: Any = None) -> Device:
        """``cuda`` when asked for or (``auto``) available, else ``cpu``; asking for a missing GPU is an error."""
        cuda = torch.cuda if cuda is None else cuda
        available = bool(cuda.is_available())
        if requested == "cuda" and not available:
            raise SystemExit("--device cuda: no CUDA device is visible")
        name = "cuda" if requested == "cuda" or (requested == "auto" and available) else "cpu"
        return cls(name, cuda)

    @property
    def is_cuda(self) -> bool:
        return self.name == "cuda"

    def synchronize(self) -> None:
        """Wait for queued GPU work (a timer around CUDA work must not stop before it ends)."""
        if self.is_cuda:
            self.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.is_cuda:
            self.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> float | None:
        return round(self.cuda.max_memory_allocated() / 2**20, 1) if self.is_cuda else None

    def describe(self) -> str:
        return str(self.cuda.get_device_name()) if self.is_cuda else "cpu"


# ---------------------------------------------------------------------------- data and models
def load(path: Path, max_users: int | None) -> tuple[Any, Any]:
    """Train and test of a LightGCN-format directory, optionally the first ``max_users`` users only."""
    import ncf

    ds = ncf.data.load_dataset(path)
    if ds.split is None:
        raise SystemExit(f"{path}: expected a dataset with a published split (LightGCN train.txt/test.txt)")
    train, test = ds.split.train, ds.split.test
    if max_users is not None and max_users < train.num_users:
        train = train.select(train.users < max_users)
        test = test.select(test.users < max_users)
    return train, test


def model_specs() -> dict[str, dict[str, Any]]:
    """The two models and their training settings (shared by both devices)."""
    return {
        "mf_bpr": {"model": {"embedding_dim": 64},
                   "train": {"loss": "bpr", "batch_size": 8192, "lr": 0.005, "l2": 0.01, "num_negatives": 4}},
        "mf_softmax": {"model": {"embedding_dim": 64, "use_bias": False, "normalize": True, "sparse": True},
                       "train": {"loss": "softmax", "batch_size": 2048, "lr": 0.01, "temperature": 0.1,
                                 "optimizer": "sparse_adam"}},
    }


def train_and_evaluate(
    name: str, spec: dict[str, Any], train: Any, test: Any, device: Device, epochs: int, seed: int
) -> dict[str, Any]:
    """Train one model on ``device`` and evaluate it there by full ranking; seconds and metrics."""
    import ncf
    from ncf.models import MatrixFactorization

    torch.manual_seed(seed)
    model = MatrixFactorization(train.num_users, train.num_items, **spec["model"])
    cfg = ncf.TrainConfig(epochs=epochs, seed=seed, device=device.name, amp=True, show_progress=False,
                          **spec["train"])
    device.reset_peak()
    t0 = time.perf_counter()
    history = ncf.Trainer(cfg).fit(model, train)
    device.synchronize()
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = ncf.evaluate(model, test, exclude=train, k=K, protocol="full", device=device.name)
    device.synchronize()
    eval_s = time.perf_counter() - t0
    per_epoch = [round(e.seconds, 3) for e in history.epochs]
    # the first epoch carries one-off costs (CUDA context, kernels, allocator); the rest is the rate
    steady = per_epoch[1:] or per_epoch
    return {
        "model": name,
        "device": device.name,
        "epochs": epochs,
        "epoch_seconds": per_epoch,
        "seconds_per_epoch": round(float(np.median(steady)), 3),
        "train_seconds": round(train_s, 3),
        "final_loss": history.epochs[-1].loss,
        "eval_seconds": round(eval_s, 3),
        "metrics": {k: v for k, v in report.metrics.items() if k.startswith(("recall", "ndcg"))},
        "users_evaluated": report.users,
        "peak_gpu_mb": device.peak_mb(),
    }


def compare(gpu: dict[str, Any], cpu: dict[str, Any]) -> dict[str, Any]:
    """Speed-up of the GPU per epoch and in evaluation, and the metric differences (GPU - CPU)."""
    return {
        "epoch_speedup": round(cpu["seconds_per_epoch"] / gpu["seconds_per_epoch"], 2),
        "eval_speedup": round(cpu["eval_seconds"] / gpu["eval_seconds"], 2),
        "metric_diff": {k: round(gpu["metrics"][k] - cpu["metrics"][k], 5) for k in gpu["metrics"]},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="LightGCN-format directory (default: gowalla)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per model on each device")
    ap.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    ap.add_argument("--smoke-users", type=int, default=2000, help="without CUDA: users of the CPU smoke run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    path = args.data or data_dir() / "gowalla"
    device = Device.pick(args.device)
    specs = model_specs()
    if not device.is_cuda:
        print("no CUDA device: running the same code path on the CPU for one epoch of each model on the "
              f"first {args.smoke_users} users (no GPU figure is produced)", flush=True)
        train, test = load(path, args.smoke_users)
        runs = [train_and_evaluate(n, s, train, test, device, 1, args.seed) for n, s in specs.items()]
        for r in runs:
            print(f"  {r['model']:11s} cpu  {r['seconds_per_epoch']:7.2f} s/epoch  eval {r['eval_seconds']:6.2f} s  "
                  f"{r['metrics']}", flush=True)
        payload = {"cuda": False, "data": str(path), "users": int(train.num_users), "train": len(train),
                   "runs": runs, "machine": machine()}
        write_result("gpu_path-cpu-smoke", payload)
        return payload
    train, test = load(path, None)
    print(f"CUDA: {device.describe()}; {len(train):,} training interactions, {args.epochs} epochs per model", flush=True)
    results: dict[str, Any] = {}
    for name, spec in specs.items():
        gpu = train_and_evaluate(name, spec, train, test, device, args.epochs, args.seed)
        cpu = train_and_evaluate(name, spec, train, test, Device("cpu"), args.epochs, args.seed)
        results[name] = {"gpu": gpu, "cpu": cpu, **compare(gpu, cpu)}
        for r in (gpu, cpu):
            print(f"  {name:11s} {r['device']:4s} {r['seconds_per_epoch']:7.2f} s/epoch  eval {r['eval_seconds']:6.2f} s  "
                  f"{r['metrics']}", flush=True)
    payload = {"cuda": True, "gpu": device.describe(), "data": str(path), "train": len(train),
               "epochs": args.epochs, "results": results, "machine": machine(),
               "torch_cuda": torch.version.cuda, "cpu_threads": torch.get_num_threads()}
    write_result("gpu_path", payload)
    return payload


if __name__ == "__main__":
    main()
