"""Read STIX 2.1 bundles as keten records, so threat-intelligence feeds land in the graph.

The JSON reader hands any document with ``"type": "bundle"`` to `read_stix_bundle`, which
yields the same `RawRecord`s a keten bundle gives, so validation, the all-or-nothing rule
and the refusal report work unchanged. The mapping:

Objects (SDOs) -> entities, id ``<prefix>:stix-<uuid>`` (see `KINDS`)
    ``threat-actor``      -> Actor, ``actor_type`` from the first ``threat_actor_types`` value
                             (nation-state -> state, crime-syndicate and criminal -> criminal,
                             activist -> hacktivist, else as given)
    ``intrusion-set``     -> Actor, ``actor_type: intrusion-set``
    ``campaign``          -> Campaign: an operation seen, not a scored national Threat
    ``attack-pattern``, ``malware``, ``tool`` -> Capability (``capability_type``)
    ``vulnerability``     -> Vulnerability
    ``course-of-action``  -> Countermeasure, ``countermeasure_type: mitigation``; ATT&CK's
                             detection strategies and analytics (detection), data sources and
                             data components (telemetry) likewise
    ``identity``          -> Organisation ``org:stix-<uuid>`` when ``identity_class`` is
                             organization or group; other classes are not kept but still name
                             the creator of what they made
    ``location``          -> the Country ``country:<ISO2>`` of its ``country``; written only for
                             countries the reference knowledge base lacks
    ``x-keten-*`` and any object carrying keten's extension (what `keten export --format
    stix` writes) -> the keten record it was exported from.

Relationships (SROs)
    ``uses`` USES, ``exploits`` EXPLOITS, ``mitigates`` MITIGATES, ``detects`` DETECTS,
    ``subtechnique-of`` SUBTECHNIQUE_OF, ``located-at`` LOCATED_IN; ``targets`` TARGETS, or
    EXPLOITS when it targets a vulnerability; ``attributed-to`` ATTRIBUTED_TO from a campaign
    to an actor, ``Y CONTROLS X`` for an intrusion set attributed to a threat actor. An end
    outside the bundle may be an object loaded before: its keten id follows from its STIX id.

Common properties, kept so that an export gives them back as they came
    ``object_marking_refs`` -> ``marking``: TLP 1.0 ids (white is clear), the TLP 2.0 extension
    ids, OpenCTI's amber+strict id, and TLP marking-definitions in the bundle; the most
    restrictive wins. Other markings (statements, PAP) -> ``stix_markings``, their definitions.
    ``confidence`` is kept as given, and sets the Admiralty ``credibility`` by the STIX 2.1
    Appendix B table (80-100 -> 1, 60-79 -> 2, 40-59 -> 3, 20-39 -> 4, 0-19 -> 5, absent -> 6).
    ``created``/``modified`` -> ``stix_created``/``stix_modified``, to the character.
    ``created_by_ref`` -> ``contributor`` (the identity's name, else its id) and, for an
    organization or group, ``institute``. ``external_references`` are kept as given, their
    ``external_id``s in ``external_ids`` (ATT&CK T1566, CVE-...), and each becomes a Source
    (``source:stix-<uuid5 of url or name>``) cited in ``source_ids`` and marked like the object
    that cites it. Every other property (``x_`` custom ones, kill-chain phases, ...) is kept
    under its own name. Every mapped record keeps ``stix_id``.

Ids are derived from STIX ids, so loading a bundle twice changes nothing; records marked above
green get their marking's id namespace. Of several versions of one object the latest
``modified`` counts; a revoked object is left out with its versions. Whatever is not kept
does not refuse a bundle: the reader yields one `NotKept` per STIX type and reason, which
the load report lists. Broken objects (no id, no name, a bad country code) are reported as
problems like any bad record.

>>> doc = {"type": "bundle", "id": "bundle--0", "objects": [{"type": "threat-actor",
...        "id": "threat-actor--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "name": "APT X",
...        "spec_version": "2.1", "threat_actor_types": ["nation-state"], "confidence": 85}]}
>>> record = next(read_stix_bundle(doc, "feed.json")).data
>>> record["id"], record["actor_type"], record["credibility"], record["confidence"]
('actor:stix-8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f', 'state', 1, 85)
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import IO, Any

import ijson
import yaml

from keten.ingest import readers  # the module, so that readers may import this one in turn
from keten.ingest.problems import Problem
from keten.schema.markings import Tlp, namespaced
from keten.schema.relations import allowed_endpoints

KETEN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pypi.org/project/keten/#stix")
"""UUIDv5 namespace of every id keten derives; fixed forever, or exported ids would change."""
_NAMESPACE_BYTES = KETEN_NAMESPACE.bytes
KETEN_EXTENSION = f"extension-definition--{KETEN_NAMESPACE}"
"""Keten's STIX extension: keten properties on STIX objects, and the ``x-keten-*`` objects."""

TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The OASIS TLP 2.0 marking extension."""
TLP2_MARKING_IDS: dict[str, str] = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
"""TLP 2.0 marking-definition ids (OASIS cti-stix-common-objects), by keten marking."""
TLP_BY_MARKING_ID: dict[str, str] = {
    **{marking_id: level for level, marking_id in TLP2_MARKING_IDS.items()},
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",  # TLP 1.0 white
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
    "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": "amber+strict",  # OpenCTI
}
"""Well-known TLP marking ids (TLP 1.0 of the STIX 2.1 spec, TLP 2.0, OpenCTI) -> marking."""

CONFIDENCE_BY_CREDIBILITY = {1: 90, 2: 70, 3: 50, 4: 30, 5: 10}
"""STIX 2.1 Appendix B: Admiralty credibility -> confidence (6, cannot be judged, has none)."""
CREDIBILITY_FLOORS = ((80, 1), (60, 2), (40, 3), (20, 4), (0, 5))
"""STIX 2.1 Appendix B: the lowest confidence of each Admiralty credibility grade."""

ACTOR_TYPES = {
    "nation-state": "state",
    "crime-syndicate": "criminal",
    "criminal": "criminal",
    "activist": "hacktivist",
}
"""STIX threat-actor-type vocabulary -> keten actor_type, where keten has its own word."""

KINDS: dict[str, tuple[str, str]] = {
    "threat-actor": ("Actor", "actor"),
    "intrusion-set": ("Actor", "actor"),
    "campaign": ("Campaign", "campaign"),
    "attack-pattern": ("Capability", "capability"),
    "malware": ("Capability", "capability"),
    "tool": ("Capability", "capability"),
    "vulnerability": ("Vulnerability", "vulnerability"),
    "course-of-action": ("Countermeasure", "countermeasure"),
    "x-mitre-detection-strategy": ("Countermeasure", "countermeasure"),
    "x-mitre-analytic": ("Countermeasure", "countermeasure"),
    "x-mitre-data-component": ("Countermeasure", "countermeasure"),
    "x-mitre-data-source": ("Countermeasure", "countermeasure"),
}
"""STIX type -> (keten kind, id prefix) of the objects whose keten id follows from the STIX id."""
COUNTERMEASURE_TYPES = {
    "course-of-action": "mitigation",
    "x-mitre-detection-strategy": "detection",
    "x-mitre-analytic": "detection",
    "x-mitre-data-component": "telemetry",
    "x-mitre-data-source": "telemetry",
}
ORGANISATION_CLASSES = frozenset({"organization", "group"})
RELATIONSHIPS = {
    "uses": "USES",
    "exploits": "EXPLOITS",
    "mitigates": "MITIGATES",
    "detects": "DETECTS",
    "subtechnique-of": "SUBTECHNIQUE_OF",
    "located-at": "LOCATED_IN",
}
"""STIX relationship types that keten holds under one relation type each (see also
`keten_relation` for attributed-to and targets, whose keten type depends on the ends)."""
CONSUMED = frozenset(
    {
        "type",
        "id",
        "spec_version",
        "created",
        "modified",
        "created_by_ref",
        "object_marking_refs",
        "extensions",
        "confidence",
        "name",
        "description",
        "aliases",
        "source_ref",
        "target_ref",
        "relationship_type",
    }
)
"""STIX properties read into keten fields; every other property is kept under its own name."""
KETEN_FIELDS = frozenset(
    {
        "id",
        "kind",
        "source",
        "target",
        "key",
        "marking",
        "source_ids",
        "contributor",
        "institute",
        "reliability",
        "credibility",
        "created_at",
        "updated_at",
        "stix_id",
        "stix_created",
        "stix_modified",
        "stix_markings",
        "stix_created_by_ref",
        "external_ids",
    }
)
"""keten's own field names: a foreign property of such a name is kept as ``stix_<name>``."""
DERIVED = {
    "Actor": frozenset({"threat_actor_types"}),
    "Threat": frozenset({"objective"}),
    "Organisation": frozenset({"identity_class"}),
    "Institute": frozenset({"identity_class"}),
    "Country": frozenset({"country"}),
}
"""STIX properties keten's export derives from a kind's keten fields (see stix_export)."""


