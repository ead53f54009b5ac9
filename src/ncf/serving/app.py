"""The HTTP API: ``create_app(run_dir)`` -> a FastAPI app serving a :class:`Recommender`.

``create_app`` assembles the app: the middleware, the error handlers, the docs pages and the
routes of :mod:`ncf.serving.routes`, which get the model holder, the settings, the micro-batcher
and the metrics from ``app.state``.

Bad requests get 4xx with a one-line ``detail`` (404 unknown user/item, 413 oversized body,
422 bad parameters, 401 missing key), never a 500. ``POST /admin/reload`` (and SIGHUP, see
:mod:`ncf.serving.server`) load a new bundle, check it, and swap it in atomically; a broken
bundle is refused and the old one keeps serving. Every answer names the model version.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ncf.errors import InvalidIdError, NCFError, UnknownIdError, first_line
from ncf.serving.batching import MicroBatcher
from ncf.serving.docs_pages import add_offline_docs, docs_assets
from ncf.serving.holder import ModelHolder, ServeConfig, smoke
from ncf.serving.middleware import BodyLimit, Observe, json_safe
from ncf.serving.routes import model_routes, require_key, service_routes

logger = logging.getLogger(__name__)


def create_app(path: str | os.PathLike[str], config: ServeConfig | None = None) -> FastAPI:
    """A FastAPI app serving the run (or model) directory ``path``.

    The app's state holds what the routes (:mod:`ncf.serving.routes`) depend on: ``holder``
    (the :class:`ModelHolder`), ``config``, ``metrics`` and ``batcher`` (the
    :class:`~ncf.serving.batching.MicroBatcher`); ``reload`` is ``holder.reload``."""
    from ncf.serving import metrics

    config = config or ServeConfig()
    registry = metrics.Metrics()
    holder = ModelHolder(Path(path), config, registry)
    offline = docs_assets()
    pages: dict[str, Any] = {"docs_url": None, "redoc_url": None} if offline is not None else {}
    app = FastAPI(title="ncf", version=_package_version(), description="Recommendations from a trained ncf model.",
                  **pages)
    if offline is not None:
        add_offline_docs(app, offline)
    app.state.holder = holder
    app.state.config = config
    app.state.metrics = registry
    registry.set_model(holder.current)

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["*"])
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(Observe, holder=holder, metrics=registry)

    app.state.batcher = MicroBatcher(max_wait=config.micro_batch_wait, max_batch=config.micro_batch,
                                     on_batch=registry.batch_size)
    app.include_router(model_routes, dependencies=[Depends(require_key)] if config.api_key is not None else None)
    app.include_router(service_routes)
    _add_error_handlers(app)
    app.state.reload = holder.reload
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answer is a 4xx with a one-line ``detail`` (and, for a bad request, pydantic's
    ``errors`` made strict JSON)."""

    @app.exception_handler(InvalidIdError)
    async def invalid_id(request: Request, exc: InvalidIdError) -> JSONResponse:
        return JSONResponse({"detail": first_line(exc)}, status_code=422)

    @app.exception_handler(UnknownIdError)
    async def unknown_id(request: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": first_line(exc)}, status_code=404)

    @app.exception_handler(NCFError)
    async def bad_request(request: Request, exc: NCFError) -> JSONResponse:
        return JSONResponse({"detail": first_line(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(json_safe({"detail": f"{where}: {first.get('msg', 'invalid request')}" if where else
                                       str(first.get("msg", "invalid request")), "errors": errors}), status_code=422)


def _package_version() -> str:
    from ncf import __version__

    return str(__version__)


__all__ = ["ModelHolder", "ServeConfig", "create_app", "json_safe", "smoke"]
