"""The notebook's exercises 2 and 3: sampled, popularity, in-batch and hard negatives, same models, same data.

Arms (each trained with early stopping on a validation carve of train; three seeds):

- ``uniform``: BPR, 4 uniform negatives per positive;
- ``popularity``: BPR, 4 negatives drawn by count^0.75;
- ``inbatch``, ``inbatch-nologq``, ``inbatch-nohits``, ``inbatch-plain``: the (B, B) score matrix
  and cross-entropy on its diagonal (``loss="softmax"``), with and without the logQ correction
  and the accidental-hit removal;
- ``hard-S`` / ``hard-S-warm``: BPR with a share S (0.25, 0.5, 1.0) of the 4 negatives drawn
  from each user's current top-50 non-interacted items, re-mined before every epoch (a full
  scoring pass), from the first epoch or after a warm-up of ``WARMUP`` uniform epochs;
- ``inbatch+hard``: the in-batch softmax plus 4 hard negatives per row (from the top-50, after the
  warm-up) appended to each row's logits (no logQ term for them: they come from no fixed proposal).

Models: the dot-product MF (``MatrixFactorization(use_bias=False)``, 64 dimensions), every arm;
the two-tower model (ID towers 128-64, temperature 0.1, lr 1e-3 as ``benchmarks/configs/two-tower.toml``)
for ``uniform``, ``inbatch``, the hard arm chosen for MF and the same share with the other warm-up
setting, and ``inbatch+hard``.

Datasets: ``ml-100k`` (the NeuMF leave-one-out split; validation = each user's latest training
item with 99 negatives, NDCG@10; test: HR@10 / NDCG@10 against the 99 published negatives and
full-ranking Recall@10) and ``gowalla`` (the LightGCN split; validation = a random 10% of each
user's training items, full-ranking Recall@20; test: Recall@20, NDCG@20, Recall@10).

Nothing is chosen on test: the MF learning rate of each loss family (BPR, softmax) is chosen on
validation with seed 0 from ``LRS``; the epoch by early stopping; the arm of each family
(hard share and warm-up) by the mean validation metric of the three seeds. Every arm's test
figures are printed once, for the weights early stopping kept; the models are trained on train
minus the carve (no refit).

Cost: each epoch's training seconds, the seconds of the hard-negative mining inside it (scoring
every user against every item and taking the top-50) and the validation seconds; the seconds to
the best epoch and to 95% of it. ``false_negative_probe``: how many held-out validation items sit
in the uniform MF's mined top-50 (they are drawn as "negatives"), and how often each candidate is
drawn per epoch at each share.

Run: ``python benchmarks/negatives_study.py --dataset ml-100k`` (at most 40 epochs, patience 3;
about 25 minutes on 2 shared cores) or ``--dataset gowalla`` (at most 100 epochs; many hours on 2
cores, the in-batch arms most). ``--two-tower no`` leaves the two-tower runs out; ``--reuse`` takes
the finished runs of an earlier results JSON, or of ``benchmarks/runs/negatives-<dataset>-runs.jsonl`` (every
run is appended there as it ends), with the same limits, and trains only the missing ones;
``--quick`` runs one seed, 3 epochs and, on Gowalla, 2,000 users, to prove the code path. Writes
``benchmarks/results/negatives-<dataset>[-quick].json`` and ``docs/negatives-<dataset>.png`` (not
with ``--quick``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result
from torch import Tensor

from ncf import MatrixFactorization, TrainConfig, Trainer, TwoTower, evaluate
from ncf.data import Interactions, load_dataset, validation_split
from ncf.losses import in_batch_log_q
from ncf.models.base import Factorized, Model
from ncf.sampling import HardNegativeSampler
from ncf.training.objectives import Softmax, make_objective

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUNS = Path(__file__).resolve().parent / "runs"  # ignored by git: each run's checkpoint line
SEEDS = (0, 1, 2)
LRS = (2e-3, 1e-2)
NUM_NEGATIVES = 4
CANDIDATES = 50
WARMUP = 5
SHARES = (0.25, 0.5, 1.0)
DIM = 64


@dataclass(frozen=True)
class Arm:
    name: str
    family: str  # sampled / in-batch / hard / in-batch+hard
    loss: str
    sampler: str = "uniform"
    hard: float = 0.0
    warmup: int = 0
    logq: bool = True
    hits: bool = True
    softmax_hard: int = 0


ARMS = (
    Arm("uniform", "sampled", "bpr"),
    Arm("popularity", "sampled", "bpr", sampler="popularity"),
    Arm("inbatch", "in-batch", "softmax"),
    Arm("inbatch-nologq", "in-batch", "softmax", logq=False),
    Arm("inbatch-nohits", "in-batch", "softmax", hits=False),
    Arm("inbatch-plain", "in-batch", "softmax", logq=False, hits=False),
    *(Arm(f"hard-{s:g}{'-warm' if w else ''}", "hard", "bpr", hard=s, warmup=w) for w in (0, WARMUP) for s in SHARES),
    Arm("inbatch+hard", "in-batch+hard", "softmax", softmax_hard=NUM_NEGATIVES, warmup=WARMUP),
)


# ---------------------------------------------------------------------- in-batch + hard, warm-up, mining cost
class SoftmaxPlusHard(Softmax):
    """The in-batch softmax with each row's own sampled (hard) negatives appended to its logits."""

    def __call__(self, model: Model, batch: Any) -> Tensor:
        if batch.negatives is None:
            return super().__call__(model, batch)
        users, items, neg = batch.users, batch.items, batch.negatives
        assert isinstance(model, Factorized)
        u, v = model.user_vectors(users), model.item_vectors(items)
        logits = (u @ v.T) / self.temperature
        if self.logq:
            logits = logits - in_batch_log_q(self.item_probs[items], batch_size=len(items), num_extra=0,
                                             num_items=self.num_items, weight=self.logq_weight)[None, :]
        same = items[None, :] == items[:, None]
        invalid = same & ~torch.eye(len(items), dtype=torch.bool, device=items.device)
        if self.positives is not None:
            invalid |= self.positives.batch_mask(users, items) & ~torch.eye(len(items), dtype=torch.bool,
                                                                             device=items.device)
        logits = logits.masked_fill(invalid, float("-inf"))
        hard = torch.einsum("bd,bkd->bk", u, model.item_vectors(neg.reshape(-1)).reshape(*neg.shape, -1))
        full = torch.cat([logits, hard / self.temperature], dim=1)
        return torch.nn.functional.cross_entropy(full, torch.arange(len(items), device=items.device))


