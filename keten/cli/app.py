"""The `keten` typer application that every command module registers on."""

import typer

app = typer.Typer(
    name="keten",
    help="keten: a knowledge network for national-security analysis.",
    no_args_is_help=True,
    add_completion=False,
)
