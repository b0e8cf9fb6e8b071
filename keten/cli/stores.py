"""The store a command reads, and the analysis graph (projection) of it.

A command that reads needs a store: with the embedded store that is `$KETEN_HOME/keten.sqlite`
(KETEN_HOME defaults to `./.keten`, relative to the current folder), and a missing one is an
error with exit 3 that says where keten looked, never an empty answer. `keten init` creates
the store. Apart from keten.cli.common because nothing here needs typer: a plain `keten
cascade` (keten.cli.quick) runs without importing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from keten.cli.errors import NOT_FOUND, CliError
from keten.config import Settings
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from keten.graph.projection import Projection
    from keten.graph.store import GraphStore


class Assessments(StrEnum):
    """Which assessment of a dependency counts when institutes disagree (API `assessments`)."""

    ALL = "all"
    MOST_RELIABLE = "most_reliable"


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
