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

This module decides what each object holds; `keten.graph.stix_json` writes it as the `stix2`
library would, and `checked_json` (the library making every object) is what it is held to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import IO, Any

import stix2
from stix2.properties import StringProperty
from stix2.registry import class_for_type

from keten.graph.stix_json import StixJson, dumps
from keten.graph.store import EntityFilter, EntityRow, GraphStore, RelationRow
from keten.ingest.stix import (
    COUNTERMEASURE_TYPES,
    DERIVED,
    KETEN_EXTENSION,
    TLP2_EXTENSION,
    TLP2_MARKING_IDS,
    TLP_BY_MARKING_ID,
    confidence_of,
    credibility_of,
    derived_uuid,
    keten_identity,
)
from keten.schema.markings import Tlp

EPOCH = "1970-01-01T00:00:00.000Z"
STIX_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
KETEN_IDENTITY = keten_identity()
"""The identity that created what has no institute in the export."""
TLP2_CREATED = "2022-10-01T00:00:00.000Z"
THREAT_ACTOR_TYPES = {
    "state": "nation-state",
    "criminal": "crime-syndicate",
    "terrorist": "terrorist",
    "hacktivist": "activist",
}
"""keten actor_type -> STIX threat-actor-type vocabulary (others keep keten's word only)."""
RELATIONSHIP_TYPES = {
    "USES": "uses",
    "TARGETS": "targets",
    "EXPLOITS": "exploits",
    "MITIGATES": "mitigates",
    "DETECTS": "detects",
    "SUBTECHNIQUE_OF": "subtechnique-of",
    "ATTRIBUTED_TO": "attributed-to",
    "LOCATED_IN": "located-at",
}
"""keten relation types written as the STIX relationship type of the same meaning."""
NATIVE_FIELDS = frozenset({"name", "description", "aliases"})
"""Record fields written as STIX properties, not in keten's extension."""
WRITTEN = frozenset(
    {
        "type",
        "id",
        "spec_version",
        "created",
        "modified",
        "created_by_ref",
        "object_marking_refs",
        "extensions",
        "granular_markings",
        "source_ref",
        "target_ref",
        "relationship_type",
        "confidence",
        "external_references",
    }
)
"""STIX properties `StixWriter.common` writes itself; a record property of such a name stays in
keten's extension (confidence and external references are written from the record there)."""
CAPABILITY_TYPES = frozenset({"attack-pattern", "malware", "tool"})
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


def original_type(entity: EntityRow, allowed: frozenset[str] | set[str]) -> str | None:
    """The STIX type an entity was imported as, when it is one of `allowed`."""
    original = entity.props.get("stix_id")
    kind = original.partition("--")[0] if isinstance(original, str) else None
    return kind if kind in allowed else None


def stix_type_of(entity: EntityRow) -> str:
    """The STIX type an entity is written as."""
    props = entity.props
    if entity.kind == "Actor":
        return "intrusion-set" if props.get("actor_type") == "intrusion-set" else "threat-actor"
    if entity.kind == "Threat" and props.get("malicious"):
        return "campaign"
    if entity.kind == "Campaign":
        return "campaign"
    if entity.kind == "Capability":
        kind = props.get("capability_type")
        return kind if kind in CAPABILITY_TYPES else "attack-pattern"
    if entity.kind == "Vulnerability":
        return "vulnerability"
    if entity.kind == "Countermeasure":
        return original_type(entity, set(COUNTERMEASURE_TYPES)) or "course-of-action"
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


@cache
def stix_class(stix_type: str) -> Any:
    """The `stix2` class of a STIX type; custom types (``x-keten-*``, ATT&CK's ``x-mitre-*``)
    are registered once as custom objects, so every object is written as the library writes
    an object of its type (`StixJson` lays objects out by these classes)."""
    found = class_for_type(stix_type, "2.1", "objects") or class_for_type(
        stix_type, "2.1", "markings"
    )
    if found is not None:
        return found
    name = "".join(part.title() for part in stix_type.split("-"))
    return stix2.v21.CustomObject(stix_type, [("name", StringProperty())])(type(name, (), {}))


@cache
def stix_properties_of(stix_type: str) -> frozenset[str]:
    """The properties the STIX specification gives a type (custom ``x_`` ones aside)."""
    return frozenset(stix_class(stix_type)._properties) - WRITTEN