@dataclass(frozen=True, slots=True)
class NotKept:
    """Objects of one STIX type that an import did not keep, for one reason."""

    file: str
    stix_type: str
    reason: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for reports."""
        return {"stix_type": self.stix_type, "reason": self.reason, "count": self.count}


def credibility_of(confidence: int | None) -> int:
    """Admiralty credibility of a STIX confidence (Appendix B); 6 when there is none.

    >>> [credibility_of(c) for c in (100, 80, 79, 40, 20, 19, 0, None)]
    [1, 1, 2, 3, 4, 5, 5, 6]
    """
    if confidence is None:
        return 6
    return next(grade for floor, grade in CREDIBILITY_FLOORS if confidence >= floor)


def confidence_of(credibility: int | None) -> int | None:
    """STIX confidence of an Admiralty credibility (Appendix B); None for 6 or no grade."""
    return CONFIDENCE_BY_CREDIBILITY.get(credibility) if credibility is not None else None


def derived_uuid(name: str) -> str:
    """A deterministic UUIDv5 in keten's namespace: `uuid.uuid5`, at a third of its cost.

    Exports derive one per record, so the RFC 4122 steps are done on the digest directly.

    >>> derived_uuid("actor:x") == str(uuid.uuid5(KETEN_NAMESPACE, "actor:x"))
    True
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@cache
def keten_identity() -> str:
    """The STIX id of keten itself, the creator of what has no institute in an export."""
    return f"identity--{derived_uuid('keten')}"


def stix_uuid(stix_id: str) -> str:
    """The uuid part of ``type--uuid``."""
    return stix_id.partition("--")[2]


def stix_type(stix_id: str) -> str:
    """The type part of ``type--uuid``."""
    return stix_id.partition("--")[0]


@cache
def reference_countries() -> frozenset[str]:
    """Ids of the countries in the shipped reference knowledge base (never overwritten)."""
    from keten.data import reference_bundle_path

    path = reference_bundle_path() / "countries.yaml"
    if not path.is_file():
        return frozenset()
    bundle = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return frozenset(e["id"] for e in bundle.get("entities", []) if isinstance(e, dict))


def marking_of_definition(obj: dict[str, Any]) -> str | None:
    """The TLP level a marking-definition object defines (TLP 1.0 or 2.0 form), or None."""
    if obj.get("definition_type") == "tlp":
        level = str((obj.get("definition") or {}).get("tlp", "")).lower()
        level = "clear" if level == "white" else level
        return level if level in TLP2_MARKING_IDS else None
    extension = (obj.get("extensions") or {}).get(TLP2_EXTENSION) or {}
    level = str(extension.get("tlp_2_0", "")).lower()
    return level if level in TLP2_MARKING_IDS else None


