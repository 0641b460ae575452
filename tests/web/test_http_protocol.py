"""``moderation serve --workers N``: uvicorn binds the listening socket itself, with protocol
number 0, and asyncio then leaves Nagle's algorithm on for the accepted connections; every
response waited ~40 ms for the client's delayed ACK. Our protocol turns Nagle off, on the
event loop ``serve`` runs (uvloop) and on asyncio's."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
import uvicorn
import uvloop
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from moderation.web.http_protocol import NoDelayHttpToolsProtocol, server_options

Protocol = type[H11Protocol] | type[HttpToolsProtocol]
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


async def _app(scope: object, receive: object, send: object) -> None:  # never called
    raise AssertionError("no request is sent")


def _nodelay_of_accepted_connection(protocol: Protocol, loop: str) -> int:
    """Serve ``protocol`` on a socket bound as uvicorn's workers bind it, connect, and read
    TCP_NODELAY off the server's side of the connection."""

    async def run() -> int:
        config = uvicorn.Config(_app, log_level="warning")
        config.load()
        state = ServerState()
        made: asyncio.Future[asyncio.Protocol] = asyncio.get_running_loop().create_future()

        def factory() -> asyncio.Protocol:
            proto = protocol(config=config, server_state=state, app_state={})
            made.set_result(proto)
            return proto

        listener = socket.socket(family=socket.AF_INET)  # as uvicorn.Config.bind_socket does
        listener.bind(("127.0.0.1", 0))
        server = await asyncio.get_running_loop().create_server(factory, sock=listener)
        try:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            proto = await asyncio.wait_for(made, 5)
            sock = proto.transport.get_extra_info("socket")  # type: ignore[attr-defined]
            value = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            writer.close()
            return int(value)
        finally:
            server.close()

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        return runner.run(run())


@pytest.mark.parametrize("protocol", [H11Protocol, HttpToolsProtocol])
def test_uvicorns_own_protocols_leave_nagle_on_for_such_a_socket(protocol: Protocol) -> None:
    """The bug these protocols exist for, on asyncio's loop (if uvicorn fixes it, this
    fails: drop the classes)."""
    assert _nodelay_of_accepted_connection(protocol, "asyncio") == 0


@pytest.mark.parametrize("loop", LOOPS)
def test_our_protocol_turns_nagle_off(loop: str) -> None:
    assert _nodelay_of_accepted_connection(NoDelayHttpToolsProtocol, loop) != 0


def test_serve_runs_httptools_on_uvloop() -> None:
    assert server_options() == {"http": NoDelayHttpToolsProtocol, "loop": "uvloop"}