class StudyTrainer(Trainer):
    """The library's Trainer with a warm-up before hard mining, hard negatives for the softmax,
    and the seconds of each mining pass recorded."""

    def __init__(self, config: TrainConfig, *, warmup: int = 0, softmax_hard: int = 0) -> None:
        super().__init__(config)
        self.warmup, self.softmax_hard = warmup, softmax_hard
        self.refreshes = 0
        self.mining_seconds: list[float] = []

    def _make_sampler(self, cfg: TrainConfig, train: Interactions) -> Any:  # type: ignore[override]
        if cfg.loss == "softmax" and self.softmax_hard > 0:
            return HardNegativeSampler(train, self.softmax_hard, hard_fraction=1.0)
        return Trainer._make_sampler(cfg, train)

    def _prepare(self, cfg: TrainConfig, *args: Any) -> Any:
        run = super()._prepare(cfg, *args)
        if cfg.loss == "softmax" and self.softmax_hard > 0:
            base = make_objective(cfg, args[1], device=self.device)
            assert isinstance(base, Softmax)
            run.objective = SoftmaxPlusHard(base.item_probs, temperature=base.temperature, logq=base.logq,
                                            logq_weight=base.logq_weight, positives=base.positives)
            run.fused = None  # the fused step was built for the plain softmax; this objective has none
        return run

    def _refresh_hard_candidates(self, model: Model, train: Interactions, sampler: HardNegativeSampler) -> None:
        self.refreshes += 1
        if self.refreshes <= self.warmup:  # warm-up: the base (uniform) sampler draws every column
            return
        t0 = time.perf_counter()
        super()._refresh_hard_candidates(model, train, sampler)
        self.mining_seconds.append(time.perf_counter() - t0)


