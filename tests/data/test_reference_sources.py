"""Citations in the reference knowledge base hold: every cited source exists and supports the
record, and the editors' own modelling cites the keten editorial model, never an official report.

The rules are functions over records, so each is shown to catch a broken record as well as to
pass the shipped bundle.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from keten.data import reference_bundle_path

Row = dict[str, Any]

EDITORIAL_MODEL = "source:keten-editorial-model"
SOURCE_TYPES = {"official", "study", "press", "operator", "standard", "editorial"}
WHOLLY_EDITORIAL = "Editorial model:"
"""How a note starts when the whole record is the editors' modelling."""
EDITORIAL_WORDING = re.compile(
    r"editor|estimat|judged by keten|named by keten|keten's (reading|judgement)", re.IGNORECASE
)
"""Words by which a note calls (part of) its record editorial."""
EDITORIAL_RELATION_TYPES = {"THREATENS", "DISRUPTS", "SAFEGUARDS"}
"""Relation types the reference data holds only as the editors' modelling."""
DOCS = Path(__file__).parents[2] / "docs"


def bundle_records() -> tuple[list[Row], list[Row]]:
    """Entity and relation records of every file of the reference bundle, as written."""
    entities: list[Row] = []
    relations: list[Row] = []
    for path in sorted(reference_bundle_path().glob("*.yaml")):
        bundle = yaml.safe_load(path.read_text(encoding="utf-8"))
        entities.extend(bundle.get("entities") or [])
        relations.extend(bundle.get("relations") or [])
    return entities, relations


def label(record: Row) -> str:
    if "id" in record:
        return str(record["id"])
    return f"{record['source']} -{record['type']}-> {record['target']}"


def editorial_sources(entities: list[Row]) -> set[str]:
    return {e["id"] for e in entities if e.get("source_type") == "editorial"}


def citation_problems(entities: list[Row], relations: list[Row]) -> list[str]:
    """Every way a record's citations fail to support it, one line each."""
    sources = {e["id"] for e in entities if e["kind"] == "Source"}
    editorial = editorial_sources(entities)
    problems = []
    for record in [*entities, *relations]:
        cited = set(record.get("source_ids") or [])
        name = label(record)
        if not cited:
            problems.append(f"{name}: cites no source")
        if missing := sorted(cited - sources):
            problems.append(f"{name}: cites sources that do not exist: {missing}")
        problems.extend(f"{name}: {p}" for p in editorial_problems(record, cited, editorial))
    return problems


def editorial_problems(record: Row, cited: set[str], editorial: set[str]) -> list[str]:
    """The editorial rules for one record (the editorial Source itself is exempt)."""
    if record.get("id") in editorial:
        return []
    note = str(record.get("note") or "")
    cites_editorial = bool(cited & editorial)
    others = cited - editorial
    problems = []
    if EDITORIAL_WORDING.search(note) and not cites_editorial:
        problems.append("its note calls it editorial but it does not cite the editorial model")
    if cites_editorial and record.get("verified") is not False:
        problems.append("cites the editorial model but is not marked verified: false")
    if note.startswith(WHOLLY_EDITORIAL) and others:
        problems.append(f"an editorial claim cites other sources: {sorted(others)}")
    if cites_editorial and not others and not note.startswith(WHOLLY_EDITORIAL):
        problems.append(f"cites only the editorial model; its note must start {WHOLLY_EDITORIAL!r}")
    if cites_editorial and others and WHOLLY_EDITORIAL not in note:
        problems.append(f"mixes sources; its note must say the editorial part ({WHOLLY_EDITORIAL})")
    if record.get("type") in EDITORIAL_RELATION_TYPES and others:
        problems.append(f"{record['type']} is editorial modelling but cites {sorted(others)}")
    return problems


@pytest.fixture(scope="module")
def records() -> tuple[list[Row], list[Row]]:
    return bundle_records()


def test_every_citation_holds(records: tuple[list[Row], list[Row]]) -> None:
    entities, relations = records
    assert citation_problems(entities, relations) == []