def as_stix(obj: dict[str, Any]) -> Any:
    """The `stix2` object of one STIX dict (checked by the library as it is made)."""
    return stix_class(obj["type"])(**obj, allow_custom=True)


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
        self.statements: dict[str, dict[str, Any]] = {}
        """Non-TLP marking definitions (statements, ...) the written records carry."""
        self.references: dict[str, dict[str, Any] | None] = {}
        """The external reference of each Source cited so far."""

    @staticmethod
    def preamble() -> list[dict[str, Any]]:
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
            "(or keten_type on a relationship) name the keten record, properties holds its "
            "other properties as keten stores them, and stix_properties names the record's "
            "properties written as STIX properties of the object; x-keten-<kind> objects are "
            "keten entities of kinds STIX has no object for. See keten.graph.stix_export.",
            "version": "1.1.0",
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
        derived = native_properties(kind, entity)
        stix_names = self.stix_names(kind, record, set(derived) | DERIVED.get(entity.kind, set()))
        obj.update(derived)
        obj.update({name: record[name] for name in stix_names})
        written = stix_names | given_confidence(obj, record)
        obj["extensions"] = {
            KETEN_EXTENSION: self.extension(kind, record, entity.kind, written, obj)
        }
        return obj

    def stix_names(self, kind: str, record: dict[str, Any], derived: set[str]) -> set[str]:
        """The record's properties that are STIX properties of `kind` (spec or ``x_``)."""
        candidates = record.keys() & stix_properties_of(kind)
        candidates.update(name for name in record if name[:2] == "x_")
        candidates -= NATIVE_FIELDS
        return {name for name in candidates - derived if record[name] is not None}

    def relation(self, relation: RelationRow) -> dict[str, Any]:
        """The ``relationship`` of one relation, in STIX's words where it has them."""
        record = relation.as_record()
        source, target = self.ids[relation.source], self.ids[relation.target]
        rel_type, source, target = stix_relationship(relation.type, source, target)
        object_id = kept_stix_id(record, "relationship")
        if object_id is None:
            name = f"{relation.source}|{relation.type}|{relation.target}|{relation.key}"
            object_id = stix_id("relationship", name)
        obj = self.common(
            "relationship", object_id, record, relation.created_at, relation.updated_at
        )
        obj.update(relationship_type=rel_type, source_ref=source, target_ref=target)
        stix_names = self.stix_names("relationship", record, set())
        obj.update({name: record[name] for name in stix_names})
        for key in ("name", "description"):
            if record.get(key):
                obj[key] = record[key]
                stix_names.add(key)
        written = stix_names | given_confidence(obj, record)
        extension: dict[str, Any] = {
            "extension_type": "property-extension",
            "keten_type": relation.type,
            "properties": keten_properties(record, {"source", "target", "type", *written}),
        }
        self.note_written(extension, written, obj, record)
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
        """Properties every STIX object gets: id, times, creator, confidence, marking, refs.

        What came in from STIX goes back out as it came: the times to the character, the
        ``confidence`` as given (unless the credibility was changed since), the external
        references as given, the creator's id and the markings."""
        created_at = record.get("stix_created") or stix_time(created)
        modified = record.get("stix_modified") or max(created_at, stix_time(updated))
        creator = record.get("stix_created_by_ref")
        obj: dict[str, Any] = {
            "type": kind,
            "spec_version": "2.1",
            "id": object_id,
            "created_by_ref": creator
            or self.creators.get(record.get("institute") or "", KETEN_IDENTITY),
            "created": created_at,
            "modified": modified,
        }
        given = record.get("confidence")
        if type(given) is int and credibility_of(given) == record.get("credibility", 6):
            obj["confidence"] = given
        elif (confidence := confidence_of(record.get("credibility"))) is not None:
            obj["confidence"] = confidence
        obj["object_marking_refs"] = self.marking_refs(record)
        references = list(record.get("external_references") or [])
        cited = [self.reference(i) for i in record.get("source_ids") or [] if i in self.sources]
        cited = [c for c in cited if c is not None]
        if references or cited:
            obj["external_references"] = references + cited
        return obj

    def marking_refs(self, record: dict[str, Any]) -> list[str]:
        """The record's markings as it came (when its TLP level is unchanged), else its TLP 2.0
        marking and the non-TLP markings it came with."""
        marking = record.get("marking") or "clear"
        if not record.get("stix_markings"):  # keten's own record: its TLP 2.0 marking
            return [TLP2_MARKING_IDS[marking]]
        kept = [m for m in record["stix_markings"] if isinstance(m, dict) and "id" in m]
        for definition in kept:
            if "definition_type" in definition:
                self.statements.setdefault(definition["id"], definition)
        refs = [m["id"] for m in kept]
        levels = [TLP_BY_MARKING_ID[r] for r in refs if r in TLP_BY_MARKING_ID]
        level = max(levels, key=lambda m: Tlp(m).level) if levels else "clear"
        if refs and level == marking:
            return refs
        return [TLP2_MARKING_IDS[marking], *(r for r in refs if r not in TLP_BY_MARKING_ID)]

    def reference(self, source_id: str) -> dict[str, Any] | None:
        """The external reference of a visible keten Source (None for one that came from a
        STIX external reference: the record's own references hold it), made once per Source
        and shared by the objects that cite it (nothing changes it afterwards)."""
        if source_id not in self.references:
            self.references[source_id] = self.new_reference(source_id)
        return self.references[source_id]

    def new_reference(self, source_id: str) -> dict[str, Any] | None:
        """`reference`, made."""
        source = self.sources[source_id]
        if source.id.startswith("source:stix-"):
            return None
        reference = {"source_name": source.name, "external_id": source_id}
        if source.props.get("url"):
            reference["url"] = source.props["url"]
        return reference

    def extension(
        self,
        kind: str,
        record: dict[str, Any],
        keten_kind: str,
        written: set[str],
        obj: dict[str, Any],
    ) -> dict[str, Any]:
        """keten's extension on an entity: its id, kind and every other property."""
        skip = NATIVE_FIELDS | {"id", "kind"} | written
        extension = {
            "extension_type": "new-sdo" if kind.startswith("x-keten-") else "property-extension",
            "keten_id": record["id"],
            "keten_kind": keten_kind,
            "properties": keten_properties(record, skip),
        }
        self.note_written(extension, written, obj, record)
        return extension

    @staticmethod
    def note_written(
        extension: dict[str, Any], written: set[str], obj: dict[str, Any], record: dict[str, Any]
    ) -> None:
        """List the record's properties written as STIX properties, and how many external
        references keten added after the record's own, so a reader takes back exactly them."""
        if record.get("external_references"):
            written = written | {"external_references"}
            added = len(obj["external_references"]) - len(record["external_references"])
            if added:
                extension["keten_references"] = added
        if written:
            extension["stix_properties"] = sorted(written)