# ---------------------------------------------------------------------- data
@dataclass
class Data:
    name: str
    full_train: Interactions
    train: Interactions
    valid: Interactions
    valid_negatives: np.ndarray | None
    test: Interactions
    test_negatives: np.ndarray | None
    metric: str
    test_ks: tuple[int, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def load(name: str, *, quick: bool, seed: int = 0) -> Data:
    if name == "ml-100k":
        ds = load_dataset(data_dir() / "ml-100k-loo")
        split = ds.split
        train, valid, vneg = validation_split(split.train, method="loo", num_negatives=99, seed=seed)
        return Data(name, split.train, train, valid, vneg, split.test, split.test_negatives, "ndcg@10", (10,))
    if name == "gowalla":
        ds = load_dataset(data_dir() / "gowalla")
        full, test = ds.split.train, ds.split.test
        if quick:  # 2,000 users (the universe stays): proves the code path in minutes
            keep = 2000
            full = full.select(np.flatnonzero(full.users < keep))
            test = test.select(np.flatnonzero(test.users < keep))
        train, valid, _ = validation_split(full, method="random", fraction=0.1, seed=seed)
        return Data(name, full, train, valid, None, test, None, "recall@20", (10, 20))
    raise SystemExit(f"unknown dataset {name!r}")


# ---------------------------------------------------------------------- one run
def build(model_name: str, data: Data, seed: int) -> Model:
    torch.manual_seed(seed)
    if model_name == "mf":
        return MatrixFactorization(data.train.num_users, data.train.num_items, embedding_dim=DIM, use_bias=False)
    return TwoTower(data.train.num_users, data.train.num_items, DIM, layers=(128, 64), temperature=0.1)


def run_arm(arm: Arm, model_name: str, data: Data, *, seed: int, lr: float, max_epochs: int,
            patience: int, trained: dict[tuple[str, str, int, float], Model] | None = None) -> dict[str, Any]:
    model = build(model_name, data, seed)
    cfg = TrainConfig(
        loss=arm.loss, sampler=arm.sampler, num_negatives=NUM_NEGATIVES, hard_negatives=arm.hard,
        hard_candidates=CANDIDATES, logq=arm.logq, remove_accidental_hits=arm.hits, lr=lr, batch_size=1024,
        max_epochs=max_epochs, patience=patience, metric=data.metric, seed=seed, show_progress=False,
        eval_k=tuple(sorted({int(data.metric.split("@")[1]), 10})),
    )
    trainer = StudyTrainer(cfg, warmup=arm.warmup, softmax_hard=arm.softmax_hard)
    t0 = time.perf_counter()
    history = trainer.fit(model, data.train, valid=data.valid, valid_negatives=data.valid_negatives)
    wall = time.perf_counter() - t0
    if trained is not None:
        trained[(model_name, arm.name, seed, lr)] = model
    curve = [{"epoch": e.epoch, "valid": e.metrics.get(data.metric), "train_s": e.seconds,
              "eval_s": e.eval_seconds, "loss": e.loss} for e in history]
    test: dict[str, float] = {}
    if data.test_negatives is not None:
        rep = evaluate(model, data.test, exclude=data.full_train, k=(10,), protocol="sampled",
                       negatives=data.test_negatives)
        test.update({f"sampled_{k}": float(v) for k, v in rep.metrics.items()})
    rep = evaluate(model, data.test, exclude=data.full_train, k=data.test_ks, protocol="full")
    test.update({f"full_{k}": float(v) for k, v in rep.metrics.items()})
    epochs = len(curve)
    mining = trainer.mining_seconds
    return {
        # 1-minute load average at the end of the run: above the run's own threads, other work shared the cores
        "loadavg_1m": os.getloadavg()[0],
        "arm": arm.name, "model": model_name, "seed": seed, "lr": lr,
        "best_epoch": history.best_epoch, "valid": history.best_metric, "epochs_run": epochs, "wall_s": wall,
        "train_s_per_epoch": float(np.mean([c["train_s"] for c in curve])),
        "mining_s_per_pass": float(np.mean(mining)) if mining else 0.0, "mining_passes": len(mining),
        "eval_s_per_epoch": float(np.mean([c["eval_s"] for c in curve])),
        "test": test, "curve": curve,
    }


def false_negative_probe(data: Data, *, lr: float, max_epochs: int, patience: int,
                         model: Model | None = None) -> dict[str, Any]:
    """How often a mined top-50 holds an item the user will interact with.

    The uniform-negative MF (seed 0, early stopped) scores every unseen item as the miner does;
    recall@50 of the validation carve is the share of held-out positives that sit in the mined
    top-50 (each of them is then drawn as a "negative"). With ``h`` hard columns per positive a
    user with ``n`` training rows draws each candidate ``n * h / 50`` times per epoch on average.
    """
    from ncf.retrieval import topk

    if model is None:  # else: the uniform arm's seed-0 model of this run, trained the same way
        arm = next(a for a in ARMS if a.name == "uniform")
        model = build("mf", data, 0)
        cfg = TrainConfig(loss="bpr", num_negatives=NUM_NEGATIVES, lr=lr, batch_size=1024, max_epochs=max_epochs,
                          patience=patience, metric=data.metric, seed=0, show_progress=False)
        StudyTrainer(cfg, warmup=arm.warmup).fit(model, data.train, valid=data.valid,
                                                 valid_negatives=data.valid_negatives)
    rep = evaluate(model, data.valid, exclude=data.train, k=(CANDIDATES,), protocol="full")
    t0 = time.perf_counter()
    topk(model, np.arange(data.train.num_users, dtype=np.int64), k=CANDIDATES, exclude=data.train.to_csr())
    mining = time.perf_counter() - t0
    rows = np.bincount(data.train.users, minlength=data.train.num_users)
    active = rows[rows > 0]
    draws = {f"{s:g}": float(np.mean(active * int(np.floor(s * NUM_NEGATIVES + 0.5)) / CANDIDATES)) for s in SHARES}
    return {"valid_recall@50": float(rep.metrics[f"recall@{CANDIDATES}"]), "mining_pass_s": mining,
            "draws_per_candidate_per_epoch": draws,
            "note": "valid_recall@50: share of held-out validation positives inside the uniform MF's top-50 unseen "
                    "items (the hard-negative pool); draws: mean over users of rows * hard columns / 50"}


def spread(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max())}


