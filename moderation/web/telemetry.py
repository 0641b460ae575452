"""ASGI middleware, outermost: each request's id, count and duration.

- ``X-Request-ID``: taken from the request when it is a sane token (at most 128 of
  ``[A-Za-z0-9._:-]``), else made (a UUID); every log line of the request carries it, the
  answer echoes it, and an upload stores it with its submission (so the worker's lines about
  the upload carry it too).
- ``moderation_http_requests_total{method,route,status}`` and
  ``moderation_http_request_duration_seconds{method,route}``: ``route`` is the path template
  (``/v1/moderations/{submission_id}``), ``unmatched`` for paths no route knows (so a scan of
  random paths cannot grow the series).
- ``moderation_uploads_total{outcome}`` for ``POST`` of the upload path: ``accepted``, or the
  error code of the refusal (``payload_too_large``, ``rate_limited``, ``unavailable``...).
"""

from __future__ import annotations

import json
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.observability import metrics
from moderation.observability.logs import log_context

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id_of(scope: Scope) -> str:
    """The request's own id when it sent a sane one, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == _HEADER_KEY:
            text = str(value.decode("latin-1"))
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The path template of the route that answered (with a mount's prefix)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path or not scope.get("endpoint"):
        return "unmatched"
    return f"{scope.get('root_path', '')}{path}"  # type: ignore[no-any-return]


def _error_code(body: bytes, status: int) -> str:
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{status}"


class RequestTelemetryMiddleware:
    """See the module's doc; ``upload_path`` is the route whose POSTs count as uploads."""

    def __init__(self, app: ASGIApp, upload_path: str) -> None:
        self.app = app
        self.upload_path = upload_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        upload = scope["method"] == "POST" and scope["path"] == self.upload_path
        status = 500
        refusal = b""

        async def answer(message: Message) -> None:
            nonlocal status, refusal
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            elif upload and status >= 400 and len(refusal) < 4096:
                refusal += message.get("body", b"")
            await send(message)

        started = time.perf_counter()
        try:
            with log_context(request_id=request_id):
                await self.app(scope, receive, answer)
        finally:
            route = route_of(scope)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
            if upload:
                outcome = "accepted" if status < 400 else _error_code(refusal, status)
                metrics.UPLOADS.labels(outcome).inc()
