"""What ``ncf serve`` says and serves before the first query: the index line, offline docs, an
open /metrics, and one error line for a port in use."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ncf.app import RunSpec, train
from ncf.cli import main

pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def run_dir(neumf_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serve-startup") / "run"
    train(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "loss": "bpr", "dim": 8, "epochs": 1,
                                      "spectral-weight": 0})), out, show_progress=False)
    return out


def _serve_line(monkeypatch, *argv: str) -> str:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))  # everything but the serving loop
    res = CliRunner().invoke(main, ["serve", *argv, "--port", "0"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert len(calls) == 1
    return res.stderr.strip()


def test_serve_says_what_it_serves_and_from_which_index(run_dir, monkeypatch):
    line = _serve_line(monkeypatch, str(run_dir))
    assert line.startswith(f"serving {run_dir}: mf model "), line
    assert re.search(r"300 users x 200 items; ranking: exact search over the item vectors \(no .*index: "
                     r"ncf index build .* makes one\); http://127\.0\.0\.1:0", line), line
    assert "exact search over the item vectors (--index none)" in _serve_line(monkeypatch, str(run_dir),
                                                                               "--index", "none")
    built = CliRunner().invoke(main, ["index", "build", str(run_dir), "--kind", "exact", "--queries", "20", "-q"])
    assert built.exit_code == 0, built.output
    line = _serve_line(monkeypatch, str(run_dir))
    assert f"ranking: exact index {run_dir / 'index'} (200 vectors, metric dot)" in line, line
    assert _serve_line(monkeypatch, str(run_dir), "-q") == ""  # -q: errors only


def test_docs_pages_load_their_files_from_the_server_not_a_cdn(run_dir):
    from fastapi.testclient import TestClient

    from ncf.serving.app import ServeConfig, create_app

    client = TestClient(create_app(run_dir, ServeConfig(api_key="k")))
    for page in ("/docs", "/redoc"):
        res = client.get(page)
        assert res.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', res.text)
        assert assets and all(a.startswith("/") for a in assets), assets  # no https://cdn...
        for asset in assets:
            got = client.get(asset)
            assert got.status_code == 200 and len(got.content) > 1000, asset
    assert "openapi" in client.get("/openapi.json").json()
    # /metrics is open like /health (for the scraper); the model's routes need the key
    assert client.get("/metrics").status_code == 200
    assert client.get("/recommend", params={"user": "u1"}).status_code == 401


def test_a_port_in_use_is_one_error_line(run_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "ncf", "serve", str(run_dir), "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"error: port {port} on 127.0.0.1 is already in use (another server?): "
                                        "stop it or choose another with --port"], proc.stderr
    assert proc.stdout == ""
