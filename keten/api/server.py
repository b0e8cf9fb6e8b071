"""Running the API: in the foreground for `keten serve` (one or more worker processes), or
on a background thread for tests, notebooks and benchmarks that need a real HTTP server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayProtocol(H11Protocol):
    """uvicorn's HTTP protocol with Nagle's algorithm off on every connection.

    With several workers uvicorn binds the listening socket without naming IPPROTO_TCP, and
    asyncio turns TCP_NODELAY on only for sockets that name it: every small answer then
    waited about 40 ms for the client's delayed ACK (a flat 44 ms median at any load).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock: Any = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the app of the environment's settings until interrupted.

    Each of `workers` processes builds its own app (store connections, projection cache);
    SQLite in WAL mode lets them read in parallel while one writes, and keys are checked
    against the shared key file on every request, so a revocation holds in every worker.
    """
    uvicorn.run(
        "keten.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=NoDelayProtocol,
        log_level="info",
        access_log=False,
    )


START_SECONDS = 120.0
"""How long a background server may take to start: the first start on a fresh checkout
compiles the analysis kernels (keten.queries.kernel.warm_up) before it answers."""


@contextmanager
def background_server(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on a free port of `host` in a thread; yields the base URL, stops on exit."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then (else ~40 ms per response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.005)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
