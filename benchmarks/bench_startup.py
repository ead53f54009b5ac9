"""What a fresh training process spends before its first step, on Gowalla (cosine-softmax MF).

Each run is a new interpreter (``--child``): import ncf, read Gowalla's LightGCN split, then time
``Trainer.fit`` from its call to the end of the first batch, the race setting of
``gowalla_softmax_speed.py`` (d 128, batch 1024, row-sparse Adam, bfloat16 logits). Variants,
alternating over ``--rounds`` rounds:

- ``normal`` / ``projection``: the model's start (``MatrixFactorization(init=...)``);
- ``projection + dynamo``: ``import torch._dynamo`` inside the timed window, which is what any
  torch optimizer's first ``add_param_group`` costs (torch's ``_disable_dynamo`` wrapper) and what
  ncf's row optimizers paid before they called the unwrapped methods.

Each child also says whether ``torch._dynamo`` ended up imported. The figure is the median over
rounds of the seconds to the first batch.

    python benchmarks/bench_startup.py [--rounds 3] [--threads 2]

Writes ``results/startup.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import data_dir, write_result

VARIANTS = {"normal": ("normal", False), "projection": ("projection", False),
            "projection + dynamo": ("projection", True)}


def child(init: str, dynamo: bool, threads: int) -> dict[str, Any]:
    """One fresh process's timings (run with ``--child``)."""
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(threads)
    from ncf import MatrixFactorization, TrainConfig, Trainer
    from ncf.data import read_lightgcn
    from ncf.training.callbacks import Callback

    t_imported = time.perf_counter()
    train = read_lightgcn(data_dir() / "gowalla").split.train
    t_loaded = time.perf_counter()

    class _Stop(Exception):
        pass

    marks: dict[str, float] = {}

    class FirstBatch(Callback):
        def on_fit_start(self, start: Any) -> None:
            marks["fit_start"] = time.perf_counter()

        def on_batch_end(self, end: Any) -> None:
            marks["first_batch"] = time.perf_counter()
            raise _Stop

    torch.manual_seed(0)
    model = MatrixFactorization(train.num_users, train.num_items, embedding_dim=128, use_bias=False, normalize=True,
                                sparse=True, init=init)
    cfg = TrainConfig(loss="softmax", temperature=0.1, batch_size=1024, lr=0.01, optimizer="sparse_adam",
                      softmax_bf16=True, epochs=1, show_progress=False, seed=0)
    t_fit = time.perf_counter()
    if dynamo:
        import torch._dynamo  # noqa: F401  (what torch's optimizer wrappers import on first call)
    try:
        Trainer(cfg, callbacks=[FirstBatch()]).fit(model, train)
    except _Stop:
        pass
    return {"imports_s": round(t_imported - t_start, 4), "load_s": round(t_loaded - t_imported, 4),
            "to_fit_start_s": round(marks["fit_start"] - t_fit, 4),
            "to_first_batch_s": round(marks["first_batch"] - t_fit, 4),
            "dynamo_imported": "torch._dynamo" in sys.modules}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", nargs=2, metavar=("INIT", "DYNAMO"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1] == "1", args.threads)))
        return
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (init, dynamo) in VARIANTS.items():
            out = subprocess.run([sys.executable, __file__, "--child", init, "1" if dynamo else "0",
                                  "--threads", str(args.threads)], capture_output=True, text=True, check=True)
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    summary = {name: {"to_first_batch_s": round(statistics.median(r["to_first_batch_s"] for r in rs), 4),
                      "to_fit_start_s": round(statistics.median(r["to_fit_start_s"] for r in rs), 4),
                      "dynamo_imported": all(r["dynamo_imported"] for r in rs)} for name, rs in runs.items()}
    result = {"setup": "Gowalla, cosine MF d 128, in-batch softmax, batch 1024, sparse_adam, bf16 logits; "
                       "seconds from Trainer.fit's call to the end of the first batch, fresh process per run, "
                       "variants alternating; median over rounds",
              "threads": args.threads, "rounds": args.rounds, "summary": summary, "runs": runs,
              "command": "python benchmarks/bench_startup.py " + " ".join(sys.argv[1:])}
    print(json.dumps(summary, indent=1))
    print(f"wrote {write_result('startup', result)}")


if __name__ == "__main__":
    main()
