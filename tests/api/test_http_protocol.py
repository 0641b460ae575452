"""``moderation serve --workers N``: uvicorn binds the listening socket itself, with protocol
number 0, and asyncio then leaves Nagle's algorithm on for the accepted connections; every
response waited ~40 ms for the client's delayed ACK. Our protocol turns Nagle off."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from moderation.api.http_protocol import NoDelayH11Protocol


async def _app(scope: object, receive: object, send: object) -> None:  # never called
    raise AssertionError("no request is sent")


def _nodelay_of_accepted_connection(protocol: type[H11Protocol]) -> int:
    """Serve ``protocol`` on a socket bound as uvicorn's workers bind it, connect, and read
    TCP_NODELAY off the server's side of the connection."""

    async def run() -> int:
        config = uvicorn.Config(_app, log_level="warning")
        config.load()
        state = ServerState()
        made: asyncio.Future[H11Protocol] = asyncio.get_running_loop().create_future()

        def factory() -> H11Protocol:
            proto = protocol(config=config, server_state=state, app_state={})
            made.set_result(proto)
            return proto

        listener = socket.socket(family=socket.AF_INET)  # as uvicorn.Config.bind_socket does
        listener.bind(("127.0.0.1", 0))
        server = await asyncio.get_running_loop().create_server(factory, sock=listener)
        try:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            proto = await asyncio.wait_for(made, 5)
            sock = proto.transport.get_extra_info("socket")
            value = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            writer.close()
            return int(value)
        finally:
            server.close()

    return asyncio.run(run())


def test_uvicorns_own_protocol_leaves_nagle_on_for_such_a_socket() -> None:
    """The bug this protocol exists for (if uvicorn fixes it, this fails: drop the class)."""
    assert _nodelay_of_accepted_connection(H11Protocol) == 0


def test_our_protocol_turns_nagle_off() -> None:
    assert _nodelay_of_accepted_connection(NoDelayH11Protocol) != 0
