"""Tables as the command line prints them: a light style that fits 80 columns, and the two
consoles (stdout, stderr).

Apart from keten.cli.common because it needs rich only, not typer: a plain `keten cascade`
(keten.cli.quick) prints its tables without importing typer.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Column, Table

# What the CLI prints is data (names, ids, relation keys, paths) as often as prose, and rich
# would read "[north]" or "[institute:rivm]" in it as a style tag and drop it: no markup is
# parsed, and the few styled lines say so with `style=`. (Not parsing also takes about a third
# off printing a 100-row table.)
out = Console(markup=False)
err = Console(stderr=True, markup=False)


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
