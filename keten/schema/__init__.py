"""The keten model: entity kinds, relation types, provenance and markings.

The names free of pydantic (kinds, types, endpoints, markings) are imported here at once; the
record schemas (pydantic TypedDicts and their parsers) on first use, so that the store, the
projection and a one-shot command import `keten.schema.markings` or `.relations` without
building every record's validator.
"""

from typing import TYPE_CHECKING, Any

from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp
from keten.schema.relations import (
    CORE_RELATION_FIELDS,
    ENDPOINTS,
    RelationType,
    allowed_endpoints,
)

if TYPE_CHECKING:
    from keten.schema.entities import CORE_ENTITY_FIELDS, AnyEntity, EntityBase, parse_entity
    from keten.schema.relation_record import Relation, parse_relation

RECORDS = {
    "CORE_ENTITY_FIELDS": "keten.schema.entities",
    "AnyEntity": "keten.schema.entities",
    "EntityBase": "keten.schema.entities",
    "parse_entity": "keten.schema.entities",
    "Relation": "keten.schema.relation_record",
    "parse_relation": "keten.schema.relation_record",
}
"""Names whose modules load pydantic, and those modules."""


def __getattr__(name: str) -> Any:
    """A record schema's name, its module imported now (PEP 562)."""
    if name in RECORDS:
        from importlib import import_module

        return getattr(import_module(RECORDS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CORE_ENTITY_FIELDS",
    "CORE_RELATION_FIELDS",
    "ENDPOINTS",
    "AnyEntity",
    "EntityBase",
    "EntityKind",
    "Relation",
    "RelationType",
    "Tlp",
    "allowed_endpoints",
    "parse_entity",
    "parse_relation",
]
