"""`keten cascade` and `keten generate`: chain effects from the command line, and test data.

The CLI runs locally with full access to the store, so it analyses everything (TLP:RED);
the API is where clearances bound what a caller sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from keten.cli.app import app
from keten.config import Settings
from keten.graph import open_store
from keten.graph.projection import build_projection
from keten.queries.cascade import CascadeResult, cascade
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.queries.synthetic import generate_network
from keten.schema.markings import Tlp

out = Console()
err = Console(stderr=True)


def cascade_table(result: CascadeResult, hours: float) -> Table:
    """Affected entities in order of time to impact; `after` is the predecessor that explains
    the time (the whole chain is in the JSON answer)."""
    table = Table(
        title=f"{result.total:,} entities affected within {hours:g} h "
        f"(showing {len(result.affected):,}; revision {result.revision})",
        title_justify="left",
    )
    table.add_column("hours", justify="right")
    table.add_column("depth", justify="right")
    table.add_column("kind", no_wrap=True, overflow="ellipsis", max_width=8)
    table.add_column("id", overflow="fold", min_width=12)
    table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("after", overflow="fold", min_width=14)
    for item in result.affected:
        table.add_row(
            f"{item.time_to_impact_hours:g}",
            str(item.depth),
            item.kind,
            item.id,
            item.name,
            item.via[-1] if item.via else "",
        )
    return table


def interests_table(result: CascadeResult) -> Table:
    """Interests reached through SAFEGUARDS, with the processes that hit them."""
    table = Table(title="National-security interests hit", title_justify="left")
    table.add_column("hours", justify="right")
    table.add_column("interest")
    table.add_column("through processes", overflow="fold")
    for interest in result.interests:
        shown = ", ".join(interest.processes[:10])
        more = len(interest.processes) - 10
        table.add_row(
            f"{interest.time_to_impact_hours:g}",
            f"{interest.name} ({interest.id})",
            shown + (f" and {more:,} more" if more > 0 else ""),
        )
    return table


@app.command("cascade")
def cascade_command(
    ids: Annotated[list[str], typer.Argument(help="Ids of the disrupted entities (t = 0).")],
    hours: Annotated[float, typer.Option("--hours", "-H", min=0, help="Horizon in hours.")] = 72.0,
    min_strength: Annotated[
        float, typer.Option(min=0, max=1, help="Ignore dependencies weaker than this.")
    ] = 0.0,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entities.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
) -> None:
    """What a disruption of IDS sets off within the horizon: when, and through what."""
    store = open_store(Settings.from_env())
    try:
        projection = build_projection(store, Tlp.RED)
    finally:
        store.close()
    try:
        result = cascade(projection, ids, hours, min_strength, limit)
    except (UnknownEntityError, AnalysisInputError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(orjson.dumps(result.model_dump(mode="json")).decode())
        return
    out.print(cascade_table(result, hours))
    if result.interests:
        out.print(interests_table(result))


@app.command()
def generate(
    entities: Annotated[int, typer.Option("--entities", "-n", min=40, help="Entities.")],
    relations: Annotated[int, typer.Option("--relations", "-m", min=1, help="Relations.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same bundle).")] = 0,
) -> None:
    """Write a synthetic, scale-realistic bundle (marked synthetic) to OUT/synthetic.jsonl."""
    try:
        network = generate_network(entities, relations, seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "synthetic.jsonl"
    columns = (
        TextColumn("writing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress, path.open("wb") as handle:
        task = progress.add_task(path.name, total=entities + relations)
        for done, record in enumerate(network.records(), start=1):
            handle.write(orjson.dumps(record) + b"\n")
            if done % 20_000 == 0:
                progress.update(task, completed=done)
    err.print(f"wrote {entities:,} entities and {relations:,} relations to {path} (synthetic)")
