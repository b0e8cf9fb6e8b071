"""`keten init`, `keten load` and `keten export`: filling the store and reading it out."""

from __future__ import annotations

import getpass
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from keten.cli.app import app
from keten.config import Settings
from keten.graph import GraphStore, open_store
from keten.graph.export import write_graphml, write_json
from keten.graph.stix_export import write_stix
from keten.graph.store import WriteMode
from keten.ingest import Attribution, BundleRejected, LoadReport, load_paths
from keten.schema.markings import Tlp

err = Console(stderr=True)


class ExportFormat(StrEnum):
    """Formats `keten export` writes."""

    JSON = "json"
    GRAPHML = "graphml"
    STIX = "stix"


def store_from_env() -> GraphStore:
    """The store selected by KETEN_HOME / KETEN_STORE."""
    return open_store(Settings.from_env())


def cli_user(contributor: str | None = None) -> Attribution:
    """The audit trail's actor for command-line loads: `--contributor`, else the local user."""
    return Attribution(actor=contributor or f"cli:{getpass.getuser()}", action="load")


def load_with_progress(
    store: GraphStore,
    paths: list[Path],
    dry_run: bool,
    by: Attribution | None = None,
    mode: WriteMode = WriteMode.MERGE,
    as_json: bool = False,
) -> LoadReport:
    """Load with a rich progress line on stderr; exits 1 with the report when refused (as
    JSON on stdout with `as_json`)."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("validating and loading", total=None)

        def advance(records: int) -> None:
            progress.update(task, description=f"{records:,} records")

        try:
            return load_paths(store, paths, dry_run, advance, by or cli_user(), mode)
        except BundleRejected as rejected:
            progress.stop()
            if as_json:
                problems = [p.as_dict() for p in rejected.problems]
                refusal = {"refused": True, "total": rejected.total, "problems": problems}
                typer.echo(orjson.dumps(refusal, default=str).decode())
            else:
                err.print(rejected.report(), markup=False, highlight=False, soft_wrap=True)
            err.print("[bold red]nothing was written[/]")
            raise typer.Exit(1) from None


def describe(report: LoadReport) -> str:
    """One line saying what a load did."""
    c = report.counts
    unchanged = c.entities_unchanged + c.relations_unchanged
    verb = "would write" if report.dry_run else "wrote"
    return (
        f"{report.records:,} records: {verb} {c.entities_created:,} new and "
        f"{c.entities_updated:,} changed entities, {c.relations_created:,} new and "
        f"{c.relations_updated:,} changed relations; {unchanged:,} unchanged "
        f"(revision {report.revision})"
    )


@app.command()
def init(
    reference: Annotated[
        bool, typer.Option(help="Load the reference knowledge base shipped with keten.")
    ] = True,
) -> None:
    """Create the store (in $KETEN_HOME unless KETEN_STORE says otherwise) with reference data."""
    from keten.data import reference_bundle_path

    store = store_from_env()
    try:
        if reference:
            report = load_with_progress(store, [reference_bundle_path()], dry_run=False)
            err.print(f"reference knowledge base: {describe(report)}")
        err.print(f"store ready: {store.name}, revision {store.revision(Tlp.RED)}")
    finally:
        store.close()


@app.command()
def load(
    paths: Annotated[list[Path], typer.Argument(help="Bundle files or folders.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, write nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the counts and changed fields as JSON.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace whole records instead of merging.")
    ] = False,
    restore: Annotated[
        bool,
        typer.Option("--restore", help="Load an export into an empty store, keeping its times."),
    ] = False,
    contributor: Annotated[
        str | None, typer.Option(help="Who loads, for the audit trail (default: you).")
    ] = None,
) -> None:
    """Load bundles (JSON, YAML, JSONL, CSV, folders): all of them or, on any problem, none.

    Records merge into what is stored: fields a record leaves out are kept, a null removes
    one. `--replace` makes each record the whole record (audited as a replace).
    """
    if replace and restore:
        raise typer.BadParameter("--replace and --restore exclude each other")
    mode = WriteMode.RESTORE if restore else WriteMode.REPLACE if replace else WriteMode.MERGE
    store = store_from_env()
    try:
        report = load_with_progress(store, paths, dry_run, cli_user(contributor), mode, as_json)
    finally:
        store.close()
    if as_json:
        typer.echo(orjson.dumps(report.as_dict()).decode())
    else:
        typer.echo(describe(report))


@app.command()
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ExportFormat.JSON
    ),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default stdout).")] = None,
    clearance: Annotated[
        Tlp, typer.Option(help="Leave out everything marked above this TLP.")
    ] = Tlp.RED,
) -> None:
    """Write the whole store as a bundle (json, loadable again), GraphML or STIX 2.1."""
    store = store_from_env()
    writer = {
        ExportFormat.JSON: write_json,
        ExportFormat.GRAPHML: write_graphml,
        ExportFormat.STIX: write_stix,
    }[fmt]
    try:
        if out is None:
            counts = writer(store, sys.stdout.buffer, clearance)
            sys.stdout.flush()
        else:
            with out.open("wb") as handle:
                counts = writer(store, handle, clearance)
    finally:
        store.close()
    err.print(f"exported {counts['entities']:,} entities and {counts['relations']:,} relations")


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default stdout).")] = None,
) -> None:
    """Print the JSON Schema of a bundle, to validate bundles in an editor before loading."""
    from keten.schema.bundle import bundle_json_schema

    text = orjson.dumps(bundle_json_schema(), option=orjson.OPT_INDENT_2).decode()
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
