"""The HTTP routes: what each endpoint takes, checks and answers.

Two routers, which :func:`ncf.serving.app.create_app` includes in this order: :data:`model_routes`
(the answers from the loaded model; behind the API key when the server has one) and
:data:`service_routes` (health, readiness, metrics, and the reload, which checks the key itself).
A handler declares what it needs as a parameter: :data:`Holder` (the
:class:`~ncf.serving.holder.ModelHolder`, whose ``current`` recommender answers), :data:`Config`
(the :class:`~ncf.serving.holder.ServeConfig` limits), :data:`Batcher` (the
:class:`~ncf.serving.batching.MicroBatcher`) or :data:`Registry` (the Prometheus metrics); each
comes from ``app.state``, where ``create_app`` put it.

The routes that answer from the loaded model are ``async``, and so are the dependencies: they
run on the event loop, one after another, instead of in the thread pool that FastAPI gives plain
functions. Their work is a millisecond of CPU under the GIL, so threads only added hand-offs and
GIL switches (a 5 ms switch interval): with 4 concurrent connections at 100 requests/s that cost
p50 10 ms and p99 25 ms against 2.5 / 4.6 ms one at a time (benchmarks/bench_http.py). Several
processes (``--workers``) are the way to use more cores. Reloading stays in the thread pool.
``GET /recommend`` resolves its user at once (an unknown one is its own 404) and is then ranked
together with the requests waiting beside it (:class:`~ncf.serving.batching.MicroBatcher`).
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from ncf.app.recommender import Recommendations, Recommender
from ncf.errors import NCFError, first_line
from ncf.serving.batching import MicroBatcher
from ncf.serving.holder import ModelHolder, ServeConfig, write_pointer
from ncf.serving.middleware import OrjsonResponse, bearer
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

if TYPE_CHECKING:  # prometheus_client loads with the app (create_app), not with this module
    from ncf.serving.metrics import Metrics


# ---------------------------------------------------------------------------- dependencies
async def _holder(request: Request) -> ModelHolder:
    return cast(ModelHolder, request.app.state.holder)


async def _config(request: Request) -> ServeConfig:
    return cast(ServeConfig, request.app.state.config)


async def _batcher(request: Request) -> MicroBatcher:
    return cast(MicroBatcher, request.app.state.batcher)


async def _registry(request: Request) -> Metrics:
    return cast("Metrics", request.app.state.metrics)


#: The model holder (``holder.current`` is the recommender answering now).
Holder = Annotated[ModelHolder, Depends(_holder)]
#: The server's limits and switches.
Config = Annotated[ServeConfig, Depends(_config)]
#: The micro-batcher of ``GET /recommend``.
Batcher = Annotated[MicroBatcher, Depends(_batcher)]
#: The server's Prometheus metrics.
Registry = Annotated["Metrics", Depends(_registry)]


def check_key(request: Request) -> None:
    """401 unless the request carries the server's API key (none set: every request passes)."""
    key = cast(ServeConfig, request.app.state.config).api_key
    if key is None:
        return
    given = request.headers.get("x-api-key") or bearer(request.headers.get("authorization"))
    if not given or not hmac.compare_digest(given.encode(), key.encode()):
        raise HTTPException(401, "missing or wrong API key (X-API-Key header)")


async def require_key(request: Request) -> None:
    """:func:`check_key` as a router dependency (async: no thread-pool hop per request)."""
    check_key(request)


# ---------------------------------------------------------------------------- checks and answers
def _answer(model: type[BaseModel]) -> dict[str, Any]:
    """Route options for an answer written as JSON bytes by orjson (no FastAPI encoder pass) and
    documented in the OpenAPI schema by ``model``."""
    return {"response_class": OrjsonResponse, "responses": {200: {"model": model}}}


def _check_k(k: int, config: ServeConfig) -> int:
    if k > config.max_k:
        raise HTTPException(422, f"k must be at most {config.max_k}")
    return k


def _check_len(values: list[Any] | None, what: str, limit: int) -> None:
    if values is not None and len(values) > limit:
        raise HTTPException(422, f"{what}: at most {limit} ids per request, got {len(values)}")


def _check_lists(body: Any, config: ServeConfig, *extra: str) -> None:
    """The allow/deny lists and the other id lists of a body stay within the limits."""
    for name in ("items", "exclude", *extra):
        value = getattr(body, name)
        _check_len(value if isinstance(value, list) else None, name, config.max_list)


