"""HTTP serving under load: `GET /recommend?user=ID&k=10` at fixed request rates, on loopback.

The server is `ncf serve RUN_DIR` (`--workers` uvicorn workers, the run's index or the exact
one, micro-batching as configured) in its own process; the load generator
(`benchmarks/http/load.js`, Node.js + undici) sends an open-loop stream at a fixed rate over a
pool of keep-alive connections, a random known user per request, for `--seconds` per rate, and
counts each latency from the moment the request was due (no coordinated omission). Both share
the machine's 2 cores, as they would on a small host. Reports p50/p90/p99 latency, the achieved
rate and errors per rate, the server's own latency histogram and micro-batch sizes (from
/metrics) and, with `--profile`, where the server's time goes at the top rate (py-spy).

With `--ceiling-p99-ms` the rates run in increasing order and stop after the first whose p99
crosses it: the ceiling is the highest rate that stayed under.

Run: `python benchmarks/bench_http.py --run RUN_DIR` (default rates 100, 500, 1000 for 60 s;
`npm install` in benchmarks/http first, or let the script do it). Writes
`benchmarks/results/<name>.json`. Target: p99 <= 10 ms at 1,000 requests/s for an MF model with
the exact index on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import HERE, write_result

LOAD = HERE / "http"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_load_generator() -> None:
    if not (LOAD / "node_modules" / "undici").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=LOAD, check=True)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("server not ready")


def server_histograms(url: str) -> dict[str, dict[str, float]]:
    """The server's own /recommend latency histogram and its micro-batch sizes, as cumulative
    bucket counts."""
    import httpx

    out: dict[str, dict[str, float]] = {"latency": {}, "batch": {}}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith('ncf_request_seconds_bucket{le="') and 'route="/recommend"' in line:
            out["latency"][line.split('le="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
        elif line.startswith('ncf_batch_requests_bucket{le="'):
            out["batch"][line.split('le="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("ncf_batch_requests_sum") or line.startswith("ncf_batch_requests_count"):
            out["batch"][line.split(" ")[0]] = float(line.rsplit(" ", 1)[1])
    return out


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after.get(key, 0.0) - before.get(key, 0.0) for key in after}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a trained run directory")
    p.add_argument("--rates", type=int, nargs="+", default=[100, 500, 1000])
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--index", default="none", help="none (exact), auto (RUN/index) or a path")
    p.add_argument("--threads", type=int, default=1, help="torch threads of each server worker")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--micro-batch", type=int, default=64, help="ncf serve --micro-batch (1: no batching)")
    p.add_argument("--micro-batch-wait-ms", type=float, default=0.0)
    p.add_argument("--ceiling-p99-ms", type=float, default=None,
                   help="stop after the first rate whose p99 crosses this; report the ceiling")
    p.add_argument("--profile", action="store_true", help="py-spy record the server during the top rate")
    p.add_argument("--server-src", default=None,
                   help="run the server from this src/ folder (e.g. a git worktree of an earlier commit)")
    p.add_argument("--name", default="http")
    args = p.parse_args()
    ensure_load_generator()

    from ncf.app import Run

    run = Run.load(args.run)
    users = run.decode_users(__import__("numpy").unique(run.split.test.users))
    work = Path(tempfile.mkdtemp(prefix="ncf-http-"))
    users_file = work / "users.json"
    users_file.write_text(json.dumps(users))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NCF_NUM_THREADS": str(args.threads)}
    source = None
    if args.server_src:
        env["PYTHONPATH"] = str(Path(args.server_src).resolve())
        source = subprocess.run(["git", "-C", args.server_src, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or args.server_src
    batching = []  # only when asked: a server from an earlier commit may not know the options
    if args.micro_batch != 64 or args.micro_batch_wait_ms:
        batching = ["--micro-batch", str(args.micro_batch), "--micro-batch-wait-ms", str(args.micro_batch_wait_ms)]
    server = subprocess.Popen([sys.executable, "-m", "ncf", "serve", args.run, "--port", str(port), "--index",
                               args.index, "--workers", str(args.workers), *batching, "-q"], env=env)
    results: list[dict[str, Any]] = []
    profile = None
    rates = sorted(args.rates) if args.ceiling_p99_ms is not None else args.rates
    try:
        wait_ready(url, server)
        subprocess.run(["node", str(LOAD / "load.js"), url, "200", "5", str(args.connections), str(users_file),
                        str(args.k)], cwd=LOAD, check=True, capture_output=True)  # warm-up
        for rate in rates:
            spy = None
            if args.profile and rate == max(rates) and shutil.which("py-spy"):
                profile = work / "profile.txt"
                spy = subprocess.Popen(["py-spy", "record", "--pid", str(server.pid), "--subprocesses", "--duration",
                                        str(args.seconds), "--format", "raw", "--output", str(profile), "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = server_histograms(url)
            out = subprocess.run(["node", str(LOAD / "load.js"), url, str(rate), str(args.seconds),
                                  str(args.connections), str(users_file), str(args.k)], cwd=LOAD, check=True,
                                 capture_output=True, text=True)
            after = server_histograms(url)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["server_histogram"] = _delta(after["latency"], before["latency"])
            row["batch_histogram"] = _delta(after["batch"], before["batch"])
            batches = row["batch_histogram"].get("ncf_batch_requests_count", 0.0)
            row["mean_batch"] = row["batch_histogram"].get("ncf_batch_requests_sum", 0.0) / batches if batches else None
            results.append(row)
            lat = row["latency_ms"]
            print(f"{rate:>5} req/s target: achieved {row['achieved_rps']:.0f}/s, p50 {lat['p50']} ms, "
                  f"p99 {lat['p99']} ms, max {lat['max']} ms, errors {row['errors']}, timeouts {row['timeouts']}, "
                  f"non-2xx {row['non2xx']}, mean batch {row['mean_batch'] or 0:.1f}", flush=True)
            if spy is not None:
                spy.wait()
            if args.ceiling_p99_ms is not None and (lat["p99"] is None or lat["p99"] > args.ceiling_p99_ms):
                break
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    top = _top_frames(profile) if profile is not None and profile.is_file() else None
    ceiling = None
    if args.ceiling_p99_ms is not None:
        under = [r["target_rps"] for r in results if r["latency_ms"]["p99"] is not None
                 and r["latency_ms"]["p99"] <= args.ceiling_p99_ms and r["errors"] == 0 and r["timeouts"] == 0]
        ceiling = {"p99_ms": args.ceiling_p99_ms, "highest_rate_under": max(under) if under else None,
                   "crossed_at": results[-1]["target_rps"] if results and results[-1]["target_rps"] not in under
                   else None}
    path = write_result(args.name, {
        "run": str(args.run), "model": run.model.name, "items": run.model.num_items, "index": args.index,
        "workers": args.workers, "server_threads": args.threads, "micro_batch": args.micro_batch,
        "micro_batch_wait_ms": args.micro_batch_wait_ms, "server_source": source or "this checkout",
        "connections": args.connections,
        "seconds_per_rate": args.seconds, "k": args.k, "rates": results, "ceiling": ceiling, "profile_top": top,
        "setup": f"{args.workers} uvicorn worker(s) and the open-loop load generator (load.js, undici) on the same "
                 "2-core machine, loopback",
    })
    print(f"wrote {path}")


def _top_frames(profile: Path, n: int = 15) -> list[dict[str, Any]]:
    """Self time by function from a py-spy raw (collapsed stacks) profile."""
    totals: dict[str, int] = {}
    grand = 0
    for line in profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        totals[leaf] = totals.get(leaf, 0) + int(count)
        grand += int(count)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:n]
    return [{"frame": frame, "share": count / max(grand, 1)} for frame, count in ranked]


if __name__ == "__main__":
    main()
