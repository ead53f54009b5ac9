"""Choose per-model defaults on validation: small sweeps on ML-100K LOO, scored on a validation carve.

Every candidate is a run of ``ncf train`` (through :func:`ncf.app.train`) on the training file
of ``ml-100k-loo`` with the model's defaults (``src/ncf/app/defaults/<model>.toml``) and the
candidate's options on top. Training stops early on the validation split that ``ncf train``
carves from train (each user's latest training interaction, 99 negatives); the best epoch's
model is then scored on that validation split (HR@10, NDCG@10). The test split is never
evaluated here: the chosen defaults are scored on test once, by ``benchmarks/defaults_table.py``.

    python benchmarks/ml100k_defaults.py                    # every model's sweep
    python benchmarks/ml100k_defaults.py --models mf neumf  # some of them
    python benchmarks/ml100k_defaults.py --seeds 0 1        # each candidate with two seeds

Writes ``results/ml100k-defaults.json`` (one row per candidate and seed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, data_dir, write_result

#: benchmarks/configs/mf-bpr.toml: the base of the MF + BPR sweep.
MF_BPR = {"loss": "bpr", "dim": 64, "lr": 0.002, "l2": 0.001, "negatives": 4, "batch-size": 1024,
          "patience": 5, "max-epochs": 200}
#: model -> (name, options on top of the model's defaults); the first one is the defaults alone.
SWEEPS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    # MF + BPR: candidates around benchmarks/configs/mf-bpr.toml, written out in full so that the
    # sweep does not depend on the defaults it chose (mf.toml's [bpr] table is the winner)
    "mf": [(name, {**MF_BPR, **change}) for name, change in (
        ("mf-bpr.toml", {}),
        ("lr 0.005", {"lr": 0.005}),
        ("lr 0.001", {"lr": 0.001}),
        ("l2 1e-4", {"l2": 1e-4}),
        ("l2 1e-2", {"l2": 1e-2}),
        ("negatives 8", {"negatives": 8}),
        ("negatives 16", {"negatives": 16}),
        ("dim 128", {"dim": 128}),
        ("dim 32", {"dim": 32}),
        ("batch 256", {"batch-size": 256}),
        ("batch 4096, lr 0.005", {"batch-size": 4096, "lr": 0.005}),
        ("dim 128, negatives 8", {"dim": 128, "negatives": 8}),
        ("dim 256", {"dim": 256}),
    )],
    "mf-softmax": [
        ("defaults", {"loss": "softmax"}),
        ("T 0.05", {"loss": "softmax", "temperature": 0.05}),
        ("T 0.2", {"loss": "softmax", "temperature": 0.2}),
        ("batch 2048", {"loss": "softmax", "batch-size": 2048}),
        ("lr 0.003", {"loss": "softmax", "lr": 0.003}),
    ],
    "gmf": [
        ("defaults", {}),
        ("batch 1024, lr 0.002", {"batch-size": 1024, "lr": 0.002}),
        ("dim 64", {"dim": 64}),
        ("negatives 8", {"negatives": 8}),
    ],
    "mlp": [
        ("defaults", {}),
        ("batch 1024, lr 0.002", {"batch-size": 1024, "lr": 0.002}),
        ("layers 128,64,32", {"layers": "128,64,32"}),
        ("negatives 8", {"negatives": 8}),
    ],
    "neumf": [
        ("defaults", {}),
        ("batch 1024, lr 0.002", {"batch-size": 1024, "lr": 0.002}),
        ("dim 64", {"dim": 64}),
        ("negatives 8", {"negatives": 8}),
        ("lr 0.0005", {"lr": 0.0005}),
    ],
    "two-tower": [
        ("defaults", {}),
        ("lr 0.003", {"lr": 0.003}),
        ("T 0.05", {"temperature": 0.05}),
        ("T 0.2", {"temperature": 0.2}),
        ("dim 128", {"dim": 128}),
    ],
    "fpmc": [
        ("defaults", {}),
    ],
    "spectral": [
        (f"rank {r}", {"spectral-rank": r}) for r in (16, 32, 64, 128, 256, 512, 1024)
    ],
    "popularity": [("defaults", {})],
}


def run_candidate(data: Path, model: str, options: dict[str, Any], seed: int, root: Path) -> dict[str, Any]:
    from ncf.app import RunSpec, evaluate_run, train

    model_name = "mf" if model == "mf-softmax" else model
    spec = RunSpec.from_options(("sweep", {"data": str(data), "model": model_name, "seed": seed, **options}))
    if spec.closed_form:
        # closed-form models are fitted on the whole training file by default; for a choice on
        # validation, fit them on train minus the validation carve
        spec = spec.replace(valid=True)
    out = root / f"{model}-{abs(hash(json.dumps(options, sort_keys=True)))}-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = train(spec, out, show_progress=False)
    wall = time.perf_counter() - t0
    report = evaluate_run(out, k=[10], protocol="sampled", part="valid")
    h = result.history
    shutil.rmtree(out, ignore_errors=True)
    return {
        "valid_hr@10": report.metrics["hr@10"], "valid_ndcg@10": report.metrics["ndcg@10"],
        "best_epoch": h.best_epoch if h else None, "epochs": len(h.epochs) if h else None,
        "train_seconds": round(result.seconds, 1), "wall_seconds": round(wall, 1),
        "options": {k: v for k, v in spec.to_options().items() if k not in ("data",)},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="ml-100k-loo directory (default: the shared copy)")
    p.add_argument("--models", nargs="*", default=list(SWEEPS), choices=list(SWEEPS))
    p.add_argument("--only", nargs="*", default=None, help="candidate names to run (default: all)")
    p.add_argument("--seeds", nargs="*", type=int, default=[0])
    p.add_argument("--name", default="ml100k-defaults", help="results/NAME.json")
    args = p.parse_args()
    data = Path(args.data) if args.data else data_dir() / "ml-100k-loo"
    # rows of earlier invocations are kept unless this one re-runs them (same model, candidate, seed)
    previous = RESULTS / f"{args.name}.json"
    rows: list[dict[str, Any]] = json.loads(previous.read_text())["rows"] if previous.is_file() else []
    with tempfile.TemporaryDirectory(prefix="ncf-defaults-") as tmp:
        for model in args.models:
            for name, options in SWEEPS[model]:
                if args.only and name not in args.only:
                    continue
                for seed in args.seeds:
                    row = {"model": model, "candidate": name, "seed": seed,
                           **run_candidate(data, model, options, seed, Path(tmp))}
                    rows = [r for r in rows if (r["model"], r["candidate"], r["seed"]) != (model, name, seed)]
                    rows.append(row)
                    print(f"{model:>10} {name:<24} seed {seed}: valid HR@10 {row['valid_hr@10']:.4f} "
                          f"NDCG@10 {row['valid_ndcg@10']:.4f} (epoch {row['best_epoch']}, "
                          f"{row['train_seconds']} s)", flush=True)
                    write_result(args.name, {"data": str(data), "note": "validation only; test never read",
                                             "rows": rows})
    print("done", file=sys.stderr)


if __name__ == "__main__":
    main()
