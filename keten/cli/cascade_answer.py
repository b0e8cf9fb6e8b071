"""`keten cascade`'s work and tables, without typer.

keten.cli.analysis declares the command and its options; keten.cli.quick runs a plain
command line without typer (its import and parsing were a third of the command). Both call
`run_cascade` with the same values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keten.cli.stores import Assessments, projection, require_store
from keten.cli.tables import hours, id_column, name_column, out, show, table
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from rich.table import Table

    from keten.queries.cascade import AffectedEntity, AffectedInterest, CascadeResult
    from keten.queries.cascade_search import Affected, Found, Hit

    Cascade = CascadeResult | Found[Affected, Hit] | Found[AffectedEntity, AffectedInterest]
    """A cascade's answer as the API's model or as plain records: the tables read either."""


def run_cascade(
    ids: list[str],
    horizon_hours: float = 72.0,
    min_strength: float = 0.0,
    limit: int = 100,
    assessments: Assessments = Assessments.ALL,
    clearance: Tlp = Tlp.RED,
    as_json: bool = False,
) -> None:
    """Print what a disruption of `ids` sets off (`--json`: the API's answer)."""
    require_store()
    from keten.queries.cascade_search import Affected, Hit, request_fits, search

    if not request_fits(ids, horizon_hours, min_strength, limit):
        from keten.queries.cascade import CascadeRequest

        # the API's request model refuses the value, naming the field (exit 2)
        CascadeRequest(
            sources=ids, horizon_hours=horizon_hours, min_strength=min_strength, limit=limit
        )
    graph = projection(clearance, assessments)
    if as_json:
        from keten.cli.common import echo_json
        from keten.queries.cascade import cascade

        echo_json(cascade(graph, ids, horizon_hours, min_strength, limit))
    else:  # a table needs no pydantic model: the same search, answered as plain records
        print_cascade(
            search(graph, ids, horizon_hours, min_strength, limit, Affected, Hit), horizon_hours
        )


def cascade_table(result: Cascade, horizon: float) -> Table:
    """Affected entities in order of time to impact; `after` is the predecessor that explains
    the time (the whole chain is in the JSON answer)."""
    grid = table(
        f"{result.total:,} entities affected within {hours(horizon)} h "
        f"(showing {len(result.affected):,}; revision {result.revision})"
    )
    grid.add_column("hours", justify="right", no_wrap=True)
    grid.add_column("depth", justify="right", no_wrap=True)
    id_column(grid)
    id_column(grid, "after")
    name_column(grid)
    for item in result.affected:
        grid.add_row(
            hours(item.time_to_impact_hours),
            str(item.depth),
            item.id,
            item.via[-1] if item.via else "",
            item.name,
        )
    return grid


def interests_table(result: Cascade) -> Table:
    """Interests reached through SAFEGUARDS: when, the process that hits first, how many do."""
    grid = table("National-security interests hit")
    grid.add_column("hours", justify="right", no_wrap=True)
    id_column(grid, "interest")
    id_column(grid, "first through")
    grid.add_column("processes", justify="right", no_wrap=True)
    for interest in result.interests:
        grid.add_row(
            hours(interest.time_to_impact_hours),
            interest.id,
            interest.processes[0] if interest.processes else "",
            f"{len(interest.processes):,}",
        )
    return grid


def print_cascade(result: Cascade, horizon: float) -> None:
    """The cascade tables (interests only when some are hit)."""
    show(cascade_table(result, horizon))
    if result.interests:
        out.print()
        show(interests_table(result))
