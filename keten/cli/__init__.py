"""Command line of keten; each module registers its commands on `keten.cli.app.app`."""

from keten.cli import store_commands  # noqa: F401  (registers init, load, export)
from keten.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
