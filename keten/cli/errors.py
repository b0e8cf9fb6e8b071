"""Errors of the command line: exit codes, `CliError`, and the library's errors as one line.

Exit codes (DESIGN.md): 0 ok, 1 refused input, 2 usage, 3 not found or no store.

>>> describe(CliError("no such thing", NOT_FOUND))
(3, 'no such thing')
>>> describe(ValueError("not one of ours")) is None
True
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Mapping
from typing import NoReturn

OK = 0
REFUSED = 1
USAGE = 2
NOT_FOUND = 3


class CliError(Exception):
    """An error a command reports as one line, with its exit code."""

    def __init__(self, message: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.code = code


def error_line(message: str) -> None:
    """Print `error: message` as one line on stderr (red on a terminal)."""
    import typer  # here: a plain `keten cascade` (keten.cli.quick) runs without typer

    flat = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    typer.secho("error:", fg="red", bold=True, err=True, nl=False)
    typer.echo(f" {flat}", err=True)


def exit_with_error(exc: Exception) -> NoReturn:
    """End a command that raised `exc`: its one line and exit code, or with KETEN_DEBUG=1 the
    traceback of an error keten does not know."""
    known = describe(exc)
    if known is None and os.environ.get("KETEN_DEBUG"):
        raise exc
    exit_code, message = known or (
        1,
        f"unexpected {type(exc).__name__}: {exc} (KETEN_DEBUG=1 shows the traceback)",
    )
    error_line(message)
    sys.exit(exit_code)


def describe(exc: BaseException) -> tuple[int, str] | None:
    """Exit code and message for an error a command may meet; None for anything else.

    Modules are imported here, at error time, so that no command pays for them up front.
    """
    if isinstance(exc, CliError):
        return exc.code, str(exc)
    from keten.config import ConfigError

    if isinstance(exc, ConfigError):
        return USAGE, str(exc)
    from pydantic import ValidationError

    from keten.graph.store import HistoryUnavailableError, KindChangeError, StoreUnavailableError
    from keten.queries.errors import AnalysisInputError, UnknownEntityError

    if isinstance(exc, StoreUnavailableError):
        return NOT_FOUND, str(exc)
    if isinstance(exc, UnknownEntityError):
        return NOT_FOUND, str(exc)
    if isinstance(exc, HistoryUnavailableError):
        return NOT_FOUND, str(exc)
    if isinstance(exc, AnalysisInputError | KindChangeError):
        return REFUSED, str(exc)
    if isinstance(exc, ValidationError):
        return USAGE, invalid_options(exc)
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.ProgrammingError | sqlite3.InterfaceError
    ):
        return NOT_FOUND, f"cannot read the store ({exc}); check KETEN_HOME"
    if type(exc).__name__ == "SubmissionError":
        status = getattr(exc, "status", 409)
        return (NOT_FOUND if status == 404 else REFUSED), str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return REFUSED, f"{exc.filename}: {exc.strerror or exc}"
    return None


OPTION_NAMES: Mapping[str, str] = {
    "horizon_hours": "--hours",
    "sources": "IDS",
    "perturbation": "ID=SHARE",
    "source": "SOURCE",
    "target": "TARGET",
    "country": "COUNTRY",
}
"""Request fields whose option or argument is not simply `--field-name`."""


def invalid_options(error: object) -> str:
    """A pydantic ValidationError of a request model, in the command line's names."""
    problems = []
    for item in error.errors():  # type: ignore[attr-defined]
        loc = [str(part) for part in item["loc"]]
        field = loc[0] if loc else ""
        name = OPTION_NAMES.get(field, "--" + field.replace("_", "-")) if field else "input"
        where = name + "".join(f"[{part}]" for part in loc[1:])
        problems.append(f"{where}: {item['msg']}")
    return "invalid value(s): " + "; ".join(problems)


def fail(message: str, code: int = REFUSED) -> CliError:
    """The error to raise for `message` (exit `code`)."""
    return CliError(message, code)


def warn(message: str) -> None:
    """A one-line note on stderr that is not an error."""
    print(message, file=sys.stderr)