def _many(r: Recommender, results: list[Recommendations], users: list[Any] | None) -> dict[str, Any]:
    out = []
    for j, res in enumerate(results):
        row = res.to_dict()
        if users is not None:
            row = {"user": str(users[j]), **row}
        out.append(row)
    return {"model_version": r.version, "results": out}


# ---------------------------------------------------------------------------- answers from the model
model_routes = APIRouter()


@model_routes.get("/recommend", summary="Top-k items for one user", **_answer(UserRankedList))
async def recommend_one(
    holder: Holder,
    config: Config,
    batcher: Batcher,
    user: Annotated[str, Query(min_length=1, max_length=256, description="Raw user id.")],
    k: Annotated[int, Query(ge=1)] = 10,
    exclude_seen: bool = True,
    fallback: bool = False,
) -> OrjsonResponse:
    r = holder.current
    k = _check_k(k, config)
    index = int(r.user_indices([user], fallback=fallback)[0])
    res = await batcher.recommend(r, index, user, k, exclude_seen=exclude_seen)
    return OrjsonResponse({"user": user, "model_version": r.version, **res.to_dict()})


@model_routes.post("/recommend", summary="Top-k items for many users, with allow/deny lists",
                   **_answer(ManyRankedLists))
async def recommend_many(holder: Holder, config: Config,
                         body: Annotated[RecommendRequest, Body()]) -> OrjsonResponse:
    _check_len(body.users, "users", config.max_batch)
    _check_lists(body, config)
    r = holder.current
    results = r.recommend(body.users, _check_k(body.k, config), exclude_seen=body.exclude_seen, items=body.items,
                          exclude=body.exclude, fallback=body.fallback)
    return OrjsonResponse(_many(r, results, body.users))


@model_routes.post("/recommend/history", summary="Top-k items for a new user from item ids", **_answer(RankedList))
async def recommend_history(holder: Holder, config: Config,
                            body: Annotated[HistoryRequest, Body()]) -> OrjsonResponse:
    _check_lists(body, config, "history")
    r = holder.current
    res = r.recommend_for_history(body.history, _check_k(body.k, config), exclude_seen=body.exclude_seen,
                                  items=body.items, exclude=body.exclude)
    return OrjsonResponse({"model_version": r.version, **res.to_dict()})


@model_routes.post("/recommend/features", summary="Top-k items for a new user from side features",
                   **_answer(RankedList))
async def recommend_features(holder: Holder, config: Config,
                             body: Annotated[FeaturesRequest, Body()]) -> OrjsonResponse:
    _check_lists(body, config, "features")
    r = holder.current
    res = r.recommend_for_features(body.features, _check_k(body.k, config), items=body.items, exclude=body.exclude)
    return OrjsonResponse({"model_version": r.version, **res.to_dict()})


@model_routes.get("/similar-items", summary="Items most like an item", **_answer(ItemRankedList))
async def similar_items(
    holder: Holder,
    config: Config,
    item: Annotated[str, Query(min_length=1, max_length=256, description="Raw item id.")],
    k: Annotated[int, Query(ge=1)] = 10,
) -> OrjsonResponse:
    r = holder.current
    res = r.similar_items([item], _check_k(k, config))[0]
    return OrjsonResponse({"item": item, "model_version": r.version, **res.to_dict()})


@model_routes.get("/items/{item_id}", summary="One item: title and popularity")
async def item(holder: Holder, item_id: Annotated[str, PathParam(min_length=1, max_length=256)]) -> dict[str, Any]:
    r = holder.current
    return {"model_version": r.version, **r.item_info(item_id)}


# ---------------------------------------------------------------------------- the service itself
service_routes = APIRouter()


@service_routes.get("/health", summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@service_routes.get("/ready", summary="Readiness: a checked model is loaded")
async def ready(holder: Holder) -> dict[str, Any]:
    r = holder.current
    return {"ready": True, "model_version": r.version, "users": r.num_users, "items": r.num_items}


@service_routes.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
async def prometheus(registry: Registry) -> PlainTextResponse:
    body, content_type = registry.exposition()
    return PlainTextResponse(body, media_type=content_type)


@service_routes.post("/admin/reload", summary="Load a new bundle, check it, swap it in (needs the API key)")
def reload(request: Request, holder: Holder, config: Config,
           body: Annotated[ReloadRequest | None, Body()] = None) -> dict[str, Any]:
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


__all__ = ["Batcher", "Config", "Holder", "Registry", "check_key", "model_routes", "require_key", "service_routes"]
