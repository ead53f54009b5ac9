"""The HTTP API: ``create_app(run_dir)`` -> a FastAPI app serving a :class:`Recommender`.

Bad requests get 4xx with a one-line ``detail`` (404 unknown user/item, 413 oversized body,
422 bad parameters, 401 missing key), never a 500. ``POST /admin/reload`` (and SIGHUP, see
:mod:`ncf.serving.server`) load a new bundle, check it, and swap it in atomically; a broken
bundle is refused and the old one keeps serving. Every answer names the model version.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from ncf.app.recommender import Recommendations, Recommender
from ncf.errors import InvalidIdError, NCFError, UnknownIdError, first_line
from ncf.serving.batching import MicroBatcher
from ncf.serving.docs_pages import add_offline_docs, docs_assets
from ncf.serving.holder import ModelHolder, ServeConfig, smoke, write_pointer
from ncf.serving.middleware import BodyLimit, Observe, OrjsonResponse, bearer, json_safe
from ncf.serving.schemas import (
    FeaturesRequest,
    HistoryRequest,
    ItemRankedList,
    ManyRankedLists,
    RankedList,
    RecommendRequest,
    ReloadRequest,
    UserRankedList,
)

logger = logging.getLogger(__name__)


def _answer(model: type[BaseModel]) -> dict[str, Any]:
    """Route options for an answer written as JSON bytes by orjson (no FastAPI encoder pass) and
    documented in the OpenAPI schema by ``model``."""
    return {"response_class": OrjsonResponse, "responses": {200: {"model": model}}}


def create_app(path: str | os.PathLike[str], config: ServeConfig | None = None) -> FastAPI:
    """A FastAPI app serving the run (or model) directory ``path``."""
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

    batcher = MicroBatcher(max_wait=config.micro_batch_wait, max_batch=config.micro_batch,
                           on_batch=registry.batch_size)
    app.state.batcher = batcher

    def check_key(request: Request) -> None:
        if config.api_key is None:
            return
        given = request.headers.get("x-api-key") or bearer(request.headers.get("authorization"))
        if not given or not hmac.compare_digest(given.encode(), config.api_key.encode()):
            raise HTTPException(401, "missing or wrong API key (X-API-Key header)")

    async def require_key(request: Request) -> None:
        check_key(request)  # an async dependency: no thread-pool hop per request

    def rec() -> Recommender:
        return holder.current

    def check_k(k: int) -> int:
        if k > config.max_k:
            raise HTTPException(422, f"k must be at most {config.max_k}")
        return k

    def check_len(values: list[Any] | None, what: str, limit: int) -> None:
        if values is not None and len(values) > limit:
            raise HTTPException(422, f"{what}: at most {limit} ids per request, got {len(values)}")

    def check_lists(body: Any, *extra: str) -> None:
        """The allow/deny lists and the other id lists of a body stay within the limits."""
        for name in ("items", "exclude", *extra):
            value = getattr(body, name)
            check_len(value if isinstance(value, list) else None, name, config.max_list)

    def answer(r: Recommender, results: list[Recommendations], users: list[Any] | None) -> dict[str, Any]:
        out = []
        for j, res in enumerate(results):
            row = res.to_dict()
            if users is not None:
                row = {"user": str(users[j]), **row}
            out.append(row)
        return {"model_version": r.version, "results": out}

    guarded = [Depends(require_key)] if config.api_key is not None else []

    # The routes that answer from the loaded model are ``async``: they run on the event loop, one
    # after another, instead of in the thread pool that FastAPI gives plain functions. Their work is
    # a millisecond of CPU under the GIL, so threads only added hand-offs and GIL switches (a 5 ms
    # switch interval): with 4 concurrent connections at 100 requests/s that cost p50 10 ms and
    # p99 25 ms against 2.5 / 4.6 ms one at a time (benchmarks/bench_http.py). Several processes
    # (``--workers``) are the way to use more cores. Reloading stays in the thread pool.
    # ``GET /recommend`` resolves its user at once (an unknown one is its own 404) and is then
    # ranked together with the requests waiting beside it (:class:`MicroBatcher`).

    @app.get("/recommend", dependencies=guarded, summary="Top-k items for one user", **_answer(UserRankedList))
    async def recommend_one(
        user: Annotated[str, Query(min_length=1, max_length=256, description="Raw user id.")],
        k: Annotated[int, Query(ge=1)] = 10,
        exclude_seen: bool = True,
        fallback: bool = False,
    ) -> OrjsonResponse:
        r = rec()
        k = check_k(k)
        index = int(r.user_indices([user], fallback=fallback)[0])
        res = await batcher.recommend(r, index, user, k, exclude_seen=exclude_seen)
        return OrjsonResponse({"user": user, "model_version": r.version, **res.to_dict()})

    @app.post("/recommend", dependencies=guarded, summary="Top-k items for many users, with allow/deny lists",
              **_answer(ManyRankedLists))
    async def recommend_many(body: Annotated[RecommendRequest, Body()]) -> OrjsonResponse:
        check_len(body.users, "users", config.max_batch)
        check_lists(body)
        r = rec()
        results = r.recommend(body.users, check_k(body.k), exclude_seen=body.exclude_seen, items=body.items,
                              exclude=body.exclude, fallback=body.fallback)
        return OrjsonResponse(answer(r, results, body.users))

    @app.post("/recommend/history", dependencies=guarded, summary="Top-k items for a new user from item ids",
              **_answer(RankedList))
    async def recommend_history(body: Annotated[HistoryRequest, Body()]) -> OrjsonResponse:
        check_lists(body, "history")
        r = rec()
        res = r.recommend_for_history(body.history, check_k(body.k), exclude_seen=body.exclude_seen,
                                      items=body.items, exclude=body.exclude)
        return OrjsonResponse({"model_version": r.version, **res.to_dict()})

    @app.post("/recommend/features", dependencies=guarded, summary="Top-k items for a new user from side features",
              **_answer(RankedList))
    async def recommend_features(body: Annotated[FeaturesRequest, Body()]) -> OrjsonResponse:
        check_lists(body, "features")
        r = rec()
        res = r.recommend_for_features(body.features, check_k(body.k), items=body.items, exclude=body.exclude)
        return OrjsonResponse({"model_version": r.version, **res.to_dict()})

    @app.get("/similar-items", dependencies=guarded, summary="Items most like an item", **_answer(ItemRankedList))
    async def similar_items(
        item: Annotated[str, Query(min_length=1, max_length=256, description="Raw item id.")],
        k: Annotated[int, Query(ge=1)] = 10,
    ) -> OrjsonResponse:
        r = rec()
        res = r.similar_items([item], check_k(k))[0]
        return OrjsonResponse({"item": item, "model_version": r.version, **res.to_dict()})

    @app.get("/items/{item_id}", dependencies=guarded, summary="One item: title and popularity")
    async def item(item_id: Annotated[str, PathParam(min_length=1, max_length=256)]) -> dict[str, Any]:
        r = rec()
        return {"model_version": r.version, **r.item_info(item_id)}

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: a checked model is loaded")
    async def ready() -> dict[str, Any]:
        r = rec()
        return {"ready": True, "model_version": r.version, "users": r.num_users, "items": r.num_items}

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        body, content_type = registry.exposition()
        return PlainTextResponse(body, media_type=content_type)

    @app.post("/admin/reload", summary="Load a new bundle, check it, swap it in (needs the API key)")
    def reload(request: Request, body: Annotated[ReloadRequest | None, Body()] = None) -> dict[str, Any]:
        if config.api_key is None:
            raise HTTPException(403, "reload is disabled: start the server with --api-key-file to enable it")
        check_key(request)
        target = Path(body.path) if body is not None and body.path else None
        try:
            old, new = holder.reload(target)  # counts the outcome in ncf_reloads_total
        except (NCFError, OSError, ValueError) as exc:
            raise HTTPException(409, f"refused; still serving {holder.current.version}: "
                                     f"{first_line(exc)}") from None
        if config.pointer_file is not None and new.path is not None:
            write_pointer(config.pointer_file, new.path)
        return {"model_version": new.version, "previous_version": old.version, "path": str(new.path)}

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

    app.state.reload = holder.reload
    return app


def _package_version() -> str:
    from ncf import __version__

    return str(__version__)


__all__ = ["ModelHolder", "ServeConfig", "create_app", "json_safe", "smoke"]
