"""`keten serve` runs the API on loopback over the store in $KETEN_HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

RUN_CLI = "import keten.cli.serve, keten.cli.keys; from keten.cli.app import app; app()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_health_and_keys_work(tmp_path: Path) -> None:
    env = {**os.environ, "KETEN_HOME": str(tmp_path / "home")}
    env.pop("KETEN_STORE", None)
    key = subprocess.run(
        [sys.executable, "-c", RUN_CLI, "keys", "create", "--role", "reader"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{url}/health")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "keten serve did not start"
                time.sleep(0.1)
        assert health.json()["store"] == "sqlite"
        assert httpx.get(f"{url}/entities").status_code == 401
        assert httpx.get(f"{url}/entities", headers={"X-API-Key": key}).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_binds_loopback_by_default() -> None:
    from keten.cli.serve import serve

    defaults = serve.__defaults__ or ()
    assert "127.0.0.1" in defaults
