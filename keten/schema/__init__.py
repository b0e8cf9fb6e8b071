"""The keten model: entity kinds, relation types, provenance and markings."""

from keten.schema.entities import (
    CORE_ENTITY_FIELDS,
    AnyEntity,
    EntityBase,
    EntityKind,
    parse_entity,
)
from keten.schema.markings import Tlp
from keten.schema.relations import (
    CORE_RELATION_FIELDS,
    ENDPOINTS,
    Relation,
    RelationType,
    allowed_endpoints,
    parse_relation,
)

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
