"""`keten keys create | list | revoke`: the API keys in `$KETEN_HOME/keys.sqlite`.

`create` prints the new key alone on stdout, so scripts can capture it; only a salted hash
is stored and the key cannot be shown again. Keys that write (contributor, reviewer,
admin) need clearance green or higher (clear and green records share one id namespace, so
every writer must see both); asking for less is a usage error (exit 2). The command line
works on the key file itself, so it sees and revokes keys of every clearance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated

import orjson
import typer
from rich.table import Table

from keten.api.keys import KeyInfo, KeyStore, Role, grant_problem
from keten.cli.application import app
from keten.cli.tables import err, out
from keten.config import Settings
from keten.schema.markings import Tlp

keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@contextmanager
def key_store() -> Iterator[KeyStore]:
    """The key store of the environment's KETEN_HOME, closed afterwards."""
    store = KeyStore(Settings.from_env().keys_path)
    try:
        yield store
    finally:
        store.close()


@keys_app.command("create")
def create(
    role: Annotated[
        Role, typer.Option(help="reader < contributor < reviewer < admin (cumulative).")
    ],
    clearance: Annotated[
        Tlp,
        typer.Option(
            help="Highest TLP marking the key may see and write (writers: green or higher)."
        ),
    ] = Tlp.CLEAR,
    label: Annotated[str, typer.Option(help="Who or what the key is for.")] = "",
) -> None:
    """Make a key and print it once on stdout."""
    problem = grant_problem(role, clearance)
    if problem:
        raise typer.BadParameter(problem, param_hint="'--clearance'")
    with key_store() as store:
        new = store.create(role, clearance, label)
    err.print(f"key {new.info.key_id}: {role.value}, clearance {clearance.value}", highlight=False)
    typer.echo(new.secret)


def keys_table(infos: list[KeyInfo]) -> Table:
    """Keys as a table: id, role, clearance, label, created, revoked."""
    table = Table(title="API keys", title_justify="left")
    for column in ("key id", "role", "clearance", "label", "created", "revoked"):
        table.add_column(column)
    for info in infos:
        table.add_row(
            info.key_id,
            info.role.value,
            info.clearance.value,
            info.label,
            info.created_at,
            info.revoked_at or "",
        )
    return table


@keys_app.command("list")
def list_keys(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, like `GET /keys`.")] = False,
) -> None:
    """Every key, revoked ones included, oldest first (never a secret: none is stored)."""
    with key_store() as store:
        infos = store.list()
    if as_json:
        typer.echo(orjson.dumps([asdict(info) for info in infos]).decode())
    else:
        out.print(keys_table(infos))


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (`kt_<key id>_...`).")]) -> None:
    """Revoke a key at once; its browser sessions end with it. Exit 3 if there is no such
    active key.
    """
    with key_store() as store:
        revoked = store.revoke(key_id)
    if not revoked:
        err.print(f"no active key {key_id!r}", highlight=False)
        raise typer.Exit(3)
    err.print(f"key {key_id} revoked", highlight=False)
