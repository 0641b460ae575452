"""How ``moderation serve`` runs uvicorn: uvloop and the httptools parser where installed,
with Nagle's algorithm off on every connection.

With ``--workers N`` uvicorn binds the listening socket itself as ``socket.socket(family)``,
whose protocol number is 0, so asyncio does not recognise the accepted connections as TCP
and leaves Nagle on: a response written in two parts then waits for the client's delayed
ACK (docs/benchmarks.md, "Figures behind the code").
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` (the C parser) that sets TCP_NODELAY on its connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def server_options() -> dict[str, Any]:
    """uvicorn's ``http`` and ``loop`` for our servers (the bare benchmark endpoint too):
    httptools and uvloop, which cost less CPU per upload than h11 and asyncio's loop
    (``docs/benchmarks.md``); asyncio's loop where uvloop is not installed (Windows)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return {"http": NoDelayHttpToolsProtocol, "loop": loop}
