"""Helpers shared by the peer-comparison scripts.

Imported both by the system python (``run_ncf.py``, ``compare.py``) and by the peers venv
(``run_implicit.py``, ``run_recbole.py``, numpy 1.26), so only the standard library and numpy
are used here, and nothing from ``ncf``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = REPO / "benchmarks" / "results"

GOWALLA = "gowalla"
ML100K_LOO = "ml-100k-loo"


def data_root(cli: str | None = None) -> Path:
    """--data, else $NCF_DATA_DIR, else ``<repo>/../shared/data``."""
    if cli:
        return Path(cli)
    env = os.environ.get("NCF_DATA_DIR")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if extra:
        out.update(extra)
    return out


def write_json(payload: dict[str, Any], out: str | None) -> None:
    text = json.dumps(payload, indent=2, default=_json_default)
    print(text)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------------------- data
class LightGCNSplit:
    """Gowalla in LightGCN format as flat (user, item) arrays."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.train_u, self.train_i = _read_lists(self.root / "train.txt")
        self.test_u, self.test_i = _read_lists(self.root / "test.txt")
        nu = max(int(self.train_u.max()), int(self.test_u.max())) + 1
        ni = max(int(self.train_i.max()), int(self.test_i.max())) + 1
        for name, cur in (("user_list.txt", "u"), ("item_list.txt", "i")):
            p = self.root / name
            if p.is_file():
                n = sum(1 for line in p.read_text().splitlines()[1:] if line.strip())
                if cur == "u":
                    nu = max(nu, n)
                else:
                    ni = max(ni, n)
        self.num_users, self.num_items = nu, ni

    def test_lists(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """(test users ascending, their test items)."""
        order = np.argsort(self.test_u, kind="stable")
        u, i = self.test_u[order], self.test_i[order]
        users, starts = np.unique(u, return_index=True)
        return users, np.split(i, starts[1:])


def _read_lists(path: Path) -> tuple[np.ndarray, np.ndarray]:
    users: list[int] = []
    items: list[np.ndarray] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            toks = line.split()
            if len(toks) < 2:
                continue
            arr = np.array(toks[1:], dtype=np.int64)
            items.append(arr)
            users.append(int(toks[0]))
    counts = np.array([len(a) for a in items], dtype=np.int64)
    return np.repeat(np.array(users, dtype=np.int64), counts), np.concatenate(items)


class NeuMFSplit:
    """ML-100K leave-one-out in the NeuMF paper's file format."""

    def __init__(self, root: Path, prefix: str = "ml-100k") -> None:
        self.root = Path(root)
        tr = np.loadtxt(
            self.root / f"{prefix}.train.rating", dtype=np.int64, usecols=(0, 1), ndmin=2
        )
        te = np.loadtxt(
            self.root / f"{prefix}.test.rating", dtype=np.int64, usecols=(0, 1), ndmin=2
        )
        self.train_u, self.train_i = tr[:, 0], tr[:, 1]
        self.test_u, self.test_i = te[:, 0], te[:, 1]
        pairs: dict[tuple[int, int], list[int]] = {}
        with open(self.root / f"{prefix}.test.negative", encoding="utf-8") as fh:
            for line in fh:
                toks = line.strip().split("\t")
                if not toks or not toks[0]:
                    continue
                u, i = toks[0].strip("()").split(",")
                pairs[(int(u), int(i))] = [int(t) for t in toks[1:]]
        self.negatives = np.array(
            [pairs[(int(u), int(i))] for u, i in zip(self.test_u, self.test_i, strict=True)],
            dtype=np.int64,
        )
        ids = [self.train_u.max(), self.test_u.max()]
        self.num_users = int(max(ids)) + 1
        self.num_items = int(max(self.train_i.max(), self.test_i.max(), self.negatives.max())) + 1


def csr(
    users: np.ndarray,
    items: np.ndarray,
    shape: tuple[int, int],
    values: np.ndarray | None = None,
    dtype: Any = np.float32,
) -> Any:
    import scipy.sparse as sp

    data = np.ones(len(users), dtype=dtype) if values is None else values.astype(dtype)
    m = sp.csr_matrix((data, (users, items)), shape=shape)
    m.sum_duplicates()
    return m


# ---------------------------------------------------------------------------- metrics
def full_ranking_metrics(
    top: np.ndarray, test_items: list[np.ndarray], k: int = 20
) -> dict[str, float]:
    """LightGCN's Recall@k and NDCG@k from top-k id lists (row r <-> test_items[r]).

    recall = hits / |test items|; NDCG's ideal DCG is over min(|test|, k) positions.
    Rows of ``top`` may be padded with -1.
    """
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    cum = np.cumsum(disc)
    recall = np.empty(len(test_items))
    ndcg = np.empty(len(test_items))
    for r, rel in enumerate(test_items):
        hit = np.isin(top[r, :k], rel)
        recall[r] = hit.sum() / len(rel)
        ndcg[r] = (hit * disc[: hit.size]).sum() / cum[min(len(rel), k) - 1]
    return {f"recall@{k}": float(recall.mean()), f"ndcg@{k}": float(ndcg.mean())}


def sampled_metrics(
    pos_scores: np.ndarray, neg_scores: np.ndarray, k: int = 10
) -> dict[str, float]:
    """NeuMF protocol: rank = 1 + #negatives scoring >= the positive (ties count against it)."""
    rank = 1 + (neg_scores >= pos_scores[:, None]).sum(axis=1)
    hit = rank <= k
    ndcg = np.where(hit, 1.0 / np.log2(rank + 1), 0.0)
    return {f"hr@{k}": float(hit.mean()), f"ndcg@{k}": float(ndcg.mean())}


# ---------------------------------------------------------------------------- time to quality
class Curve:
    """Quality against time for one contender: a wall clock that starts before the data is read
    and leaves evaluation out.

    ``point(step, evaluate)`` reads the clock, runs ``evaluate()`` (a dict of metrics) and takes
    its duration off the clock, so ``seconds`` is data loading + training (+ any fitting) only;
    each point also keeps its ``eval_seconds``.
    """

    def __init__(self, name: str, setting: dict[str, Any], time_limit: float | None = None) -> None:
        self.name = name
        self.setting = setting
        self.time_limit = time_limit
        self._t0 = time.perf_counter()
        self._excluded = 0.0
        self.points: list[dict[str, Any]] = []
        self.marks: dict[str, float] = {}

    def now(self) -> float:
        """Seconds on the clock: since the start, evaluation excluded."""
        return time.perf_counter() - self._t0 - self._excluded

    def exclude(self, seconds: float) -> None:
        """Take ``seconds`` (work that is not training, e.g. a validation pass) off the clock."""
        self._excluded += seconds

    def mark(self, name: str) -> None:
        """Remember the clock now (e.g. ``data_loaded``)."""
        self.marks[name] = round(self.now(), 4)

    def point(self, step: int | float, evaluate: Any, *, seconds: float | None = None, **extra: Any) -> dict[str, Any]:
        """Evaluate now; ``seconds`` overrides the clock (e.g. a closed-form fit timed on its own)."""
        seconds = self.now() if seconds is None else seconds
        t = time.perf_counter()
        metrics = evaluate()
        spent = time.perf_counter() - t
        self._excluded += spent
        row = {"step": step, "seconds": round(seconds, 4), **metrics, "eval_seconds": round(spent, 4), **extra}
        self.points.append(row)
        shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        print(f"[{self.name}] step {step}: {seconds:.2f} s  {shown}", file=sys.stderr, flush=True)
        return row

    def out_of_time(self) -> bool:
        return self.time_limit is not None and self.now() >= self.time_limit

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "setting": self.setting, "time_limit_seconds": self.time_limit,
                "marks": self.marks, "points": self.points, "peak_rss_mb": peak_rss_mb()}


