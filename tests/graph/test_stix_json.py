"""The fast STIX writer against the stix2 library: the same bytes, object by object and whole.

`write_stix` writes with `StixJson` (the fast way); `checked_json` makes every object as a
`stix2` object first (the reference, as exports were made before). Both ways run over the
reference knowledge base, an ATT&CK-shaped feed, awkward records of every kind and relation
type, and generated objects, at every clearance, and must give the same bytes. Each test
also says how many objects the library had to make in the fast way, so a fast path that
handed everything back to the library would fail here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from stix2.exceptions import STIXError
from stix2validator import validate_string

from bench.attack_bundle import attack_bundle
from keten.data import reference_bundle_path
from keten.graph.sqlite import SqliteStore
from keten.graph.stix_export import as_stix, checked_json, stix_class, write_stix
from keten.graph.stix_json import StixJson
from keten.graph.store import GraphStore
from keten.ingest import load_bundle, load_items, load_paths
from keten.ingest.stix import read_stix_bundle
from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp
from keten.schema.relations import ENDPOINTS, RelationType

CLEARANCES = [Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.RED]
MARKINGS = ["clear", "green", "amber", "amber+strict", "red"]
STATEMENT = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": "marking-definition--4f2b7d8e-1c1e-4a55-9d2c-0b7a8d1e9c11",
    "created": "2020-01-01T00:00:00.000Z",
    "definition_type": "statement",
    "definition": {"statement": "Copyright © keten tests"},
}
AWKWARD_TEXT = 'Ünïcødé 東京 ☢ 🛰️ tab\there\r\nnew line \x7f\x85 \u2028 "quoted" \\ back'
"""Text the loader accepts: every script, tab, newline, CR, DEL, C1 and line separators."""


def export(store: GraphStore, clearance: Tlp, encode: Any) -> bytes:
    out = io.BytesIO()
    write_stix(store, out, clearance, encode)
    return out.getvalue()


def written_alike(store: GraphStore, clearance: Tlp) -> tuple[bytes, dict[str, int]]:
    """The export made the fast way, held to the reference way byte for byte, and what the
    fast way handed back to the library, by type."""
    fast = StixJson(as_stix, stix_class)
    checked, written = export(store, clearance, checked_json), export(store, clearance, fast.encode)
    assert written == checked, first_difference(checked, written)
    return written, fast.made


def first_difference(reference: bytes, fast: bytes) -> str:
    """The first object that differs, both ways, for a readable failure."""
    for old, new in zip(reference.splitlines(), fast.splitlines(), strict=False):
        if old != new:
            return f"\nlibrary: {old[:2000]!r}\nfast:    {new[:2000]!r}"
    return "(one export is longer)"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("stix-json") / "reference.sqlite")
    load_paths(store, [reference_bundle_path()])
    yield store
    store.close()


@pytest.mark.parametrize("clearance", CLEARANCES)
def test_the_reference_knowledge_base_is_written_as_the_library_writes_it(
    reference: SqliteStore, clearance: Tlp
) -> None:
    assert written_alike(reference, clearance)[1] == {}, (
        "every object of keten's own data takes the fast way"
    )


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    """An ATT&CK-shaped feed (2,000 objects), as `keten load` reads it."""
    store = SqliteStore(tmp_path_factory.mktemp("stix-json") / "attack.sqlite")
    load_items(store, read_stix_bundle(attack_bundle(2_000, seed=1), "attack.json"))
    yield store
    store.close()


@pytest.mark.parametrize("clearance", [Tlp.GREEN, Tlp.RED])
def test_an_attack_shaped_feed_goes_back_out_as_the_library_writes_it(
    attack: SqliteStore, clearance: Tlp
) -> None:
    fast, made = written_alike(attack, clearance)
    objects = fast.count(b"\n") - 1
    # campaigns and malware with first_seen/last_seen are checked by the library itself
    assert set(made) <= {"campaign", "malware"}
    assert sum(made.values()) < objects * 0.05, made
    assert b"x_mitre_" in fast and b"kill_chain_phases" in fast


def test_the_attack_shaped_export_passes_the_oasis_validator(attack: SqliteStore) -> None:
    results = validate_string(export(attack, Tlp.RED, None).decode())
    assert not results.errors
    assert results.is_valid


def awkward_entities() -> list[dict[str, Any]]:
    """One or more entities of every kind, with every kind of value the loader accepts."""
    entities: list[dict[str, Any]] = [
        {"id": "source:awkward", "kind": "Source", "name": "capec", "url": "https://e.x/ü"},
        {"id": "source:hidden@red", "kind": "Source", "name": "Red source", "marking": "red"},
        {"id": "institute:awkward", "kind": "Institute", "name": AWKWARD_TEXT},
    ]
    for number, kind in enumerate(EntityKind):
        marking = MARKINGS[number % len(MARKINGS)]
        suffix = "" if marking in ("clear", "green") else f"@{marking}"
        entities.append(
            {
                "id": f"{kind.value.lower()}:awkward-{number}{suffix}",
                "kind": kind.value,
                "name": f"{AWKWARD_TEXT} {number}",
                "marking": marking,
                "description": AWKWARD_TEXT * 3,
                "aliases": ["één", "two\ttabs", "Ω"],
                "source_ids": ["source:awkward"]
                + (["source:hidden@red"] if suffix == "@red" else []),
                "institute": "institute:awkward" if number % 2 else "Unknown institute",
                "credibility": 1 + number % 6,
                "reliability": "ABCDEF"[number % 6],
                "x_empty": [],
                "x_nested": {"list": [1, 2.5, None, "ü"], "map": {"deep": {"deeper": []}}},
                "x_float": [0.1, 1e-300, 1.7976931348623157e308, -0.0, 3.0],
                "x_int": [2**53 + 1, 2**63 - 1, -(2**63), 0],
                "x_bool": False,
                "strength": 0.123456789012345678,
                "empty_list": [],
                "unicode_key_ü": "value",
                "external_ids": ["T1566", "CVE-2023-4966"],
            }
        )
    entities += kinds_as_stix_types()
    entities += imported_from_stix()
    return entities


def kinds_as_stix_types() -> list[dict[str, Any]]:
    """Entities written as each STIX type keten maps to (capability and actor types,
    a malicious threat, a country with and without iso2, a hazard)."""
    return [
        *(
            {
                "id": f"capability:{kind}",
                "kind": "Capability",
                "name": kind,
                "capability_type": kind,
            }
            for kind in ("attack-pattern", "malware", "tool")
        ),
        *(
            {"id": f"actor:{kind}", "kind": "Actor", "name": kind, "actor_type": kind}
            for kind in ("state", "criminal", "terrorist", "hacktivist", "intrusion-set", "lone")
        ),
        {"id": "threat:malicious", "kind": "Threat", "name": "m", "malicious": True, "theme": "t"},
        {"id": "threat:hazard", "kind": "Threat", "name": "Flood", "malicious": False},
        {"id": "country:NL", "kind": "Country", "name": "Netherlands", "iso2": "NL"},
        {"id": "country:nowhere", "kind": "Country", "name": "Nowhere"},
        {
            "id": "organisation:class",
            "kind": "Organisation",
            "name": "o",
            "identity_class": "group",
        },
        {"id": "resource:second", "kind": "Resource", "name": "Second resource"},
        {
            "id": "actor:own-types",
            "kind": "Actor",
            "name": "Own types",
            "actor_type": "state",
            "threat_actor_types": ["spy", "nation-state"],
            "sophistication": "expert",
            "roles": [],
        },
    ]


def imported_from_stix() -> list[dict[str, Any]]:
    """Records as a STIX import leaves them: kept ids, times to the microsecond, creators,
    markings with a statement, external references as given, confidence, STIX properties."""
    return [
        {
            "id": "capability:imported",
            "kind": "Capability",
            "name": "Phishing",
            "capability_type": "attack-pattern",
            "stix_id": "attack-pattern--a62a8db3-f23a-4d8f-afd6-9dbc77e7813b",
            "stix_created": "2017-05-31T21:30:19.735123Z",
            "stix_modified": "2024-10-15T16:45:00.5Z",
            "stix_created_by_ref": "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5",
            "stix_markings": [
                STATEMENT,
                {"id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"},
            ],
            "marking": "green",
            "confidence": 85,
            "credibility": 2,
            "external_references": [
                {"source_name": "mitre-attack", "external_id": "T1566", "url": "https://x/T1566"},
                {"external_id": "CAPEC-98", "source_name": "capec", "x_custom": "kept"},
                {"source_name": "hashed", "url": "https://h", "hashes": {"SHA-256": "a" * 64}},
                {"description": "only a description", "source_name": "d"},
            ],
            "kill_chain_phases": [
                {"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}
            ],
            "x_mitre_platforms": ["Windows", "Linux"],
            "x_mitre_version": "1.2",
            "x_mitre_deprecated": False,
            "revoked": False,
            "labels": ["a", "b"],
            "lang": "en",
        },
        {
            "id": "campaign:seen",
            "kind": "Campaign",
            "name": "Seen",
            "first_seen": "2020-01-01T00:00:00Z",
            "last_seen": "2021-06-01T12:30:00.120Z",
        },
        {
            "id": "countermeasure:analytic",
            "kind": "Countermeasure",
            "name": "Analytic",
            "stix_id": "x-mitre-analytic--0d4b7a8c-3b1e-4c55-9d2c-0b7a8d1e9c22",
            "countermeasure_type": "detection",
            "x_mitre_log_source_references": [{"name": "a", "channel": "b"}],
        },
        {
            "id": "vulnerability:odd-times",
            "kind": "Vulnerability",
            "name": "Odd times",
            "stix_created": "2019-02-03T04:05:06Z",
            "stix_modified": "2019-02-03T04:05:06.100000Z",
            "confidence": 101,
        },
    ]


def awkward_relations(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A relation of every type between the first entities its endpoints allow, with every
    kind of value, some above green, some citing hidden sources, one imported from STIX."""
    by_kind: dict[str, list[str]] = {}
    for entity in entities:
        by_kind.setdefault(entity["kind"], []).append(entity["id"])
    relations: list[dict[str, Any]] = []
    for number, rel_type in enumerate(RelationType):
        sources, targets = ENDPOINTS[rel_type.value]
        source = next(by_kind[kind][0] for kind in sorted(sources) if kind in by_kind)
        target = next(by_kind[kind][-1] for kind in sorted(targets) if kind in by_kind)
        marking = MARKINGS[number % len(MARKINGS)]
        relations.append(
            {
                "source": source,
                "target": target,
                "type": rel_type.value,
                "key": "" if marking in ("clear", "green") else f"@{marking}",
                "marking": marking,
                "description": AWKWARD_TEXT,
                "name": f"relation {number}",
                "source_ids": ["source:awkward"]
                + (["source:hidden@red"] if marking == "red" else []),
                "strength": (number + 1) / (len(RelationType) + 1),
                "buffer_hours": 999_999.5,
                "x_big": 2**62 + 1,
                **({"share": 0.25} if rel_type == RelationType.SOURCED_FROM else {}),
                "x_list": [],
                "confidence": 50,
            }
        )
    relations.append(  # a red citation of a red source by a clear record
        {"source": "source:awkward", "target": "source:hidden@red", "type": "CITES", "key": "@red"}
    )
    relations.append(
        {
            "source": "capability:imported",
            "target": "capability:malware",
            "type": "SUBTECHNIQUE_OF",
            "key": "stix-1",
            "stix_id": "relationship--5b8d2a3e-8f7e-4f5e-9c1d-2b3a4c5d6e7f",
            "stix_created": "2018-01-01T00:00:00.000Z",
            "stix_created_by_ref": "identity--c78cb6e5-0c4b-4611-8297-d1b8b55e40b5",
            "external_references": [{"source_name": "mitre-attack", "url": "https://x"}],
            "start_time": "2018-01-01T00:00:00Z",
        }
    )
    return relations


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("stix-json") / "awkward.sqlite")
    entities = awkward_entities()
    report = load_bundle(store, {"entities": entities, "relations": awkward_relations(entities)})
    assert not getattr(report, "rejected", None), report
    yield store
    store.close()


