"""`keten serve` in a process of its own, for the benches that measure it over HTTP.

The server runs apart from the clients so that they do not share a GIL, and it is the
`keten` console script a user runs, installed beside this Python.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

KETEN = str(Path(sys.executable).with_name("keten"))


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(
    home: Path,
    store: str = "sqlite",
    workers: int = 1,
    env: dict[str, str] | None = None,
    wait_seconds: float = 120.0,
) -> Iterator[str]:
    """`keten serve` over `home` and `store` (`sqlite` or a Neo4j URI), with `env` added to
    its environment; yields its URL once `/health` answers."""
    port = free_port()
    full = {**os.environ, "KETEN_HOME": str(home), **(env or {}), "KETEN_STORE": store}
    command = [KETEN, "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, env=full, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                httpx.get(f"{url}/health", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("keten serve did not start") from None
                time.sleep(0.02)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
