"""`keten serve`'s HTTP protocol: Nagle's algorithm off on every connection, whatever socket
uvicorn bound (several workers share one bound without IPPROTO_TCP)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from keten.api.server import NoDelayProtocol


async def nodelay_after(protocol: type[H11Protocol], accepted: socket.socket) -> int:
    """TCP_NODELAY of `accepted` once `protocol` has taken the connection over."""
    config = uvicorn.Config(app=lambda scope, receive, send: None, log_level="warning")
    config.load()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_accepted_socket(
        lambda: protocol(config=config, server_state=ServerState(), app_state={}), accepted
    )
    try:
        return accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        transport.close()


@pytest.mark.parametrize(("protocol", "expected"), [(H11Protocol, 0), (NoDelayProtocol, 1)])
def test_connections_of_a_socket_bound_as_uvicorn_binds_for_workers(
    protocol: type[H11Protocol], expected: int
) -> None:
    with socket.socket(socket.AF_INET) as listener:  # proto 0, as uvicorn's bind_socket
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            assert asyncio.run(nodelay_after(protocol, accepted)) == expected
