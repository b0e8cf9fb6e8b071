"""The `GraphStore` contract that every backend (SQLite, Neo4j) fulfils.

Records cross this boundary as plain rows: the id columns, the marking, and the remaining
properties as a dict. Rows are what validation produced, so stores never re-validate, and
what the store returns can be handed to the API or an exporter as it is.

Writes merge (see `keten.graph.merge`, shared by every store so that they agree exactly): a
row written for an identity that is stored updates the fields it gives and keeps the rest;
a property given as None is removed; a marking of `KEEP` keeps the stored one. A whole
record is replaced only in `WriteMode.REPLACE`. Times are the server's: every write
transaction has one stamp, later than any stamp before it, and the records it creates or
changes carry it (`WriteMode.RESTORE`, for loading an export into an empty store, keeps
the times the rows bring).

Clearance is a property of every answer. Reads take the caller's clearance and return what
a store holding only the records at or below it would return: hidden records are absent,
`source_ids` naming hidden records are left out (`redact_sources`), revisions count only the
writes that changed something the clearance can see, and the audit trail shows only entries
about visible records.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import orjson

from keten.graph.rows import references
from keten.schema.markings import Tlp, namespace_of

KEEP = ""
"""The marking of a written row that gives none: keep the stored one (clear for a new record)."""

Ref = tuple[str, str, str, str]
"""The identity of a relation: (source, type, target, key)."""


class WriteMode(StrEnum):
    """How a write treats a record that is already stored."""

    MERGE = "merge"
    """Update the fields given, keep the others; None removes a property (the default)."""
    REPLACE = "replace"
    """The record as given is the whole record; fields it leaves out are removed."""
    RESTORE = "restore"
    """Like REPLACE, and keep the rows' own `created_at`/`updated_at` (loading an export)."""


class KindChangeError(ValueError):
    """A write would change the kind of a stored entity: ids keep their kind for ever."""


class StoreUnavailableError(ConnectionError):
    """The store cannot be reached (a server down or refusing us); the API answers 503.

    The message is one line for a person: where, what failed, what to check.
    """


class HasRelationsError(ValueError):
    """An entity with visible relations was to be deleted without `cascade`."""

    def __init__(self, entity_id: str, relations: int) -> None:
        super().__init__(
            f"{entity_id} has {relations} relation(s); delete them first or ask for cascade"
        )
        self.relations = relations


