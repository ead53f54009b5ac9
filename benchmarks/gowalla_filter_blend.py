"""Gowalla validation study: the trained cosine MF blended with the closed-form graph filter.

Issue 23 asks for a blend of the graph filter (``GraphFilter``, ChebyCF's shape with ncf's degree
offset 3, ``configs/chebycf-offset3.toml``) with the trained models, chosen on validation. Every
figure here is on the validation carve (a random 10% of each user's training items, seed 0, as
``gowalla_spectral.py``); the test split is never read.

Parts, each fitted on the training file minus the carve:
- ``mf``: the cosine in-batch-softmax MF of ``configs/gowalla-best.toml`` (d 512, 20 epochs);
- ``spectral``: ``SpectralMF`` rank 1024 (``gowalla-best``'s spectral part);
- ``filter``: ``GraphFilter`` in ``chebycf-offset3``'s shape.

Each part's scores are divided by their spread (``score_spread``: the standard deviation over
1,024 seeded users x every item), so a share means the same for every part; a blend scores
``sum_k share_k * part_k / spread_k``. Grids: MF + filter at filter shares 0..1, and
MF + spectral + filter with the MF : spectral ratio of ``gowalla-best`` (1 : 0.25 in raw units,
converted to shares) times ``1 - s`` and the filter at share ``s``. All combinations are scored in
one pass over user chunks (each part's rows computed once per chunk); one combination is also
scored by ``ncf.evaluate`` on a ``RowBlend`` of the library, and the two must agree. For a few
pairs (the chosen filter blend, the filter alone, ``gowalla-best``'s MF + spectral blend, the MF
alone) the mean paired difference over the carve users and its standard error are written too.

Run: ``python benchmarks/gowalla_filter_blend.py`` (``--cache DIR`` keeps the trained MF, so a
re-run only scores); writes ``benchmarks/results/gowalla-filter-blend.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import data_dir, write_result
from safetensors.torch import load_file, save_file

from ncf import GraphFilter, MatrixFactorization, SpectralMF, TrainConfig, Trainer, evaluate
from ncf.data import read_lightgcn, validation_split
from ncf.evaluation.metrics import ndcg, recall
from ncf.models.blend import RowBlend, score_spread

FILTER_SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
THREE_WAY_SHARES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)
K = 20


def _mf(train: Any, args: argparse.Namespace) -> tuple[MatrixFactorization, float]:
    mf = MatrixFactorization(train.num_users, train.num_items, embedding_dim=args.mf_dim, use_bias=False,
                             normalize=True, sparse=True)
    cache = Path(args.cache) / f"mf-d{args.mf_dim}-e{args.mf_epochs}.safetensors" if args.cache else None
    if cache is not None and cache.is_file():
        mf.load_state_dict(load_file(str(cache)))
        return mf, float(json.loads(cache.with_suffix(".json").read_text())["seconds"])
    cfg = TrainConfig(loss="softmax", epochs=args.mf_epochs, softmax_bf16=True, batch_size=2048, lr=1e-2,
                      optimizer="sparse_adam", temperature=0.1, seed=0, show_progress=False)
    torch.manual_seed(0)
    t = time.perf_counter()
    Trainer(cfg).fit(mf, train)
    seconds = time.perf_counter() - t
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in mf.state_dict().items()}, str(cache))
        cache.with_suffix(".json").write_text(json.dumps({"seconds": seconds}))
    return mf, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mf-dim", type=int, default=512)
    p.add_argument("--mf-epochs", type=int, default=20)
    p.add_argument("--spectral-rank", type=int, default=1024)
    p.add_argument("--cache", default=None, help="Directory to keep the trained MF in (re-runs only score)")
    p.add_argument("--chunk", type=int, default=512)
    args = p.parse_args()

    ds = read_lightgcn(data_dir() / "gowalla")
    assert ds.split is not None
    train, valid, _ = validation_split(ds.split.train, method="random", fraction=0.1, seed=0)
    mf, mf_seconds = _mf(train, args)
    mf.eval()
    t = time.perf_counter()
    spectral = SpectralMF(train.num_users, train.num_items, rank=args.spectral_rank, alpha=3.0).fit(train)
    spectral_seconds = time.perf_counter() - t
    t = time.perf_counter()
    filt = GraphFilter(train.num_users, train.num_items, filter="chebyshev", order=8, flatness=1.5,
                       degree_power=0.4, ideal_rank=512, ideal_weight=0.2, degree_offset=3.0).fit(train)
    filter_seconds = time.perf_counter() - t
    spreads = {"mf": score_spread(mf), "spectral": score_spread(spectral), "filter": score_spread(filt)}
    print(json.dumps({"mf_seconds": mf_seconds, "spectral_seconds": spectral_seconds,
                      "filter_seconds": filter_seconds, "spreads": spreads}), flush=True)

    # gowalla-best's raw 1 : 0.25 (MF : spectral) as shares of the spread-normalised scores
    raw = np.array([1.0 * spreads["mf"], 0.25 * spreads["spectral"]])
    best_ratio = raw / raw.sum()
    combos: list[dict[str, Any]] = []
    for s in FILTER_SHARES:
        combos.append({"grid": "mf+filter", "filter_share": s, "shares": {"mf": 1 - s, "spectral": 0.0, "filter": s}})
    for s in THREE_WAY_SHARES:
        combos.append({"grid": "mf+spectral+filter", "filter_share": s,
                       "shares": {"mf": (1 - s) * best_ratio[0], "spectral": (1 - s) * best_ratio[1], "filter": s}})
    combos.append({"grid": "spectral+filter", "filter_share": 0.5, "shares": {"mf": 0.0, "spectral": 0.5, "filter": 0.5}})
    combos.append({"grid": "spectral", "filter_share": 0.0, "shares": {"mf": 0.0, "spectral": 1.0, "filter": 0.0}})

    valid_csr = valid.to_csr().tocsr()
    train_csr = train.to_csr().tocsr()
    users = np.flatnonzero(np.diff(valid_csr.indptr) > 0)
    num_rel = np.diff(valid_csr.indptr)[users]
    rec = np.zeros((len(combos), users.size))
    nd = np.zeros((len(combos), users.size))
    parts = {"mf": mf, "spectral": spectral, "filter": filt}
    t = time.perf_counter()
    with torch.inference_mode():
        item_vectors = {n: m.item_vectors().float() for n, m in parts.items() if n != "filter"}
        for c0 in range(0, users.size, args.chunk):
            chunk = users[c0:c0 + args.chunk]
            u = torch.from_numpy(chunk)
            rows = {n: (m.user_vectors(u).float() @ item_vectors[n].T) / spreads[n]
                    for n, m in parts.items() if n != "filter"}
            rows["filter"] = filt.score_rows(u).float() / spreads["filter"]
            sub = train_csr[chunk]
            mask_r = torch.from_numpy(np.repeat(np.arange(chunk.size), np.diff(sub.indptr)))
            mask_c = torch.from_numpy(sub.indices.astype(np.int64))
            truth = torch.from_numpy(valid_csr[chunk].toarray() > 0)
            for ci, combo in enumerate(combos):
                scores = sum(w * rows[n] for n, w in combo["shares"].items() if w != 0.0)
                assert isinstance(scores, torch.Tensor)
                scores[mask_r, mask_c] = -torch.inf
                top = torch.topk(scores, K, dim=1).indices.numpy()
                hits = torch.gather(truth, 1, torch.from_numpy(top)).numpy()
                rec[ci, c0:c0 + chunk.size] = recall(hits, num_rel[c0:c0 + chunk.size], K)
                nd[ci, c0:c0 + chunk.size] = ndcg(hits, num_rel[c0:c0 + chunk.size], K)
    score_seconds = time.perf_counter() - t
    rows_out = []
    for ci, combo in enumerate(combos):
        row = {**combo, "recall@20": round(float(rec[ci].mean()), 4), "ndcg@20": round(float(nd[ci].mean()), 4)}
        rows_out.append(row)
        print(json.dumps(row), flush=True)

    # paired differences over the carve users, as benchmarks/gowalla_paired_test.py does on the test split
    def find(grid: str, share: float) -> int:
        return next(i for i, c in enumerate(combos) if c["grid"] == grid and c["filter_share"] == share)

    named = {"mf+filter@0.3": find("mf+filter", 0.3), "filter": find("mf+filter", 1.0),
             "gowalla-best (mf+spectral)": find("mf+spectral+filter", 0.0), "mf": find("mf+filter", 0.0)}
    paired = []
    for a, b in (("mf+filter@0.3", "gowalla-best (mf+spectral)"), ("filter", "gowalla-best (mf+spectral)"),
                 ("mf+filter@0.3", "filter"), ("filter", "mf")):
        row: dict[str, Any] = {"a": a, "b": b}
        for m, arr in (("recall@20", rec), ("ndcg@20", nd)):
            d = arr[named[a]] - arr[named[b]]
            se = float(d.std(ddof=1) / np.sqrt(d.size))
            row[m] = {"a_minus_b": float(d.mean()), "paired_se": se, "z": float(d.mean() / se)}
        paired.append(row)
        print(json.dumps(row), flush=True)

    # the one-pass scorer against the library: the MF + filter blend at share 0.5 through ncf.evaluate
    check_share = 0.5
    blend = RowBlend.of([mf, filt], [(1 - check_share) / spreads["mf"], check_share / spreads["filter"]])
    t = time.perf_counter()
    lib = evaluate(blend, valid, exclude=[train], k=(K,), protocol="full").metrics
    library_seconds = time.perf_counter() - t
    mine = next(r for r in rows_out if r["grid"] == "mf+filter" and r["filter_share"] == check_share)
    agree = abs(float(lib["recall@20"]) - mine["recall@20"]) < 1e-4 and abs(float(lib["ndcg@20"]) - mine["ndcg@20"]) < 1e-4
    print(json.dumps({"library_check": {"recall@20": float(lib["recall@20"]), "ndcg@20": float(lib["ndcg@20"]),
                                        "agree": agree, "seconds": library_seconds}}), flush=True)
    if not agree:
        raise SystemExit("the one-pass scorer disagrees with ncf.evaluate")

    def best(grid: str, metric: str) -> dict[str, Any]:
        cands = [r for r in rows_out if r["grid"] == grid]
        return max(cands, key=lambda r: (r[metric], -r["filter_share"]))

    path = write_result("gowalla-filter-blend", {
        "command": "python benchmarks/gowalla_filter_blend.py",
        "protocol": "Gowalla LightGCN train file split 90/10 per user (validation_split random, seed 0); full "
                    "ranking of the 10%, the 90% masked; test never read",
        "args": vars(args),
        "seconds": {"mf_train": round(mf_seconds, 1), "spectral_fit": round(spectral_seconds, 1),
                    "filter_fit": round(filter_seconds, 1), "one_pass_scoring": round(score_seconds, 1),
                    "library_evaluate_one_blend": round(library_seconds, 1)},
        "spreads": spreads,
        "gowalla_best_ratio_as_shares": [float(x) for x in best_ratio],
        "rows": rows_out,
        "paired_on_carve": paired,
        "library_check": {"share": check_share, "recall@20": float(lib["recall@20"]), "ndcg@20": float(lib["ndcg@20"])},
        "chosen": {grid: {"by_recall": best(grid, "recall@20"), "by_ndcg": best(grid, "ndcg@20")}
                   for grid in ("mf+filter", "mf+spectral+filter")},
    })
    print(path)


if __name__ == "__main__":
    main()
