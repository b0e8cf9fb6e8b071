"""`keten submissions submit | list | accept | reject` and `keten audit`: the review queue and
the audit trail from the terminal.

They do what `/submissions` and `/audit` do, on the queue in `$KETEN_HOME/submissions.sqlite`
and the store's trail, as the local user (`cli:<login>`, or `--reviewer`/`--contributor`).
With full clearance by default; `--clearance` limits what is listed and decided to what a
reviewer key of that clearance may see. An unknown submission exits 3, one already decided
exits 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from keten.cli.application import REVIEW, app
from keten.cli.common import ClearanceOption, JsonOption, echo_json, local_user
from keten.cli.errors import REFUSED, USAGE, CliError
from keten.cli.stores import open_store, store_session
from keten.cli.tables import err, out, show, table
from keten.config import Settings
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from rich.table import Table

    from keten.ingest.submissions import Submission, SubmissionQueue

submissions_app = typer.Typer(
    help="The review queue: contributors submit bundles, reviewers accept or reject them.",
    no_args_is_help=True,
)
app.add_typer(submissions_app, name="submissions", rich_help_panel=REVIEW)


class Status(StrEnum):
    """Where a submission stands (keten.ingest.submissions.Status)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@contextmanager
def review_queue() -> Iterator[SubmissionQueue]:
    """The queue beside the store of KETEN_HOME (the store must exist), closed afterwards."""
    from keten.ingest.submissions import SubmissionQueue

    open_store().close()
    queue = SubmissionQueue(Settings.from_env().home / "submissions.sqlite")
    try:
        yield queue
    finally:
        queue.close()


def read_bundle_file(path: Path) -> dict[str, Any]:
    """A bundle from a JSON or YAML file (one object with entities and/or relations)."""
    import yaml

    try:
        text = path.read_bytes()
        data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}", REFUSED) from None
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise CliError(f"{path}: not JSON or YAML: {exc}", REFUSED) from None
    if not isinstance(data, dict):
        raise CliError(f"{path}: a bundle is an object with entities and relations", REFUSED)
    return data


def refused(rejected: Any) -> typer.Exit:
    """Print a refused bundle's report; the exit to raise."""
    err.print(rejected.report(), highlight=False, soft_wrap=True)
    err.print("nothing was written", style="bold red")
    return typer.Exit(REFUSED)


def submissions_table(found: list[Submission]) -> Table:
    """Submissions: id, status, marking, contributor, when, what it would write."""
    grid = table(f"{len(found):,} submission{'s' if len(found) != 1 else ''}")
    grid.add_column("id", no_wrap=True)
    grid.add_column("status", no_wrap=True)
    grid.add_column("marking", no_wrap=True)
    grid.add_column("submitted", no_wrap=True)
    grid.add_column("by", overflow="fold")
    grid.add_column("records", justify="right", no_wrap=True)
    for s in found:
        grid.add_row(
            s.id,
            s.status.value,
            s.marking.value,
            s.submitted_at[:16].replace("T", " "),
            s.contributor + (f" ({s.institute})" if s.institute else ""),
            f"{s.counts.get('records', 0):,}",
        )
    return grid


