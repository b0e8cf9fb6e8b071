"""Command line of keten; each module registers its commands on `keten.cli.app.app`."""

from keten.cli import (  # noqa: F401  (importing a module registers its commands)
    analysis,
    keys,
    risk,
    serve,
    store_commands,
    supply,
)
from keten.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
