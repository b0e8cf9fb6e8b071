"""What the commands share: the store, the options named as in the API, JSON and tables.

A command that reads needs a store: with the embedded store that is `$KETEN_HOME/keten.sqlite`
(KETEN_HOME defaults to `./.keten`, relative to the current folder), and a missing one is an
error with exit 3 that says where keten looked, never an empty answer. `keten init` creates
the store. The CLI sees everything (TLP:RED) unless `--clearance` asks for what a key of
that clearance would see.

Tables use a light style that fits 80 columns; `--json` prints what the API answers.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich import box
from rich.console import Console
from rich.table import Column, Table

from keten.cli.errors import NOT_FOUND, USAGE, CliError
from keten.config import Settings
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from keten.graph.projection import Projection
    from keten.graph.store import GraphStore

# What the CLI prints is data (names, ids, relation keys, paths) as often as prose, and rich
# would read "[north]" or "[institute:rivm]" in it as a style tag and drop it: no markup is
# parsed, and the few styled lines say so with `style=`. (Not parsing also takes about a third
# off printing a 100-row table.)
out = Console(markup=False)
err = Console(stderr=True, markup=False)


class Assessments(StrEnum):
    """Which assessment of a dependency counts when institutes disagree (API `assessments`)."""

    ALL = "all"
    MOST_RELIABLE = "most_reliable"


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


def no_store(settings: Settings) -> CliError:
    """The error for a command that needs the embedded store where there is none."""
    home = settings.home
    where = str(home) if home.is_absolute() else f"{home} (in {Path.cwd()})"
    return CliError(
        f"no keten store in {where}: run `keten init` to create one, or set KETEN_HOME to "
        "the folder that holds your store",
        NOT_FOUND,
    )


def require_store() -> None:
    """Exit 3 early when the embedded store is missing, before a command imports its
    analysis (opening the store checks again)."""
    settings = Settings.from_env()
    if not settings.store_uri and not settings.sqlite_path.is_file():
        raise no_store(settings)


def open_store(create: bool = False) -> GraphStore:
    """The store KETEN_HOME / KETEN_STORE select; unless `create`, it must exist already.

    A KETEN_STORE that names no store, or a server that cannot be reached, is exit 3 too
    (keten.cli.errors turns the store's StoreUnavailableError into its one line).
    """
    from keten.graph import open_store as open_configured

    if not create:
        require_store()
    try:
        return open_configured(Settings.from_env())
    except ValueError as exc:  # a KETEN_STORE that is no store URI
        raise CliError(str(exc), NOT_FOUND) from None


@contextmanager
def store_session(create: bool = False) -> Iterator[GraphStore]:
    """`open_store`, closed afterwards."""
    store = open_store(create)
    try:
        yield store
    finally:
        store.close()


def projection(clearance: Tlp, assessments: Assessments = Assessments.ALL) -> Projection:
    """The analysis graph of the store as `clearance` sees it (the API's projection)."""
    with store_session() as store:
        return kept_projection(store, clearance, assessments)


def kept_projection(
    store: GraphStore, clearance: Tlp, assessments: Assessments = Assessments.ALL
) -> Projection:
    """The projection of `store`'s current revision, opened from those kept beside the store
    (and brought up to date, or read and kept there when none fits): what the server uses,
    so a command does not read the whole store each time."""
    from keten.graph.projection import ProjectionCache

    cache = ProjectionCache(store, Settings.from_env().projection_dir)
    return cache.get(clearance, assessments.value)


def local_user(name: str | None = None) -> str:
    """Who acts from this terminal, for the audit trail: `name`, else `cli:<login>`."""
    return name or f"cli:{getpass.getuser()}"


def echo_json(value: Any) -> None:
    """Print a result as the API would answer it (pydantic models as their JSON)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    typer.echo(orjson.dumps(value, default=str).decode())


class Grid(Table):
    """A rich Table that knows its name columns (see `name_column` and `show`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name_columns: list[Column] = []


def table(title: str | None = None, caption: str | None = None) -> Grid:
    """A table in the CLI's light style: a rule under the header, two spaces between columns,
    no borders."""
    return Grid(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        title_justify="left",
        caption_justify="left",
        title_style="bold",
        caption_style="dim",
    )


SPACING = 2
"""Characters between two columns of `table()`: the right padding and the divider."""

NAME_ROOM = 12
"""A name column narrower than this is left out: a cut name says little, the id says it."""


def id_column(grid: Grid, header: str = "id") -> None:
    """A column of ids: never cut; folded only when an id is longer than the line."""
    grid.add_column(header, no_wrap=True, overflow="fold")


def name_column(grid: Grid, header: str = "name") -> None:
    """A column of names: shortened with an ellipsis to the room the other columns leave, and
    left out when that is less than NAME_ROOM (`--json` has every name)."""
    grid.add_column(header, no_wrap=True, overflow="ellipsis")
    grid.name_columns.append(grid.columns[-1])


def show(grid: Table) -> None:
    """Print a table so that it fits the console (80 columns when not a terminal)."""
    from rich.cells import cell_len

    def natural(column: Any) -> int:
        cells = [str(column.header), *(str(cell) for cell in column._cells)]
        return max(cell_len(line) for cell in cells for line in cell.splitlines() or [""])

    if isinstance(grid.title, str):
        # rich wraps a title to the table's width: an empty table would fold its own title.
        grid.min_width = min(cell_len(grid.title), out.width)
    names = {id(c) for c in getattr(grid, "name_columns", [])}
    if names:
        others = [c for c in grid.columns if id(c) not in names]
        room = out.width - sum(natural(c) for c in others) - SPACING * (len(grid.columns) - 1)
        share = room // len(names)
        if share < NAME_ROOM:
            grid.columns[:] = others
        for column in grid.columns:
            if id(column) in names:
                column.max_width = share
    out.print(grid)


def hours(value: float) -> str:
    """Hours as the tables print them: 2, 0.5, 1,440."""
    return f"{value:,.6g}" if value < 1e6 else f"{value:,.0f}"


def request(model: type[Any], **values: Any) -> Any:
    """Build an API request model from options; a refused value is a usage error (exit 2)
    naming the option (keten.cli.errors turns the ValidationError into that line)."""
    return model(**values)


def usage(message: str) -> CliError:
    """A usage error (exit 2)."""
    return CliError(message, USAGE)