def eval_steps(limit: int, every: int | None = None) -> set[int]:
    """Steps to evaluate at: every ``every`` steps, else 1-10, then about 25% apart; always ``limit``."""
    if every:
        return set(range(every, limit + 1, every)) | {limit}
    steps, s = set(), 1
    while s <= limit:
        steps.add(s)
        s = s + 1 if s < 10 else int(round(s * 1.25))
    return steps | {limit}


def first_reaching(points: list[dict[str, Any]], metric: str, target: float) -> dict[str, Any] | None:
    """The first point of a curve whose ``metric`` is at least ``target`` (None if never)."""
    for p in points:
        if p.get(metric) is not None and p[metric] >= target:
            return p
    return None


def validation_carve(split: NeuMFSplit, num_negatives: int = 99, seed: int = 0) -> dict[str, np.ndarray]:
    """ML-100K LOO: each user's latest training interaction (same-second ties: the larger item id,
    the rule of ncf's carve and of the published split) as validation, with ``num_negatives``
    uniform negatives per row that the user never interacted with (train or test).

    Returns ``train_u``/``train_i`` (train minus the carve), ``valid_u``/``valid_i``,
    ``valid_negatives``.
    """
    tr = np.loadtxt(split.root / "ml-100k.train.rating", dtype=np.int64, usecols=(0, 1, 3), ndmin=2)
    order = np.lexsort((tr[:, 1], tr[:, 2], tr[:, 0]))
    tr = tr[order]
    last = np.r_[tr[1:, 0] != tr[:-1, 0], True]
    valid_u, valid_i = tr[last, 0], tr[last, 1]
    rng = np.random.default_rng(seed)
    seen: dict[int, set[int]] = {}
    for u, i in zip(np.r_[split.train_u, split.test_u], np.r_[split.train_i, split.test_i], strict=True):
        seen.setdefault(int(u), set()).add(int(i))
    negs = np.empty((len(valid_u), num_negatives), dtype=np.int64)
    for r, u in enumerate(valid_u):
        chosen: list[int] = []
        taken = seen[int(u)]
        while len(chosen) < num_negatives:
            j = int(rng.integers(0, split.num_items))
            if j not in taken and j not in chosen:
                chosen.append(j)
        negs[r] = chosen
    return {"train_u": tr[~last, 0], "train_i": tr[~last, 1], "valid_u": valid_u, "valid_i": valid_i,
            "valid_negatives": negs}
