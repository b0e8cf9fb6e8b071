"""`keten serve` runs the API on loopback over the store in $KETEN_HOME."""

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

RUN_CLI = "from keten.cli import main; main()"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(home: Path) -> dict[str, str]:
    return {**os.environ, "KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}


def create_key(home: Path, role: str) -> str:
    command = [sys.executable, "-c", RUN_CLI, "keys", "create", "--role", role]
    done = subprocess.run(command, env=cli_env(home), capture_output=True, text=True, check=True)
    return done.stdout.strip()


@contextmanager
def keten_serve(home: Path, *options: str) -> Iterator[str]:
    """`keten serve` on a free loopback port; yields its URL once /health answers."""
    port = free_port()
    command = [sys.executable, "-c", RUN_CLI, "serve", "--port", str(port), *options]
    server = subprocess.Popen(
        command, env=cli_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health")
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "keten serve did not start"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", RUN_CLI, *args]
    return subprocess.run(command, env=cli_env(home), capture_output=True, text=True, timeout=120)


def test_serve_answers_health_and_keys_work(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run_cli(home, "init", "--no-reference").returncode == 0
    key = create_key(home, "reader")
    with keten_serve(home) as url:
        health = httpx.get(f"{url}/health")
        assert health.json()["store"] == "sqlite"
        assert httpx.get(f"{url}/entities").status_code == 401
        assert httpx.get(f"{url}/entities", headers={"X-API-Key": key}).status_code == 200


def test_serve_binds_loopback_by_default() -> None:
    from keten.cli.serve import serve

    assert (serve.__defaults__ or ())[0] == "127.0.0.1"


def test_a_bad_store_setting_is_one_clear_error(tmp_path: Path) -> None:
    env = {**cli_env(tmp_path / "home"), "KETEN_STORE": "http://localhost:7474"}
    command = [sys.executable, "-c", RUN_CLI, "serve", "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr.startswith("error: KETEN_STORE='http://localhost:7474'")
    assert len(done.stderr.splitlines()) == 1


def test_serve_refuses_a_missing_store_instead_of_serving_an_empty_one(tmp_path: Path) -> None:
    home = tmp_path / "nowhere"
    command = [sys.executable, "-c", RUN_CLI, "serve", "--port", str(free_port())]
    done = subprocess.run(command, env=cli_env(home), capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stderr == (
        f"error: no keten store in {home}: run `keten init` to create one, or set KETEN_HOME "
        "to the folder that holds your store\n"
    )
    assert not home.exists()
