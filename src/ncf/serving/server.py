"""``ncf serve``: run the HTTP API under uvicorn, bound to 127.0.0.1 unless told otherwise.

SIGHUP reloads the bundle (one worker: checked and swapped in place, a broken bundle is refused
and logged; several workers: uvicorn replaces them one by one and keeps an old worker whenever
its replacement fails to start). With several workers ``POST /admin/reload`` records the new
bundle in a pointer file that every worker follows.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ncf.app.recommender import Recommender
from ncf.errors import ConfigError
from ncf.serving.app import ServeConfig, create_app
from ncf.serving.ports import check_port

logger = logging.getLogger(__name__)

_ENV = "NCF_SERVE_SETTINGS"


def describe(rec: Recommender, path: str | os.PathLike[str], index: str | None) -> str:
    """One line on what is served: the bundle, its size and how items are ranked (which index)."""
    model = getattr(rec.model, "name", "") or type(rec.model).__name__
    head = f"serving {path}: {model} model {rec.version}, {rec.num_users:,} users x {rec.num_items:,} items"
    return f"{head}; ranking: {rec.describe_ranking(index)}"


def serve(path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          config: ServeConfig | None = None, log_level: str = "info",
          announce: Callable[[str], None] | None = None) -> None:
    """Serve the run (or model) directory ``path`` until interrupted.

    ``announce`` gets one line once the bundle is loaded: what is served and from which index
    (:func:`describe`), and the address."""
    import uvicorn

    config = config or ServeConfig()
    if workers < 1:
        raise ConfigError("workers must be at least 1")
    check_port(host, port)
    if host not in ("127.0.0.1", "localhost", "::1") and config.api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach it can query it", host)
    where = f"http://{f'[{host}]' if ':' in host else host}:{port} (API docs at /docs)"
    if workers == 1:
        app = create_app(path, config)
        holder = app.state.holder
        if announce is not None:
            announce(f"{describe(holder.current, path, config.index)}; {where}")

        def on_hup(signum: int, frame: Any) -> None:
            def work() -> None:
                try:
                    old, new = holder.reload()  # counts the outcome in ncf_reloads_total
                    logger.warning("SIGHUP: now serving model %s (was %s)", new.version, old.version)
                except Exception as exc:
                    logger.error("SIGHUP: reload refused, still serving %s: %s", holder.current.version, exc)

            threading.Thread(target=work, name="ncf-reload", daemon=True).start()

        signal.signal(signal.SIGHUP, on_hup)
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return
    if announce is not None:  # each worker loads its own copy; this one is checked and described, then dropped
        announce(f"{describe(Recommender.load(path, index=config.index), path, config.index)}; "
                 f"{workers} workers; {where}")
    state = Path(tempfile.mkdtemp(prefix="ncf-serve-"))
    (state / "metrics").mkdir()
    pointer = state / "bundle"
    pointer.write_text(str(Path(path).resolve()), encoding="utf-8")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(state / "metrics")
    settings = dataclasses.asdict(dataclasses.replace(config, pointer_file=pointer))
    settings["pointer_file"] = str(pointer)
    settings["cors_origins"] = list(config.cors_origins)
    os.environ[_ENV] = json.dumps({"path": str(Path(path).resolve()), "config": settings})
    uvicorn.run("ncf.serving.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)


def app_from_env() -> Any:
    """The app of one worker (uvicorn's factory with several workers): follows the pointer file."""
    settings = json.loads(os.environ[_ENV])
    raw = dict(settings["config"])
    raw["pointer_file"] = Path(raw["pointer_file"]) if raw.get("pointer_file") else None
    raw["cors_origins"] = tuple(raw.get("cors_origins") or ())
    pointer = raw["pointer_file"]
    path = pointer.read_text(encoding="utf-8").strip() if pointer is not None and pointer.is_file() else settings["path"]
    return create_app(path, ServeConfig(**raw))