def test_the_awkward_records_are_all_in_the_store(awkward: SqliteStore) -> None:
    kinds = {row.kind for row in awkward.iter_entities(Tlp.RED)}
    types = {row.type for row in awkward.iter_relations(Tlp.RED)}
    assert kinds == {kind.value for kind in EntityKind}
    assert types == {rel_type.value for rel_type in RelationType}


@pytest.mark.parametrize("clearance", CLEARANCES)
def test_awkward_records_are_written_as_the_library_writes_them(
    awkward: SqliteStore, clearance: Tlp
) -> None:
    fast, made = written_alike(awkward, clearance)
    # the library makes only what carries first_seen/last_seen or start_time (green) itself
    assert made == {"campaign": 1} | ({"relationship": 1} if clearance != Tlp.CLEAR else {})
    assert (b"Red source" in fast) == (clearance == Tlp.RED)


@pytest.mark.parametrize("clearance", [Tlp.GREEN, Tlp.RED])
def test_each_store_backend_is_written_as_the_library_writes_it(
    store: GraphStore, clearance: Tlp
) -> None:
    """The same awkward records in a fresh store of each backend (Neo4j with NEO4J_URI)."""
    entities = awkward_entities()
    load_bundle(store, {"entities": entities, "relations": awkward_relations(entities)})
    assert written_alike(store, clearance)[1] == {"campaign": 1, "relationship": 1}


