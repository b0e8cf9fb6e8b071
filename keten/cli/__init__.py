"""Command line of keten; each module registers its commands on the typer application of
`keten.cli.application`, which `keten.cli.app` names with every command registered.

Importing this package stays light (no numpy, numba, scipy, networkx, matplotlib or pyvis):
commands import what they need when they run. Not even typer is imported until `app` is
asked for: `main` first offers the command line to keten.cli.quick, which runs a plain
`keten cascade` without typer (its import and its parsing were a third of that command).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keten.cli.application import app as app

COMMAND_MODULES = (
    "analysis",
    "browse",
    "keys",
    "review",
    "risk",
    "serve",
    "store_commands",
    "supply",
)
"""The modules that register commands when imported."""


def registered() -> Any:
    """The typer application with every command registered (what `keten.cli.app` is)."""
    from importlib import import_module

    for name in COMMAND_MODULES:
        import_module(f"keten.cli.{name}")
    from keten.cli.application import STORE, app

    for group in app.registered_groups:
        if group.name == "keys":  # registered without a help panel by keten.cli.keys
            group.rich_help_panel = STORE
    globals()["app"] = app
    return app


def __getattr__(name: str) -> Any:
    """`app`, its commands registered on first use (PEP 562)."""
    if name == "app":
        return registered()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: a plain `keten cascade` runs at once (keten.cli.quick),
    everything else through typer."""
    import sys

    from keten.cli.quick import quick_cascade

    quick_cascade(sys.argv[1:])
    registered()(prog_name="keten")
