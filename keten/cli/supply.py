"""`keten dependencies`, `keten embargo` and `keten import-trade`: the dependency monitor.

Like `keten cascade`, these run locally with full access to the store (TLP:RED); the API is
where a key's clearance bounds what is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from keten.cli.analysis import cascade_table, interests_table
from keten.cli.app import app
from keten.cli.store_commands import cli_user
from keten.config import Settings
from keten.graph import open_store
from keten.graph.projection import build_projection
from keten.ingest import Attribution, BundleRejected
from keten.ingest.trade import import_trade
from keten.queries.cascade import CascadeResult
from keten.queries.dependencies import (
    DependencyReport,
    Flags,
    Thresholds,
    dependency_report,
    read_supply,
)
from keten.queries.embargo import EmbargoRequest, EmbargoResult, embargo
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.schema.markings import Tlp

out = Console()
err = Console(stderr=True)


def echo_json(model: BaseModel) -> None:
    """Print a result as the API would answer it."""
    typer.echo(orjson.dumps(model.model_dump(mode="json")).decode())


def fail(exc: Exception) -> typer.Exit:
    """Print an analysis error and give the exit to raise."""
    err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
    return typer.Exit(2)


def flag_letters(flags: Flags) -> str:
    """C(oncentrated) I(mport-dependent) H(ard to substitute); '-' when not, '?' unknown."""
    tests = (flags.concentrated, flags.import_dependent, flags.hard_to_substitute)
    return "".join(
        "?" if value is None else (letter if value else "-")
        for letter, value in zip("CIH", tests, strict=True)
    )


def yes_no(value: bool | None) -> str:
    """yes, no, or ? when undecided."""
    return "?" if value is None else ("yes" if value else "no")


def dependency_table(report: DependencyReport) -> Table:
    """One row per resource: headline figures and flags."""
    flagged = ", ".join(c.removeprefix("country:") for c in report.flagged_countries) or "none"
    table = Table(
        title=f"{report.total} resources (revision {report.revision}); flagged: {flagged}",
        caption=f"flags: C = HHI > {report.thresholds.hhi:g}, I = non-EU share > "
        f"{report.thresholds.non_eu_share:g}, H = hard to substitute (? = unknown); "
        "2 of 3 y = strategic in 2 of the 3 years up to the year shown",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("resource", overflow="fold")
    for column in ("year", "HHI", "non-EU", "top supplier", "flagged"):
        table.add_column(column, justify="right")
    table.add_column("flags")
    table.add_column("strategic")
    table.add_column("2 of 3 y")
    table.add_column("processes", justify="right")
    for line in report.resources:
        table.add_row(
            line.id.removeprefix("resource:"),
            "-" if line.year is None else str(line.year),
            f"{line.hhi:.2f}",
            f"{line.non_eu_share:.0%}",
            f"{line.top_supplier.removeprefix('country:')} {line.top_supplier_share:.0%}",
            f"{line.flagged_share:.0%}",
            flag_letters(line.flags),
            yes_no(line.flags.strategic),
            yes_no(line.persistent),
            str(len(line.vital_processes)),
        )
    return table


def shortfall_table(result: EmbargoResult) -> Table:
    """Resources that lose supply, largest shortfall first."""
    table = Table(
        title=f"Shortfalls from an embargo by {result.country} (disrupted from "
        f"{result.threshold:.0%})",
        title_justify="left",
    )
    table.add_column("resource")
    table.add_column("shortfall", justify="right")
    table.add_column("own share", justify="right")
    table.add_column("disrupted")
    table.add_column("via", overflow="fold")
    for item in result.shortfalls:
        table.add_row(
            item.id.removeprefix("resource:"),
            f"{item.shortfall:.0%}",
            f"{item.own_share:.0%}",
            "yes" if item.disrupted else "no",
            " -> ".join(v.removeprefix("resource:") for v in item.via),
        )
    return table


@app.command("dependencies")
def dependencies_command(
    year: Annotated[int | None, typer.Option(help="Year of the figures (default: latest).")] = None,
    flagged: Annotated[
        str, typer.Option(help="More countries to flag, comma-separated (ISO2, ids or names).")
    ] = "",
    hhi: Annotated[float, typer.Option(min=0, max=1, help="Concentration flag above.")] = 0.4,
    non_eu: Annotated[float, typer.Option(min=0, max=1, help="Import flag above.")] = 0.5,
    scope: Annotated[str | None, typer.Option(help="Use only shares of this scope.")] = None,
    strategic_only: Annotated[
        bool, typer.Option("--strategic-only", help="Only resources flagged strategic.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
) -> None:
    """Strategic dependencies: supplier concentration (HHI), non-EU and flagged shares, flags."""
    store = open_store(Settings.from_env())
    try:
        data = read_supply(store, Tlp.RED)
        codes = [c.strip() for c in flagged.split(",") if c.strip()]
        thresholds = Thresholds(hhi=hhi, non_eu_share=non_eu)
        report = dependency_report(data, year, scope, codes, thresholds, strategic_only)
    except AnalysisInputError as exc:
        raise fail(exc) from None
    finally:
        store.close()
    if as_json:
        echo_json(report)
    else:
        out.print(dependency_table(report))


@app.command("embargo")
def embargo_command(
    country: Annotated[str, typer.Argument(help="The country that stops supplying (ISO2, id).")],
    threshold: Annotated[
        float, typer.Option(min=0.000001, max=1, help="Shortfall from which a resource is lost.")
    ] = 0.3,
    hours: Annotated[float, typer.Option("--hours", "-H", min=0, help="Horizon in hours.")] = 168.0,
    year: Annotated[int | None, typer.Option(help="Year of the shares (default: latest).")] = None,
    scope: Annotated[str | None, typer.Option(help="Use only shares of this scope.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entities.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
) -> None:
    """Shortfalls from a supply stop by COUNTRY, and the chain effects of the resources lost."""
    request = EmbargoRequest(
        country=country,
        threshold=threshold,
        horizon_hours=hours,
        year=year,
        scope=scope,
        limit=limit,
    )
    store = open_store(Settings.from_env())
    try:
        data = read_supply(store, Tlp.RED)
        result = embargo(data, build_projection(store, Tlp.RED), request)
    except (UnknownEntityError, AnalysisInputError) as exc:
        raise fail(exc) from None
    finally:
        store.close()
    if as_json:
        echo_json(result)
        return
    out.print(shortfall_table(result))
    if not result.total:
        out.print(f"no resource loses {result.threshold:.0%} or more: nothing is disrupted")
        return
    chain = CascadeResult(
        total=result.total,
        affected=result.affected,
        interests=result.interests,
        revision=result.revision,
    )
    out.print(cascade_table(chain, hours))
    if chain.interests:
        out.print(interests_table(chain))


@app.command("import-trade")
def import_trade_command(
    file: Annotated[Path, typer.Argument(help="CSV: product, partner, year, value[, unit].")],
    resource_map: Annotated[
        Path | None, typer.Option(help="CSV: product, resource (Resource id).")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Id of an existing Source to cite (default: one is made).")
    ] = None,
    marking: Annotated[Tlp, typer.Option(help="TLP marking of the shares.")] = Tlp.CLEAR,
    institute: Annotated[
        str | None, typer.Option(help="Institute contributing the data (provenance).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count, write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Turn trade statistics into supplier shares per product and year, all or nothing."""
    store = open_store(Settings.from_env())
    try:
        by = Attribution(cli_user().actor, "import-trade")
        done = import_trade(store, file, resource_map, source, dry_run, marking, institute, by)
    except BundleRejected as rejected:
        err.print(rejected.report(), markup=False, highlight=False, soft_wrap=True)
        err.print("[bold red]nothing was written[/]")
        raise typer.Exit(1) from None
    finally:
        store.close()
    if as_json:
        typer.echo(orjson.dumps(done.as_dict()).decode())
        return
    verb = "would write" if dry_run else "wrote"
    typer.echo(
        f"{done.resource_years:,} resource-years: {verb} {done.shares:,} shares citing "
        f"{done.source_id}; new: {', '.join(done.created) or 'nothing'} "
        f"(revision {done.report.revision})"
    )
