"""The integrated risk analysis on a hand-checked network and on the reference data."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from keten.data import reference_bundle_path
from keten.graph.projection import Projection, build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle, load_paths
from keten.queries.cascade import cascade
from keten.queries.risk import RiskOptions, impact_class, integrated_analysis
from keten.schema.markings import Tlp

SMALL: dict[str, list[dict[str, Any]]] = {
    "entities": [
        {"id": "interest:phys", "kind": "Interest", "name": "Physical security"},
        {"id": "interest:econ", "kind": "Interest", "name": "Economic security"},
        {"id": "interest:ecol", "kind": "Interest", "name": "Ecological security"},
        {"id": "interest:hidden@amber", "kind": "Interest", "name": "Hidden", "marking": "amber"},
        {"id": "vp:power", "kind": "VitalProcess", "name": "Power", "category": "A"},
        {"id": "vp:water", "kind": "VitalProcess", "name": "Water", "category": "B"},
        {
            "id": "threat:outage",
            "kind": "Threat",
            "name": "Outage",
            "likelihood": "C",
            "impact": {"interest:phys": "E", "interest:ecol": "D"},
            "malicious": False,
            "source_ids": ["source:report"],
        },
        {"id": "threat:quiet", "kind": "Threat", "name": "Quiet"},
        {
            "id": "threat:secret@amber",
            "kind": "Threat",
            "name": "Secret",
            "likelihood": "E",
            "impact": {"interest:econ": "E"},
            "marking": "amber",
        },
        {"id": "actor:x", "kind": "Actor", "name": "X"},
        {
            "id": "source:report",
            "kind": "Source",
            "name": "A <b>report</b>",
            "url": "https://example.org/r",
            "year": 2022,
        },
    ],
    "relations": [
        {"source": "threat:outage", "target": "vp:power", "type": "DISRUPTS"},
        {"source": "threat:secret@amber", "target": "vp:water", "type": "DISRUPTS"},
        {
            "source": "vp:water",
            "target": "vp:power",
            "type": "DEPENDS_ON",
            "buffer_hours": 30,
            "strength": 0.5,
        },
        {"source": "vp:power", "target": "interest:econ", "type": "SAFEGUARDS"},
        {"source": "vp:water", "target": "interest:econ", "type": "SAFEGUARDS"},
        {"source": "vp:water", "target": "interest:phys", "type": "SAFEGUARDS"},
        {"source": "actor:x", "target": "threat:outage", "type": "POSES"},
    ],
}
"""Outage hits power (category A) at 0 h and, through a 0.5-strong dependency, water
(category B) at 30 h. Power and water safeguard econ; water safeguards phys."""


@pytest.fixture
def small(sqlite_store: SqliteStore) -> SqliteStore:
    """The SMALL network in a real SQLite store."""
    load_bundle(sqlite_store, SMALL)
    return sqlite_store


def project(store: SqliteStore, clearance: Tlp = Tlp.RED) -> Projection:
    """The store's projection for `clearance`."""
    return build_projection(store, clearance)


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    """The shipped reference knowledge base in a real SQLite store (once per module)."""
    path: Path = tmp_path_factory.mktemp("reference") / "keten.sqlite"
    store = SqliteStore(path)
    load_paths(store, [reference_bundle_path()])
    yield store
    store.close()


# By hand: power is category A (2) hit at 0 h (x2) through strength 1: 4 points.
# Water is category B (1) hit at 30 h (x1) through 1 x 0.5: 0.5 points.
ECON_POINTS = 4 + 0.5
PHYS_POINTS = 0.5


def test_stated_classes_win_and_derivation_is_shown(small: SqliteStore) -> None:
    result = integrated_analysis(small, project(small))
    outage = next(t for t in result.threats if t.id == "threat:outage")
    assert outage.likelihood == "C"
    assert outage.impact == {"interest:econ": "C", "interest:ecol": "D", "interest:phys": "E"}
    assert outage.impact_basis["interest:phys"] == "stated"
    assert outage.impact_basis["interest:econ"] == "derived"
    assert outage.score == 3 * 5
    assert [a.id for a in outage.actors] == ["actor:x"]
    econ = outage.derivation["interest:econ"]
    assert econ.points == pytest.approx(ECON_POINTS)
    assert [(h.id, h.time_to_impact_hours, h.via) for h in econ.processes] == [
        ("vp:power", 0.0, ["threat:outage"]),
        ("vp:water", 30.0, ["threat:outage", "vp:power"]),
    ]
    assert econ.processes[1].path_strength == pytest.approx(0.5)
    assert outage.derivation["interest:phys"].impact == "A"
    assert outage.cascade_total == 3
    assert [e.id for e in outage.chain_effects] == ["vp:power", "vp:water"]


