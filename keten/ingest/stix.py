"""Read STIX 2.1 bundles as keten records, so threat-intelligence feeds land in the graph.

The JSON reader hands any document with ``"type": "bundle"`` to `read_stix_bundle`, which
yields the same `RawRecord`s a keten bundle gives, so validation, the all-or-nothing rule
and the refusal report work unchanged. The mapping:

Objects (SDOs)
    ``threat-actor``      -> Actor, id ``actor:stix-<uuid>``, ``actor_type`` from the first
                             ``threat_actor_types`` value (nation-state -> state, crime-syndicate
                             and criminal -> criminal, activist -> hacktivist, else as given)
    ``intrusion-set``     -> Actor, ``actor_type: intrusion-set``
    ``campaign``          -> Threat ``threat:stix-<uuid>``, ``malicious: true``, ``theme`` from
                             ``objective`` (else "campaign")
    ``identity``          -> Organisation ``org:stix-<uuid>`` when ``identity_class`` is
                             organization or group; other classes (individual, system, class,
                             unknown) are skipped but still name the creator of what they made
    ``location``          -> the Country ``country:<ISO2>`` of its ``country``; the record is
                             written only for countries the reference knowledge base lacks, so
                             a feed never overwrites a curated country (load the reference
                             first: ``keten init``); a location without ``country`` is skipped
    ``x-keten-*`` and any object carrying keten's extension (what `keten export --format
    stix` writes) -> the keten record it was exported from, with its own id and properties.

Relationships (SROs), named for what they say in keten
    ``X attributed-to Y``  -> ``Y POSES X`` when X is a Threat and Y an Actor, else ``Y CONTROLS
                              X`` where keten allows it (a threat actor behind an intrusion set)
    ``X targets Y``        -> ``X DISRUPTS Y`` when X is a Threat and Y an Organisation
    ``X located-at Y``     -> ``X LOCATED_IN Y``
    anything else (related-to, uses, ...) is skipped. An end outside the bundle may be a
    threat-actor, intrusion-set or campaign loaded before: its keten id follows from its id.

Common properties
    ``object_marking_refs`` -> ``marking``: TLP 1.0 ids (white is clear), the TLP 2.0 extension
    ids, OpenCTI's amber+strict id, and TLP marking-definitions in the bundle; the most
    restrictive wins; non-TLP markings (statements, PAP) are not markings keten keeps.
    ``confidence`` (0-100) -> Admiralty ``credibility`` by the STIX 2.1 Appendix B table
    (80-100 -> 1, 60-79 -> 2, 40-59 -> 3, 20-39 -> 4, 0-19 -> 5, absent -> 6 "cannot be
    judged"); the raw ``confidence`` is kept. ``created``/``modified`` -> ``created_at``/
    ``updated_at``. ``created_by_ref`` -> ``contributor`` (the identity's name; the bare id
    when the identity is not in the bundle) and, for an organization or group, ``institute``.
    ``external_references`` -> one Source per reference (``source:stix-<uuid5 of url or
    name>``), cited in ``source_ids``.
    Every mapped record keeps ``stix_id``.

Ids are derived from STIX ids, so loading a bundle twice changes nothing. Of several versions
of one object the latest ``modified`` counts; a revoked object is left out with its versions.
Skipped objects and relationships do not refuse a bundle: `StixImport.skipped` counts them by
reason. Broken objects (no id, no name, a bad country code) are reported as problems like any
bad record.

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

PREFIXES = {"threat-actor": "actor", "intrusion-set": "actor", "campaign": "threat"}
ORGANISATION_CLASSES = frozenset({"organization", "group"})


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


@dataclass
class StixImport:
    """One STIX bundle read as keten records; `skipped` counts what had no keten meaning."""

    file: str
    skipped: Counter[str] = field(default_factory=Counter)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    markings: dict[str, str] = field(default_factory=lambda: dict(TLP_BY_MARKING_ID))
    places: dict[str, str] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    def read(self, doc: Any) -> Iterator[readers.Item]:
        """Records of the bundle: entities first, then the Sources they cite, then relations."""
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
        for stix_id, obj in self.objects.items():
            if obj["type"] == "relationship":
                yield from self._relationship(obj, stix_id)

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
                self.skipped[f"revoked {kind}"] += 1
                self.revoked.add(stix_id)
                self.objects.pop(stix_id, None)
                self.ids.pop(stix_id, None)
                continue
            earlier = self.objects.get(stix_id)
            if stix_id in self.revoked or (
                earlier is not None and str(earlier.get("modified")) >= str(obj.get("modified"))
            ):
                continue  # revoked, or an older version of an object the bundle holds
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

    def _assign(self, obj: dict[str, Any], stix_id: str, where: str) -> Iterator[Problem]:
        """Record the keten id and kind of one object (or count it as skipped)."""
        kind = obj["type"]
        extension = keten_extension(obj)
        if kind == "marking-definition":
            level = marking_of_definition(obj)
            if level:
                self.markings[stix_id] = level
        elif extension.get("keten_id") and extension.get("keten_kind"):
            if kind != "relationship":
                self.ids[stix_id] = str(extension["keten_id"])
                self.kinds[stix_id] = str(extension["keten_kind"])
        elif kind in PREFIXES:
            self.ids[stix_id] = f"{PREFIXES[kind]}:stix-{stix_uuid(stix_id)}"
            self.kinds[stix_id] = "Actor" if PREFIXES[kind] == "actor" else "Threat"
        elif kind == "identity" and obj.get("identity_class") in ORGANISATION_CLASSES:
            self.ids[stix_id] = f"org:stix-{stix_uuid(stix_id)}"
            self.kinds[stix_id] = "Organisation"
        elif kind == "location" and obj.get("country"):
            code = str(obj["country"]).upper()
            if len(code) != 2 or not code.isalpha() or not code.isascii():
                why = "a location's country must be an ISO 3166-1 alpha-2 code"
                yield Problem(self.file, where, "country", why, obj["country"])
                return
            self.ids[stix_id] = f"country:{code}"
            self.kinds[stix_id] = "Country"
        elif kind not in {"relationship", "extension-definition"} and not (
            kind == "identity" and obj.get("identity_class")
        ):
            self.skipped[kind] += 1
        elif kind == "identity":
            self.skipped[f"identity of class {obj.get('identity_class')}"] += 1

    def _entity(
        self, obj: dict[str, Any], sources: dict[str, dict[str, Any]]
    ) -> Iterator[readers.Item]:
        """The keten entity of one mapped object (nothing for a reference country)."""
        stix_id = obj["id"]
        where = self.places[stix_id]
        extension = keten_extension(obj)
        record: dict[str, Any] = {"id": self.ids[stix_id], "kind": self.kinds[stix_id]}
        if not extension and record["kind"] == "Country" and record["id"] in reference_countries():
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
        if not extension:
            record.update(self._native_properties(obj, sources, self._marking(obj)))
        record.update(self._provenance(obj, extension))
        yield readers.RawRecord("entity", record, self.file, where)

    def _native_properties(
        self, obj: dict[str, Any], sources: dict[str, dict[str, Any]], marking: str | None
    ) -> dict[str, Any]:
        """Kind-specific properties of a plain STIX object, its stix_id and cited Sources
        (which carry the object's marking: a reference is as secret as what cites it)."""
        kind = obj["type"]
        record: dict[str, Any] = {"stix_id": obj["id"]}
        if kind == "threat-actor":
            types = obj.get("threat_actor_types") or []
            if types:
                record["actor_type"] = ACTOR_TYPES.get(types[0], types[0])
        elif kind == "intrusion-set":
            record["actor_type"] = "intrusion-set"
        elif kind == "campaign":
            record.update(malicious=True, theme=obj.get("objective") or "campaign")
        elif kind == "identity" and obj.get("sectors"):
            record["sector"] = ", ".join(obj["sectors"])
        elif kind == "location":
            record["iso2"] = self.ids[obj["id"]].partition(":")[2]
        references = obj.get("external_references") or []
        cited = [self._source(ref, sources, marking) for ref in references]
        if any(cited):
            record["source_ids"] = sorted({c for c in cited if c})
        return record

    def _source(
        self, ref: Any, sources: dict[str, dict[str, Any]], marking: str | None
    ) -> str | None:
        """The Source entity of one external reference (added to `sources`); its id."""
        if not isinstance(ref, dict) or not isinstance(ref.get("source_name"), str):
            return None
        name, url = ref["source_name"], ref.get("url")
        if ref.get("external_id"):
            name = f"{name} {ref['external_id']}"
        source_id = namespaced(f"source:stix-{derived_uuid(url or name)}", marking)
        record = {"id": source_id, "kind": "Source", "name": name}
        if marking:
            record["marking"] = marking
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
        if obj.get("confidence") is not None:
            record["confidence"] = obj["confidence"]
        record["credibility"] = credibility_of(obj.get("confidence"))
        creator = obj.get("created_by_ref")
        if isinstance(creator, str):
            identity = self.objects.get(creator, {})
            name = identity.get("name")
            record["contributor"] = name if isinstance(name, str) else creator
            if isinstance(name, str) and identity.get("identity_class") in ORGANISATION_CLASSES:
                record["institute"] = name
        return record

    def _relationship(self, obj: dict[str, Any], stix_id: str) -> Iterator[readers.Item]:
        """The keten relation of one relationship, or a count in `skipped`."""
        where = self.places[stix_id]
        extension = keten_extension(obj)
        source, target = obj.get("source_ref"), obj.get("target_ref")
        if not isinstance(source, str) or not isinstance(target, str):
            yield Problem(self.file, where, "source_ref", "a relationship needs source and target")
            return
        if problem := self._bad_common(obj, where):
            yield problem
            return
        ends = self._end(source), self._end(target)
        if ends[0] is None or ends[1] is None:
            self.skipped[f"relationship to {stix_type(target if ends[0] else source)}"] += 1
            return
        if extension.get("keten_type"):
            source_id, target_id = ends[0][0], ends[1][0]
            if obj.get("relationship_type") == "attributed-to":  # keten's export reversed it
                source_id, target_id = target_id, source_id
            record = {"source": source_id, "target": target_id, "type": extension["keten_type"]}
            record.update(extension.get("properties") or {})
        else:
            mapped = keten_relation(str(obj.get("relationship_type")), ends[0], ends[1])
            if mapped is None:
                self.skipped[f"relationship {obj.get('relationship_type')}"] += 1
                return
            record = {**mapped, "stix_id": stix_id}
        record.update(self._provenance(obj, extension))
        key = namespaced(str(record.get("key") or ""), record.get("marking"))
        if key:
            record["key"] = key
        yield readers.RawRecord("relation", record, self.file, where)

    def _end(self, stix_id: str) -> tuple[str, str] | None:
        """(keten id, kind) of a relationship end: in the bundle, or derived from its id."""
        if stix_id in self.ids:
            return self.ids[stix_id], self.kinds[stix_id]
        kind = stix_type(stix_id)
        if kind in PREFIXES and stix_id not in self.objects:
            keten_kind = "Actor" if PREFIXES[kind] == "actor" else "Threat"
            return f"{PREFIXES[kind]}:stix-{stix_uuid(stix_id)}", keten_kind
        return None


def keten_relation(
    relationship_type: str, source: tuple[str, str], target: tuple[str, str]
) -> dict[str, Any] | None:
    """The keten relation a STIX relationship states, or None when keten has no word for it."""
    (source_id, source_kind), (target_id, target_kind) = source, target
    if relationship_type == "attributed-to":
        if source_kind == "Threat" and target_kind == "Actor":
            return {"source": target_id, "target": source_id, "type": "POSES"}
        if allowed_endpoints("CONTROLS", target_kind, source_kind):
            return {"source": target_id, "target": source_id, "type": "CONTROLS"}
    if relationship_type == "targets" and allowed_endpoints("DISRUPTS", source_kind, target_kind):
        return {"source": source_id, "target": target_id, "type": "DISRUPTS"}
    if relationship_type == "located-at" and allowed_endpoints(
        "LOCATED_IN", source_kind, target_kind
    ):
        return {"source": source_id, "target": target_id, "type": "LOCATED_IN"}
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


def read_stix_bundle(doc: dict[str, Any], file: str) -> Iterator[readers.RawRecord | Problem]:
    """Records of a STIX 2.1 bundle document (the JSON reader's hook); see the module doc."""
    yield from StixImport(file).read(doc)