@dataclass(slots=True)
class EntityRow:
    """An entity as stored: columns plus the rest of its properties.

    Not frozen: frozen dataclasses are markedly slower to create, and loads create millions.
    """

    id: str
    kind: str
    name: str
    marking: str = "clear"
    props: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The entity as a bundle record (what export and the API return)."""
        record: dict[str, Any] = {"id": self.id, "kind": self.kind, "name": self.name}
        record.update(self.props)
        record["marking"] = self.marking
        if self.created_at:
            record["created_at"] = self.created_at
        if self.updated_at:
            record["updated_at"] = self.updated_at
        return record


@dataclass(slots=True)
class RelationRow:
    """A relation as stored; (source, type, target, key) identifies it."""

    source: str
    type: str
    target: str
    key: str = ""
    marking: str = "clear"
    props: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def ref(self) -> tuple[str, str, str, str]:
        """The identity of the relation."""
        return (self.source, self.type, self.target, self.key)

    def as_record(self) -> dict[str, Any]:
        """The relation as a bundle record."""
        record: dict[str, Any] = {"source": self.source, "target": self.target, "type": self.type}
        if self.key:
            record["key"] = self.key
        record.update(self.props)
        record["marking"] = self.marking
        if self.created_at:
            record["created_at"] = self.created_at
        if self.updated_at:
            record["updated_at"] = self.updated_at
        return record


@dataclass(frozen=True, slots=True)
class EntityFilter:
    """Filters for listing entities; `clearance` hides everything marked above it."""

    kind: str | None = None
    text: str | None = None
    marking: str | None = None
    clearance: Tlp = Tlp.RED
    as_of: str | None = None
    """ISO 8601 time: list the entities as they were then (from the store's history)."""


@dataclass(frozen=True, slots=True)
class RelationFilter:
    """Filters for listing relations; hidden if it or an endpoint is above clearance."""

    type: str | None = None
    source: str | None = None
    target: str | None = None
    marking: str | None = None
    clearance: Tlp = Tlp.RED
    as_of: str | None = None
    """ISO 8601 time: list the relations as they were then."""


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; pass `next_cursor` back to get the next page (None at the end)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(values: tuple[str, ...]) -> str:
    """Opaque cursor: the key of the last row of a page."""
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode()


def decode_cursor(cursor: str, size: int) -> tuple[str, ...]:
    """Inverse of `encode_cursor`; a tampered cursor raises ValueError."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(values, list) or len(values) != size:
        raise ValueError("invalid cursor")
    if not all(isinstance(v, str) for v in values):
        raise ValueError("invalid cursor")
    return tuple(values)


def page_of(rows: list[T], limit: int, key: Callable[[T], tuple[str, ...]]) -> Page[T]:
    """A page from up to `limit + 1` fetched rows: the extra row says a next page exists."""
    if len(rows) <= limit:
        return Page(rows, None)
    return Page(rows[:limit], encode_cursor(key(rows[limit - 1])))


class HistoryUnavailableError(ValueError):
    """`as_of` or the audit trail asked of a store that keeps no history."""


def etag(record: dict[str, Any]) -> str:
    """A strong HTTP entity tag of a record as a reader sees it (changes with any field).

    >>> etag({"id": "a"}) == etag({"id": "a"}), etag({"id": "a"}) == etag({"id": "b"})
    (True, False)
    """
    digest = hashlib.sha256(orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f'"{digest[:32]}"'


def hidden_by_namespace(identity: str, clearance: Tlp) -> bool:
    """True when the id or key lies in the namespace of a marking above `clearance`."""
    namespace = namespace_of(identity)
    return namespace is not None and namespace.level > clearance.level


Row = TypeVar("Row", EntityRow, RelationRow)


def redact_sources(
    rows: list[Row], clearance: Tlp, levels_of: Callable[[set[str]], dict[str, int]]
) -> list[Row]:
    """Leave out of each row the ids of records the clearance may not see: entries of
    `source_ids`, keys of `impact` (a Threat's impact class per Interest), the `institute`.

    An id in a namespace above the clearance is dropped by its name alone. Below green,
    ids of the plain namespace are looked up (`levels_of` gives the marking level of those
    stored): a cited source or rated interest shows only while it names a stored record
    marked clear, since it may be green, become green or have been, and a clear reader's
    answers must not change when it does; an `institute`, often a name rather than an id,
    is left out only when it names a stored record marked above clear.
    The rows are changed in place and returned.
    """
    if clearance == Tlp.RED:
        return rows
    named = [(field, ref) for row in rows for field, ref in references(row.props)]
    if not named:
        return rows
    hidden = {ref for _, ref in named if hidden_by_namespace(ref, clearance)}
    if clearance.level < Tlp.GREEN.level:
        levels = levels_of({ref for _, ref in named} - hidden)
        for field, ref in named:
            if field == "institute":
                if levels.get(ref, 0) > 0:
                    hidden.add(ref)
            elif levels.get(ref) != 0:
                hidden.add(ref)
    if hidden:
        for row in rows:
            _drop_references(row.props, hidden)
    return rows


def _drop_references(props: dict[str, Any], hidden: set[str]) -> None:
    """Remove the hidden ids from `source_ids` and `impact` (and either when left empty)."""
    cites = props.get("source_ids")
    if cites and not hidden.isdisjoint(cites):
        kept = [i for i in cites if i not in hidden]
        if kept:
            props["source_ids"] = kept
        else:
            del props["source_ids"]
    impact = props.get("impact")
    if isinstance(impact, dict) and not hidden.isdisjoint(impact):
        rated = {i: c for i, c in impact.items() if i not in hidden}
        if rated:
            props["impact"] = rated
        else:
            del props["impact"]
    if props.get("institute") in hidden:
        del props["institute"]


def paged(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a cursor-paged listing: `fetch(cursor)` gives one page."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


NEIGHBOUR_BATCH = 64
"""Frontier entities asked about in one `unseen_neighbours` call (a Neo4j round trip)."""


def walk_neighbourhood(
    start: str,
    depth: int,
    limit: int,
    unseen_neighbours: Callable[[list[str], set[str], int], dict[str, list[str]]],
) -> list[str]:
    """The ids of a neighbourhood in the order both stores keep them: breadth first.

    `unseen_neighbours(ids, seen, most)` gives, for each of `ids`, its visible neighbours
    (either direction) outside `seen`, by id, at most `most` of them. The walk keeps `start`,
    then hop by hop the frontier in the order it was kept, each frontier entity adding its
    new neighbours by id, until `limit` ids are kept: so a capped answer is the closest hops,
    and within the cut hop the neighbours of the earliest-kept entities, smallest ids first.
    Each call asks for at most the room left (ids added earlier in the same batch shadow no
    more of an entity's first `room` neighbours than they filled), so no relation is read
    into Python but those the answer holds.
    """
    kept, seen, frontier = [start], {start}, [start]
    for _ in range(depth):
        reached: list[str] = []
        for at in range(0, len(frontier), NEIGHBOUR_BATCH):
            room = limit - len(seen)
            if room <= 0:
                break
            batch = frontier[at : at + NEIGHBOUR_BATCH]
            found = unseen_neighbours(batch, seen, room)
            for entity in batch:
                for other in found.get(entity, []):
                    if other not in seen and len(seen) < limit:
                        seen.add(other)
                        reached.append(other)
        kept += reached
        frontier = reached
        if not frontier or len(seen) >= limit:
            break
    return kept


CHANGES_LISTED = 1_000
"""A write lists the fields it changed for this many records; counts cover all of them."""


@dataclass(slots=True)
class Change:
    """One stored record a write changed, and the names of the fields that changed."""

    entity: str | None
    relation: Ref | None
    fields: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: `entity` (an id) or `relation` (its identity), and `fields`."""
        if self.entity is not None:
            return {"entity": self.entity, "fields": self.fields}
        return {"relation": list(self.relation or ()), "fields": self.fields}


@dataclass(slots=True)
class Conflict:
    """Two records of one identity in one write that disagree on some fields."""

    entity: str | None
    relation: Ref | None
    fields: list[str]


@dataclass(slots=True)
class WriteCounts:
    """What a write did: records created, updated (changed), and left alone (identical)."""

    entities_created: int = 0
    entities_updated: int = 0
    entities_unchanged: int = 0
    relations_created: int = 0
    relations_updated: int = 0
    relations_unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain dict for JSON answers."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class Writer(Protocol):
    """The open transaction of a bulk write; see `GraphStore.writer`.

    Rows passed in are what validation made of the input: properties given as None are to
    be removed, a marking of `KEEP` keeps the stored one, and `created_at`/`updated_at` are
    ignored unless the write is a RESTORE.
    """

    counts: WriteCounts
    changes: list[Change]
    """The first `CHANGES_LISTED` stored records this write changed, with the fields."""
    conflicts: list[Conflict]
    """Records of one identity written twice in this transaction with different values."""

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Merge entities into the store (see `WriteMode`); identical ones change nothing.

        Raises KindChangeError for a row whose id is stored with another kind.
        """

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Merge relations into the store; both ends must exist."""

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of the given ids as the store holds them inside this transaction."""
        ...

    def stored_entities(self, ids: Iterable[str]) -> dict[str, EntityRow]:
        """The stored rows of these ids inside this transaction (unredacted)."""
        ...

    def stored_relations(self, refs: Iterable[Ref]) -> dict[Ref, RelationRow]:
        """The stored rows of these relation identities inside this transaction."""
        ...

    # Writers may also offer what the two-process loading pipeline uses when present
    # (`keten.ingest.pipeline`): `prepare`, a pair of pure functions from rows to statement
    # parameters that the checking process runs, and `write_entity_params` /
    # `write_relation_params`, which write what they made; and `defer_indexes()`. Relations
    # must have both ends stored by the end of the write (the loader checks them first).


@runtime_checkable
class GraphStore(Protocol):
    """A property graph of keten records with transactional bulk writes and a revision."""

    name: str

    def revision(self, clearance: Tlp = Tlp.RED) -> int:
        """How many writes changed something a key of `clearance` can see (monotonic)."""
        ...

    def writer(
        self,
        actor: str | None = None,
        action: str = "write",
        submission: str | None = None,
        mode: WriteMode = WriteMode.MERGE,
    ) -> Any:
        """Context manager yielding a `Writer`: commit on normal exit, nothing kept on error.

        actor, action and submission say who writes and why, for the audit trail; `mode`
        says how rows for stored identities are applied. Writers are serialised: one
        write transaction at a time, each with a stamp later than every earlier one.
        """
        ...

    def get_entity(self, entity_id: str, clearance: Tlp = Tlp.RED) -> EntityRow | None:
        """One entity, or None if absent or above clearance."""
        ...

    def list_entities(
        self, flt: EntityFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[EntityRow]:
        """Entities ordered by id, filtered, one page at a time."""
        ...

    def get_relation(
        self, ref: tuple[str, str, str, str], clearance: Tlp = Tlp.RED
    ) -> RelationRow | None:
        """One relation by (source, type, target, key), or None."""
        ...

    def list_relations(
        self, flt: RelationFilter, cursor: str | None = None, limit: int = 100
    ) -> Page[RelationRow]:
        """Relations ordered by identity, filtered, one page at a time."""
        ...

    def delete_entity(
        self,
        entity_id: str,
        clearance: Tlp = Tlp.RED,
        cascade: bool = False,
        actor: str | None = None,
    ) -> list[RelationRow] | None:
        """Delete an entity; None when absent or above `clearance`.

        Relations the clearance can see must be asked for with `cascade` (else
        HasRelationsError); they are deleted with it and returned. Relations it cannot see
        go too, unreported, since nothing may hang on a deleted entity. Deleted records stay
        in the history (`as_of`) and the audit trail.
        """
        ...

    def delete_relation(
        self, ref: Ref, clearance: Tlp = Tlp.RED, actor: str | None = None
    ) -> RelationRow | None:
        """Delete one visible relation; the row deleted, or None when it was not there."""
        ...

    def audit(
        self,
        entity: str | None = None,
        since: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        clearance: Tlp = Tlp.RED,
    ) -> Page[Any]:
        """The audit trail in order: entries about records `clearance` may see."""
        ...

    def neighbourhood(
        self, entity_id: str, depth: int = 1, clearance: Tlp = Tlp.RED, limit: int = 500
    ) -> tuple[list[EntityRow], list[RelationRow]]:
        """Entities within `depth` hops (either direction), at most `limit`, and the visible
        relations among them (sorted by identity); entities sorted by id.

        Hidden entities and relations are neither walked through nor counted. When capped,
        the kept entities are those `walk_neighbourhood` keeps (closest hops first, then by
        the order of the frontier and by id), so both stores give the same answer and the
        cost follows `limit`, not the degree of a hub it passes."""
        ...

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Iterator[EntityRow]:
        """Every visible entity, streamed (export, projection)."""
        ...

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Iterator[RelationRow]:
        """Every visible relation whose endpoints are visible too, streamed."""
        ...

    def is_empty(self) -> bool:
        """True when the store holds no entity (a RESTORE loads only into an empty store)."""
        ...

    # A store may also offer `projection_rows(clearance)`: the visible entities as (id, kind,
    # name) and relations with at least the properties the analysis projection reads (no
    # references, so unredacted), in `iter_relations` order; `keten.graph.projection` uses it
    # when present (Neo4j ships no whole records; SQLite streams rows without redacting them).

    def close(self) -> None:
        """Release connections."""
        ...