@submissions_app.command("submit")
def submit_command(
    path: Annotated[Path, typer.Argument(help="A JSON or YAML bundle.")],
    institute: Annotated[
        str | None, typer.Option(help="Institute proposing it (default provenance).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Why, for the reviewer.")] = None,
    contributor: Annotated[
        str | None, typer.Option(help="Who proposes it (default: you, as cli:<login>).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Propose a bundle for review: checked now, loaded when a reviewer accepts it.

    Prints the submission's id alone on stdout (`SUB=$(keten submissions submit ...)`). A
    bundle with problems is refused at once (exit 1), like `POST /submissions`.
    """
    from keten.ingest import BundleRejected

    bundle = read_bundle_file(path)
    with review_queue() as queue, store_session() as store:
        try:
            submission = queue.submit(store, bundle, local_user(contributor), institute, note)
        except BundleRejected as rejected:
            raise refused(rejected) from None
    if as_json:
        echo_json(submission.as_dict())
        return
    err.print(
        f"submitted {submission.id}: {submission.counts.get('records', 0):,} records, "
        f"marking {submission.marking.value}; pending review",
        highlight=False,
        soft_wrap=True,
    )
    typer.echo(submission.id)


@submissions_app.command("list")
def list_command(
    status: Annotated[Status | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Submissions a reviewer of this clearance may see, oldest first (`GET /submissions`)."""
    from keten.ingest.submissions import Status as QueueStatus

    with review_queue() as queue:
        found = queue.list(QueueStatus(status.value) if status else None, limit, clearance)
    if as_json:
        echo_json([s.as_dict() for s in found])
    else:
        show(submissions_table(found))


@submissions_app.command("accept")
def accept_command(
    submission_id: Annotated[str, typer.Argument(help="The submission, like sub-1a2b3c4d5e6f.")],
    reviewer: Annotated[
        str | None, typer.Option(help="Who decides (default: you, as cli:<login>).")
    ] = None,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Load a pending submission into the store (all or nothing) and mark it accepted.

    Like `POST /submissions/{id}/accept`.
    """
    from keten.cli.store_commands import describe
    from keten.ingest import BundleRejected

    with review_queue() as queue, store_session() as store:
        try:
            report = queue.accept(store, submission_id, local_user(reviewer), clearance)
        except BundleRejected as rejected:
            raise refused(rejected) from None
    if as_json:
        echo_json(report.as_dict())
    else:
        typer.echo(f"accepted {submission_id}: {describe(report)}")


@submissions_app.command("reject")
def reject_command(
    submission_id: Annotated[str, typer.Argument(help="The submission, like sub-1a2b3c4d5e6f.")],
    reason: Annotated[str, typer.Option(help="Why, for the contributor (required).")],
    reviewer: Annotated[
        str | None, typer.Option(help="Who decides (default: you, as cli:<login>).")
    ] = None,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Reject a pending submission with a reason; nothing is loaded.

    Like `POST /submissions/{id}/reject`.
    """
    if not reason.strip():
        raise CliError("--reason must say why", USAGE)
    with review_queue() as queue:
        submission = queue.reject(submission_id, local_user(reviewer), reason, clearance)
    if as_json:
        echo_json(submission.as_dict())
    else:
        typer.echo(f"rejected {submission_id}: {reason}")


def what(entry: dict[str, Any]) -> str:
    """The record an audit entry is about, or its counts for a bulk entry."""
    if entry.get("entity"):
        return str(entry["entity"])
    if entry.get("relation"):
        source, rel_type, target, *key = entry["relation"]
        return f"{source} {rel_type} {target}" + (f" [{key[0]}]" if key and key[0] else "")
    detail = entry.get("detail") or {}
    return ", ".join(f"{k} {v}" for k, v in detail.items() if not isinstance(v, dict | list))


def audit_table(items: list[dict[str, Any]]) -> Table:
    """Audit entries: when (UTC), who, what they did, to what."""
    grid = table(f"{len(items):,} audit entr{'y' if len(items) == 1 else 'ies'}")
    grid.add_column("at (UTC)", no_wrap=True)
    grid.add_column("actor", overflow="fold")
    grid.add_column("action", no_wrap=True)
    grid.add_column("record", overflow="fold")
    for entry in items:
        action = entry["action"] + (f" ({entry['submission']})" if entry.get("submission") else "")
        grid.add_row(
            str(entry["at"])[:19].replace("T", " "), entry.get("actor") or "", action, what(entry)
        )
    return grid


@app.command("audit", rich_help_panel=REVIEW)
def audit_command(
    entity: Annotated[str | None, typer.Option(help="Changes to this entity.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601 time or date.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Page size, 1 to 1000.")] = 100,
    cursor: Annotated[str | None, typer.Option(help="`next_cursor` of the previous page.")] = None,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Who changed what, when, from which submission (`GET /audit`; append-only)."""
    with store_session() as store:
        try:
            page = store.audit(entity, since, cursor, limit, clearance)
        except ValueError as exc:
            if type(exc).__name__ == "HistoryUnavailableError":
                raise
            where = "--cursor" if "cursor" in str(exc) else "--since"
            raise CliError(f"{where}: {exc}", USAGE) from None
    items = [e.as_dict() for e in page.items]
    if as_json:
        echo_json({"items": items, "next_cursor": page.next_cursor})
        return
    show(audit_table(items))
    if page.next_cursor:
        out.print(f"next page: --cursor {page.next_cursor}", highlight=False, soft_wrap=True)
