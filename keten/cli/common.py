"""What the commands share: the options named as in the API, and JSON.

The CLI sees everything (TLP:RED) unless `--clearance` asks for what a key of that clearance
would see. `--json` prints what the API answers; tables are keten.cli.tables', and the store
a command reads is keten.cli.stores'.
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import orjson
import typer

from keten.cli.errors import USAGE, CliError
from keten.cli.stores import Assessments
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
