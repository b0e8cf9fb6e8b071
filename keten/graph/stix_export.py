"""Write a store out as a STIX 2.1 bundle that the OASIS validator accepts.

STIX has words for part of keten's model; the rest travels as ``x-keten-*`` objects defined by
keten's own extension (an ``extension-definition`` in the bundle, ``new-sdo``), so a STIX
tool sees actors, campaigns, identities and locations natively, and keten can read its own
export back without loss. The mapping:

================  =========================================================================
keten             STIX 2.1
================  =========================================================================
Actor             ``threat-actor`` (``threat_actor_types`` from ``actor_type`` where the
                  vocabulary has it: state -> nation-state, criminal -> crime-syndicate,
                  terrorist, hacktivist -> activist); ``intrusion-set`` when ``actor_type`` is
                  intrusion-set
Threat            ``campaign`` when ``malicious`` (``objective`` = theme); STIX has no hazard,
                  so any other threat is an ``x-keten-threat``
Organisation      ``identity``, ``identity_class`` organization (so is an Institute)
Country           ``location`` with ``country`` (``x-keten-country`` without an iso2)
Source            ``x-keten-source``, and an ``external_references`` entry (name, url,
                  ``external_id`` = keten id) on every object that cites it
other kinds       ``x-keten-interest``, ``x-keten-vital-process``, ``x-keten-resource``,
                  ``x-keten-impact-criterion``
POSES             ``campaign attributed-to threat-actor`` (reversed) when the threat is a
                  campaign; ``CONTROLS`` of an intrusion set likewise ``attributed-to``
DISRUPTS          ``targets`` from a campaign to an identity; ``LOCATED_IN`` ``located-at``
other relations   a ``relationship`` whose ``relationship_type`` is the keten type in STIX
                  form (``depends-on``, ``safeguards``, ...: permitted, with a validator
                  warning that it is not a suggested type)
marking           ``object_marking_refs``: the OASIS TLP 2.0 marking definitions, included
credibility       ``confidence`` by STIX 2.1 Appendix B (1 -> 90 ... 5 -> 10; 6 -> none)
institute         ``created_by_ref``: the identity of the institute when it is in the export,
                  else the ``identity`` of keten itself
================  =========================================================================

Every keten property (reliability, buffers, shares, ...) rides in keten's extension on the
object, so nothing is lost. STIX ids are UUIDv5 of the keten id in keten's namespace: the same
record exports to the same id every time (the validator notes that they are not UUIDv4; STIX
allows any UUID). A record that came in from STIX keeps its original id (its ``stix_id``), so
other tools recognise it when it goes back out. Only what the clearance allows is written,
and a citation of a Source above it is left out, like the Source itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from keten.graph.store import EntityFilter, EntityRow, GraphStore, RelationRow
from keten.ingest.stix import (
    KETEN_EXTENSION,
    TLP2_EXTENSION,
    TLP2_MARKING_IDS,
    confidence_of,
    derived_uuid,
)
from keten.schema.markings import Tlp

EPOCH = "1970-01-01T00:00:00.000Z"
STIX_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
KETEN_IDENTITY = f"identity--{derived_uuid('keten')}"
"""The identity that created what has no institute in the export."""
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
THREAT_ACTOR_TYPES = {
    "state": "nation-state",
    "criminal": "crime-syndicate",
    "terrorist": "terrorist",
    "hacktivist": "activist",
}
"""keten actor_type -> STIX threat-actor-type vocabulary (others keep keten's word only)."""
NATIVE_RELATIONSHIPS = frozenset({"attributed-to", "targets", "located-at"})
"""STIX relationship types keten reads: a relation imported as one keeps its STIX id."""
NATIVE_FIELDS = frozenset({"name", "description", "aliases"})
"""Record fields written as STIX properties, not in keten's extension."""
PAGE = 1000


def stix_time(value: str | None) -> str:
    """A stored ISO 8601 time as a STIX timestamp (UTC, milliseconds, ``Z``).

    >>> stix_time("2024-03-01T12:00:00+02:00")
    '2024-03-01T10:00:00.000Z'
    """
    if not value:
        return EPOCH
    if STIX_TIME.fullmatch(value):  # what the stores write: nothing to convert
        return value
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def stix_type_of(entity: EntityRow) -> str:
    """The STIX type an entity is written as."""
    props = entity.props
    if entity.kind == "Actor":
        return "intrusion-set" if props.get("actor_type") == "intrusion-set" else "threat-actor"
    if entity.kind == "Threat" and props.get("malicious"):
        return "campaign"
    if entity.kind in {"Organisation", "Institute"}:
        return "identity"
    if entity.kind == "Country" and props.get("iso2"):
        return "location"
    slug = "".join(f"-{c.lower()}" if c.isupper() else c for c in entity.kind).lstrip("-")
    return f"x-keten-{slug}"


def stix_id(stix_type: str, keten_id: str) -> str:
    """The deterministic STIX id of a keten record."""
    return f"{stix_type}--{derived_uuid(keten_id)}"


def kept_stix_id(record: dict[str, Any], stix_type: str) -> str | None:
    """The id a record imported from STIX had, when it is exported as the same type."""
    original = record.get("stix_id")
    if isinstance(original, str) and original.startswith(f"{stix_type}--"):
        return original
    return None


def entity_stix_id(entity: EntityRow) -> str:
    """The STIX id of an entity: the one it was imported with, else derived from its keten id."""
    kind = stix_type_of(entity)
    return kept_stix_id(entity.props, kind) or stix_id(kind, entity.id)


class StixWriter:
    """What one export needs beyond a record: visible Sources and identities, ids written."""

    def __init__(self, store: GraphStore, clearance: Tlp) -> None:
        self.clearance = clearance
        self.sources = {e.id: e for e in visible(store, "Source", clearance)}
        self.creators: dict[str, str] = {}
        """STIX ids of the identities an ``institute`` value (an id or a name) can refer to."""
        for kind in ("Institute", "Organisation"):
            for row in visible(store, kind, clearance):
                self.creators.setdefault(row.id, entity_stix_id(row))
                self.creators.setdefault(row.name, entity_stix_id(row))
        self.ids: dict[str, str] = {}
        """STIX id of every entity written so far, for the relations that follow."""

    def preamble(self) -> list[dict[str, Any]]:
        """keten's identity, its extension definition and the TLP 2.0 marking definitions."""
        identity = {
            "type": "identity",
            "spec_version": "2.1",
            "id": KETEN_IDENTITY,
            "created": EPOCH,
            "modified": EPOCH,
            "name": "keten",
            "description": "keten knowledge network for national-security analysis",
            "identity_class": "system",
        }
        extension = {
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": KETEN_EXTENSION,
            "created_by_ref": KETEN_IDENTITY,
            "created": EPOCH,
            "modified": EPOCH,
            "name": "keten",
            "description": "keten records: the x-keten-* objects and keten's properties "
            "(keten_id, keten_kind or keten_type, properties) on STIX objects.",
            "schema": "Plain text, as STIX allows: on any object, keten_id and keten_kind "
            "(or keten_type on a relationship) name the keten record, and properties holds its "
            "other properties as keten stores them; x-keten-<kind> objects are keten entities "
            "of kinds STIX has no object for. See the keten.graph.stix_export module.",
            "version": "1.0.0",
            "extension_types": ["new-sdo", "property-extension"],
        }
        return [identity, extension, *tlp2_markings()]

    def entity(self, entity: EntityRow) -> dict[str, Any]:
        """The STIX object of one entity."""
        kind = stix_type_of(entity)
        record = entity.as_record()
        object_id = entity_stix_id(entity)
        obj = self.common(kind, object_id, record, entity.created_at, entity.updated_at)
        self.ids[entity.id] = object_id
        obj["name"] = entity.name
        for key in ("description", "aliases"):
            if record.get(key):
                obj[key] = record[key]
        obj.update(native_properties(kind, entity))
        obj["extensions"] = {KETEN_EXTENSION: self.extension(kind, record, entity.kind)}
        return obj

    def relation(self, relation: RelationRow) -> dict[str, Any]:
        """The ``relationship`` of one relation, in STIX's words where it has them."""
        record = relation.as_record()
        source, target = self.ids[relation.source], self.ids[relation.target]
        rel_type, source, target = stix_relationship(relation.type, source, target)
        object_id = kept_stix_id(record, "relationship")
        if object_id is None or rel_type not in NATIVE_RELATIONSHIPS:
            name = f"{relation.source}|{relation.type}|{relation.target}|{relation.key}"
            object_id = stix_id("relationship", name)
        obj = self.common(
            "relationship", object_id, record, relation.created_at, relation.updated_at
        )
        obj.update(relationship_type=rel_type, source_ref=source, target_ref=target)
        extension = {
            "extension_type": "property-extension",
            "keten_type": relation.type,
            "properties": keten_properties(record, {"source", "target", "type"}),
        }
        obj["extensions"] = {KETEN_EXTENSION: extension}
        return obj

    def common(
        self,
        kind: str,
        object_id: str,
        record: dict[str, Any],
        created: str | None,
        updated: str | None,
    ) -> dict[str, Any]:
        """Properties every STIX object gets: id, times, creator, confidence, marking, refs."""
        created_at = stix_time(created)
        obj: dict[str, Any] = {
            "type": kind,
            "spec_version": "2.1",
            "id": object_id,
            "created_by_ref": self.creators.get(record.get("institute") or "", KETEN_IDENTITY),
            "created": created_at,
            "modified": max(created_at, stix_time(updated)),
        }
        confidence = confidence_of(record.get("credibility"))
        if confidence is not None:
            obj["confidence"] = confidence
        obj["object_marking_refs"] = [TLP2_MARKING_IDS[record.get("marking") or "clear"]]
        references = [
            self.reference(i) for i in record.get("source_ids") or [] if i in self.sources
        ]
        if references:
            obj["external_references"] = references
        return obj

    def reference(self, source_id: str) -> dict[str, Any]:
        """The external reference of a visible Source."""
        source = self.sources[source_id]
        reference = {"source_name": source.name, "external_id": source_id}
        if source.props.get("url"):
            reference["url"] = source.props["url"]
        return reference

    def extension(self, kind: str, record: dict[str, Any], keten_kind: str) -> dict[str, Any]:
        """keten's extension on an entity: its id, kind and every other property."""
        skip = NATIVE_FIELDS | {"id", "kind"}
        return {
            "extension_type": "new-sdo" if kind.startswith("x-keten-") else "property-extension",
            "keten_id": record["id"],
            "keten_kind": keten_kind,
            "properties": keten_properties(record, skip),
        }


def keten_properties(record: dict[str, Any], skip: frozenset[str] | set[str]) -> dict[str, Any]:
    """The record's properties that are not already STIX properties (times and marking are)."""
    skip = {*skip, "marking", "created_at", "updated_at"}
    return {k: v for k, v in record.items() if k not in skip and v is not None}


def native_properties(kind: str, entity: EntityRow) -> dict[str, Any]:
    """The STIX properties a type requires or suggests, from the entity's properties."""
    props = entity.props
    if kind == "threat-actor" and props.get("actor_type") in THREAT_ACTOR_TYPES:
        return {"threat_actor_types": [THREAT_ACTOR_TYPES[props["actor_type"]]]}
    if kind == "campaign" and props.get("theme"):
        return {"objective": props["theme"]}
    if kind == "identity":
        return {"identity_class": "organization"}
    if kind == "location":
        return {"country": props["iso2"]}
    return {}


def stix_relationship(rel_type: str, source: str, target: str) -> tuple[str, str, str]:
    """(relationship_type, source_ref, target_ref) of a keten relation between two STIX ids."""
    source_type, target_type = source.partition("--")[0], target.partition("--")[0]
    if rel_type == "POSES" and target_type == "campaign":
        return "attributed-to", target, source
    if rel_type == "CONTROLS" and (source_type, target_type) == ("threat-actor", "intrusion-set"):
        return "attributed-to", target, source
    if rel_type == "DISRUPTS" and (source_type, target_type) == ("campaign", "identity"):
        return "targets", source, target
    if rel_type == "LOCATED_IN" and target_type == "location":
        return "located-at", source, target
    return rel_type.lower().replace("_", "-"), source, target


def tlp2_markings() -> list[dict[str, Any]]:
    """The five OASIS TLP 2.0 marking definitions."""
    return [
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": marking_id,
            "created": TLP2_CREATED,
            "name": f"TLP:{level.upper()}",
            "extensions": {
                TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}
            },
        }
        for level, marking_id in TLP2_MARKING_IDS.items()
    ]


