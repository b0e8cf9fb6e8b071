"""Two institutes assess one dependency differently: the rule decides which counts."""

from __future__ import annotations

from keten.graph.projection import ProjectionCache
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle
from keten.queries.cascade import cascade

TWO_VIEWS = {
    "entities": [
        {"id": "vp:p", "kind": "VitalProcess", "name": "Power"},
        {"id": "vp:w", "kind": "VitalProcess", "name": "Water"},
    ],
    "relations": [
        {
            "source": "vp:w",
            "target": "vp:p",
            "type": "DEPENDS_ON",
            "key": "institute:tno",
            "buffer_hours": 0,
            "reliability": "C",
            "credibility": 3,
        },
        {
            "source": "vp:w",
            "target": "vp:p",
            "type": "DEPENDS_ON",
            "key": "institute:rivm",
            "buffer_hours": 10,
            "reliability": "B",
            "credibility": 2,
        },
    ],
}


def time_of(result: object, entity_id: str) -> float:
    """Time to impact of one entity in a cascade result."""
    return next(a.time_to_impact_hours for a in result.affected if a.id == entity_id)  # type: ignore[attr-defined]


def test_all_assessments_count_unless_asked(sqlite_store: SqliteStore) -> None:
    load_bundle(sqlite_store, TWO_VIEWS)
    cache = ProjectionCache(sqlite_store)
    assert time_of(cascade(cache.get("red"), ["vp:p"]), "vp:w") == 0.0
    assert time_of(cascade(cache.get("red", "most_reliable"), ["vp:p"]), "vp:w") == 10.0
    assert cache.builds == 2