def test_every_source_is_cited_and_says_what_kind_it_is(
    records: tuple[list[Row], list[Row]],
) -> None:
    entities, relations = records
    sources = [e for e in entities if e["kind"] == "Source"]
    assert {s.get("source_type") for s in sources} <= SOURCE_TYPES
    cited_by_others = {
        source_id
        for record in [*entities, *relations]
        for source_id in record.get("source_ids") or []
        if source_id != record.get("id")
    }
    assert [s["id"] for s in sources if s["id"] not in cited_by_others] == []


def test_the_editorial_model_is_one_source_with_its_method_written_down(
    records: tuple[list[Row], list[Row]],
) -> None:
    entities, _ = records
    assert editorial_sources(entities) == {EDITORIAL_MODEL}
    (model,) = [e for e in entities if e["id"] == EDITORIAL_MODEL]
    assert model["name"] == "keten editorial model" and model["verified"] is False
    assert "Method:" in model["description"]
    method = (DOCS / "editorial-model.md").read_text(encoding="utf-8")
    assert EDITORIAL_MODEL in method and "buffer_hours_min" in method


def test_threatens_disrupts_and_safeguards_cite_only_the_editorial_model(
    records: tuple[list[Row], list[Row]],
) -> None:
    _, relations = records
    editorial = [r for r in relations if r["type"] in EDITORIAL_RELATION_TYPES]
    assert len(editorial) > 100
    assert {tuple(r["source_ids"]) for r in editorial} == {(EDITORIAL_MODEL,)}


def test_the_seed_letter_is_kamerstuk_30821_127_of_2021(
    records: tuple[list[Row], list[Row]],
) -> None:
    entities, _ = records
    (letter,) = [e for e in entities if e["id"] == "source:kamerstuk-30821-127"]
    assert letter["year"] == 2021 and "10 February 2021" in letter["description"]
    assert letter["url"].endswith("kst-30821-127.html")


def test_buffer_ranges_hold_the_buffer_the_cascade_uses(
    records: tuple[list[Row], list[Row]],
) -> None:
    """The convention: where a range is published, `buffer_hours` is its minimum."""
    _, relations = records
    ranged = [r for r in relations if "buffer_hours_min" in r or "buffer_hours_max" in r]
    assert len(ranged) >= 3
    for edge in ranged:
        assert edge["buffer_hours"] == edge["buffer_hours_min"], label(edge)
        assert edge["buffer_hours"] <= edge.get("buffer_hours_max", edge["buffer_hours"])


OFFICIAL = {"id": "source:official", "kind": "Source", "source_type": "official"}
MODEL = {"id": EDITORIAL_MODEL, "kind": "Source", "source_type": "editorial"}
EDGE = {"source": "threat:x", "target": "interest:y", "type": "THREATENS", "verified": False}


@pytest.mark.parametrize(
    ("relation", "problem"),
    [
        (
            {**EDGE, "source_ids": ["source:official"], "note": "Interest judged by keten."},
            "does not cite the editorial model",
        ),
        (
            {
                **EDGE,
                "source_ids": ["source:official", EDITORIAL_MODEL],
                "note": "Editorial model: x",
            },
            "an editorial claim cites other sources",
        ),
        (
            {
                **EDGE,
                "type": "DEPENDS_ON",
                "source_ids": [EDITORIAL_MODEL],
                "verified": True,
                "note": "Editorial model: strength estimated.",
            },
            "not marked verified: false",
        ),
        (
            {
                **EDGE,
                "type": "DEPENDS_ON",
                "source_ids": ["source:official", EDITORIAL_MODEL],
                "note": "Pumps need power.",
            },
            "must say the editorial part",
        ),
        (
            {**EDGE, "source_ids": [EDITORIAL_MODEL], "note": "An interest it harms."},
            "must start 'Editorial model:'",
        ),
        ({**EDGE, "source_ids": ["source:official"]}, "THREATENS is editorial modelling"),
        ({**EDGE, "source_ids": ["source:gone"]}, "do not exist"),
    ],
)
def test_each_rule_catches_what_it_is_for(relation: Row, problem: str) -> None:
    problems = citation_problems([OFFICIAL, MODEL], [relation])
    assert any(problem in p for p in problems), problems
