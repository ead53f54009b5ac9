"""Side-by-side speed comparison of ncf against implicit and RecBole on the same splits.

Run with the system python (where ncf is installed), after ``bash benchmarks/peers/setup.sh``::

    python benchmarks/peers/compare.py            # full comparison (run on an idle machine)
    python benchmarks/peers/compare.py --quick    # smoke run, minutes

It runs ``run_ncf.py`` (this python), then ``run_implicit.py`` and ``run_recbole.py`` (the peers
venv's python) one after another, each in its own process (so peak RSS is per library), collects
their JSON (kept in ``benchmarks/runs/peers/``), computes ncf's speed ratios, checks the targets
and writes ``benchmarks/results/peers.json`` plus a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _peercommon import REPO, RESULTS, machine  # noqa: E402

TARGETS = {
    "mf_bpr_epoch_vs_recbole": 10.0,
    "neumf_epoch_vs_recbole": 15.0,
    "full_eval_vs_implicit": 2.0,
    "recall_target": 0.1485,
    "recall_time_limit_s": 60.0,
}


def run(name: str, cmd: list[str], out: Path, log: Path) -> dict[str, Any] | None:
    print(f"\n=== {name}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    t = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.run(
            cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        fh.write(proc.stderr)
    for line in proc.stderr.splitlines():
        if line.startswith(f"[{name}]") or "Error" in line or "Traceback" in line:
            print("   " + line[:300], file=sys.stderr)
    wall = time.perf_counter() - t
    if proc.returncode != 0 or not out.is_file():
        print(
            f"!!! {name} failed (exit {proc.returncode}) after {wall:.0f} s; log: {log}",
            file=sys.stderr,
        )
        print("\n".join(proc.stderr.splitlines()[-15:]), file=sys.stderr)
        return None
    print(f"=== {name} done in {wall:.0f} s", file=sys.stderr, flush=True)
    data: dict[str, Any] = json.loads(out.read_text())
    data["wall_seconds"] = wall
    return data


def _get(d: dict | None, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def _neumf_row(ncf: dict | None, shape: str, batch: int | None) -> dict | None:
    for r in _get(ncf, "ml100k_neumf", "runs") or []:
        if r["shape"] == shape and r["batch_size"] == batch:
            return r
    return None


def summarize(ncf: dict | None, imp: dict | None, rb: dict | None) -> dict[str, Any]:
    s: dict[str, Any] = {"ratios": {}, "targets": {}}
    r, t = s["ratios"], s["targets"]

    # MF+BPR epoch, Gowalla
    rb_bpr = _get(rb, "gowalla_bpr", "seconds_per_epoch")
    ncf_bpr = _get(ncf, "gowalla_mf_bpr", "seconds_per_epoch")
    r["mf_bpr_epoch_vs_recbole"] = _ratio(rb_bpr, ncf_bpr)
    for row in _get(ncf, "gowalla_mf_bpr", "runs") or []:
        r[f"mf_bpr_epoch_vs_recbole@batch{row['params']['batch_size']}"] = _ratio(
            rb_bpr, row["seconds_per_epoch"]
        )
    r["mf_bpr_epoch_vs_implicit_bpr"] = _ratio(
        _get(imp, "gowalla_bpr", "seconds_per_epoch"), ncf_bpr
    )

    # NeuMF epoch, ML-100K (RecBole: its default NeuMF at batch 256)
    rb_neumf = _get(rb, "ml100k_neumf", "seconds_per_epoch")
    rb_batch = _get(rb, "ml100k_neumf", "params", "train_batch_size") or 256
    default_batch = _get(ncf, "ml100k_neumf", "default_batch_size")
    for shape in ("ncf_default", "recbole_shape"):
        for label, bs in (("same_batch", rb_batch), ("ncf_default_batch", default_batch)):
            row = _neumf_row(ncf, shape, bs)
            r[f"neumf_epoch_vs_recbole[{shape},{label}={bs}]"] = _ratio(
                rb_neumf, row and row["seconds_per_epoch"]
            )
    headline = r.get(f"neumf_epoch_vs_recbole[ncf_default,ncf_default_batch={default_batch}]")
    r["neumf_epoch_vs_recbole"] = headline

    # full-ranking evaluation, Gowalla (implicit ALS's batch recommend + metrics vs ncf.evaluate).
    # implicit ranks with a trained model, so the headline is ncf's most trained d 64 model (the
    # fixed run with the highest Recall@20); every run's ratio is kept as well.
    fixed = _get(ncf, "gowalla_mf_bpr", "runs") or []
    best = max(fixed, key=lambda row: row["recall@20"]) if fixed else None
    ncf_eval = best["eval_seconds"] if best else _get(ncf, "gowalla_mf_bpr", "eval_seconds")
    r["full_eval_ncf_model"] = (
        f"MF+BPR d 64, batch {best['params']['batch_size']}, Recall@20 {best['recall@20']:.4f}" if best else None
    )
    imp_eval = _get(imp, "gowalla_als", "eval_seconds")
    r["full_eval_vs_implicit"] = _ratio(imp_eval, ncf_eval)
    for row in fixed:
        r[f"full_eval_vs_implicit@batch{row['params']['batch_size']}"] = _ratio(imp_eval, row["eval_seconds"])
    r["full_eval_vs_implicit_recommend_only"] = _ratio(
        _get(imp, "gowalla_als", "recommend_seconds"), ncf_eval
    )
    r["full_eval_vs_recbole"] = _ratio(_get(rb, "gowalla_bpr", "eval_seconds"), ncf_eval)

    # time to quality
    ttq = _get(ncf, "gowalla_time_to_quality") or {}
    r["ncf_seconds_to_target"] = ttq.get("seconds_to_target")
    r["implicit_als_train_seconds"] = _get(imp, "gowalla_als", "train_seconds")
    r["implicit_als_recall@20"] = _get(imp, "gowalla_als", "recall@20")
    r["ttq_vs_implicit_als"] = _ratio(r["implicit_als_train_seconds"], ttq.get("seconds_to_target"))

    def check(name: str, value: float | None, goal: float) -> None:
        t[name] = {
            "value": value,
            "target": goal,
            "met": None if value is None else bool(value >= goal),
        }

    check(
        "mf_bpr_epoch_vs_recbole", r["mf_bpr_epoch_vs_recbole"], TARGETS["mf_bpr_epoch_vs_recbole"]
    )
    check("neumf_epoch_vs_recbole", r["neumf_epoch_vs_recbole"], TARGETS["neumf_epoch_vs_recbole"])
    check("full_eval_vs_implicit", r["full_eval_vs_implicit"], TARGETS["full_eval_vs_implicit"])
    t["recall_within_60s"] = {
        "value": ttq.get("seconds_to_target"),
        "best_recall@20": ttq.get("best_recall@20"),
        "target": f"Recall@20 >= {TARGETS['recall_target']} within {TARGETS['recall_time_limit_s']:.0f} s of training",
        "met": None if not ttq else bool(ttq.get("reached")),
    }
    return s


def _f(v: Any, fmt: str = "{:.3f}") -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, (int, float)):
        return fmt.format(v)
    return str(v)


def markdown(
    ncf: dict | None, imp: dict | None, rb: dict | None, summary: dict, quick: bool
) -> str:
    L: list[str] = []
    L.append(f"## ncf vs peers{' (QUICK smoke run: not comparable numbers)' if quick else ''}")
    L.append("")
    L.append("### Gowalla (29,858 users x 40,981 items; full ranking, Recall/NDCG@20)")
    L.append("")
    L.append(
        "| library / model | setting | s/epoch | epochs | eval s | Recall@20 | NDCG@20 | peak RSS MiB |"
    )
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in _get(ncf, "gowalla_mf_bpr", "runs") or []:
        p = row["params"]
        L.append(
            f"| ncf MF+BPR | batch {p['batch_size']}, lr {p['lr']}, {p['num_negatives']} neg | {_f(row['seconds_per_epoch'])} | "
            f"{row['epochs']} | {_f(row['eval_seconds'], '{:.2f}')} | {_f(row['recall@20'], '{:.4f}')} | "
            f"{_f(row['ndcg@20'], '{:.4f}')} | {_f(row['peak_rss_mb'], '{:.0f}')} |"
        )
    b = _get(rb, "gowalla_bpr")
    if b:
        L.append(
            f"| RecBole BPR | batch 2048, Adam lr 1e-3, 1 neg | {_f(b['seconds_per_epoch'])} | {b['epochs']} | "
            f"{_f(b['eval_seconds'], '{:.2f}')} | {_f(b.get('recall@20'), '{:.4f}')} | {_f(b.get('ndcg@20'), '{:.4f}')} | "
            f"{_f(b['peak_rss_mb'], '{:.0f}')} |"
        )
    for key, label in (("gowalla_bpr", "implicit BPR"), ("gowalla_als", "implicit ALS")):
        x = _get(imp, key)
        if x:
            per = x.get("seconds_per_epoch", x.get("seconds_per_iteration"))
            it = x["params"]["iterations"]
            L.append(
                f"| {label} | {', '.join(f'{k} {v}' for k, v in x['params'].items() if k != 'iterations')} | {_f(per)} | {it} | "
                f"{_f(x['eval_seconds'], '{:.2f}')} | {_f(x['recall@20'], '{:.4f}')} | {_f(x['ndcg@20'], '{:.4f}')} | "
                f"{_f(x['peak_rss_mb'], '{:.0f}')} |"
            )
    ttq = _get(ncf, "gowalla_time_to_quality")
    if ttq:
        L.append("")
        p = ttq["params"]
        L.append(
            f"ncf time to Recall@20 >= {ttq['target_recall@20']}: "
            + (
                f"**{ttq['seconds_to_target']:.1f} s** of training ({ttq['epochs_to_target']} epochs)"
                if ttq["reached"]
                else f"not reached in {ttq['time_limit_seconds']:.0f} s (best {ttq['best_recall@20']:.4f})"
            )
            + (
                f"; {'cosine ' if p.get('cosine') else ''}MF d {p.get('embedding_dim')} + {p.get('loss', 'bpr')}"
                + (f" (T {p['temperature']})" if "temperature" in p else "")
                + f", batch {p['batch_size']}, lr {p['lr']}, optimizer {p.get('optimizer')}"
                + (f", {p['num_negatives']} negatives." if p.get("loss", "bpr") != "softmax" else ", in-batch negatives.")
            )
            + (
                f" implicit ALS: {summary['ratios']['implicit_als_train_seconds']:.1f} s for Recall@20 "
                f"{summary['ratios']['implicit_als_recall@20']:.4f}."
                if summary["ratios"].get("implicit_als_train_seconds")
                else ""
            )
        )
    L.append("")
    L.append("### ML-100K leave-one-out (NeuMF protocol: 99 fixed negatives, HR/NDCG@10)")
    L.append("")
    L.append("| library / model | shape | batch | s/epoch | epochs | HR@10 | NDCG@10 |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for row in _get(ncf, "ml100k_neumf", "runs") or []:
        m = row["model"]
        shape = f"GMF {m['gmf_dim']}, MLP {m['mlp_dim']}, tower {'-'.join(map(str, m['layers']))}"
        L.append(
            f"| ncf NeuMF ({row['shape']}) | {shape} | {row['batch_size']} | {_f(row['seconds_per_epoch'])} | {row['epochs']} | "
            f"{_f(row['hr@10'], '{:.4f}')} | {_f(row['ndcg@10'], '{:.4f}')} |"
        )
    n = _get(rb, "ml100k_neumf")
    if n:
        p = n["params"]
        L.append(
            f"| RecBole NeuMF (defaults) | GMF {p.get('mf_embedding_size')}, MLP {p.get('mlp_embedding_size')}, tower "
            f"{'-'.join(map(str, p.get('mlp_hidden_size', [])))} | {p.get('train_batch_size')} | {_f(n['seconds_per_epoch'])} | "
            f"{n['epochs']} | {_f(n.get('hr@10'), '{:.4f}')} | {_f(n.get('ndcg@10'), '{:.4f}')} |"
        )
    a = _get(imp, "ml100k_als")
    if a:
        L.append(
            f"| implicit ALS | 64 factors, reg 10, alpha 2 | - | {_f(a['seconds_per_iteration'])} | {a['params']['iterations']} | "
            f"{_f(a['hr@10'], '{:.4f}')} | {_f(a['ndcg@10'], '{:.4f}')} |"
        )
    L.append("")
    L.append("### Ratios (peer time / ncf time; > 1 means ncf is faster) and targets")
    L.append("")
    L.append("| ratio | value |")
    L.append("| --- | ---: |")
    for k, v in summary["ratios"].items():
        L.append(f"| {k} | {_f(v, '{:.4g}')} |")
    L.append("")
    L.append("| target | value | goal | met |")
    L.append("| --- | ---: | --- | --- |")
    for k, v in summary["targets"].items():
        goal = v["target"] if isinstance(v["target"], str) else f">= {v['target']}x"
        L.append(f"| {k} | {_f(v['value'], '{:.2f}')} | {goal} | {_f(v['met'])} |")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: every runner with --quick")
    ap.add_argument("--threads", type=int, default=2, help="threads for every library (default 2)")
    ap.add_argument("--data", help="data root (default $NCF_DATA_DIR or ../shared/data)")
    ap.add_argument(
        "--venv", default=str(REPO / "benchmarks" / ".venv-peers"), help="the peers venv (setup.sh)"
    )
    ap.add_argument("--out", default=str(RESULTS / "peers.json"))
    ap.add_argument(
        "--raw",
        default=str(REPO / "benchmarks" / "runs" / "peers"),
        help="where each runner's JSON and log go",
    )
    ap.add_argument(
        "--only",
        default="ncf,implicit,recbole",
        help="runners to run (others are read from --raw if present)",
    )
    ap.add_argument("--ncf-args", default="", help="extra arguments for run_ncf.py")
    ap.add_argument("--implicit-args", default="", help="extra arguments for run_implicit.py")
    ap.add_argument("--recbole-args", default="", help="extra arguments for run_recbole.py")
    args = ap.parse_args(argv)

    raw = Path(args.raw)
    raw.mkdir(parents=True, exist_ok=True)
    venv_py = Path(args.venv) / "bin" / "python"
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    common = (
        ["--threads", str(args.threads)]
        + (["--data", args.data] if args.data else [])
        + (["--quick"] if args.quick else [])
    )
    runners = {
        "ncf": ([sys.executable, str(HERE / "run_ncf.py")], args.ncf_args),
        "implicit": ([str(venv_py), str(HERE / "run_implicit.py")], args.implicit_args),
        "recbole": ([str(venv_py), str(HERE / "run_recbole.py")], args.recbole_args),
    }
    results: dict[str, dict | None] = {}
    tag = "quick" if args.quick else "full"
    for name, (cmd, extra) in runners.items():
        out = raw / f"{name}.{tag}.json"
        if name in only:
            if name != "ncf" and not venv_py.is_file():
                print(
                    f"!!! {venv_py} missing: run bash benchmarks/peers/setup.sh first",
                    file=sys.stderr,
                )
                results[name] = None
                continue
            out.unlink(missing_ok=True)
            results[name] = run(
                name,
                [*cmd, *common, "--out", str(out), *shlex.split(extra)],
                out,
                raw / f"{name}.{tag}.log",
            )
        else:
            results[name] = json.loads(out.read_text()) if out.is_file() else None

    ncf, imp, rb = results["ncf"], results["implicit"], results["recbole"]
    summary = summarize(ncf, imp, rb)
    payload = {
        "benchmark": "peers",
        "quick": bool(args.quick),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "threads": args.threads,
        "machine": machine(),
        "targets": TARGETS,
        **summary,
        "ncf": ncf,
        "implicit": imp,
        "recbole": rb,
    }
    outp = Path(args.out)
    if args.quick and outp == RESULTS / "peers.json":
        outp = raw / "peers.quick.json"  # a smoke run never overwrites the committed result
    outp.parent.mkdir(parents=True, exist_ok=True)
    outp.write_text(json.dumps(payload, indent=2) + "\n")
    print(markdown(ncf, imp, rb, summary, args.quick))
    print(f"\n(written {outp})", file=sys.stderr)
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