def visible(store: GraphStore, kind: str, clearance: Tlp) -> Iterator[EntityRow]:
    """Every entity of a kind the clearance may see, page by page."""
    flt = EntityFilter(kind=kind, clearance=clearance)
    cursor: str | None = None
    while True:
        page = store.list_entities(flt, cursor=cursor, limit=PAGE)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def write_stix(store: GraphStore, out: IO[bytes], clearance: Tlp = Tlp.RED) -> dict[str, int]:
    """Stream a STIX 2.1 bundle of what `clearance` may see to `out`; returns the counts."""
    writer = StixWriter(store, clearance)
    counts = {"entities": 0, "relations": 0, "objects": 0}
    bundle_id = f"bundle--{derived_uuid(f'bundle:{store.revision(clearance)}:{clearance.value}')}"
    out.write(b'{"type": "bundle", "id": "' + bundle_id.encode() + b'", "objects": [')

    def emit(obj: dict[str, Any]) -> None:
        out.write(b",\n" if counts["objects"] else b"\n")
        out.write(orjson.dumps(obj))
        counts["objects"] += 1

    for obj in writer.preamble():
        emit(obj)
    for entity in store.iter_entities(clearance):
        emit(writer.entity(entity))
        counts["entities"] += 1
    for relation in store.iter_relations(clearance):
        emit(writer.relation(relation))
        counts["relations"] += 1
    out.write(b"\n]}\n")
    return counts
