"""Relation types, which kinds they may join, and the rules a relation record must keep.

`ENDPOINTS` is the whitelist that every store and every Cypher statement takes relation types
and labels from; user text never becomes a label or a type.

>>> allowed_endpoints("SAFEGUARDS", "VitalProcess", "Interest")
True
>>> allowed_endpoints("SAFEGUARDS", "Threat", "Interest")
False
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from keten.schema.kinds import EntityKind


class RelationType(StrEnum):
    """Relation types (Neo4j relationship types)."""

    DEPENDS_ON = "DEPENDS_ON"
    DISRUPTS = "DISRUPTS"
    THREATENS = "THREATENS"
    SAFEGUARDS = "SAFEGUARDS"
    POSES = "POSES"
    SOURCED_FROM = "SOURCED_FROM"
    INPUT_TO = "INPUT_TO"
    OPERATES = "OPERATES"
    CONTROLS = "CONTROLS"
    LOCATED_IN = "LOCATED_IN"
    CITES = "CITES"
    MEASURES = "MEASURES"
    MEMBER_OF = "MEMBER_OF"
    USES = "USES"
    TARGETS = "TARGETS"
    EXPLOITS = "EXPLOITS"
    MITIGATES = "MITIGATES"
    DETECTS = "DETECTS"
    SUBTECHNIQUE_OF = "SUBTECHNIQUE_OF"
    ATTRIBUTED_TO = "ATTRIBUTED_TO"


RelationTypeName = Literal[
    "DEPENDS_ON",
    "DISRUPTS",
    "THREATENS",
    "SAFEGUARDS",
    "POSES",
    "SOURCED_FROM",
    "INPUT_TO",
    "OPERATES",
    "CONTROLS",
    "LOCATED_IN",
    "CITES",
    "MEASURES",
    "MEMBER_OF",
    "USES",
    "TARGETS",
    "EXPLOITS",
    "MITIGATES",
    "DETECTS",
    "SUBTECHNIQUE_OF",
    "ATTRIBUTED_TO",
]
K = EntityKind
ANY: frozenset[str] = frozenset(K)

ADVERSARIES = frozenset({K.ACTOR, K.CAMPAIGN, K.THREAT, K.CAPABILITY})
"""Who uses, targets and exploits: actors, their campaigns, threats, and capabilities (malware
uses techniques)."""
THREAT_INTELLIGENCE: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "USES": (ADVERSARIES, frozenset({K.CAPABILITY})),
    "TARGETS": (
        ADVERSARIES,
        frozenset({K.VITAL_PROCESS, K.ORGANISATION, K.INSTITUTE, K.RESOURCE, K.COUNTRY}),
    ),
    "EXPLOITS": (ADVERSARIES, frozenset({K.VULNERABILITY})),
    "MITIGATES": (frozenset({K.COUNTERMEASURE}), frozenset({K.CAPABILITY, K.VULNERABILITY})),
    "DETECTS": (frozenset({K.COUNTERMEASURE}), frozenset({K.CAPABILITY})),
    "SUBTECHNIQUE_OF": (frozenset({K.CAPABILITY}), frozenset({K.CAPABILITY})),
    "ATTRIBUTED_TO": (frozenset({K.CAMPAIGN}), frozenset({K.ACTOR})),
}
"""Threat-intelligence relations (STIX 2.1 words). They say who means or is able to do what,
not what fails when: none of them carries a disruption in the cascade (see the README)."""

ENDPOINTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "DEPENDS_ON": (frozenset({K.VITAL_PROCESS, K.ORGANISATION, K.RESOURCE}), ANY),
    "DISRUPTS": (frozenset({K.THREAT}), frozenset({K.VITAL_PROCESS, K.RESOURCE, K.ORGANISATION})),
    "THREATENS": (frozenset({K.THREAT}), frozenset({K.INTEREST})),
    "SAFEGUARDS": (frozenset({K.VITAL_PROCESS}), frozenset({K.INTEREST})),
    "POSES": (frozenset({K.ACTOR}), frozenset({K.THREAT})),
    "SOURCED_FROM": (frozenset({K.RESOURCE}), frozenset({K.COUNTRY})),
    "INPUT_TO": (frozenset({K.RESOURCE}), frozenset({K.RESOURCE})),
    "OPERATES": (
        frozenset({K.ORGANISATION, K.ACTOR, K.COUNTRY}),
        frozenset({K.VITAL_PROCESS, K.RESOURCE, K.ORGANISATION}),
    ),
    "CONTROLS": (
        frozenset({K.ACTOR, K.COUNTRY, K.ORGANISATION}),
        frozenset({K.ORGANISATION, K.RESOURCE, K.ACTOR}),
    ),
    "LOCATED_IN": (
        ANY - {K.COUNTRY, K.INTEREST, K.IMPACT_CRITERION, K.SOURCE},
        frozenset({K.COUNTRY}),
    ),
    "CITES": (ANY, frozenset({K.SOURCE})),
    "MEASURES": (frozenset({K.IMPACT_CRITERION}), frozenset({K.INTEREST})),
    "MEMBER_OF": (
        frozenset({K.INSTITUTE, K.ORGANISATION}),
        frozenset({K.INSTITUTE, K.ORGANISATION}),
    ),
    **THREAT_INTELLIGENCE,
}
"""Relation type -> (allowed source kinds, allowed target kinds)."""


def allowed_endpoints(rel_type: str, source_kind: str, target_kind: str) -> bool:
    """True when a relation of `rel_type` may join these two kinds."""
    sources, targets = ENDPOINTS[rel_type]
    return source_kind in sources and target_kind in targets


def relation_rule_errors(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks that depend on the type: (field, why) for each broken rule."""
    errors = []
    if record["type"] == "SOURCED_FROM" and record.get("share") is None:
        errors.append(("share", "SOURCED_FROM needs a `share` in [0, 1]"))
    if record["source"] == record["target"] and record["type"] != "CITES":
        errors.append(("target", f"a {record['type']} relation cannot join an entity to itself"))
    errors.extend(buffer_range_errors(record))
    return errors