def test_prefer_derived_and_horizon(small: SqliteStore) -> None:
    derived = integrated_analysis(small, project(small), RiskOptions(prefer="derived"))
    outage = next(t for t in derived.threats if t.id == "threat:outage")
    assert outage.impact["interest:phys"] == impact_class(PHYS_POINTS) == "A"
    assert outage.impact_basis["interest:phys"] == "derived"
    assert outage.score == 3 * 4  # likelihood C x the stated D that nothing derived replaces

    short = integrated_analysis(small, project(small), RiskOptions(horizon_hours=24))
    outage = next(t for t in short.threats if t.id == "threat:outage")
    assert "interest:phys" not in outage.derivation
    assert outage.derivation["interest:econ"].points == pytest.approx(4)


def test_threat_without_classes_has_no_score(small: SqliteStore) -> None:
    result = integrated_analysis(small, project(small))
    quiet = next(t for t in result.threats if t.id == "threat:quiet")
    assert (quiet.likelihood, quiet.impact, quiet.score, quiet.actors) == (None, {}, None, [])
    assert result.threats[-1].id == "threat:quiet"  # ranked by score, unscored last


def test_clearance_hides_threats_and_interests(small: SqliteStore) -> None:
    red = integrated_analysis(small, project(small, Tlp.RED))
    green = integrated_analysis(small, project(small, Tlp.GREEN))
    assert {t.id for t in red.threats} == {"threat:outage", "threat:quiet", "threat:secret@amber"}
    assert {t.id for t in green.threats} == {"threat:outage", "threat:quiet"}
    outage = next(t for t in green.threats if t.id == "threat:outage")
    assert "interest:hidden@amber" not in outage.impact
    assert [i.id for i in green.interests] == ["interest:ecol", "interest:econ", "interest:phys"]
    assert "hidden" not in green.model_dump_json()


def test_interest_summary_ranks_worst_first(small: SqliteStore) -> None:
    result = integrated_analysis(small, project(small))
    econ = next(i for i in result.interests if i.id == "interest:econ")
    assert [(r.id, r.impact) for r in econ.threats] == [
        ("threat:secret@amber", "E"),
        ("threat:outage", "C"),
    ]


def test_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="prefer"):
        RiskOptions(prefer="guess")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="horizon_hours"):
        RiskOptions(horizon_hours=-1)


def test_reference_derivations_match_an_independent_recount(reference_store: SqliteStore) -> None:
    """Recount every derived class from cascade() answers and the stored relations."""
    projection = project(reference_store)
    result = integrated_analysis(reference_store, projection)
    assert len(result.threats) == 23
    assert len(result.interests) == 6
    relations = list(reference_store.iter_relations())
    strengths = {  # along the direction a disruption travels
        (r.target, r.source) if r.type == "DEPENDS_ON" else (r.source, r.target): float(
            r.props.get("strength", 1.0)
        )
        for r in relations
        if r.type in {"DEPENDS_ON", "DISRUPTS"}
    }
    categories = {
        e.id: e.props.get("category")
        for e in reference_store.iter_entities()
        if e.kind == "VitalProcess"
    }
    safeguards = [(r.source, r.target) for r in relations if r.type == "SAFEGUARDS"]
    for threat in result.threats:
        answer = cascade(projection, [threat.id], 72, 0, limit=10_000)
        points: dict[str, float] = {}
        for hit in answer.affected:
            chain = [*hit.via, hit.id]
            strength = 1.0
            for tail, head in itertools.pairwise(chain):
                strength *= strengths[(tail, head)]
            weight = (2 if categories.get(hit.id) == "A" else 1) * (
                2 if hit.time_to_impact_hours <= 24 else 1
            )
            for process, interest in safeguards:
                if process == hit.id:
                    points[interest] = points.get(interest, 0) + weight * strength
        assert {k: d.points for k, d in threat.derivation.items()} == pytest.approx(points)
        assert threat.cascade_total == answer.total
        for interest, derivation in threat.derivation.items():
            assert derivation.impact == impact_class(points[interest])
    assert "not scores of the national risk assessment" in result.method["caveat"]
