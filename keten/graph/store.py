"""The `GraphStore` contract that every backend (SQLite, Neo4j) fulfils.

Records cross this boundary as plain rows: the id columns, the marking, and the remaining
properties as a dict. Rows are what validation produced, so stores never re-validate, and
what the store returns can be handed to the API or an exporter as it is.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import orjson

from keten.schema.markings import Tlp


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
    """`as_of` and the audit trail need the store's history, which only SQLite keeps."""


def paged(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a cursor-paged listing: `fetch(cursor)` gives one page."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def walk_neighbourhood(
    start: str, depth: int, limit: int, touching: Callable[[set[str]], list[RelationRow]]
) -> tuple[set[str], list[RelationRow]]:
    """Breadth-first walk either way from `start`, one `touching(frontier)` call per hop.

    Returns the ids reached (at most `limit`) and the relations among them, sorted; both
    stores share it so that their neighbourhoods agree exactly.
    """
    seen, frontier = {start}, {start}
    relations: dict[tuple[str, str, str, str], RelationRow] = {}
    for _ in range(depth):
        found = touching(frontier)
        frontier = set()
        for rel in found:
            for end in (rel.source, rel.target):
                if end not in seen and len(seen) < limit:
                    seen.add(end)
                    frontier.add(end)
            if rel.source in seen and rel.target in seen:
                relations[rel.ref] = rel
        if not frontier:
            break
    for rel in touching(frontier):
        if rel.source in seen and rel.target in seen:
            relations[rel.ref] = rel
    return seen, sorted(relations.values(), key=lambda r: r.ref)


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
    """The open transaction of a bulk write; see `GraphStore.writer`."""

    counts: WriteCounts

    def upsert_entities(self, rows: list[EntityRow]) -> None:
        """Insert or update entities; identical records change nothing."""

    def upsert_relations(self, rows: list[RelationRow]) -> None:
        """Insert or update relations; identical records change nothing."""

    def kinds_of(self, ids: Iterable[str]) -> dict[str, str]:
        """Kinds of the given ids as the store holds them inside this transaction."""
        ...


@runtime_checkable
class GraphStore(Protocol):
    """A property graph of keten records with transactional bulk writes and a revision."""

    name: str

    def revision(self) -> int:
        """Monotonic counter, raised by every write that changed something."""
        ...

    def writer(
        self, actor: str | None = None, action: str = "write", submission: str | None = None
    ) -> Any:
        """Context manager yielding a `Writer`: commit on normal exit, nothing kept on error.

        actor, action and submission say who writes and why, for the audit trail.
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

    def delete_entity(self, entity_id: str) -> list[RelationRow] | None:
        """Delete an entity and its relations; returns the relations removed, None if absent."""
        ...

    def delete_relation(self, ref: tuple[str, str, str, str]) -> bool:
        """Delete one relation; False if it was not there."""
        ...

    def neighbourhood(
        self, entity_id: str, depth: int = 1, clearance: Tlp = Tlp.RED, limit: int = 500
    ) -> tuple[list[EntityRow], list[RelationRow]]:
        """Entities within `depth` hops (either direction) and the relations among them."""
        ...

    def iter_entities(self, clearance: Tlp = Tlp.RED) -> Iterator[EntityRow]:
        """Every visible entity, streamed (export, projection)."""
        ...

    def iter_relations(self, clearance: Tlp = Tlp.RED) -> Iterator[RelationRow]:
        """Every visible relation whose endpoints are visible too, streamed."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