def relation_rules_hold(records: list[dict[str, Any]], given: set[str]) -> bool:
    """True when no record of a batch breaks a rule of `relation_rule_errors` (`given`: the
    fields any record gives). The common case is told in one pass over two fields; a batch
    that may break one is put to `relation_rule_errors` record by record."""
    if BUFFER_RANGE.isdisjoint(given) and not any(
        r["source"] == r["target"] or (r["type"] == "SOURCED_FROM" and r.get("share") is None)
        for r in records
    ):
        return True
    return not any(relation_rule_errors(record) for record in records)


BUFFER_RANGE = frozenset({"buffer_hours_min", "buffer_hours_max"})


def buffer_range_errors(record: dict[str, Any]) -> list[tuple[str, str]]:
    """A buffer range must hold the buffer the cascade uses: min <= buffer_hours <= max.

    A range without `buffer_hours` is refused too: the cascade reads only `buffer_hours`, so
    the range would silently play no part.

    >>> buffer_range_errors({"buffer_hours": 0.5, "buffer_hours_min": 0.5, "buffer_hours_max": 3})
    []
    >>> buffer_range_errors({"buffer_hours": 4, "buffer_hours_max": 3})
    [('buffer_hours', 'buffer_hours (4) must lie within buffer_hours_min..buffer_hours_max (..3)')]
    """
    low, high = record.get("buffer_hours_min"), record.get("buffer_hours_max")
    if low is None and high is None:
        return []
    buffer = record.get("buffer_hours")
    if buffer is None:
        return [("buffer_hours", "a buffer range needs the `buffer_hours` the cascade uses")]
    if (low is not None and buffer < low) or (high is not None and buffer > high):
        bounds = f"{_hours(low)}..{_hours(high)}"
        return [
            (
                "buffer_hours",
                f"buffer_hours ({_hours(buffer)}) must lie within "
                f"buffer_hours_min..buffer_hours_max ({bounds})",
            )
        ]
    return []


def _hours(value: float | None) -> str:
    """A bound as written: 3 rather than 3.0, nothing for an open end."""
    if value is None:
        return ""
    return f"{value:g}"


CORE_RELATION_FIELDS = frozenset(
    {"source", "target", "type", "key", "marking", "created_at", "updated_at"}
)
"""Fields the store keeps in columns; everything else goes into the properties document."""
