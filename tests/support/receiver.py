"""A real HTTP server on loopback, in a thread: records every request, answers from a script."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Routes answer with their scripted replies in order, the last one repeating."""

    def __init__(self, server: ThreadingHTTPServer, scheme: str = "http") -> None:
        self._server = server
        self._scheme = scheme
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[Request] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def route(self, path: str, *replies: Reply) -> str:
        """Script ``path``; returns its full URL."""
        with self._lock:
            self._scripts[path] = list(replies) or [Reply()]
        return self.url + path

    def received(self, path: str) -> list[Request]:
        """The requests to ``path`` so far."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 30) -> list[Request]:
        """Block until ``path`` got ``count`` requests (or fail)."""
        deadline = time.monotonic() + timeout
        while len(self.received(path)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} got {len(self.received(path))} of {count} requests")
            time.sleep(0.05)
        return self.received(path)

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            script = self._scripts.get(request.path, [Reply(404, b"no such route")])
            return script.pop(0) if len(script) > 1 else script[0]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            reply = receiver._answer(request)
            time.sleep(reply.delay_s)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _serve

        def log_message(self, *_: object) -> None:
            pass

    return Handler


@contextmanager
def start_receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """A receiver on a free loopback port (HTTPS with ``tls``), stopped at exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    receiver = Receiver(server, "https" if tls is not None else "http")
    server.RequestHandlerClass = _handler(receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
