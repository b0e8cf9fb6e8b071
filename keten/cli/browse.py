"""`keten show`, `keten search` and `keten neighbourhood`: looking things up in the store.

They answer what `GET /entities/{id}`, `GET /entities?q=` and
`GET /entities/{id}/neighbourhood` answer, with the same defaults; an unknown id (or one
above `--clearance`) exits 3, like the API's 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from keten.cli.application import LOOKUP, app
from keten.cli.common import ClearanceOption, JsonOption, echo_json
from keten.cli.errors import NOT_FOUND, CliError
from keten.cli.stores import store_session
from keten.cli.tables import id_column, name_column, out, show, table
from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from rich.table import Table

    from keten.graph.store import EntityRow, RelationRow

IdArgument = Annotated[str, typer.Argument(help="Entity id, like vp:drinking-water.")]


def not_found(entity_id: str) -> CliError:
    """The error for an id that is unknown or above the clearance (exit 3)."""
    return CliError(f"no entity {entity_id!r}", NOT_FOUND)


def value_text(value: Any) -> str:
    """A property value as one line: strings as they are, the rest as compact JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def record_table(record: dict[str, Any]) -> Table:
    """An entity's fields, one per row."""
    grid = table(f"{record['id']} ({record['kind']})")
    grid.add_column("field", no_wrap=True, style="bold")
    grid.add_column("value", overflow="fold")
    for field, value in record.items():
        if field not in {"id", "kind"}:
            grid.add_row(field, value_text(value))
    return grid


@app.command("show", rich_help_panel=LOOKUP)
def show_command(
    entity_id: IdArgument,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """One entity with all its properties (`GET /entities/{id}`)."""
    with store_session() as store:
        entity = store.get_entity(entity_id, clearance)
    if entity is None:
        raise not_found(entity_id)
    record = entity.as_record()
    if as_json:
        echo_json(record)
    else:
        show(record_table(record))


def entities_table(rows: list[EntityRow], title: str) -> Table:
    """Entities: id, kind, marking, name."""
    grid = table(title)
    id_column(grid)
    grid.add_column("kind", no_wrap=True)
    grid.add_column("marking", no_wrap=True)
    name_column(grid)
    for row in rows:
        grid.add_row(row.id, row.kind, row.marking, row.name)
    return grid


@app.command("search", rich_help_panel=LOOKUP)
def search_command(
    text: Annotated[
        str | None, typer.Argument(help="Text in the name or an alias (default: everything).")
    ] = None,
    kind: Annotated[EntityKind | None, typer.Option(help="Only this kind.")] = None,
    marking: Annotated[
        Tlp | None, typer.Option(help="Only records with this marking.", case_sensitive=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Page size, 1 to 1000.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="`next_cursor` of the previous page.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="List the entities as they were at this time (ISO 8601)."),
    ] = None,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Entities whose name or alias holds TEXT, a page at a time (`GET /entities?q=`)."""
    from keten.graph.store import EntityFilter

    flt = EntityFilter(
        kind=kind.value if kind else None,
        text=text,
        marking=marking.value if marking else None,
        clearance=clearance,
        as_of=as_of,
    )
    with store_session() as store:
        try:
            page = store.list_entities(flt, cursor=cursor, limit=limit)
        except ValueError as exc:
            if "cursor" not in str(exc):
                raise
            raise CliError("--cursor: invalid cursor", 2) from None
    if as_json:
        echo_json({"items": [e.as_record() for e in page.items], "next_cursor": page.next_cursor})
        return
    what = f" matching {text!r}" if text else ""
    shown = len(page.items)
    title = f"{shown:,} entit{'y' if shown == 1 else 'ies'}{what}"
    show(entities_table(page.items, title + (" (more follow)" if page.next_cursor else "")))
    if page.next_cursor:
        out.print(f"next page: --cursor {page.next_cursor}", highlight=False, soft_wrap=True)


def relations_table(rows: list[RelationRow]) -> Table:
    """Relations: source, type, target."""
    grid = table(f"{len(rows):,} relation{'s' if len(rows) != 1 else ''}")
    id_column(grid, "source")
    grid.add_column("type", no_wrap=True)
    id_column(grid, "target")
    for row in rows:
        grid.add_row(row.source, row.type, row.target + (f" [{row.key}]" if row.key else ""))
    return grid


@app.command("neighbourhood", rich_help_panel=LOOKUP)
def neighbourhood_command(
    entity_id: IdArgument,
    depth: Annotated[int, typer.Option(min=1, max=5, help="Hops, either direction.")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=5000, help="At most this many entities.")] = 500,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Entities within DEPTH hops of an entity, and the relations among them.

    Like `GET /entities/{id}/neighbourhood`.
    """
    with store_session() as store:
        entities, relations = store.neighbourhood(entity_id, depth, clearance, limit)
    if not entities:
        raise not_found(entity_id)
    if as_json:
        echo_json(
            {
                "center": entity_id,
                "depth": depth,
                "entities": [e.as_record() for e in entities],
                "relations": [r.as_record() for r in relations],
            }
        )
        return
    count = len(entities)
    hops = f"{depth} hop{'s' if depth != 1 else ''}"
    title = f"{count:,} entit{'y' if count == 1 else 'ies'} within {hops} of {entity_id}"
    show(entities_table(entities, title))
    out.print()
    show(relations_table(relations))
