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
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from ncf.errors import ConfigError, DataError, InvalidIdError, NCFError, UnknownIdError
from ncf.serving.recommender import Recommendations, Recommender

logger = logging.getLogger(__name__)

RawId = Annotated[str, StringConstraints(min_length=1, max_length=256)] | StrictInt


@dataclass(frozen=True)
class ServeConfig:
    """Limits and switches of the HTTP API."""

    max_k: int = 100
    max_batch: int = 256
    max_list: int = 10_000
    max_body_bytes: int = 1 << 20
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    index: str | None = "auto"
    pointer_file: Path | None = None  # with several workers: the bundle path all of them follow
    pointer_check_seconds: float = 1.0

    def __post_init__(self) -> None:
        for key in ("max_k", "max_batch", "max_list", "max_body_bytes"):
            if int(getattr(self, key)) < 1:
                raise ConfigError(f"{key} must be positive")


class ModelHolder:
    """The recommender now serving; :meth:`reload` swaps in a checked new one atomically."""

    def __init__(self, path: Path, config: ServeConfig, metrics: Any = None) -> None:
        self.config = config
        self.metrics = metrics  # ncf.serving.metrics.Metrics: every reload, by any route, is counted here
        self._lock = threading.Lock()
        self.reloads = 0
        self.failed_reloads = 0
        self.current: Recommender = self._load_checked(path)
        self._pointer_seen: float | None = None
        self._pointer_checked = 0.0

    def _load_checked(self, path: Path) -> Recommender:
        rec = Recommender.load(path, index=self.config.index)
        smoke(rec)
        return rec

    def reload(self, path: Path | None = None) -> tuple[Recommender, Recommender]:
        """Load ``path`` (default: the current bundle's path again), check it, swap; returns (old, new).

        Raises the loading or checking error, leaving the current recommender in place.
        """
        with self._lock:
            old = self.current
            target = Path(path) if path is not None else old.path
            if target is None:
                raise ConfigError("no bundle path to reload")
            try:
                new = self._load_checked(target)
            except Exception:
                self.failed_reloads += 1
                if self.metrics is not None:
                    self.metrics.reload_failed()
                raise
            self.current = new  # one reference assignment: requests see the old or the new one
            self.reloads += 1
            if self.metrics is not None:
                self.metrics.reload_ok(new)
            logger.info("reloaded %s: model %s -> %s", target, old.version, new.version)
            return old, new

    def follow_pointer(self) -> None:
        """With several workers: load the bundle named in the pointer file when it changed."""
        pointer = self.config.pointer_file
        now = time.monotonic()
        if pointer is None or now - self._pointer_checked < self.config.pointer_check_seconds:
            return
        self._pointer_checked = now
        try:
            mtime = pointer.stat().st_mtime
        except OSError:
            return
        if self._pointer_seen is None:
            self._pointer_seen = mtime
            return
        if mtime != self._pointer_seen:
            self._pointer_seen = mtime
            try:
                self.reload(Path(pointer.read_text(encoding="utf-8").strip()))
            except Exception as exc:  # keep serving the old bundle
                logger.error("pointer reload refused: %s", exc)


def smoke(rec: Recommender) -> None:
    """A bundle is servable when it answers a query end to end (raises otherwise)."""
    if rec.num_items < 1:
        raise DataError("the model has no items")
    first_user = rec._cat.user_map.raw_ids[0] if rec._cat.user_map is not None else 0
    result = rec.recommend([first_user], k=1, exclude_seen=False)
    if len(result) != 1 or len(result[0]) != 1:
        raise DataError("the smoke query returned no recommendation")
    if not all(map(_finite, result[0].scores)):
        raise DataError("the smoke query returned a non-finite score (broken weights?)")


def _finite(x: float) -> bool:
    return x == x and abs(x) != float("inf")


# ---------------------------------------------------------------------- request bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Body):
    users: list[RawId] = Field(min_length=1, description="Raw user ids.")
    k: int = Field(10, ge=1, description="Items per user.")
    exclude_seen: bool = True
    items: list[RawId] | None = Field(None, description="Allow-list: only these items may be recommended.")
    exclude: list[RawId] | None = Field(None, description="Deny-list: never recommend these items.")
    fallback: bool = Field(False, description="Unknown users get popular items instead of a 404.")


