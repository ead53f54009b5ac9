"""``ncf quickstart``: synthetic data, a split, three models trained and evaluated, a few
recommendations; a tour of the other jobs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ncf._types import PathLike
from ncf.app.evaluate_job import evaluate_run
from ncf.app.recommend_job import recommend_run
from ncf.app.rundir import RunDir
from ncf.app.spec import RunSpec
from ncf.app.train_job import train


def quickstart(run_dir: PathLike | None = None, *, seed: int = 0, show_progress: bool = True) -> Iterator[str]:
    """Synthetic data -> leave-one-out split -> popularity, MF and NeuMF -> top-10 for a few users.

    Without ``run_dir`` everything goes to a temporary directory that is removed at the end.
    """
    if run_dir is None:
        with tempfile.TemporaryDirectory(prefix="ncf-quickstart-") as tmp:
            yield from _quickstart(Path(tmp), seed, show_progress)
            yield "(the run directories were temporary and are removed; pass --out DIR to keep them)"
        return
    yield from _quickstart(Path(run_dir), seed, show_progress)
    yield f"run directories: {run_dir}"


def _quickstart(root: Path, seed: int, show_progress: bool) -> Iterator[str]:
    from ncf.data.splits import leave_one_out
    from ncf.data.synthetic import synthetic
    from ncf.data.writers import write_neumf

    data = synthetic(seed=seed)
    inter = data.interactions
    yield f"synthetic data: {inter.num_users} users, {inter.num_items} items, {len(inter)} interactions"
    split = leave_one_out(inter, num_negatives=99, seed=seed)
    data_dir = root / "data"
    write_neumf(split, data_dir, prefix="synthetic")
    yield f"leave-one-out split with 99 negatives per user -> {data_dir}"
    runs: tuple[tuple[str, dict[str, Any]], ...] = (
        ("popularity", {}),
        ("mf", {"loss": "bpr", "dim": 32, "lr": 5e-3, "negatives": 4, "batch-size": 1024}),
        ("neumf", {"loss": "bce", "dim": 16, "layers": "64,32,16", "lr": 2e-3, "negatives": 4, "batch-size": 512}),
    )
    for name, extra in runs:
        spec = RunSpec.from_options(("quickstart", {"data": str(data_dir), "model": name, "seed": seed, **extra}))
        result = train(spec, root / name, show_progress=show_progress)
        yield result.summary()
        report = evaluate_run(root / name, k=[10], protocol="sampled")
        yield f"{name:>10} test: HR@10 {report.metrics['hr@10']:.4f}  NDCG@10 {report.metrics['ndcg@10']:.4f}"
    RunDir(root / "mf").save_titles([str(t) for t in data.item_titles])  # shown by `ncf recommend`
    raw_users = [str(u) for u in inter.user_map.decode(np.arange(3))] if inter.user_map is not None else ["0", "1", "2"]
    recs = recommend_run(root / "mf", raw_users, k=10)
    for user, items in recs.items():
        yield f"top-10 for user {user}: " + ", ".join(r.get("title", r["item"]) for r in items)
