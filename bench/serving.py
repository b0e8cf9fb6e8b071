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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) process `pid` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serving_process(
    command: list[str], env: dict[str, str], probe: str, wait_seconds: float = 120.0
) -> Iterator[tuple[str, int]]:
    """Run the HTTP server `command` (with `--port` or a last argument taking the port from
    the `{port}` in it) and yield its URL and pid once `probe` (a path) answers."""
    port = free_port()
    server = subprocess.Popen(
        [part.replace("{port}", str(port)) for part in command],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                httpx.get(f"{url}{probe}", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.02)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


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
    with served_with_pid(home, store, workers, env, wait_seconds) as (url, _):
        yield url


@contextmanager
def served_with_pid(
    home: Path,
    store: str = "sqlite",
    workers: int = 1,
    env: dict[str, str] | None = None,
    wait_seconds: float = 120.0,
) -> Iterator[tuple[str, int]]:
    """`served`, also yielding the server's pid (with one worker, the process that serves)."""
    full = {**os.environ, "KETEN_HOME": str(home), **(env or {}), "KETEN_STORE": store}
    command = [KETEN, "serve", "--port", "{port}", "--workers", str(workers)]
    with serving_process(command, full, "/health", wait_seconds) as answer:
        yield answer