class HistoryRequest(_Body):
    history: list[RawId] = Field(description="Raw ids of the items the new user interacted with, oldest first.")
    k: int = Field(10, ge=1)
    exclude_seen: bool = Field(True, description="Leave the history items out.")
    items: list[RawId] | None = None
    exclude: list[RawId] | None = None


class FeaturesRequest(_Body):
    features: dict[str, float | str | list[str]] | list[float] = Field(
        description="Side features of a new user: {column: value} or the encoded row.")
    k: int = Field(10, ge=1)
    items: list[RawId] | None = None
    exclude: list[RawId] | None = None


class ReloadRequest(_Body):
    path: str | None = Field(None, description="Bundle to load (default: the current one again).")


# ---------------------------------------------------------------------- the app
def create_app(path: str | os.PathLike[str], config: ServeConfig | None = None) -> FastAPI:
    """A FastAPI app serving the run (or model) directory ``path``."""
    from ncf.serving import metrics

    config = config or ServeConfig()
    registry = metrics.Metrics()
    holder = ModelHolder(Path(path), config, registry)
    offline = _docs_assets()
    pages: dict[str, Any] = {"docs_url": None, "redoc_url": None} if offline is not None else {}
    app = FastAPI(title="ncf", version=_package_version(), description="Recommendations from a trained ncf model.",
                  **pages)
    if offline is not None:
        _add_offline_docs(app, offline)
    app.state.holder = holder
    app.state.config = config
    app.state.metrics = registry
    registry.set_model(holder.current)

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["*"])
    app.add_middleware(_BodyLimit, max_bytes=config.max_body_bytes)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        holder.follow_pointer()
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        registry.observe(getattr(route, "path", "unmatched"), request.method, response.status_code,
                         time.perf_counter() - start)
        return response

    def check_key(request: Request) -> None:
        if config.api_key is None:
            return
        given = request.headers.get("x-api-key") or _bearer(request.headers.get("authorization"))
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

    guarded = [Depends(require_key)]

    # The routes that answer from the loaded model are ``async``: they run on the event loop, one
    # after another, instead of in the thread pool that FastAPI gives plain functions. Their work is
    # a millisecond of CPU under the GIL, so threads only added hand-offs and GIL switches (a 5 ms
    # switch interval): with 4 concurrent connections at 100 requests/s that cost p50 10 ms and
    # p99 25 ms against 2.5 / 4.6 ms one at a time (benchmarks/bench_http.py). Several processes
    # (``--workers``) are the way to use more cores. Reloading stays in the thread pool.

    @app.get("/recommend", dependencies=guarded, summary="Top-k items for one user")
    async def recommend_one(
        user: Annotated[str, Query(min_length=1, max_length=256, description="Raw user id.")],
        k: Annotated[int, Query(ge=1)] = 10,
        exclude_seen: bool = True,
        fallback: bool = False,
    ) -> dict[str, Any]:
        r = rec()
        res = r.recommend([user], check_k(k), exclude_seen=exclude_seen, fallback=fallback)[0]
        return {"user": user, "model_version": r.version, **res.to_dict()}

    @app.post("/recommend", dependencies=guarded, summary="Top-k items for many users, with allow/deny lists")
    async def recommend_many(body: Annotated[RecommendRequest, Body()]) -> dict[str, Any]:
        check_len(body.users, "users", config.max_batch)
        check_lists(body)
        r = rec()
        results = r.recommend(body.users, check_k(body.k), exclude_seen=body.exclude_seen, items=body.items,
                              exclude=body.exclude, fallback=body.fallback)
        return answer(r, results, body.users)

    @app.post("/recommend/history", dependencies=guarded, summary="Top-k items for a new user from item ids")
    async def recommend_history(body: Annotated[HistoryRequest, Body()]) -> dict[str, Any]:
        check_lists(body, "history")
        r = rec()
        res = r.recommend_for_history(body.history, check_k(body.k), exclude_seen=body.exclude_seen,
                                      items=body.items, exclude=body.exclude)
        return {"model_version": r.version, **res.to_dict()}

    @app.post("/recommend/features", dependencies=guarded, summary="Top-k items for a new user from side features")
    async def recommend_features(body: Annotated[FeaturesRequest, Body()]) -> dict[str, Any]:
        check_lists(body, "features")
        r = rec()
        res = r.recommend_for_features(body.features, check_k(body.k), items=body.items, exclude=body.exclude)
        return {"model_version": r.version, **res.to_dict()}

    @app.get("/similar-items", dependencies=guarded, summary="Items most like an item")
    async def similar_items(
        item: Annotated[str, Query(min_length=1, max_length=256, description="Raw item id.")],
        k: Annotated[int, Query(ge=1)] = 10,
    ) -> dict[str, Any]:
        r = rec()
        res = r.similar_items([item], check_k(k))[0]
        return {"item": item, "model_version": r.version, **res.to_dict()}

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
                                     f"{_one_line(exc)}") from None
        if config.pointer_file is not None and new.path is not None:
            _write_pointer(config.pointer_file, new.path)
        return {"model_version": new.version, "previous_version": old.version, "path": str(new.path)}

    @app.exception_handler(InvalidIdError)
    async def invalid_id(request: Request, exc: InvalidIdError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(UnknownIdError)
    async def unknown_id(request: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=404)

    @app.exception_handler(NCFError)
    async def bad_request(request: Request, exc: NCFError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(json_safe({"detail": f"{where}: {first.get('msg', 'invalid request')}" if where else
                                       str(first.get("msg", "invalid request")), "errors": errors}), status_code=422)

    app.state.reload = holder.reload
    return app


# ---------------------------------------------------------------------- small parts
class _BodyLimit:
    """413 for a request body over ``max_bytes`` (by Content-Length, or counted while streaming)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        too_big = JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)
        if length is not None:
            try:
                if int(length) > self.max_bytes:
                    await too_big(scope, receive, send)
                    return
            except ValueError:
                await JSONResponse({"detail": "invalid Content-Length"}, status_code=400)(scope, receive, send)
                return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await too_big(scope, receive, send)


class _TooLarge(Exception):
    pass


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON can carry it (the one rule of every error body): NaN and the
    infinities become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (a request may
    send them, ``1e309`` too; echoing them back must not fail), other non-JSON objects their
    ``str``, and pydantic's ``ctx``/``url`` entries are dropped."""
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items() if k not in ("ctx", "url")}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def _write_pointer(pointer: Path, target: Path) -> None:
    from ncf._io import atomic_write

    with atomic_write(pointer, "w", encoding="utf-8") as fh:
        fh.write(str(target.resolve()))


#: Where the offline docs pages load their scripts and styles from.
DOCS_ASSETS = "/docs-assets"


def _docs_assets() -> Path | None:
    """The folder of Swagger UI's and ReDoc's files that the ``fastapi-offline`` package ships
    (part of the ``serve`` extra), or None without it (then /docs loads them from a CDN)."""
    try:
        from importlib import resources

        folder = Path(str(resources.files("fastapi_offline") / "static"))
    except (ImportError, TypeError):
        return None
    needed = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js")
    return folder if all((folder / name).is_file() for name in needed) else None


def _add_offline_docs(app: FastAPI, folder: Path) -> None:
    """/docs (Swagger UI) and /redoc from files served here, so they work without a network."""
    from fastapi.openapi.docs import (
        get_redoc_html,
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(DOCS_ASSETS, StaticFiles(directory=folder), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}{openapi_url}", title=f"{app.title} - Swagger UI",
                                   oauth2_redirect_url=f"{root}{redirect_url}",
                                   swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png")

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{openapi_url}", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False)


def _package_version() -> str:
    from ncf import __version__

    return str(__version__)


__all__ = ["ModelHolder", "ServeConfig", "create_app", "smoke"]

