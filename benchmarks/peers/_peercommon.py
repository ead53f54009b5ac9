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
