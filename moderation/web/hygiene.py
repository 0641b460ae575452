"""ASGI middleware: what every request must be before a route sees it, and the headers every
JSON API answer carries.

Refused with the one error shape, and the connection stays usable:
- a path or query parameter that is not UTF-8 or holds a control character (422);
- a form field (``application/x-www-form-urlencoded``) likewise (422);
- a JSON body nested deeper than ``MAX_JSON_DEPTH`` (400): Python's parser recurses, and a
  body of 100,000 brackets would otherwise end in a RecursionError.
Answers outside the console get ``X-Content-Type-Options: nosniff``; answers to a request
that carried credentials also get ``Cache-Control: no-store``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.web.errors import error_body
from moderation.web.text import refusal, strict_utf8

MAX_JSON_DEPTH = 64
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_OPENERS = frozenset(b"[{")
_BODY_METHODS = ("POST", "PUT", "PATCH")


class Refused(Exception):
    """A request refused before routing, with its status and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_depth(body: bytes) -> int:
    """How deep ``body``'s brackets nest, strings skipped (one pass, no parsing)."""
    depth = deepest = 0
    for token in _JSON_TOKENS.finditer(body):
        first = token.group()[0]
        if first in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif first != ord('"'):
            depth -= 1
    return deepest


def _text(raw: bytes, what: str) -> str:
    try:
        value = strict_utf8(unquote_to_bytes(raw))
    except ValueError:
        raise Refused(422, "invalid_text", f"{what} is not valid UTF-8") from None
    if (why := refusal(value)) is not None:
        raise Refused(422, "invalid_text", f"{what} {why}")
    return value


def check_pairs(encoded: bytes, what: str) -> None:
    """Every name and value of ``a=1&b=2`` (query string or form body) is clean text."""
    for pair in encoded.replace(b"+", b" ").split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _text(raw_name, f"a {what} name")
        _text(raw_value, f"{what} '{name}'")


def _content_type(scope: Scope) -> str:
    value: bytes = dict(scope["headers"]).get(b"content-type", b"")
    return value.decode("latin-1").split(";")[0].strip().lower()


def _check_body(content_type: str, body: bytes) -> None:
    if content_type == "application/x-www-form-urlencoded":
        check_pairs(body, "form field")
    elif (content_type == "application/json" or content_type.endswith("+json")) and (
        json_depth(body) > MAX_JSON_DEPTH
    ):
        raise Refused(400, "too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


async def _read_body(receive: Receive) -> list[Message]:
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body"):
            return messages


class RequestHygieneMiddleware:
    """Refuses malformed text and over-nested JSON before routing; adds the API's headers.
    ``console_prefix``: the mount of the console, which sets its own headers."""

    def __init__(self, app: ASGIApp, console_prefix: str) -> None:
        self.app, self.console_prefix = app, console_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _text(scope.get("raw_path") or scope["path"].encode(), "the path")
            check_pairs(scope.get("query_string", b""), "query parameter")
            content_type = _content_type(scope)
            if scope["method"] in _BODY_METHODS and content_type != "multipart/form-data":
                messages = await _read_body(receive)
                _check_body(content_type, b"".join(m.get("body", b"") for m in messages))
                receive = _replay(messages, receive)
        except Refused as exc:
            await _refuse(send, exc)
            return
        await self.app(scope, receive, self._headers(scope, send))

    def _headers(self, scope: Scope, send: Send) -> Send:
        if scope["path"].startswith(self.console_prefix):
            return send
        credentials = any(k in (b"authorization", b"cookie") for k, _ in scope["headers"])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                if credentials:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return with_headers


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


async def _refuse(send: Send, exc: Refused) -> None:
    body = json.dumps(error_body(exc.code, exc.message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