def seconds_to(run: dict[str, Any], share: float) -> float:
    """Training seconds (mining included, validation not) until the curve first reaches ``share`` of its best."""
    best = max(c["valid"] for c in run["curve"])
    elapsed = np.cumsum([c["train_s"] for c in run["curve"]])
    return float(next(t for t, c in zip(elapsed, run["curve"], strict=True) if c["valid"] >= share * best))


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = sorted(runs[0]["test"])
    return {
        "seconds_to_best": spread([seconds_to(r, 1.0) for r in runs]),
        "seconds_to_95pct_of_best": spread([seconds_to(r, 0.95) for r in runs]),
        "epochs_to_95pct_of_best": spread([float(next(c["epoch"] for c in r["curve"] if c["valid"] >= 0.95 * r["valid"]))
                                           for r in runs]),
        "seeds": [r["seed"] for r in runs], "lr": runs[0]["lr"],
        "valid": spread([r["valid"] for r in runs]),
        "test": {k: spread([r["test"][k] for r in runs]) for k in keys},
        "best_epoch": [r["best_epoch"] for r in runs],
        "train_s_per_epoch": spread([r["train_s_per_epoch"] for r in runs]),
        "mining_s_per_pass": spread([r["mining_s_per_pass"] for r in runs]),
        "eval_s_per_epoch": spread([r["eval_s_per_epoch"] for r in runs]),
    }