def kept_properties(obj: dict[str, Any]) -> dict[str, Any]:
    """The properties of a STIX object keten has no field for, kept as they are (custom
    ``x_`` properties, kill-chain phases, first_seen, ...), so they go back out unchanged.

    >>> kept_properties({"type": "malware", "is_family": True, "x_mitre_version": "1.2",
    ...                  "reliability": "odd", "name": "W"})
    {'is_family': True, 'x_mitre_version': '1.2', 'stix_reliability': 'odd'}
    """
    return {
        (f"stix_{key}" if key in KETEN_FIELDS else key): value
        for key, value in obj.items()
        if key not in CONSUMED and value is not None
    }


def external_ids(references: Any) -> list[str]:
    """The ``external_id``s of an object's external references (ATT&CK T1566, CVE-...)."""
    if not isinstance(references, list):
        return []
    return [
        str(ref["external_id"])
        for ref in references
        if isinstance(ref, dict) and isinstance(ref.get("external_id"), str)
    ]


@dataclass
class StixImport:
    """One STIX bundle read as keten records; `not_kept` counts what it left out, and why."""

    file: str
    not_kept: Counter[tuple[str, str]] = field(default_factory=Counter)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    markings: dict[str, str] = field(default_factory=lambda: dict(TLP_BY_MARKING_ID))
    statements: dict[str, dict[str, Any]] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    @property
    def skipped(self) -> Counter[str]:
        """What was not kept, by STIX type and reason in one phrase (for a quick look)."""
        return Counter({f"{kind}: {why}": n for (kind, why), n in self.not_kept.items()})

    def read(self, doc: Any) -> Iterator[readers.RawRecord | Problem | NotKept]:
        """Records of the bundle: entities first, then the Sources they cite, then relations,
        then what was not kept."""
        objects = doc.get("objects") if isinstance(doc, dict) else None
        if not isinstance(objects, list):
            yield Problem(self.file, "-", "objects", "a STIX bundle needs an `objects` list")
            return
        yield from self._index(objects)
        self._namespace_ids()
        sources: dict[str, dict[str, Any]] = {}
        for stix_id, obj in self.objects.items():
            if stix_id in self.ids and obj["type"] != "relationship":
                yield from self._entity(obj, sources)
        for source in sources.values():
            yield readers.RawRecord("entity", source, self.file, "external_references")
        written = set(sources)
        for stix_id, obj in self.objects.items():
            if obj["type"] == "relationship":
                yield from self._relationship(obj, stix_id, sources)
        for source_id, source in sources.items():  # Sources only relationships cite
            if source_id not in written:
                yield readers.RawRecord("entity", source, self.file, "external_references")
        for (kind, why), count in sorted(self.not_kept.items()):
            yield NotKept(self.file, kind, why, count)

    def _drop(self, kind: str, why: str) -> None:
        self.not_kept[(kind, why)] += 1

    def _index(self, objects: list[Any]) -> Iterator[Problem]:
        """Check every object's type and id, and give each mappable object its keten id."""
        for index, obj in enumerate(objects):
            where = f"objects[{index}]"
            if not isinstance(obj, dict):
                yield Problem(self.file, where, "", "a STIX object must be a JSON object")
                continue
            stix_id, kind = obj.get("id"), obj.get("type")
            if not isinstance(kind, str) or not isinstance(stix_id, str):
                yield Problem(self.file, where, "id", "a STIX object needs `type` and `id`")
                continue
            if stix_type(stix_id) != kind or not stix_uuid(stix_id):
                why = f"a {kind} id must read `{kind}--<uuid>`"
                yield Problem(self.file, where, "id", why, stix_id)
                continue
            if obj.get("revoked") is True:
                self._drop(kind, "revoked: replaced by another object")
                self.revoked.add(stix_id)
                if self.objects.pop(stix_id, None) is not None:
                    self._drop(kind, "an older version of a revoked object")
                self.ids.pop(stix_id, None)
                continue
            earlier = self.objects.get(stix_id)
            if stix_id in self.revoked:
                self._drop(kind, "an older version of a revoked object")
                continue
            if earlier is not None:
                self._drop(kind, "an older version: the latest `modified` counts")
                if str(earlier.get("modified")) >= str(obj.get("modified")):
                    continue
            self.objects[stix_id] = obj
            self.places[stix_id] = where
            yield from self._assign(obj, stix_id, where)

    def _namespace_ids(self) -> None:
        """Move the ids of objects marked above green into their marking's namespace (once
        every marking definition of the bundle is known)."""
        for stix_id, keten_id in self.ids.items():
            self.ids[stix_id] = namespaced(keten_id, self._marking(self.objects[stix_id]))

    def _marking(self, obj: dict[str, Any]) -> str | None:
        """The most restrictive TLP marking an object carries, or None."""
        refs = obj.get("object_marking_refs") or []
        if not isinstance(refs, list):
            return None
        levels = [self.markings[m] for m in refs if isinstance(m, str) and m in self.markings]
        return max(levels, key=lambda m: Tlp(m).level) if levels else None

    def _statements(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        """The markings of an object as it gave them, in order, so they go back out as they
        came: non-TLP ones (statements, PAP, ...) as their definitions when the bundle has
        them, the others as bare ids. Empty when the object has only TLP 2.0 markings."""
        refs = [r for r in obj.get("object_marking_refs") or [] if isinstance(r, str)]
        if all(ref in TLP2_MARKING_IDS.values() for ref in refs):
            return []
        return [self.statements.get(ref) or {"id": ref} for ref in refs]

    def _assign(self, obj: dict[str, Any], stix_id: str, where: str) -> Iterator[Problem]:
        """Record the keten id and kind of one object (or count it as not kept)."""
        kind = obj["type"]
        extension = keten_extension(obj)
        if kind == "marking-definition":
            level = marking_of_definition(obj)
            if level:
                self.markings[stix_id] = level
            else:
                self.statements[stix_id] = obj  # kept on every record it marks
        elif extension.get("keten_id") and extension.get("keten_kind"):
            if kind != "relationship":
                self.ids[stix_id] = str(extension["keten_id"])
                self.kinds[stix_id] = str(extension["keten_kind"])
        elif kind in KINDS:
            keten_kind, prefix = KINDS[kind]
            self.ids[stix_id] = f"{prefix}:stix-{stix_uuid(stix_id)}"
            self.kinds[stix_id] = keten_kind
        elif kind == "identity" and obj.get("identity_class") in ORGANISATION_CLASSES:
            self.ids[stix_id] = f"org:stix-{stix_uuid(stix_id)}"
            self.kinds[stix_id] = "Organisation"
        elif kind == "identity":
            if stix_id != keten_identity():  # keten itself is no loss
                why = f"an identity of class {obj.get('identity_class')}: keten keeps organisations"
                self._drop(kind, why + " (it still names the creator of what it made)")
        elif kind == "location" and obj.get("country"):
            code = str(obj["country"]).upper()
            if len(code) != 2 or not code.isalpha() or not code.isascii():
                why = "a location's country must be an ISO 3166-1 alpha-2 code"
                yield Problem(self.file, where, "country", why, obj["country"])
                return
            self.ids[stix_id] = f"country:{code}"
            self.kinds[stix_id] = "Country"
        elif kind == "location":
            self._drop(kind, "a location without a country: keten keeps countries")
        elif kind == "extension-definition":
            if stix_id != KETEN_EXTENSION:
                self._drop(kind, "a definition of another tool's extension")
        elif kind != "relationship":
            self._drop(kind, "keten has no kind for it")

    def _entity(
        self, obj: dict[str, Any], sources: dict[str, dict[str, Any]]
    ) -> Iterator[readers.Item]:
        """The keten entity of one mapped object (nothing for a reference country)."""
        stix_id = obj["id"]
        where = self.places[stix_id]
        extension = keten_extension(obj)
        record: dict[str, Any] = {"id": self.ids[stix_id], "kind": self.kinds[stix_id]}
        if not extension and record["kind"] == "Country" and record["id"] in reference_countries():
            self._drop(obj["type"], "a country of the reference knowledge base, kept as it is")
            return
        if not isinstance(obj.get("name"), str) and obj["type"] != "location":
            yield Problem(self.file, where, "name", f"a {obj['type']} needs a name")
            return
        if problem := self._bad_common(obj, where):
            yield problem
            return
        record = {**(extension.get("properties") or {}), **record}
        record["name"] = obj.get("name") or record["id"].partition(":")[2]
        for key in ("description", "aliases"):
            if obj.get(key):
                record[key] = obj[key]
        if extension:
            record.update(self._stix_properties(obj, extension))
        else:
            record.update(self._native_properties(obj))
            record.update(self._common(obj, sources))
        record.update(self._provenance(obj, extension))
        yield readers.RawRecord("entity", record, self.file, where)

    def _stix_properties(self, obj: dict[str, Any], extension: dict[str, Any]) -> dict[str, Any]:
        """The properties keten's export wrote as STIX properties (listed in its extension)."""
        names = extension.get("stix_properties")
        if not isinstance(names, list):
            return {}
        found = {name: obj[name] for name in names if isinstance(name, str) and name in obj}
        added = extension.get("keten_references")
        references = found.get("external_references")
        if type(added) is int and added > 0 and isinstance(references, list):
            found["external_references"] = references[:-added]  # keten's citations, after
        return found

    def _native_properties(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Kind-specific keten fields of a plain STIX object."""
        kind = obj["type"]
        record: dict[str, Any] = {}
        if kind == "threat-actor":
            types = obj.get("threat_actor_types") or []
            if types:
                record["actor_type"] = ACTOR_TYPES.get(types[0], types[0])
        elif kind == "intrusion-set":
            record["actor_type"] = "intrusion-set"
        elif kind in {"attack-pattern", "malware", "tool"}:
            record["capability_type"] = kind
        elif kind in COUNTERMEASURE_TYPES:
            record["countermeasure_type"] = COUNTERMEASURE_TYPES[kind]
        elif kind == "identity" and obj.get("sectors"):
            record["sector"] = ", ".join(obj["sectors"])
        elif kind == "location":
            record["iso2"] = self.ids[obj["id"]].partition(":")[2]
        return record

    def _common(self, obj: dict[str, Any], sources: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """What keten keeps of any plain STIX object or relationship: its id, times to the
        character, other properties as they are, external references as given (and a Source
        for each, as secret as the object that cites it), and its non-TLP markings."""
        record = kept_properties(obj)
        record["stix_id"] = obj["id"]
        for stix_name, keten_name in (("created", "stix_created"), ("modified", "stix_modified")):
            if isinstance(obj.get(stix_name), str):
                record[keten_name] = obj[stix_name]
        if obj.get("confidence") is not None:
            record["confidence"] = obj["confidence"]
        if isinstance(obj.get("created_by_ref"), str):
            record["stix_created_by_ref"] = obj["created_by_ref"]
        if statements := self._statements(obj):
            record["stix_markings"] = statements
        references = obj.get("external_references") or []
        if ids := external_ids(references):
            record["external_ids"] = ids
        marking = self._marking(obj)
        cited = [self._source(ref, sources, marking) for ref in references]
        if any(cited):
            record["source_ids"] = sorted({c for c in cited if c})
        return record

    def _source(
        self, ref: Any, sources: dict[str, dict[str, Any]], marking: str | None
    ) -> str | None:
        """The Source entity of one external reference (added to `sources`); its id.

        A Source carries the marking of what cites it: the id is namespaced by that marking,
        so one reference cited by a clear and an amber object is two Sources."""
        if not isinstance(ref, dict) or not isinstance(ref.get("source_name"), str):
            return None
        name, url = ref["source_name"], ref.get("url")
        if ref.get("external_id"):
            name = f"{name} {ref['external_id']}"
        source_id = namespaced(f"source:stix-{derived_uuid(str(url or name))}", marking)
        record: dict[str, Any] = {"id": source_id, "kind": "Source", "name": name[:500]}
        record["marking"] = marking or "clear"
        if url:
            record["url"] = url
        if ref.get("description"):
            record["description"] = ref["description"]
        sources.setdefault(source_id, record)
        return source_id

    def _bad_common(self, obj: dict[str, Any], where: str) -> Problem | None:
        """A problem with the common properties keten reads (confidence, markings), or None."""
        confidence = obj.get("confidence")
        if confidence is not None and (type(confidence) is not int or not 0 <= confidence <= 100):
            return Problem(self.file, where, "confidence", "must be an integer 0-100", confidence)
        if not isinstance(keten_extension(obj).get("properties", {}), dict):
            why = "keten's extension holds `properties` as an object"
            return Problem(self.file, where, "extensions", why)
        refs = obj.get("object_marking_refs")
        if refs is not None and not (
            isinstance(refs, list) and all(isinstance(r, str) for r in refs)
        ):
            return Problem(self.file, where, "object_marking_refs", "must be a list of ids", refs)
        return None

    def _provenance(self, obj: dict[str, Any], extension: dict[str, Any]) -> dict[str, Any]:
        """Marking, credibility, times and creator of an object, as keten provenance."""
        record: dict[str, Any] = {}
        marking = self._marking(obj)
        if marking:
            record["marking"] = marking
        if obj.get("created"):
            record["created_at"] = obj["created"]
        if obj.get("modified"):
            record["updated_at"] = obj["modified"]
        if extension:
            return record
        record["credibility"] = credibility_of(obj.get("confidence"))
        creator = obj.get("created_by_ref")
        if isinstance(creator, str):
            identity = self.objects.get(creator, {})
            name = identity.get("name")
            record["contributor"] = name if isinstance(name, str) else creator
            if isinstance(name, str) and identity.get("identity_class") in ORGANISATION_CLASSES:
                record["institute"] = name
        return record

    def _relationship(
        self, obj: dict[str, Any], stix_id: str, sources: dict[str, dict[str, Any]]
    ) -> Iterator[readers.Item]:
        """The keten relation of one relationship, or a count in `not_kept`."""
        where = self.places[stix_id]
        extension = keten_extension(obj)
        source, target = obj.get("source_ref"), obj.get("target_ref")
        if not isinstance(source, str) or not isinstance(target, str):
            yield Problem(self.file, where, "source_ref", "a relationship needs source and target")
            return
        if problem := self._bad_common(obj, where):
            yield problem
            return
        rel_type = str(obj.get("relationship_type"))
        ends = self._end(source), self._end(target)
        if ends[0] is None or ends[1] is None:
            missing = source if ends[0] is None else target
            self._drop("relationship", self._why_end(rel_type, missing))
            return
        if ends[0][0] == ends[1][0]:
            self._drop("relationship", f"{rel_type}: joins an object to itself")
            return
        if extension.get("keten_type"):
            source_id, target_id = ends[0][0], ends[1][0]
            if rel_type == "attributed-to" and extension["keten_type"] != "ATTRIBUTED_TO":
                source_id, target_id = target_id, source_id  # keten's export reversed it
            record = {"source": source_id, "target": target_id, "type": extension["keten_type"]}
            record.update(extension.get("properties") or {})
            record.update(self._stix_properties(obj, extension))
        else:
            mapped = keten_relation(rel_type, ends[0], ends[1])
            if mapped is None:
                why = (
                    f"{rel_type} from {stix_type(source)} to {stix_type(target)}: no keten relation"
                )
                self._drop("relationship", why)
                return
            # each STIX relationship is a relation of its own, even between the same two ends
            record = {**self._common(obj, sources), **mapped, "key": f"stix-{stix_uuid(stix_id)}"}
            for key in ("name", "description"):
                if obj.get(key):
                    record[key] = obj[key]
        record.update(self._provenance(obj, extension))
        key = namespaced(str(record.get("key") or ""), record.get("marking"))
        if key:
            record["key"] = key
        yield readers.RawRecord("relation", record, self.file, where)

    def _why_end(self, rel_type: str, missing: str) -> str:
        """Why a relationship whose end keten does not keep was left out."""
        kind = stix_type(missing)
        if missing in self.revoked:
            return f"{rel_type}: its {kind} end is revoked"
        if missing in self.objects or kind in {"identity", "location"}:
            return f"{rel_type}: its {kind} end is not kept"
        return f"{rel_type}: its {kind} end is neither in the bundle nor a kind keten keeps"

    def _end(self, stix_id: str) -> tuple[str, str] | None:
        """(keten id, kind) of a relationship end: in the bundle, or derived from its id."""
        if stix_id in self.ids:
            return self.ids[stix_id], self.kinds[stix_id]
        kind = stix_type(stix_id)
        if kind in KINDS and stix_id not in self.objects and stix_id not in self.revoked:
            keten_kind, prefix = KINDS[kind]
            return f"{prefix}:stix-{stix_uuid(stix_id)}", keten_kind
        return None


def keten_relation(
    relationship_type: str, source: tuple[str, str], target: tuple[str, str]
) -> dict[str, Any] | None:
    """The keten relation a STIX relationship states, or None when keten has no word for it.

    >>> keten_relation("targets", ("campaign:c", "Campaign"), ("vulnerability:v", "Vulnerability"))
    {'source': 'campaign:c', 'target': 'vulnerability:v', 'type': 'EXPLOITS'}
    """
    (source_id, source_kind), (target_id, target_kind) = source, target
    forward = {"source": source_id, "target": target_id}
    backward = {"source": target_id, "target": source_id}
    if relationship_type == "attributed-to":
        if allowed_endpoints("ATTRIBUTED_TO", source_kind, target_kind):
            return {**forward, "type": "ATTRIBUTED_TO"}
        if source_kind == "Threat" and target_kind == "Actor":
            return {**backward, "type": "POSES"}
        if allowed_endpoints("CONTROLS", target_kind, source_kind):
            return {**backward, "type": "CONTROLS"}
        return None
    if relationship_type == "targets":
        rel_type: str | None = "EXPLOITS" if target_kind == "Vulnerability" else "TARGETS"
    else:
        rel_type = RELATIONSHIPS.get(relationship_type)
    if rel_type and allowed_endpoints(rel_type, source_kind, target_kind):
        return {**forward, "type": rel_type}
    return None


def keten_extension(obj: dict[str, Any]) -> dict[str, Any]:
    """The keten extension of an object (what keten's own export wrote), or {}."""
    extensions = obj.get("extensions")
    extension = extensions.get(KETEN_EXTENSION) if isinstance(extensions, dict) else None
    return extension if isinstance(extension, dict) else {}


def looks_like_stix(handle: IO[bytes]) -> bool:
    """True when a JSON file is a STIX bundle, judged by its top-level keys, not by reading it.

    For files too large to parse whole before choosing a reader: it stops at the first
    top-level key that tells (``type`` or ``objects`` say STIX, ``entities`` or ``relations``
    say keten) and never walks into the arrays. Broken JSON is left to the reader to report.

    >>> import io
    >>> looks_like_stix(io.BytesIO(b'{"id": "bundle--1", "objects": []}'))
    True
    >>> looks_like_stix(io.BytesIO(b'{"entities": [{"type": "bundle"}]}'))
    False
    """
    try:
        for prefix, event, value in ijson.parse(handle):
            if event == "map_key" and prefix == "":
                if value in {"entities", "relations"}:
                    return False
                if value == "objects":
                    return True
            elif prefix == "type" and event == "string":
                return bool(value == "bundle")
            elif prefix == "" and event != "start_map":
                return False
    except ijson.JSONError:
        return False
    return False


def read_stix_bundle(
    doc: dict[str, Any], file: str
) -> Iterator[readers.RawRecord | Problem | NotKept]:
    """Records of a STIX 2.1 bundle document (the JSON reader's hook); see the module doc."""
    yield from StixImport(file).read(doc)
