"""`keten init`, `keten load`, `keten export` and `keten schema`: filling the store and
reading it out.

`init` and `load` create the store when there is none (`load` says so on stderr); every
other command needs it to exist (exit 3, naming where keten looked), so a command run in
the wrong folder never answers from an empty store.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, TypeVar, cast

import orjson
import typer

from keten.cli.application import STORE, app
from keten.cli.common import local_user, usage
from keten.cli.errors import REFUSED, CliError
from keten.cli.stores import store_session
from keten.cli.tables import err
from keten.config import Settings
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from keten.graph.store import EntityRow, GraphStore, RelationRow, WriteMode
    from keten.ingest import Attribution, LoadReport


Exporter = Callable[..., dict[str, int]]
"""A writer of `keten.graph`: (store, binary file, clearance) -> counts."""


Row = TypeVar("Row")
PROGRESS_STEP = 10_000
"""Records between two updates of the export's progress line."""


class ExportFormat(StrEnum):
    """Formats `keten export` writes."""

    JSON = "json"
    GRAPHML = "graphml"
    STIX = "stix"


def cli_user(contributor: str | None = None) -> Attribution:
    """The audit trail's actor for command-line loads: `--contributor`, else the local user."""
    from keten.ingest import Attribution

    return Attribution(actor=local_user(contributor), action="load")


