"""ncf against implicit and RecBole at equal quality: time to the peers' figure, and per-epoch
ratios only at the same model shape, batch and negatives.

Run with the system python (where ncf is installed), after ``bash benchmarks/peers/setup.sh``,
on an otherwise idle machine::

    python benchmarks/peers/compare.py                 # everything (~40-60 min on 2 cores)
    python benchmarks/peers/compare.py --parts fast    # one part: epoch, gowalla, ml100k or fast
    python benchmarks/peers/compare.py --quick         # smoke run: minutes, numbers not comparable

Every contender runs in its own process, and ncf and the peers alternate (peer, ncf, peer, ...),
so a slow stretch of the machine does not fall on one library. Parts:

* ``epoch``: seconds per epoch at the same shape, batch and negatives (``run_ncf.py``,
  ``run_implicit.py``, ``run_recbole.py`` without ``--curve``): ncf MF+BPR (64 factors, no
  biases, 1 uniform negative, batch 2048) against RecBole's BPR (the same) and implicit's BPR
  (64 factors, 1 negative, per-sample Hogwild SGD: it has no batch); ncf NeuMF in RecBole's
  shape (GMF 64, MLP 64, tower 128-64, dropout 0.1, 4 negatives, batch 256) against RecBole's
  NeuMF. Other batch sizes and ncf's own NeuMF shape are listed, never as the headline.
* ``gowalla``: quality against wall time (data loading + training + any fitting; evaluation off
  the clock and reported) for implicit ALS (tuned: 64 f, reg 1, alpha 100, 15 it) and BPR,
  RecBole BPR and LightGCN (time-boxed), ncf's spectral MF (each rank a fresh fit), MF+BPR and
  cosine softmax MF. The target is implicit ALS's Recall@20 (and NDCG@20) after its 15
  iterations *in this run*; every contender's time to it is the first evaluated point at or
  above it (so it is bounded by the evaluation schedule). Plotted to ``docs/peers-gowalla.png``.
* ``ml100k``: the same on ML-100K LOO (99 fixed negatives, HR@10). Every contender trains on
  the training file minus a validation carve (each user's latest training item) and its epoch
  / iteration count is chosen on that carve: a peer's figure is its test HR@10 at the epoch
  chosen on validation; the target is the best peer's. ncf runs ``ncf train`` with no config
  (the model defaults), stopping early on its own carve.
* ``fast``: one process each, timed from the outside: ``ncf train --config
  benchmarks/configs/gowalla-fast.toml --data DIR/gowalla --out RUN`` against
  ``als_one_process.py`` (read ``train.txt``, build the matrix, fit ALS 64 f / reg 1 / alpha 100
  / 15 it), alternating, ``--repeat`` times each (median); then quality once each (not timed).

The test curves are measurements that choose nothing: every setting was fixed beforehand
(ncf's on validation, see docs/benchmarks.md). Writes ``benchmarks/results/peers.json`` (a
``--quick`` run: ``benchmarks/runs/peers/peers.quick.json``) and prints markdown.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peercommon import REPO, RESULTS, first_reaching, machine  # noqa: E402

TARGETS = {
    "mf_bpr_epoch_vs_recbole": 10.0,  # same shape and batch
    "mf_bpr_epoch_vs_implicit_bpr": 1.0,
    "neumf_epoch_vs_recbole": 10.0,  # RecBole's shape and batch
    "gowalla_ttq_vs_implicit_als": 1.0,  # implicit ALS seconds / ncf seconds to ALS's Recall@20
    "gowalla_fast_vs_implicit_als": 1.0,  # one process each
}

#: Contenders in the order they run: peers and ncf alternate. (label, runner, curve)
GOWALLA = [
    ("implicit ALS", "implicit", "gowalla-als"),
    ("ncf spectral", "ncf", "gowalla-spectral"),
    ("implicit BPR", "implicit", "gowalla-bpr"),
    ("ncf MF+BPR", "ncf", "gowalla-mf-bpr"),
    ("RecBole BPR", "recbole", "gowalla-bpr"),
    ("ncf cosine softmax", "ncf", "gowalla-softmax"),
    ("RecBole LightGCN", "recbole", "gowalla-lightgcn"),
]
ML100K = [
    ("implicit ALS", "implicit", "ml100k-als"),
    ("ncf spectral (no config)", "ncf", "ml100k-spectral"),
    ("RecBole BPR", "recbole", "ml100k-bpr"),
    ("ncf MF (no config)", "ncf", "ml100k-mf"),
    ("RecBole NeuMF", "recbole", "ml100k-neumf"),
    ("ncf NeuMF (no config)", "ncf", "ml100k-neumf"),
    ("implicit BPR", "implicit", "ml100k-bpr"),
    ("ncf two-tower (no config)", "ncf", "ml100k-two-tower"),
    ("ncf FPMC (no config)", "ncf", "ml100k-fpmc"),
]
PEERS = ("implicit", "recbole")


# ---------------------------------------------------------------------------- running
def run(label: str, cmd: list[str], out: Path, log: Path) -> dict[str, Any] | None:
    print(f"\n=== {label}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    t = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        fh.write(proc.stderr)
    for line in proc.stderr.splitlines():
        if line.startswith("[") or "Error" in line or "Traceback" in line:
            print("   " + line[:300], file=sys.stderr)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.is_file():
        print(f"!!! {label} failed (exit {proc.returncode}) after {wall:.0f} s; log: {log}", file=sys.stderr)
        print("\n".join(proc.stderr.splitlines()[-15:]), file=sys.stderr)
        return None
    data: dict[str, Any] = json.loads(out.read_text())
    data["wall_seconds"] = wall
    return data


class Runners:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.raw = Path(args.raw)
        self.raw.mkdir(parents=True, exist_ok=True)
        self.venv_py = Path(args.venv) / "bin" / "python"
        self.tag = "quick" if args.quick else "full"
        self.common = ["--threads", str(args.threads)] + (["--data", args.data] if args.data else []) + (
            ["--quick"] if args.quick else [])

    def cmd(self, runner: str) -> list[str]:
        py = sys.executable if runner == "ncf" else str(self.venv_py)
        return [py, str(HERE / f"run_{runner}.py")]

    def curve(self, label: str, runner: str, curve: str) -> dict[str, Any] | None:
        name = f"{runner}-{curve}.{self.tag}"
        out = self.raw / f"{name}.json"
        reused = bool(self.args.reuse) and out.is_file()
        if reused:  # a contender measured by an earlier run of this script (same machine): not re-run
            print(f"\n=== {label}: reusing {out} (--reuse)", file=sys.stderr, flush=True)
            res: dict[str, Any] | None = json.loads(out.read_text())
        else:
            out.unlink(missing_ok=True)
            extra = shlex.split(getattr(self.args, f"{runner}_args"))
            res = run(label, [*self.cmd(runner), "--curve", curve, *self.common, "--out", str(out), *extra], out,
                      self.raw / f"{name}.log")
        if res is None:
            return None
        return {"label": label, "library": runner, "curve": curve, **res["curve_data"],
                **({"best_epoch": res["best_epoch"]} if "best_epoch" in res else {}), "reused": reused}

    def part(self, runner: str) -> dict[str, Any] | None:
        name = f"{runner}-epoch.{self.tag}"
        out = self.raw / f"{name}.json"
        out.unlink(missing_ok=True)
        extra = shlex.split(getattr(self.args, f"{runner}_args"))
        if runner == "ncf":
            extra = ["--skip", "ttq", *extra]  # time to quality is the curves' job now
        return run(f"{runner} (per-epoch parts)", [*self.cmd(runner), *self.common, "--out", str(out), *extra], out,
                   self.raw / f"{name}.log")


# ---------------------------------------------------------------------------- parts
def _get(d: dict | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def epoch_part(r: Runners) -> dict[str, Any]:
    """Per-epoch seconds at the same shape, batch and negatives."""
    imp = r.part("implicit")
    ncf = r.part("ncf")
    rb = r.part("recbole")
    runs = _get(ncf, "gowalla_mf_bpr", "runs") or []
    same = next((x for x in runs if x["params"]["batch_size"] == 2048 and x["params"]["optimizer"] == "adam"), None)
    rb_bpr = _get(rb, "gowalla_bpr", "seconds_per_epoch")
    imp_bpr = _get(imp, "gowalla_bpr", "seconds_per_epoch")
    neumf = next((x for x in _get(ncf, "ml100k_neumf", "runs") or []
                  if x["shape"] == "recbole_shape" and x["batch_size"] == 256), None)
    rb_neumf = _get(rb, "ml100k_neumf", "seconds_per_epoch")
    ratios = {
        "mf_bpr_epoch_vs_recbole": {
            "value": _ratio(rb_bpr, same and same["seconds_per_epoch"]),
            "setup": "Gowalla, 64 factors, no biases, 1 uniform negative, batch 2048, Adam (both)",
            "quality": {"ncf recall@20": same and same["recall@20"], "ncf epochs": same and same["epochs"],
                        "RecBole recall@20": _get(rb, "gowalla_bpr", "recall@20"),
                        "RecBole epochs": _get(rb, "gowalla_bpr", "epochs")}},
        "mf_bpr_epoch_vs_implicit_bpr": {
            "value": _ratio(imp_bpr, same and same["seconds_per_epoch"]),
            "setup": "Gowalla, 64 factors, 1 negative per positive; ncf batch 2048 (Adam), implicit per-sample "
                     "Hogwild SGD (no batch)",
            "quality": {"ncf recall@20": same and same["recall@20"],
                        "implicit recall@20": _get(imp, "gowalla_bpr", "recall@20"),
                        "implicit iterations": _get(imp, "gowalla_bpr", "params", "iterations")}},
        "neumf_epoch_vs_recbole": {
            "value": _ratio(rb_neumf, neumf and neumf["seconds_per_epoch"]),
            "setup": "ML-100K LOO, RecBole's NeuMF shape (GMF 64, MLP 64, tower 128-64, dropout 0.1), BCE, "
                     "4 uniform negatives, batch 256, Adam lr 1e-3 (both)",
            "quality": {"ncf hr@10": neumf and neumf["hr@10"], "ncf epochs": neumf and neumf["epochs"],
                        "RecBole hr@10": _get(rb, "ml100k_neumf", "hr@10"),
                        "RecBole epochs": _get(rb, "ml100k_neumf", "epochs")}},
    }
    # full ranking of all test users, d 64 factorized models on both sides: ncf's best-trained fixed
    # run against implicit ALS's batched recommend (+ metrics)
    trained = max(runs, key=lambda x: x["recall@20"]) if runs else None
    ratios["full_eval_vs_implicit"] = {
        "value": _ratio(_get(imp, "gowalla_als", "eval_seconds"), trained and trained["eval_seconds"]),
        "setup": "Gowalla, all 29,858 test users, top-20 with training items excluded, Recall/NDCG@20; d 64 "
                 "factors both (ncf: its best-trained fixed MF+BPR run; implicit: ALS 64 f)",
        "quality": {"ncf recall@20": trained and trained["recall@20"],
                    "implicit recall@20": _get(imp, "gowalla_als", "recall@20")}}
    for x in runs:  # other batch sizes and the row-sparse optimizer: listed, never the headline
        if x is same:
            continue
        bs, opt = x["params"]["batch_size"], x["params"]["optimizer"]
        what = "same batch, row-sparse (lazy) Adam" if bs == 2048 else f"batch {bs}, {opt}: not the same batch"
        for peer, secs in (("recbole", rb_bpr), ("implicit_bpr", imp_bpr)):
            ratios[f"mf_bpr_epoch_vs_{peer} [{what}]"] = {
                "value": _ratio(secs, x["seconds_per_epoch"]),
                "quality": {"ncf recall@20": x["recall@20"], "ncf epochs": x["epochs"]}}
    for x in _get(ncf, "ml100k_neumf", "runs") or []:
        if not (x["shape"] == "recbole_shape" and x["batch_size"] == 256):
            ratios[f"neumf_epoch_vs_recbole[{x['shape']}, batch {x['batch_size']}] (not the same setup)"] = {
                "value": _ratio(rb_neumf, x["seconds_per_epoch"]), "quality": {"ncf hr@10": x["hr@10"]}}
    return {"ratios": ratios, "ncf": ncf, "implicit": imp, "recbole": rb}


def time_to(points: list[dict[str, Any]], metric: str, target: float | None) -> float | None:
    if target is None:
        return None
    p = first_reaching(points, metric, target)
    return None if p is None else p["seconds"]


def gowalla_part(r: Runners) -> dict[str, Any]:
    curves = [c for c in (r.curve(*row) for row in GOWALLA) if c is not None]
    als = next((c for c in curves if c["curve"] == "gowalla-als" and c["library"] == "implicit"), None)
    target = None
    if als and als["points"]:
        last = als["points"][-1]
        target = {"recall@20": last["recall@20"], "ndcg@20": last["ndcg@20"], "seconds": last["seconds"],
                  "what": f"implicit ALS after {last['step']} iterations, this run"}
    table = []
    for c in curves:
        best = max(c["points"], key=lambda p: p["recall@20"]) if c["points"] else None
        table.append({
            "label": c["label"], "library": c["library"],
            "seconds_to_recall": time_to(c["points"], "recall@20", target and target["recall@20"]),
            "seconds_to_ndcg": time_to(c["points"], "ndcg@20", target and target["ndcg@20"]),
            "best_recall@20": best and best["recall@20"], "best_ndcg@20": best and best["ndcg@20"],
            "at_seconds": best and best["seconds"], "last_seconds": c["points"][-1]["seconds"] if c["points"] else None,
            "eval_seconds_median": statistics.median(p["eval_seconds"] for p in c["points"]) if c["points"] else None,
        })
    ncf_best = min((t["seconds_to_recall"] for t in table if t["library"] == "ncf" and t["seconds_to_recall"]),
                   default=None)
    # implicit ALS's own time to its final figure is its first crossing (it can pass it before the
    # 15th iteration): the headline ratio uses that, the stricter one; the full 15 iterations as well
    als_row = next((t for t in table if t["label"] == "implicit ALS"), None)
    return {"target": target, "table": table, "curves": curves, "ncf_seconds_to_target": ncf_best,
            "implicit_als_seconds_to_target": als_row and als_row["seconds_to_recall"],
            "ttq_vs_implicit_als": _ratio(als_row and als_row["seconds_to_recall"], ncf_best),
            "ttq_vs_implicit_als_15_iterations": _ratio(target and target["seconds"], ncf_best)}


def ml100k_part(r: Runners) -> dict[str, Any]:
    curves = [c for c in (r.curve(*row) for row in ML100K) if c is not None]
    rows = []
    for c in curves:
        pts = c["points"]
        if not pts:
            continue
        if "best_epoch" in c and c["best_epoch"] is not None:  # ncf: its own early stopping chose the epoch
            chosen = next((p for p in pts if p["step"] == c["best_epoch"]), pts[-1])
        elif "valid_ndcg@10" in pts[0]:  # peers: the step with the best validation NDCG@10
            chosen = max(pts, key=lambda p: p["valid_ndcg@10"])
        else:  # closed form: one point
            chosen = pts[-1]
        rows.append({"label": c["label"], "library": c["library"], "chosen_step": chosen["step"],
                     "seconds_to_chosen": chosen["seconds"], "test_hr@10": chosen["test_hr@10"],
                     "test_ndcg@10": chosen["test_ndcg@10"], "valid_ndcg@10": chosen.get("valid_ndcg@10"),
                     "run_seconds": pts[-1]["seconds"],
                     "curve": [{"seconds": p["seconds"], "hr": p["test_hr@10"]} for p in pts]})
    peers = [x for x in rows if x["library"] in PEERS]
    best = max(peers, key=lambda x: x["test_hr@10"]) if peers else None
    for x in rows:
        x["seconds_to_best_peer_hr@10"] = None if best is None else time_to(x.pop("curve"), "hr", best["test_hr@10"])
    return {"target": None if best is None else {"hr@10": best["test_hr@10"], "peer": best["label"],
                                                 "seconds": best["seconds_to_chosen"]},
            "table": rows, "curves": curves}


def fast_part(r: Runners) -> dict[str, Any]:
    """One process each, timed from outside, alternating; then quality once each."""
    from _peercommon import data_root

    gowalla = data_root(r.args.data) / "gowalla"
    config = REPO / "benchmarks" / "configs" / "gowalla-fast.toml"
    env_threads = ["--threads", str(r.args.threads)]
    times: dict[str, list[float]] = {"implicit ALS (one process)": [], "ncf gowalla-fast (one process)": []}
    repeat = 1 if r.args.quick else r.args.repeat
    with tempfile.TemporaryDirectory(prefix="ncf-fast-") as tmp:
        for k in range(repeat):
            cmds = {
                "implicit ALS (one process)": [str(r.venv_py), str(HERE / "als_one_process.py"), "--data",
                                               str(gowalla), *env_threads],
                "ncf gowalla-fast (one process)": [sys.executable, "-m", "ncf.cli", "train", "--config", str(config),
                                                   "--data", str(gowalla), "--out", f"{tmp}/run{k}", "--quiet",
                                                   *env_threads],
            }
            for label, cmd in cmds.items():
                t = time.perf_counter()
                proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
                wall = time.perf_counter() - t
                if proc.returncode != 0:
                    print(f"!!! {label} failed: {proc.stderr[-800:]}", file=sys.stderr)
                    continue
                times[label].append(wall)
                print(f"=== {label} #{k + 1}: {wall:.2f} s", file=sys.stderr, flush=True)
        quality: dict[str, Any] = {}
        ev = subprocess.run([sys.executable, "-m", "ncf.cli", "evaluate", f"{tmp}/run0", "--protocol", "full",
                             "--k", "20", "--json"], capture_output=True, text=True)
        if ev.returncode == 0:
            m = json.loads(ev.stdout)
            quality["ncf gowalla-fast (one process)"] = {"recall@20": m["recall@20"], "ndcg@20": m["ndcg@20"]}
        ev = subprocess.run([str(r.venv_py), str(HERE / "als_one_process.py"), "--data", str(gowalla), *env_threads,
                             "--evaluate"], capture_output=True, text=True)
        if ev.returncode == 0:
            m = json.loads(ev.stdout.strip().splitlines()[-1])
            quality["implicit ALS (one process)"] = {"recall@20": m["recall@20"], "ndcg@20": m["ndcg@20"]}
    med = {k: statistics.median(v) if v else None for k, v in times.items()}
    return {"config": str(config.relative_to(REPO)), "seconds": times, "median_seconds": med, "quality": quality,
            "ratio": _ratio(med["implicit ALS (one process)"], med["ncf gowalla-fast (one process)"])}


# ---------------------------------------------------------------------------- output
def plot(gowalla: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for metric, ax in zip(("recall@20", "ndcg@20"), axes, strict=True):
        for i, c in enumerate(gowalla["curves"]):
            pts = [p for p in c["points"] if p["seconds"] > 0]
            style = "-o" if c["library"] == "ncf" else "--s"
            ax.plot([p["seconds"] for p in pts], [p[metric] for p in pts], style, ms=3, lw=1.2,
                    color=f"C{i}", label=c["label"])
        if gowalla["target"]:
            ax.axhline(gowalla["target"][metric], color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xlabel("seconds: data loading + training/fitting (evaluation excluded)")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("Gowalla (LightGCN split), full ranking; dotted: implicit ALS after 15 iterations (this run)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _f(v: Any, fmt: str = "{:.3f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, (int, float)):
        return fmt.format(v)
    return str(v)


def markdown(payload: dict[str, Any]) -> str:
    L: list[str] = [f"## ncf vs peers{' (QUICK smoke run: numbers not comparable)' if payload['quick'] else ''}", ""]
    ep = payload.get("epoch")
    if ep:
        L += ["### Per epoch, same shape, batch and negatives (peer s / ncf s; > 1: ncf faster)", "",
              "| ratio | value | setup | quality |", "| --- | ---: | --- | --- |"]
        for k, v in ep["ratios"].items():
            q = ", ".join(f"{a} {_f(b, '{:.4f}')}" for a, b in (v.get("quality") or {}).items())
            L.append(f"| {k} | {_f(v['value'], '{:.2f}')} | {v.get('setup', '')} | {q} |")
        L.append("")
    g = payload.get("gowalla")
    if g:
        t = g["target"] or {}
        L += [f"### Gowalla time to implicit ALS's Recall@20 {_f(t.get('recall@20'), '{:.4f}')} / NDCG@20 "
              f"{_f(t.get('ndcg@20'), '{:.4f}')} ({_f(t.get('seconds'), '{:.1f}')} s in this run)", "",
              "| contender | s to Recall | s to NDCG | best Recall@20 | NDCG@20 | at s | eval s |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for x in g["table"]:
            L.append(f"| {x['label']} | {_f(x['seconds_to_recall'], '{:.1f}')} | {_f(x['seconds_to_ndcg'], '{:.1f}')} | "
                     f"{_f(x['best_recall@20'], '{:.4f}')} | {_f(x['best_ndcg@20'], '{:.4f}')} | "
                     f"{_f(x['at_seconds'], '{:.1f}')} | {_f(x['eval_seconds_median'], '{:.2f}')} |")
        L += ["", f"ncf's fastest to the target: {_f(g['ncf_seconds_to_target'], '{:.1f}')} s; implicit ALS's: "
                  f"{_f(g['implicit_als_seconds_to_target'], '{:.1f}')} s (first crossing); ratio implicit / ncf = "
                  f"{_f(g['ttq_vs_implicit_als'], '{:.2f}')} ({_f(g['ttq_vs_implicit_als_15_iterations'], '{:.2f}')} "
                  "against ALS's full 15 iterations)", ""]
    m = payload.get("ml100k")
    if m:
        t = m["target"] or {}
        L += [f"### ML-100K LOO: time to the best peer's HR@10 ({t.get('peer')}: {_f(t.get('hr@10'), '{:.4f}')})", "",
              "| contender | chosen epoch | s to it | test HR@10 | NDCG@10 | s to best peer's HR@10 |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for x in m["table"]:
            L.append(f"| {x['label']} | {x['chosen_step']} | {_f(x['seconds_to_chosen'], '{:.1f}')} | "
                     f"{_f(x['test_hr@10'], '{:.4f}')} | {_f(x['test_ndcg@10'], '{:.4f}')} | "
                     f"{_f(x['seconds_to_best_peer_hr@10'], '{:.1f}')} |")
        L.append("")
    f = payload.get("fast")
    if f:
        L += ["### One process each (median of runs)", "", "| process | median s | all s | Recall@20 | NDCG@20 |",
              "| --- | ---: | --- | ---: | ---: |"]
        for k, v in f["seconds"].items():
            q = f["quality"].get(k, {})
            L.append(f"| {k} | {_f(f['median_seconds'][k], '{:.2f}')} | {', '.join(f'{s:.2f}' for s in v)} | "
                     f"{_f(q.get('recall@20'), '{:.4f}')} | {_f(q.get('ndcg@20'), '{:.4f}')} |")
        L += ["", f"ratio implicit / ncf: {_f(f['ratio'], '{:.2f}')}", ""]
    if payload.get("targets_met"):
        L += ["### Targets", "", "| target | value | goal | met |", "| --- | ---: | ---: | --- |"]
        for k, v in payload["targets_met"].items():
            L.append(f"| {k} | {_f(v['value'], '{:.2f}')} | >= {v['goal']} | {_f(v['met'])} |")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="epoch,gowalla,ml100k,fast", help="comma list of parts to run")
    ap.add_argument("--quick", action="store_true", help="smoke run (short curves, one repeat)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    ap.add_argument("--repeat", type=int, default=3, help="fast part: runs of each process (median)")
    ap.add_argument("--data", help="data root (default $NCF_DATA_DIR or ../shared/data)")
    ap.add_argument("--venv", default=str(REPO / "benchmarks" / ".venv-peers"), help="the peers venv (setup.sh)")
    ap.add_argument("--out", default=str(RESULTS / "peers.json"))
    ap.add_argument("--plot", default=str(REPO / "docs" / "peers-gowalla.png"))
    ap.add_argument("--raw", default=str(REPO / "benchmarks" / "runs" / "peers"),
                    help="where each runner's JSON and log go")
    ap.add_argument("--reuse", action="store_true",
                    help="curves: reuse a contender's raw JSON from an earlier run in --raw instead of re-running it "
                         "(to re-run one failed contender; the reuse is recorded per curve)")
    ap.add_argument("--ncf-args", default="", help="extra arguments for run_ncf.py")
    ap.add_argument("--implicit-args", default="", help="extra arguments for run_implicit.py")
    ap.add_argument("--recbole-args", default="", help="extra arguments for run_recbole.py")
    args = ap.parse_args(argv)
    r = Runners(args)
    if not r.venv_py.is_file():
        print(f"!!! {r.venv_py} missing: run bash benchmarks/peers/setup.sh first", file=sys.stderr)
        return 1
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    payload: dict[str, Any] = {"benchmark": "peers", "quick": bool(args.quick),
                               "date": time.strftime("%Y-%m-%d %H:%M:%S"), "threads": args.threads,
                               "machine": machine(), "targets": TARGETS}
    outp = Path(args.out)
    if args.quick and outp == RESULTS / "peers.json":
        outp = r.raw / "peers.quick.json"  # a smoke run never overwrites the committed result
    elif parts != {"epoch", "gowalla", "ml100k", "fast"} and outp.is_file():
        old = json.loads(outp.read_text())  # a partial run keeps the other parts of the last full one
        payload.update({k: old[k] for k in ("epoch", "gowalla", "ml100k", "fast") if k in old and k not in parts})
    if "epoch" in parts:
        payload["epoch"] = epoch_part(r)
    if "gowalla" in parts:
        payload["gowalla"] = gowalla_part(r)
        plot(payload["gowalla"], r.raw / "peers-gowalla.quick.png" if args.quick else Path(args.plot))
    if "ml100k" in parts:
        payload["ml100k"] = ml100k_part(r)
    if "fast" in parts:
        payload["fast"] = fast_part(r)
    met: dict[str, Any] = {}
    ratios = _get(payload, "epoch", "ratios") or {}
    for key in ("mf_bpr_epoch_vs_recbole", "mf_bpr_epoch_vs_implicit_bpr", "neumf_epoch_vs_recbole"):
        v = _get(ratios, key, "value")
        met[key] = {"value": v, "goal": TARGETS[key], "met": None if v is None else v >= TARGETS[key]}
    for key, v in (("gowalla_ttq_vs_implicit_als", _get(payload, "gowalla", "ttq_vs_implicit_als")),
                   ("gowalla_fast_vs_implicit_als", _get(payload, "fast", "ratio"))):
        met[key] = {"value": v, "goal": TARGETS[key], "met": None if v is None else v >= TARGETS[key]}
    payload["targets_met"] = met
    outp.parent.mkdir(parents=True, exist_ok=True)
    outp.write_text(json.dumps(payload, indent=2) + "\n")
    print(markdown(payload))
    print(f"\n(written {outp})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
