"""HTTP serving under load: `GET /recommend?user=ID&k=10` at fixed request rates, on loopback.

The server is `ncf serve RUN_DIR` (one uvicorn worker, the run's index or the exact one) in its
own process; the load generator is autocannon (Node.js, `benchmarks/http/load.js`) at a fixed
overall rate, a random known user per request, for `--seconds` per rate. Both share the
machine's 2 cores, as they would on a small host. Reports p50/p90/p99 latency, the achieved
rate and errors per rate, the server's own latency histogram (from /metrics) and, with
`--profile`, where the server's time goes (py-spy).

Run: `python benchmarks/bench_http.py --run RUN_DIR` (default rates 100, 500, 1000 for 60 s;
`npm install` in benchmarks/http first, or let the script do it). Writes
`benchmarks/results/http.json`. Target: p99 <= 10 ms at 1,000 requests/s for an MF model with
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


def ensure_autocannon() -> None:
    if not (LOAD / "node_modules" / "autocannon").is_dir():
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


def server_histogram(url: str) -> dict[str, float]:
    """The server's own /recommend latency histogram, as cumulative bucket counts."""
    import httpx

    out: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith('ncf_request_seconds_bucket{le="') and 'route="/recommend"' in line:
            le = line.split('le="')[1].split('"')[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a trained run directory")
    p.add_argument("--rates", type=int, nargs="+", default=[100, 500, 1000])
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--index", default="none", help="none (exact), auto (RUN/index) or a path")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    p.add_argument("--profile", action="store_true", help="py-spy record the server during the top rate")
    p.add_argument("--name", default="http")
    args = p.parse_args()
    ensure_autocannon()

    from ncf.app import Run

    run = Run.load(args.run)
    users = run.decode_users(__import__("numpy").unique(run.split.test.users))
    work = Path(tempfile.mkdtemp(prefix="ncf-http-"))
    users_file = work / "users.json"
    users_file.write_text(json.dumps(users))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NCF_NUM_THREADS": str(args.threads)}
    server = subprocess.Popen([sys.executable, "-m", "ncf", "serve", args.run, "--port", str(port), "--index",
                               args.index, "-q"], env=env)
    results: list[dict[str, Any]] = []
    profile = None
    try:
        wait_ready(url, server)
        subprocess.run(["node", str(LOAD / "load.js"), url, "200", "5", str(args.connections), str(users_file),
                        str(args.k)], cwd=LOAD, check=True, capture_output=True)  # warm-up
        for rate in args.rates:
            spy = None
            if args.profile and rate == max(args.rates) and shutil.which("py-spy"):
                profile = work / "profile.txt"
                spy = subprocess.Popen(["py-spy", "record", "--pid", str(server.pid), "--duration",
                                        str(args.seconds), "--format", "raw", "--output", str(profile), "--nonblocking"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = server_histogram(url)
            out = subprocess.run(["node", str(LOAD / "load.js"), url, str(rate), str(args.seconds),
                                  str(args.connections), str(users_file), str(args.k)], cwd=LOAD, check=True,
                                 capture_output=True, text=True)
            after = server_histogram(url)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["server_histogram"] = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
            results.append(row)
            lat = row["latency_ms"]
            print(f"{rate:>5} req/s target: achieved {row['achieved_rps']:.0f}/s, p50 {lat['p50']} ms, "
                  f"p99 {lat['p99']} ms, max {lat['max']} ms, errors {row['errors']}, non-2xx {row['non2xx']}",
                  flush=True)
            if spy is not None:
                spy.wait()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    top = _top_frames(profile) if profile is not None and profile.is_file() else None
    path = write_result(args.name, {
        "run": str(args.run), "model": run.model.name, "items": run.model.num_items, "index": args.index,
        "server_threads": args.threads, "connections": args.connections, "seconds_per_rate": args.seconds,
        "k": args.k, "rates": results, "profile_top": top,
        "setup": "one uvicorn worker and autocannon on the same 2-core machine, loopback",
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
