"""Command line of keten; each module registers its commands on `keten.cli.app.app`.

Importing this package stays light (no numpy, numba, scipy, networkx, matplotlib or pyvis):
commands import what they need when they run.
"""

from keten.cli import (  # noqa: F401  (importing a module registers its commands)
    analysis,
    browse,
    keys,
    review,
    risk,
    serve,
    store_commands,
    supply,
)
from keten.cli.app import STORE, app

for group in app.registered_groups:
    if group.name == "keys":  # registered without a help panel by keten.cli.keys
        group.rich_help_panel = STORE


def main() -> None:
    """Console-script entry point: a plain `keten cascade` runs at once (keten.cli.quick),
    everything else through typer."""
    import sys

    from keten.cli.quick import quick_cascade

    quick_cascade(sys.argv[1:])
    app(prog_name="keten")
