"""`keten dependencies`, `keten embargo` and `keten import-trade`: the dependency monitor.

Like `keten cascade`, these run locally with full access to the store (TLP:RED) unless
`--clearance` asks for the view of a lower clearance; the API is where a key's clearance
bounds what is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from keten.cli.application import ANALYSES, STORE, app
from keten.cli.cascade_answer import print_cascade
from keten.cli.common import (
    AssessmentsOption,
    ClearanceOption,
    HoursOption,
    JsonOption,
    StrengthOption,
    echo_json,
    local_user,
)
from keten.cli.errors import REFUSED
from keten.cli.stores import Assessments, kept_projection, require_store, store_session
from keten.cli.tables import err, out, show, table
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from rich.table import Table

    from keten.queries.dependencies import DependencyReport, Flags
    from keten.queries.embargo import EmbargoResult


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
    grid = table(
        f"{report.total} resources (showing {len(report.resources)}; revision "
        f"{report.revision}); flagged countries: {flagged}",
        caption=f"nonEU: share from outside the EU; top: largest supplier; flag: share of "
        f"flagged countries; CIH: C = HHI > {report.thresholds.hhi:g}, I = nonEU > "
        f"{report.thresholds.non_eu_share:g}, H = hard to substitute (- no, ? unknown); str: "
        "strategic; 2of3: strategic in 2 of the 3 years up to this one; vps: vital processes "
        "that need it (+: more than --max-processes)",
    )
    grid.add_column("resource", no_wrap=True, overflow="fold")
    for column in ("year", "HHI", "nonEU", "top", "flag"):
        grid.add_column(column, justify="right", no_wrap=True)
    for column in ("CIH", "str", "2of3"):
        grid.add_column(column, no_wrap=True)
    grid.add_column("vps", justify="right", no_wrap=True)
    for line in report.resources:
        grid.add_row(
            line.id.removeprefix("resource:"),
            "-" if line.year is None else str(line.year),
            f"{line.hhi:.2f}",
            f"{line.non_eu_share:.0%}",
            f"{line.top_supplier.removeprefix('country:')} {line.top_supplier_share:.0%}",
            f"{line.flagged_share:.0%}",
            flag_letters(line.flags),
            yes_no(line.flags.strategic),
            yes_no(line.persistent),
            f"{len(line.vital_processes)}{'+' if line.more_vital_processes else ''}",
        )
    return grid


def shortfall_table(result: EmbargoResult) -> Table:
    """Resources that lose supply, largest shortfall first."""
    grid = table(
        f"Shortfalls from an embargo by {result.country} (disrupted from {result.threshold:.0%})"
    )
    grid.add_column("resource", no_wrap=True, overflow="fold")
    grid.add_column("short", justify="right", no_wrap=True)
    grid.add_column("own", justify="right", no_wrap=True)
    grid.add_column("lost", no_wrap=True)
    grid.add_column("via", overflow="fold")
    for item in result.shortfalls:
        grid.add_row(
            item.id.removeprefix("resource:"),
            f"{item.shortfall:.0%}",
            f"{item.own_share:.0%}",
            "yes" if item.disrupted else "no",
            " -> ".join(v.removeprefix("resource:") for v in item.via),
        )
    return grid


@app.command("dependencies", rich_help_panel=ANALYSES)
def dependencies_command(
    year: Annotated[
        int | None, typer.Option(min=1900, max=2100, help="Year of the figures (default: latest).")
    ] = None,
    flagged: Annotated[
        str, typer.Option(help="More countries to flag, comma-separated (ISO2, ids or names).")
    ] = "",
    hhi: Annotated[
        float,
        typer.Option("--hhi", "--hhi-threshold", min=0, max=1, help="Concentration flag above."),
    ] = 0.4,
    non_eu: Annotated[
        float,
        typer.Option("--non-eu", "--non-eu-threshold", min=0, max=1, help="Import flag above."),
    ] = 0.5,
    scope: Annotated[str | None, typer.Option(help="Use only shares of this scope.")] = None,
    strategic_only: Annotated[
        bool, typer.Option("--strategic-only", help="Only resources flagged strategic.")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=1, help="Show at most this many resources, strategic first.")
    ] = 100,
    max_processes: Annotated[
        int, typer.Option(min=1, help="Vital processes found per resource, closest first.")
    ] = 20,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Strategic dependencies: supplier concentration (HHI), non-EU and flagged shares, flags.

    Like `GET /analysis/dependencies`: the first LIMIT resources (`total` counts all), each
    with its MAX_PROCESSES closest vital processes, found on the analysis projection.
    """
    require_store()
    from keten.queries.dependencies import (
        Thresholds,
        dependency_report,
        projection_dependents,
        read_supply,
    )

    codes = [c.strip() for c in flagged.split(",") if c.strip()]
    thresholds = Thresholds(hhi=hhi, non_eu_share=non_eu)
    with store_session() as store:
        data = read_supply(store, clearance)
        dependents = projection_dependents(kept_projection(store, clearance))
        report = dependency_report(
            data, year, scope, codes, thresholds, strategic_only, limit, max_processes, dependents
        )
    if as_json:
        echo_json(report)
    else:
        show(dependency_table(report))