def checkpoint_path(out: str) -> Path:
    """Where each finished run is appended as one JSON line, so an interrupted study loses at most one run."""
    return RUNS / f"{out}-runs.jsonl"


def save_checkpoint(out: str, run: dict[str, Any], *, max_epochs: int, patience: int, threads: int) -> None:
    path = checkpoint_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"max_epochs": max_epochs, "patience": patience, "threads": threads, "run": run})
    with path.open("a") as fh:  # one line per run; a torn last line is skipped when read back
        fh.write(line + "\n")


def reusable_runs(out: str, *, max_epochs: int, patience: int) -> dict[tuple[str, str, int, float], Any]:
    """The finished runs of an earlier ``results/OUT.json`` or of this study's checkpoint, same limits."""
    cache: dict[tuple[str, str, int, float], Any] = {}
    ckpt = checkpoint_path(out)
    if ckpt.is_file():
        for line in ckpt.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry["max_epochs"] == max_epochs and entry["patience"] == patience:
                r = entry["run"]
                cache[(r["model"], r["arm"], r["seed"], r["lr"])] = r
    path = Path(os.environ.get("NCF_RESULTS_DIR") or Path(__file__).resolve().parent / "results") / f"{out}.json"
    if not path.is_file():
        return cache
    old = json.loads(path.read_text())
    settings = old.get("settings", {})
    if settings.get("max_epochs") != max_epochs or settings.get("patience") != patience:
        return cache
    for model_name, m in old.get("models", {}).items():
        for arm in m["arms"].values():
            for r in arm["runs"]:
                cache.setdefault((model_name, r["arm"], r["seed"], r["lr"]), r)
    for pick in old.get("lr_pick", {}).values():  # the learning-rate runs, kept as arms or not
        for r in pick.get("runs", []):
            cache.setdefault(("mf", r["arm"], r["seed"], r["lr"]), r)
    return cache


