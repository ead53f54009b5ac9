"""`ncf serve` as a real server: a subprocess on a free loopback port, queried over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ncf.app import RunSpec, train

KEY = "s3cret-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, run_dir: Path, tmp: Path, *extra: str) -> None:
        self.port = _free_port()
        key_file = tmp / "key.txt"
        key_file.write_text(KEY + "\n")
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ncf", "serve", str(run_dir), "--port", str(self.port), "--api-key-file",
             str(key_file), "--max-k", "50", "--max-batch", "8", "--max-body-bytes", "20000", "-q", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.client = httpx.Client(base_url=self.url, headers={"X-API-Key": KEY}, timeout=30)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read() if self.proc.stderr else ''}")
            try:
                if self.client.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def stop(self) -> str:
        self.client.close()
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def _train(data: Path, out: Path, seed: int) -> Path:
    train(RunSpec.from_options(("t", {"data": str(data), "model": "mf", "loss": "bpr", "dim": 8, "epochs": 1,
                                      "seed": seed})), out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def runs(neumf_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    return _train(neumf_dir, root / "v1", 1), _train(neumf_dir, root / "v2", 2), root


@pytest.fixture()
def server(runs, tmp_path):
    srv = Server(runs[0], tmp_path)
    yield srv
    srv.stop()


def test_plain_forms_answer_json_with_items_scores_and_version(server):
    res = server.client.get("/recommend", params={"user": "u3", "k": 10})
    assert res.status_code == 200
    body = res.json()
    assert len(body["items"]) == 10 and body["model_version"] and body["source"] == "model"
    assert all({"item", "score"} <= set(row) for row in body["items"])
    scores = [row["score"] for row in body["items"]]
    assert scores == sorted(scores, reverse=True)
    sim = server.client.get("/similar-items", params={"item": body["items"][0]["item"], "k": 5}).json()
    assert len(sim["items"]) == 5 and sim["source"] == "similar"
    batch = server.client.post("/recommend", json={"users": ["u3", "u4"], "k": 3, "exclude": [body["items"][0]["item"]]})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["user"] for r in results] == ["u3", "u4"]
    assert body["items"][0]["item"] not in [row["item"] for row in results[0]["items"]]
    hist = server.client.post("/recommend/history", json={"history": ["i1", "i2"], "k": 4}).json()
    assert hist["source"] == "history" and len(hist["items"]) == 4
    assert server.client.get("/items/i1").json()["popularity"] >= 1
    assert server.client.get("/health").json() == {"status": "ok"}
    metrics = server.client.get("/metrics").text
    assert 'ncf_requests_total{method="GET",route="/recommend",status="200"}' in metrics
    assert "ncf_model_info{" in metrics and "ncf_request_seconds_bucket" in metrics


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/recommend", {"params": {"user": "nobody"}}, 404),
        ("get", "/recommend", {"params": {"user": "u1", "k": 0}}, 422),
        ("get", "/recommend", {"params": {"user": "u1", "k": 51}}, 422),
        ("get", "/recommend", {"params": {"user": "u1", "k": "ten"}}, 422),
        ("get", "/recommend", {"params": {}}, 422),
        ("get", "/recommend", {"params": {"user": "x" * 300}}, 422),
        ("get", "/similar-items", {"params": {"item": "nope"}}, 404),
        ("get", "/items/nope", {}, 404),
        ("post", "/recommend", {"json": {"users": [f"u{i}" for i in range(9)]}}, 422),
        ("post", "/recommend", {"json": {"users": ["u1"], "items": ["nope"]}}, 404),
        ("post", "/recommend", {"json": {"users": ["u1"], "bogus": 1}}, 422),
        ("post", "/recommend", {"json": {"users": [1.5]}}, 422),
        ("post", "/recommend", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 422),
        ("post", "/recommend", {"json": {"users": ["u1"] * 5000}}, 413),
        ("post", "/recommend/history", {"json": {"history": ["i1"], "k": -1}}, 422),
        ("post", "/admin/reload", {"json": {"path": "/nonexistent"}}, 409),
    ],
)
def test_bad_requests_get_4xx_never_5xx(server, method, path, kwargs, status):
    res = getattr(server.client, method)(path, **kwargs)
    assert res.status_code == status, res.text
    assert isinstance(res.json()["detail"], str)


def test_api_key_and_fallback(server):
    with httpx.Client(base_url=server.url) as open_client:
        assert open_client.get("/recommend", params={"user": "u1"}).status_code == 401
        assert open_client.get("/health").status_code == 200
        assert open_client.post("/admin/reload").status_code == 401
    res = server.client.get("/recommend", params={"user": "nobody", "fallback": True}).json()
    assert res["source"] == "popularity" and len(res["items"]) == 10
    res = server.client.post("/recommend/features", json={"features": {"age": 3}, "k": 4}).json()
    assert res["source"] == "popularity" and "no user-feature tower" in res["reason"]


def test_reload_under_load_has_no_failed_requests(server, runs):
    v1 = server.client.get("/ready").json()["model_version"]
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": KEY}, timeout=30) as c:
            while not stop.is_set():
                r = c.get("/recommend", params={"user": "u5", "k": 10})
                statuses.append(r.status_code)
                versions.add(r.json().get("model_version", "?"))

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(0.5)
    res = server.client.post("/admin/reload", json={"path": str(runs[1])})
    time.sleep(0.5)
    stop.set()
    worker.join()
    assert res.status_code == 200, res.text
    v2 = res.json()["model_version"]
    assert v2 != v1 and res.json()["previous_version"] == v1
    assert len(statuses) > 10 and set(statuses) == {200}
    assert versions == {v1, v2}
    assert server.client.get("/ready").json()["model_version"] == v2


def test_a_corrupted_bundle_is_refused_and_the_old_one_keeps_serving(server, runs, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(runs[1], bad)
    weights = bad / "model" / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    v1 = server.client.get("/ready").json()["model_version"]
    res = server.client.post("/admin/reload", json={"path": str(bad)})
    assert res.status_code == 409 and "checksum" in res.json()["detail"]
    assert server.client.get("/recommend", params={"user": "u1"}).json()["model_version"] == v1


def test_sighup_reloads_the_same_path(runs, tmp_path):
    current = tmp_path / "current"
    shutil.copytree(runs[0], current)
    srv = Server(current, tmp_path)
    try:
        v1 = srv.client.get("/ready").json()["model_version"]
        shutil.rmtree(current / "model")
        shutil.copytree(runs[1] / "model", current / "model")
        srv.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while time.time() < deadline and srv.client.get("/ready").json()["model_version"] == v1:
            time.sleep(0.1)
        assert srv.client.get("/ready").json()["model_version"] != v1
    finally:
        srv.stop()


def test_schemathesis_finds_no_server_errors(server):
    proc = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json", "--checks",
         "not_a_server_error", "--max-examples", "30", "-H", f"X-API-Key: {KEY}", "--exclude-path", "/admin/reload",
         "--seed", "1"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
