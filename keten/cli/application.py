"""The `keten` typer application that every command module registers on.

Errors end the way DESIGN.md promises: one line on stderr and exit code 1 (refused input),
2 (usage) or 3 (not found, or no store). `KetenGroup.main` turns usage errors and the errors
the library raises (keten.cli.errors) into that line, so no command prints a traceback;
`KETEN_DEBUG=1` lets unexpected errors through with theirs.

Nothing heavy is imported here or at the top of a command module: numpy, numba, scipy,
networkx, matplotlib and pyvis load inside the commands that use them, so `keten --help`,
completion and `keten serve` start without them (tests/cli/test_startup.py checks).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer vendors click from 0.2x on; earlier versions use the click package
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

NO_ARGS_IS_HELP: Any = getattr(click_errors, "NoArgsIsHelpError", ())
ABORT: Any = (typer.Abort, getattr(click_errors, "Abort", typer.Abort))


class KetenGroup(TyperGroup):
    """The command group, run in non-standalone mode so that errors become one line."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run a command; on error print one line and exit with the contract's code."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        from keten.cli.errors import error_line, exit_with_error

        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except NO_ARGS_IS_HELP as exc:
            message = exc.format_message()  # empty when rich already printed the help
            if message.strip():
                typer.echo(message)
            sys.exit(0)
        except click_errors.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            error_line(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except ABORT:
            error_line("aborted")
            sys.exit(1)
        except Exception as exc:
            exit_with_error(exc)
        sys.exit(code if isinstance(code, int) else 0)


ANALYSES = "Analyses"
LOOKUP = "Looking things up"
REVIEW = "Review and audit"
STORE = "The store and the server"
"""Help panels that group the commands in `keten --help`."""


def show_version(value: bool) -> None:
    """`--version`: print the installed version and stop."""
    if value:
        from importlib.metadata import version

        typer.echo(f"keten {version('keten')}")
        raise typer.Exit()


app = typer.Typer(
    name="keten",
    cls=KetenGroup,
    epilog="Data lives in $KETEN_HOME (default ./.keten; `keten init` creates it); "
    "KETEN_STORE=bolt://... selects a Neo4j server. Exit codes: 0 ok, 1 refused input, "
    "2 usage, 3 not found or no store.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=show_version,
            is_eager=True,
            help="Print keten's version and exit.",
        ),
    ] = False,
) -> None:
    """keten: a knowledge network for national-security analysis.

    Commands that answer print a table that fits 80 columns, or with --json the API's JSON
    answer. They see everything in the store unless --clearance asks for what a key of that
    clearance would see.
    """
