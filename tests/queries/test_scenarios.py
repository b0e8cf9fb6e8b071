"""Scenario what-ifs side by side, on the hand-checked network of the risk tests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from keten.graph.sqlite import SqliteStore
from keten.queries.cascade import cascade
from keten.queries.errors import UnknownEntityError
from keten.queries.scenarios import ScenarioSpec, ScenariosRequest, compare_scenarios
from keten.schema.markings import Tlp
from tests.queries.test_risk import project, small

__all__ = ["small"]


def request(*scenarios: tuple[str, list[str], float], limit: int = 20) -> ScenariosRequest:
    """A request of (name, sources, horizon) scenarios."""
    specs = [ScenarioSpec(name=n, sources=s, horizon_hours=h) for n, s, h in scenarios]
    return ScenariosRequest(scenarios=specs, limit=limit)


def test_side_by_side_and_differences(small: SqliteStore) -> None:
    projection = project(small)
    result = compare_scenarios(
        projection, request(("outage", ["threat:outage"], 72), ("water", ["vp:water"], 72))
    )
    outage, water = result.scenarios
    assert (outage.total, water.total) == (3, 1)
    assert outage.by_kind == {"Threat": 1, "VitalProcess": 2}
    expected = cascade(projection, ["threat:outage"], 72, 0, 20)
    assert outage.affected == expected.affected and outage.interests == expected.interests
    (diff,) = result.differences
    assert (diff.a, diff.b) == ("outage", "water")
    assert diff.only_in_a == ["threat:outage", "vp:power"] and diff.only_in_b == []
    assert diff.interests_only_in_a == diff.interests_only_in_b == []
    assert [(t.id, t.hours_a, t.hours_b) for t in diff.earlier_in_b] == [
        ("interest:phys", 30.0, 0.0)
    ]
    assert diff.earlier_in_a == []  # econ is hit at 0 h in both


def test_combined_threats_and_own_horizons(small: SqliteStore) -> None:
    result = compare_scenarios(
        project(small),
        request(
            ("short", ["threat:outage"], 10),
            ("both", ["threat:outage", "threat:secret@amber"], 10),
        ),
    )
    short, both = result.scenarios
    assert [i.id for i in short.interests] == ["interest:econ"]
    assert {i.id for i in both.interests} == {"interest:econ", "interest:phys"}
    (diff,) = result.differences
    assert diff.only_in_b == ["threat:secret@amber", "vp:water"] and diff.only_in_b_total == 2
    assert diff.interests_only_in_b == ["interest:phys"]


def test_pairs_and_limit(small: SqliteStore) -> None:
    result = compare_scenarios(
        project(small),
        request(
            ("a", ["vp:power"], 72), ("b", ["vp:water"], 72), ("c", ["threat:quiet"], 72), limit=1
        ),
    )
    assert [(d.a, d.b) for d in result.differences] == [("a", "b"), ("a", "c"), ("b", "c")]
    assert len(result.scenarios[0].affected) == 1 and result.scenarios[0].total == 2
    assert result.differences[1].only_in_a_total == 2 and len(result.differences[1].only_in_a) == 1


def test_hidden_and_unknown_ids_are_refused(small: SqliteStore) -> None:
    with pytest.raises(UnknownEntityError, match="threat:secret@amber"):
        compare_scenarios(project(small, Tlp.GREEN), request(("s", ["threat:secret@amber"], 72)))
    with pytest.raises(UnknownEntityError, match="vp:nowhere"):
        compare_scenarios(project(small), request(("s", ["vp:nowhere"], 72)))


def test_request_is_checked() -> None:
    with pytest.raises(ValidationError, match="unique"):
        request(("same", ["vp:power"], 72), ("same", ["vp:water"], 72))
    with pytest.raises(ValidationError, match="sources"):
        ScenarioSpec(name="empty", sources=[])
    with pytest.raises(ValidationError, match="scenarios"):
        ScenariosRequest(scenarios=[])
