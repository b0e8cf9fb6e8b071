"""What the commands share: the options named as in the API, JSON, and (from their own
modules, named here too) the store and the tables.

The CLI sees everything (TLP:RED) unless `--clearance` asks for what a key of that clearance
would see. Tables use a light style that fits 80 columns (keten.cli.tables); `--json` prints
what the API answers. The store a command reads is keten.cli.stores'.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import orjson
import typer

from keten.cli.errors import USAGE, CliError
from keten.cli.stores import Assessments as Assessments
from keten.cli.stores import kept_projection as kept_projection
from keten.cli.stores import no_store as no_store
from keten.cli.stores import open_store as open_store
from keten.cli.stores import projection as projection
from keten.cli.stores import require_store as require_store
from keten.cli.stores import store_session as store_session
from keten.cli.tables import NAME_ROOM as NAME_ROOM
from keten.cli.tables import SPACING as SPACING
from keten.cli.tables import Grid as Grid
from keten.cli.tables import err as err
from keten.cli.tables import hours as hours
from keten.cli.tables import id_column as id_column
from keten.cli.tables import name_column as name_column
from keten.cli.tables import out as out
from keten.cli.tables import show as show
from keten.cli.tables import table as table
from keten.schema.markings import Tlp

JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]
ClearanceOption = Annotated[
    Tlp,
    typer.Option(
        help="Answer as for a key of this clearance (red sees everything).",
        case_sensitive=False,
    ),
]
AssessmentsOption = Annotated[
    Assessments,
    typer.Option(
        help="When institutes assessed a dependency differently: all count (the earliest "
        "failure wins) or only the most reliable one."
    ),
]
HoursOption = Annotated[
    float,
    typer.Option("--hours", "--horizon-hours", "-H", min=0, max=1e6, help="Horizon in hours."),
]
StrengthOption = Annotated[
    float, typer.Option(min=0, max=1, help="Ignore dependencies weaker than this.")
]


def local_user(name: str | None = None) -> str:
    """Who acts from this terminal, for the audit trail: `name`, else `cli:<login>`."""
    return name or f"cli:{getpass.getuser()}"


def echo_json(value: Any) -> None:
    """Print a result as the API would answer it (pydantic models as their JSON)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    typer.echo(orjson.dumps(value, default=str).decode())


def request(model: type[Any], **values: Any) -> Any:
    """Build an API request model from options; a refused value is a usage error (exit 2)
    naming the option (keten.cli.errors turns the ValidationError into that line)."""
    return model(**values)


def usage(message: str) -> CliError:
    """A usage error (exit 2)."""
    return CliError(message, USAGE)
