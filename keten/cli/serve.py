"""`keten serve`: the HTTP API on uvicorn, bound to loopback unless told otherwise."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from keten.cli.app import app
from keten.config import Settings


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

    check_store()
    run(host=host, port=port, workers=workers)


def check_store() -> None:
    """Open and close the configured store once, so a bad setting is one clear line, not a
    traceback from every worker."""
    from keten.graph import open_store

    try:
        open_store(Settings.from_env()).close()
    except Exception as exc:
        Console(stderr=True).print(f"[bold red]cannot open the store:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