def given_confidence(obj: dict[str, Any], record: dict[str, Any]) -> set[str]:
    """{"confidence"} when the object's confidence is the record's own, else nothing."""
    given = record.get("confidence")
    return {"confidence"} if given is not None and obj.get("confidence") == given else set()


def keten_properties(record: dict[str, Any], skip: frozenset[str] | set[str]) -> dict[str, Any]:
    """The record's properties that are not already STIX properties (times and marking are)."""
    skip = {*skip, "marking", "created_at", "updated_at", "external_references"}
    return {k: v for k, v in record.items() if k not in skip and v is not None}


def native_properties(kind: str, entity: EntityRow) -> dict[str, Any]:
    """The STIX properties a type requires or suggests, derived from the entity's keten fields
    (a property the entity holds under its STIX name is written as it is instead)."""
    props = entity.props
    actor_type = THREAT_ACTOR_TYPES.get(str(props.get("actor_type")))
    if kind == "threat-actor" and "threat_actor_types" not in props and actor_type:
        return {"threat_actor_types": [actor_type]}
    if kind == "campaign" and entity.kind == "Threat" and props.get("theme"):
        return {"objective": props["theme"]}
    if kind == "identity" and "identity_class" not in props:
        return {"identity_class": "organization"}
    if kind == "location" and "country" not in props:
        return {"country": props["iso2"]}
    if kind == "malware" and "is_family" not in props:
        return {"is_family": False}
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
    if rel_type == "EXPLOITS" and source_type != "malware":
        return "targets", source, target
    if rel_type in RELATIONSHIP_TYPES:
        return RELATIONSHIP_TYPES[rel_type], source, target
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


def checked_json(obj: dict[str, Any]) -> bytes:
    """The reference way to write an object: made as a `stix2` object, which checks it against
    the specification, then written as JSON. The fast way (`StixJson`) is held to it."""
    return dumps(as_stix(obj))


@cache
def preamble_json() -> tuple[bytes, ...]:
    """keten's identity, extension definition and the TLP 2.0 markings, made by the library
    once: they are the same in every export."""
    return tuple(checked_json(obj) for obj in StixWriter.preamble())


def fast_json() -> Callable[[dict[str, Any]], bytes]:
    """The fast way to write objects: `StixJson`, making with the library what it does not
    cover."""
    return StixJson(as_stix, stix_class).encode


def write_stix(
    store: GraphStore,
    out: IO[bytes],
    clearance: Tlp = Tlp.RED,
    encode: Callable[[dict[str, Any]], bytes] | None = None,
) -> dict[str, int]:
    """Stream a STIX 2.1 bundle of what `clearance` may see to `out`; returns the counts.

    Each object is written as the `stix2` library writes it: by `StixJson` unless `encode`
    says otherwise (`checked_json` makes every object as a `stix2` object, the reference)."""
    encode = encode or fast_json()
    writer = StixWriter(store, clearance)
    counts = {"entities": 0, "relations": 0, "objects": 0}
    bundle_id = f"bundle--{derived_uuid(f'bundle:{store.revision(clearance)}:{clearance.value}')}"
    out.write(b'{"type": "bundle", "id": "' + bundle_id.encode() + b'", "objects": [')

    def emit(line: bytes) -> None:
        out.write(b",\n" if counts["objects"] else b"\n")
        out.write(line)
        counts["objects"] += 1

    for line in preamble_json():
        emit(line)
    for entity in store.iter_entities(clearance):
        emit(encode(writer.entity(entity)))
        counts["entities"] += 1
    for relation in store.iter_relations(clearance):
        emit(encode(writer.relation(relation)))
        counts["relations"] += 1
    for definition in writer.statements.values():
        emit(checked_json(definition))
    out.write(b"\n]}\n")
    return counts
