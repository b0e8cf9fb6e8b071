"""`keten cascade` with plain arguments, run without typer's parsing.

A cascade from the command line should answer about as fast as the server plus a Python
start (issue 19). Importing typer, building the whole command group and (since typer 0.2x)
coercing every option through a pydantic TypeAdapter cost about 0.13 s of CPU, a third of
the command, before the cascade started. So `main` first offers the arguments to
`quick_cascade`, which reads them only when they are of the plain forms below, and then
calls the function the typer command calls (keten.cli.cascade_answer.run_cascade) with the
values typer would pass it; typer is never imported. Anything else (`--help`, `--json`,
another command, an option it does not know, a value it is not certain of, a value out of
range) is left to typer, which answers or refuses it as always: this module never refuses
anything itself.

Plain forms: ids that do not start with `-`; `--hours`/`--horizon-hours`/`-H`,
`--min-strength` with a decimal number (`72`, `0.5`); `--limit` with a whole number;
`--assessments` and `--clearance` with one of their values as written in `--help` (lower
case); each option at most once, as `--name value` or `--name=value`.

>>> plain_cascade(["cascade", "res:fuel", "--limit", "5", "-H", "12.5"])
{'ids': ['res:fuel'], 'limit': 5, 'horizon_hours': 12.5}
>>> plain_cascade(["cascade", "res:fuel", "--limit", "0"]) is None  # typer refuses it
True
>>> plain_cascade(["cascade", "--help"]) is None
True
"""

from __future__ import annotations

import atexit
import errno
import os
import re
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from keten.cli.stores import Assessments
from keten.schema.markings import Tlp

DECIMAL = re.compile(r"[0-9]{1,7}(\.[0-9]{1,15})?")
WHOLE = re.compile(r"[1-9][0-9]{0,8}")


def decimal(low: float, high: float) -> Callable[[str], float | None]:
    """A reader of a plain decimal within [low, high] (the option's own range)."""

    def read(text: str) -> float | None:
        if DECIMAL.fullmatch(text) is None:
            return None
        value = float(text)
        return value if low <= value <= high else None

    return read


def whole(text: str) -> int | None:
    """A plain whole number of at least 1 (`--limit`'s range)."""
    return int(text) if WHOLE.fullmatch(text) else None


def choice(values: Sequence[Any]) -> Callable[[str], Any]:
    """A reader of one of `values` (StrEnum members) written exactly as their value."""
    by_value = {str(v.value): v for v in values}
    return by_value.get


OPTIONS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "--hours": ("horizon_hours", decimal(0, 1e6)),
    "--horizon-hours": ("horizon_hours", decimal(0, 1e6)),
    "-H": ("horizon_hours", decimal(0, 1e6)),
    "--min-strength": ("min_strength", decimal(0, 1)),
    "--limit": ("limit", whole),
    "--assessments": ("assessments", choice(list(Assessments))),
    "--clearance": ("clearance", choice(list(Tlp))),
}
"""Options of `keten cascade` read here: the parameter each sets, and its reader (None for a
value left to typer). tests/cli/test_quick.py holds them to the command's own options."""


def plain_cascade(args: Sequence[str]) -> dict[str, Any] | None:
    """The keyword arguments of `run_cascade` for `args`, or None to leave them to typer."""
    if not args or args[0] != "cascade":
        return None
    values: dict[str, Any] = {"ids": []}
    rest = list(args[1:])
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            values["ids"].append(token)
            continue
        name, equals, text = token.partition("=")
        if name not in OPTIONS or (not equals and (not rest or rest[0].startswith("-"))):
            return None
        if not equals:
            text = rest.pop(0)
        field, read = OPTIONS[name]
        value = read(text)
        if value is None or field in values:
            return None
        values[field] = value
    return values if values["ids"] else None


def quick_cascade(args: Sequence[str]) -> None:
    """Run `keten cascade` and exit when `args` are plain; return to let typer run them.

    Ends as KetenGroup.main ends a command: exit 0, an error's one line and exit code, 130 on
    Ctrl-C, 1 when the reader of the output went away (click's broken-pipe handling).
    """
    if "_KETEN_COMPLETE" in os.environ:  # shell completion is typer's
        return
    values = plain_cascade(args)
    if values is None:
        return
    # A cascade does no linear algebra, and numpy's OpenBLAS starts a thread per core as it
    # is imported: about 50 ms of CPU (half of numpy's start) for nothing. An explicit
    # setting of the user's is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from keten.cli.cascade_answer import run_cascade
    from keten.cli.errors import exit_with_error

    try:
        run_cascade(**values)
        sys.stdout.flush()  # here, so that a reader gone away is handled as below
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            exit_with_error(exc)
        try:  # typer vendors click from 0.2x on
            from typer._click.utils import PacifyFlushWrapper
        except ImportError:  # pragma: no cover
            from click.utils import PacifyFlushWrapper  # type: ignore[no-redef]

        sys.stdout = PacifyFlushWrapper(sys.stdout)
        sys.stderr = PacifyFlushWrapper(sys.stderr)
        sys.exit(1)
    except Exception as exc:
        exit_with_error(exc)
    leave()


def leave() -> NoReturn:
    """Exit 0 without Python's teardown, which frees every module and object one by one
    (numpy's among them): about 25 ms of CPU, a tenth of the command.

    Nothing is left to do by then: the output is flushed, the store closed, a projection
    read afresh or brought up to date was saved before it was used (ProjectionCache saves
    in a thread only in a server), and the exit handlers run (`logging`'s, and any a tool
    such as coverage registered). Only with another thread still running does it exit the
    usual way, which waits for that thread.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if threading.active_count() > 1:
        sys.exit(0)
    atexit._run_exitfuncs()  # CPython's own, what Py_Finalize runs
    os._exit(0)
