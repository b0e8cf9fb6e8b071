"""`keten serve`: the HTTP API on uvicorn, bound to loopback unless told otherwise."""

from __future__ import annotations

from typing import Annotated

import typer

from keten.cli.application import STORE, app
from keten.cli.stores import open_store


@app.command(rich_help_panel=STORE)
def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; 0.0.0.0 exposes the API to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (about one per core).")
    ] = 1,
) -> None:
    """Serve the HTTP API (docs at /docs) over the store of KETEN_HOME or KETEN_STORE.

    The store must exist (`keten init` creates it): a missing store, a KETEN_STORE that names
    none or a server that cannot be reached is one line and exit 3, not a traceback from
    every worker.
    """
    check_store()
    from keten.api.server import serve as run

    run(host=host, port=port, workers=workers)


def check_store() -> None:
    """Open and close the configured store once (errors are keten.cli.errors' one line)."""
    open_store().close()
