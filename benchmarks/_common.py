"""Shared helpers for benchmark scripts: data location, timing, peak memory, JSON results."""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def data_dir() -> Path:
    """Where the shared datasets live: $NCF_DATA_DIR, else ../shared/data beside the repo."""
    env = os.environ.get("NCF_DATA_DIR")
    if env:
        return Path(env)
    return HERE.parent.parent / "shared" / "data"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor(),
    }


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/NAME.json`` (or under ``$NCF_RESULTS_DIR``, which the tests use)."""
    root = Path(os.environ.get("NCF_RESULTS_DIR") or RESULTS)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.json"
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