def load_with_progress(
    store: GraphStore,
    paths: list[Path],
    dry_run: bool,
    by: Attribution | None = None,
    mode: WriteMode | None = None,
    as_json: bool = False,
) -> LoadReport:
    """Load with a rich progress line on stderr; exits 1 with the report when refused (as
    JSON on stdout with `as_json`)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from keten.graph.store import WriteMode
    from keten.ingest import BundleRejected, load_paths

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("validating and loading", total=None)

        def advance(records: int) -> None:
            progress.update(task, description=f"{records:,} records")

        try:
            return load_paths(
                store, paths, dry_run, advance, by or cli_user(), mode or WriteMode.MERGE
            )
        except BundleRejected as rejected:
            progress.stop()
            if as_json:
                problems = [p.as_dict() for p in rejected.problems]
                refusal = {"refused": True, "total": rejected.total, "problems": problems}
                typer.echo(orjson.dumps(refusal, default=str).decode())
            else:
                err.print(rejected.report(), highlight=False, soft_wrap=True)
            err.print("nothing was written", style="bold red")
            raise typer.Exit(REFUSED) from None


def describe(report: LoadReport) -> str:
    """One line saying what a load did."""
    c = report.counts
    unchanged = c.entities_unchanged + c.relations_unchanged
    verb = "would write" if report.dry_run else "wrote"
    return (
        f"{report.records:,} record{'s' if report.records != 1 else ''}: {verb} "
        f"{c.entities_created:,} new and "
        f"{c.entities_updated:,} changed entities, {c.relations_created:,} new and "
        f"{c.relations_updated:,} changed relations; {unchanged:,} unchanged "
        f"(revision {report.revision})"
    )


@app.command(rich_help_panel=STORE)
def init(
    reference: Annotated[
        bool, typer.Option(help="Load the reference knowledge base shipped with keten.")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the load's counts as JSON.")
    ] = False,
) -> None:
    """Create the store in $KETEN_HOME (or KETEN_STORE) with the reference data.

    Running it again changes nothing that is already there: loading is idempotent.
    """
    from keten.data import reference_bundle_path

    with store_session(create=True) as store:
        report = None
        if reference:
            report = load_with_progress(store, [reference_bundle_path()], dry_run=False)
            if not as_json:
                err.print(
                    f"reference knowledge base: {describe(report)}", highlight=False, soft_wrap=True
                )
        revision = store.revision(Tlp.RED)
        if as_json:
            answer = report.as_dict() if report else {"revision": revision}
            typer.echo(orjson.dumps({"store": store.name, **answer}).decode())
        else:
            err.print(f"store ready: {store.name}, revision {revision}", highlight=False)


@app.command(rich_help_panel=STORE)
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
    """Load bundles (JSON, YAML, JSONL, CSV, GraphML, STIX, folders): all of them, or none.

    On any problem nothing is written and every problem is named (exit 1).

    Records merge into what is stored: fields a record leaves out are kept, a null removes
    one. `--replace` makes each record the whole record (audited as a replace).
    """
    from keten.graph.store import WriteMode

    if replace and restore:
        raise usage("--replace and --restore exclude each other")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CliError(f"no such file or folder: {', '.join(missing)}", REFUSED)
    mode = WriteMode.RESTORE if restore else WriteMode.REPLACE if replace else WriteMode.MERGE
    settings = Settings.from_env()
    if not settings.store_uri and not settings.sqlite_path.is_file():
        err.print(f"new store in {settings.home} (KETEN_HOME)", highlight=False, soft_wrap=True)
    with store_session(create=True) as store:
        report = load_with_progress(store, paths, dry_run, cli_user(contributor), mode, as_json)
    if as_json:
        typer.echo(orjson.dumps(report.as_dict()).decode())
    else:
        typer.echo(describe(report))
        show_not_kept(report)


def show_not_kept(report: LoadReport) -> None:
    """The table of what a STIX import left out, by STIX type and reason (nothing when all
    was kept): nothing is dropped without a word."""
    from keten.cli.tables import show, table

    if not report.not_kept:
        return
    total = sum(n["count"] for n in report.not_kept)
    grid = table(f"not kept: {total:,} STIX object{'s' if total != 1 else ''}")
    for header in ("STIX type", "count", "reason"):
        grid.add_column(header, justify="right" if header == "count" else "left")
    for row in report.not_kept:
        grid.add_row(row["stix_type"], f"{row['count']:,}", row["reason"])
    show(grid)


@app.command(rich_help_panel=STORE)
def export(
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = (
        ExportFormat.JSON
    ),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default stdout).")] = None,
    clearance: Annotated[
        Tlp, typer.Option(help="Leave out everything marked above this TLP.", case_sensitive=False)
    ] = Tlp.RED,
) -> None:
    """Write the whole store as a bundle (json), GraphML or STIX 2.1; all three load again.

    With --out the file appears whole or not at all: it is written beside its place under a
    temporary name and renamed when complete, so a failed export leaves no partial file.
    On a terminal, stderr shows how many records have been read so far.
    """
    from keten.graph.graphml import GraphmlExportError

    if out is not None and not out.parent.is_dir():
        raise CliError(f"no such folder for --out: {out.parent}", REFUSED)
    write = exporter(fmt)
    with store_session() as opened, export_progress(opened) as store:
        try:
            if out is None:
                counts = write(store, sys.stdout.buffer, clearance)
                sys.stdout.flush()
            else:
                counts = write_whole(out, lambda handle: write(store, handle, clearance))
        except GraphmlExportError as exc:
            raise CliError(str(exc), REFUSED) from None
    err.print(f"exported {counts['entities']:,} entities and {counts['relations']:,} relations")


def exporter(fmt: ExportFormat) -> Exporter:
    """The writer of a format."""
    if fmt is ExportFormat.JSON:
        from keten.graph.export import write_json

        return write_json
    if fmt is ExportFormat.GRAPHML:
        from keten.graph.graphml import write_graphml

        return write_graphml
    from keten.graph.stix_export import write_stix

    return write_stix


@contextmanager
def export_progress(store: GraphStore) -> Iterator[GraphStore]:
    """`store`, counting on stderr the records its iterators give (when stderr is a
    terminal): a national export runs for minutes. GraphML reads every record twice."""
    if not err.is_terminal:
        yield store
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        yield cast("GraphStore", CountingStore(store, progress, progress.add_task("exporting")))


class CountingStore:
    """A store whose `iter_entities` and `iter_relations` report to a progress display
    every PROGRESS_STEP records; everything else is the store's own."""

    def __init__(self, store: GraphStore, progress: Progress, task: TaskID) -> None:
        self.store, self.progress, self.task, self.read = store, progress, task, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Iterator[EntityRow]:
        return self.counted(self.store.iter_entities(clearance), "entities")

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Iterator[RelationRow]:
        return self.counted(self.store.iter_relations(clearance), "relations")

    def counted(self, rows: Iterator[Row], what: str) -> Iterator[Row]:
        since = 0
        for row in rows:
            since += 1
            if since == PROGRESS_STEP:
                self.advance(since, what)
                since = 0
            yield row
        self.advance(since, what)

    def advance(self, rows: int, what: str) -> None:
        self.read += rows
        self.progress.update(self.task, description=f"{self.read:,} records read ({what})")


def write_whole(out: Path, write: Callable[[IO[bytes]], dict[str, int]]) -> dict[str, int]:
    """Run `write` into a temporary file beside `out`, renamed to `out` once complete.

    Whatever goes wrong (an error, Ctrl-C, a full disk), `out` is never left empty or half
    written: the temporary file is removed and an older `out` stays as it was.
    """
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115  (closed below, renamed or removed)
        dir=out.parent, prefix=f".{out.name}.", suffix=".part", delete=False
    )
    part = Path(handle.name)
    try:
        with handle:
            counts = write(handle)
        part.chmod(0o666 & ~current_umask())
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return counts


def current_umask() -> int:
    """The process's umask (read by setting it, then set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@app.command(rich_help_panel=STORE)
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
