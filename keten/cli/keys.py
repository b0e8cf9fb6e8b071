"""`keten keys create`: make an API key; the key alone goes to stdout, so scripts can capture it.

Only a salted hash is stored (in `$KETEN_HOME/keys.sqlite`); the key cannot be shown again.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from keten.api.keys import KeyStore, Role
from keten.cli.app import app
from keten.config import Settings
from keten.schema.markings import Tlp

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
err = Console(stderr=True)


@keys_app.command("create")
def create(
    role: Annotated[
        Role, typer.Option(help="reader < contributor < reviewer < admin (cumulative).")
    ],
    clearance: Annotated[
        Tlp, typer.Option(help="Highest TLP marking the key may see and write.")
    ] = Tlp.CLEAR,
    label: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
) -> None:
    """Make a key and print it once on stdout."""
    store = KeyStore(Settings.from_env().keys_path)
    try:
        new = store.create(role, clearance, label)
    finally:
        store.close()
    err.print(f"key {new.info.key_id}: {role.value}, clearance {clearance.value}", highlight=False)
    typer.echo(new.secret)