def test_a_value_the_library_refuses_is_refused_the_fast_way_too(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "keten.sqlite")
    load_bundle(
        store,
        {"entities": [{"id": "campaign:x", "kind": "Campaign", "name": "x", "first_seen": "soon"}]},
    )
    with pytest.raises(STIXError) as library:
        export(store, Tlp.RED, checked_json)
    with pytest.raises(STIXError) as fast:
        export(store, Tlp.RED, None)
    assert str(fast.value) == str(library.value)
    store.close()


TYPES = ["threat-actor", "campaign", "identity", "location", "malware", "relationship"]
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "2024-03-01T10:00:00.000Z",
            "2024-02-30T10:00:00.000Z",
            "0999-03-01T10:00:00.000Z",
            "2024-03-01T10:00:00Z",
            "2024-03-01T10:00:00.1234Z",
            "identity--eb5b2136-81c9-5418-b19e-b300f75c4a3c",
            "identity--EB5B2136-81C9-5418-B19E-B300F75C4A3C",
            "threat-actor--eb5b2136-81c9-5418-b19e-b300f75c4a3c",
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            "identity--eb5b2136-81c9-5418-c19e-b300f75c4a3c",
            "organization",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
NAMES = st.sampled_from(
    [
        "name",
        "description",
        "aliases",
        "created_by_ref",
        "created",
        "modified",
        "confidence",
        "revoked",
        "labels",
        "lang",
        "object_marking_refs",
        "external_references",
        "threat_actor_types",
        "identity_class",
        "country",
        "region",
        "is_family",
        "first_seen",
        "kill_chain_phases",
        "source_ref",
        "target_ref",
        "relationship_type",
        "roles",
        "sophistication",
        "precision",
        "latitude",
        "granular_markings",
        "extensions",
        "spec_version",
        "id",
        "x_custom",
        "Xbad",
        "_private",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stix_type=st.sampled_from(TYPES),
    values=st.dictionaries(NAMES, VALUES, max_size=6),
)
def test_any_object_is_written_as_the_library_writes_it_or_refused_alike(
    stix_type: str, values: dict[str, Any]
) -> None:
    """Generated objects with any values in any properties: the same bytes, or both refuse."""
    obj = {
        "type": stix_type,
        "spec_version": "2.1",
        "id": f"{stix_type}--eb5b2136-81c9-5418-b19e-b300f75c4a3c",
        "created": "2024-03-01T10:00:00.000Z",
        "modified": "2024-03-01T10:00:00.000Z",
        "name": "n",
        "relationship_type": "uses",
        "source_ref": "threat-actor--eb5b2136-81c9-5418-b19e-b300f75c4a3c",
        "target_ref": "identity--eb5b2136-81c9-5418-b19e-b300f75c4a3c",
        "is_family": False,
        "country": "NL",
        **values,
    }
    expected = outcome(checked_json, obj)
    assume(outcome(checked_json, obj) == expected)  # no `created` or id: the library makes one
    fast = StixJson(as_stix, stix_class)
    assert outcome(fast.encode, obj) == expected
    event("refused" if isinstance(expected, str) else "library" if fast.made else "fast")


def outcome(encode: Any, obj: dict[str, Any]) -> bytes | str:
    """The JSON of `obj`, or the error that refused it."""
    try:
        return encode(obj)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
