"""The server's plain ASGI parts: metrics per request, the body-size limit, orjson answers, and the
one rule for error bodies (strict JSON, one line)."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from ncf.serving.holder import ModelHolder


class OrjsonResponse(JSONResponse):
    """A JSON answer serialised by orjson in one call (FastAPI's generic encoder is skipped)."""

    def render(self, content: Any) -> bytes:
        import orjson

        return orjson.dumps(content)


class Observe:
    """Counts every request in the metrics (route, method, status, seconds) and lets several
    workers follow the pointer file; a plain ASGI middleware (no per-request task or stream)."""

    def __init__(self, app: Any, holder: ModelHolder, metrics: Any) -> None:
        self.app = app
        self.holder = holder
        self.metrics = metrics

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.holder.follow_pointer()
        start = time.perf_counter()
        status = 500

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            self.metrics.observe(getattr(route, "path", "unmatched"), scope["method"], status,
                                 time.perf_counter() - start)


class BodyLimit:
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
        if length is not None:
            try:
                if int(length) > self.max_bytes:
                    await self._too_big()(scope, receive, send)
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
            await self._too_big()(scope, receive, send)

    def _too_big(self) -> JSONResponse:
        """The 413 answer (built only when a body is refused, not for every request)."""
        return JSONResponse({"detail": f"request body over {self.max_bytes} bytes"}, status_code=413)


class _TooLarge(Exception):
    pass


def bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


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


__all__ = ["BodyLimit", "Observe", "OrjsonResponse", "bearer", "json_safe"]