@app.command("embargo", rich_help_panel=ANALYSES)
def embargo_command(
    country: Annotated[str, typer.Argument(help="The country that stops supplying (ISO2, id).")],
    threshold: Annotated[
        float, typer.Option(min=0.000001, max=1, help="Shortfall from which a resource is lost.")
    ] = 0.3,
    horizon_hours: HoursOption = 168.0,
    year: Annotated[
        int | None, typer.Option(min=1900, max=2100, help="Year of the shares (default: latest).")
    ] = None,
    scope: Annotated[str | None, typer.Option(help="Use only shares of this scope.")] = None,
    min_strength: StrengthOption = 0.0,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entities.")] = 100,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Shortfalls from a supply stop by COUNTRY, and the chain effects of the resources lost."""
    require_store()
    from keten.queries.cascade import CascadeResult
    from keten.queries.dependencies import read_supply
    from keten.queries.embargo import EmbargoRequest, embargo

    request = EmbargoRequest(
        country=country,
        threshold=threshold,
        horizon_hours=horizon_hours,
        year=year,
        scope=scope,
        min_strength=min_strength,
        limit=limit,
    )
    with store_session() as store:
        data = read_supply(store, clearance)
        graph = kept_projection(store, clearance, assessments)
        result = embargo(data, graph, request)
    if as_json:
        echo_json(result)
        return
    show(shortfall_table(result))
    out.print()
    if not result.total:
        out.print(f"no resource loses {result.threshold:.0%} or more: nothing is disrupted")
        return
    chain = CascadeResult(
        total=result.total,
        affected=result.affected,
        interests=result.interests,
        revision=result.revision,
    )
    print_cascade(chain, request.horizon_hours)


@app.command("import-trade", rich_help_panel=STORE)
def import_trade_command(
    file: Annotated[Path, typer.Argument(help="CSV: product, partner, year, value[, unit].")],
    resource_map: Annotated[
        Path | None, typer.Option(help="CSV: product, resource (Resource id).")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Id of an existing Source to cite (default: one is made).")
    ] = None,
    marking: Annotated[
        Tlp, typer.Option(help="TLP marking of the shares.", case_sensitive=False)
    ] = Tlp.CLEAR,
    institute: Annotated[
        str | None, typer.Option(help="Institute contributing the data (provenance).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count, write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Turn trade statistics into supplier shares per product and year, all or nothing."""
    from keten.ingest import Attribution, BundleRejected
    from keten.ingest.trade import import_trade

    with store_session() as store:
        try:
            by = Attribution(local_user(), "import-trade")
            done = import_trade(store, file, resource_map, source, dry_run, marking, institute, by)
        except BundleRejected as rejected:
            err.print(rejected.report(), highlight=False, soft_wrap=True)
            err.print("nothing was written", style="bold red")
            raise typer.Exit(REFUSED) from None
    if as_json:
        typer.echo(orjson.dumps(done.as_dict()).decode())
        return
    verb = "would write" if dry_run else "wrote"
    typer.echo(
        f"{done.resource_years:,} resource-years: {verb} {done.shares:,} shares citing "
        f"{done.source_id}; new: {', '.join(done.created) or 'nothing'} "
        f"(revision {done.report.revision})"
    )