# ---------------------------------------------------------------------- plot
def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in ("mf", "two-tower") if m in result["models"]]
    fig, axes = plt.subplots(len(models), 2, figsize=(13, 5 * len(models)), squeeze=False)
    colours = {"sampled": "tab:blue", "in-batch": "tab:green", "hard": "tab:red", "in-batch+hard": "tab:purple"}
    styles = ["-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1))]
    for row, m in enumerate(models):
        seen: dict[str, int] = {}
        for arm_name, arm in result["models"][m]["arms"].items():
            run = next(r for r in arm["runs"] if r["seed"] == SEEDS[0])
            fam = arm["family"]
            style = styles[seen.get(fam, 0) % len(styles)]
            seen[fam] = seen.get(fam, 0) + 1
            xs = [c["epoch"] for c in run["curve"]]
            secs = np.cumsum([c["train_s"] for c in run["curve"]])
            ys = [c["valid"] for c in run["curve"]]
            for col, x in enumerate((xs, secs)):
                axes[row, col].plot(x, ys, linestyle=style, color=colours[fam], label=arm_name, linewidth=1.2)
        for col, xl in enumerate(("epoch", "training seconds (cumulative, incl. mining; shared CPU)")):
            ax = axes[row, col]
            ax.set_xlabel(xl)
            ax.set_ylabel(f"validation {result['metric']}")
            ax.set_title(f"{result['dataset']}, {m} (seed {SEEDS[0]})")
            ax.grid(alpha=0.3)
        axes[row, 1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("ml-100k", "gowalla"), default="ml-100k")
    parser.add_argument("--quick", action="store_true", help="One seed, few epochs (Gowalla: 2,000 users)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=None, help="Default: 40 on ML-100K, 100 on Gowalla")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--two-tower", default="yes", choices=("yes", "no"))
    parser.add_argument("--seeds", default=None, help="Comma-separated seeds (default 0,1,2; the first picks the lr)")
    parser.add_argument("--lrs", default=None, help="Comma-separated MF learning rates to choose from (default 2e-3,1e-2)")
    parser.add_argument("--arms", default=None,
                        help="Comma-separated MF arms (default: all; uniform and inbatch always run, they pick the lr)")
    parser.add_argument("--tt-seeds", default=None, help="Comma-separated two-tower seeds (default: --seeds)")
    parser.add_argument("--tt-arms", default=None,
                        help="Comma-separated two-tower arms (default: uniform, inbatch, the hard share chosen for MF "
                             "with and without the warm-up, inbatch+hard)")
    parser.add_argument("--probe", default="yes", choices=("yes", "no"),
                        help="Train one more uniform MF to count validation items inside the mined top-50")
    parser.add_argument("--reuse", action="store_true",
                        help="Take the runs already in this dataset's results JSON or run checkpoint (same epochs and patience) "
                             "instead of training them again; only the missing ones are trained")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    max_epochs = args.max_epochs or (3 if args.quick else 40 if args.dataset == "ml-100k" else 100)
    seeds = tuple(int(x) for x in args.seeds.split(",")) if args.seeds else SEEDS[:1] if args.quick else SEEDS
    lrs = tuple(float(x) for x in args.lrs.split(",")) if args.lrs else LRS[:1] if args.quick else LRS
    arms = ARMS if not args.quick else tuple(a for a in ARMS if a.name in (
        "uniform", "popularity", "inbatch", "inbatch-plain", "hard-0.5", "hard-0.5-warm", "inbatch+hard"))
    if args.arms:
        wanted = set(args.arms.split(",")) | {"uniform", "inbatch"}
        unknown = wanted - {a.name for a in ARMS}
        if unknown:
            raise SystemExit(f"unknown arms: {sorted(unknown)} (known: {', '.join(a.name for a in ARMS)})")
        arms = tuple(a for a in ARMS if a.name in wanted)
    data = load(args.dataset, quick=args.quick)
    t_all = time.perf_counter()
    print(f"{args.dataset}: {len(data.train):,} training rows, {len(data.valid):,} validation, "
          f"{len(data.test):,} test; max {max_epochs} epochs, seeds {seeds}", flush=True)

    out = f"negatives-{args.dataset}" + ("-quick" if args.quick else "")
    cache = reusable_runs(out, max_epochs=max_epochs, patience=args.patience) if args.reuse else {}
    trained: dict[tuple[str, str, int, float], Model] = {}

    def go(arm: Arm, model_name: str, seed: int, lr: float) -> dict[str, Any]:
        if (model_name, arm.name, seed, lr) in cache:
            print(f"  {model_name:9s} {arm.name:16s} seed {seed} lr {lr:g}: reused (results/{out}.json or the run checkpoint)")
            return cache[(model_name, arm.name, seed, lr)]
        r = run_arm(arm, model_name, data, seed=seed, lr=lr, max_epochs=max_epochs, patience=args.patience,
                    trained=trained)
        save_checkpoint(out, r, max_epochs=max_epochs, patience=args.patience, threads=args.threads)
        print(f"  {model_name:9s} {arm.name:16s} seed {seed} lr {lr:g}: valid {r['valid']:.4f} @ {r['best_epoch']}"
              f" | test {' '.join(f'{k} {v:.4f}' for k, v in r['test'].items())} | {r['train_s_per_epoch']:.2f}"
              f" s/epoch (mining {r['mining_s_per_pass']:.2f} s), {r['wall_s']:.0f}s", flush=True)
        return r

    # 1. MF learning rate per loss family, on validation, seed 0
    lr_pick: dict[str, Any] = {}
    first: dict[tuple[str, float], dict[str, Any]] = {}
    for family_arm in ("uniform", "inbatch"):
        arm = next(a for a in ARMS if a.name == family_arm)
        for lr in lrs:
            first[(family_arm, lr)] = go(arm, "mf", seeds[0], lr)
        best_lr = max(lrs, key=lambda lr, n=family_arm: first[(n, lr)]["valid"])
        lr_pick[arm.loss] = {"chosen": best_lr, "valid": {str(lr): first[(family_arm, lr)]["valid"] for lr in lrs},
                             "runs": [first[(family_arm, lr)] for lr in lrs]}
    print(f"learning rates chosen on validation: {({k: v['chosen'] for k, v in lr_pick.items()})}", flush=True)

    # 2. every MF arm, every seed
    result: dict[str, Any] = {"dataset": args.dataset, "metric": data.metric, "quick": args.quick,
                              "seeds": list(seeds), "lr_pick": lr_pick, "models": {}}
    mf_arms: dict[str, Any] = {}
    for arm in arms:
        lr = lr_pick[arm.loss]["chosen"]
        runs = []
        for seed in seeds:
            cached = first.get((arm.name, lr)) if seed == seeds[0] else None
            runs.append(cached if cached is not None else go(arm, "mf", seed, lr))
        mf_arms[arm.name] = {"family": arm.family, **dataclasses.asdict(arm), **summarise(runs), "runs": runs}
    chosen = {}
    for fam in ("sampled", "in-batch", "hard", "in-batch+hard"):
        names = [n for n, a in mf_arms.items() if a["family"] == fam]
        if names:
            chosen[fam] = max(names, key=lambda n: mf_arms[n]["valid"]["mean"])
    result["models"]["mf"] = {"arms": mf_arms, "chosen_per_family": chosen,
                              "chosen_overall": max(chosen.values(), key=lambda n: mf_arms[n]["valid"]["mean"])}
    print(f"MF chosen on validation: {chosen}", flush=True)

    # 3. two-tower: uniform, in-batch, the hard share chosen for MF with and without the warm-up, in-batch + hard
    #    (lr 1e-3, temperature 0.1)
    if args.two_tower == "yes":
        tt_arms: dict[str, Any] = {}
        hard = chosen.get("hard", "hard-0.25-warm")
        twin = hard[: -len("-warm")] if hard.endswith("-warm") else f"{hard}-warm"
        tt_seeds = tuple(int(x) for x in args.tt_seeds.split(",")) if args.tt_seeds else seeds
        tt_names = args.tt_arms.split(",") if args.tt_arms else ("uniform", "inbatch", hard, twin, "inbatch+hard")
        for name in tt_names:
            arm = next(a for a in ARMS if a.name == name)
            runs = [go(arm, "two-tower", seed, 1e-3) for seed in tt_seeds]
            tt_arms[arm.name] = {"family": arm.family, **dataclasses.asdict(arm), **summarise(runs), "runs": runs}
        tt_chosen = max(tt_arms, key=lambda n: tt_arms[n]["valid"]["mean"])
        result["models"]["two-tower"] = {"arms": tt_arms, "chosen_overall": tt_chosen}

    if args.probe == "yes":
        lr = lr_pick["bpr"]["chosen"]
        result["false_negative_probe"] = false_negative_probe(data, lr=lr, max_epochs=max_epochs,
                                                              patience=args.patience,
                                                              model=trained.get(("mf", "uniform", 0, lr)))
        print(f"false-negative probe: {result['false_negative_probe']}", flush=True)
    result["settings"] = {"num_negatives": NUM_NEGATIVES, "hard_candidates": CANDIDATES, "warmup_epochs": WARMUP,
                          "dim": DIM, "batch_size": 1024, "max_epochs": max_epochs, "patience": args.patience,
                          "threads": args.threads, "lrs": list(lrs), "arms": [a.name for a in arms],
                          "command": "python benchmarks/negatives_study.py " + " ".join(sys.argv[1:])}
    result["seconds"] = time.perf_counter() - t_all
    result["run_seconds_total"] = float(sum(r["wall_s"] for m in result["models"].values() for a in m["arms"].values()
                                            for r in a["runs"]))
    result["reused_runs"] = sorted(f"{m}/{a}/seed {s}" for m, a, s, _ in cache)
    if not args.quick:
        png = DOCS / f"negatives-{args.dataset}.png"
        plot(result, png)
        result["png"] = f"docs/{png.name}"
    print(f"wrote {write_result(out, result)} in {result['seconds']:.0f}s")


if __name__ == "__main__":
    main()
