"""`keten serve`: the HTTP API on uvicorn, bound to loopback unless told otherwise."""

from __future__ import annotations

from typing import Annotated

import typer

from keten.cli.app import app


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; 0.0.0.0 exposes the API to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (about one per core).")
    ] = 1,
) -> None:
    """Serve the HTTP API (docs at /docs) over the store KETEN_HOME / KETEN_STORE select."""
    from keten.api.server import serve as run

    run(host=host, port=port, workers=workers)
