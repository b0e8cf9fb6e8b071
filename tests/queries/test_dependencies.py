"""The dependency monitor on a real SQLite store: HHI, shares, flags, years, processes."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from keten.data import reference_bundle_path
from keten.graph.projection import build_projection
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle, load_paths
from keten.queries.dependencies import (
    ResourceDependency,
    SupplyCache,
    Thresholds,
    dependency_report,
    hhi,
    projection_dependents,
    read_supply,
)
from keten.queries.errors import AnalysisInputError
from keten.schema.markings import Tlp, namespaced


def country(code: str, eu: bool, **props: Any) -> dict[str, Any]:
    return {"id": f"country:{code}", "kind": "Country", "name": code, "iso2": code,
            "eu_member": eu, **props}  # fmt: skip


def share(resource: str, code: str, value: float, year: int | None, **props: Any) -> dict[str, Any]:
    key = namespaced(f"{props.get('scope', '')}:{year}", props.get("marking"))
    record = {"source": resource, "target": f"country:{code}", "type": "SOURCED_FROM", "key": key,
              "share": value, **props}  # fmt: skip
    if year is not None:
        record["year"] = year
    return record


BUNDLE: dict[str, Any] = {
    "entities": [
        country("CN", False, flagged=True),
        country("US", False),
        country("DE", True),
        country("RU", False),
        {"id": "r:ore", "kind": "Resource", "name": "Ore", "substitutability": "low"},
        {"id": "r:part", "kind": "Resource", "name": "Part"},
        {"id": "r:kit", "kind": "Resource", "name": "Kit", "substitutability": "medium"},
        {"id": "r:vague", "kind": "Resource", "name": "Vague"},
        {"id": "org:maker", "kind": "Organisation", "name": "Maker"},
        {"id": "vp:grid", "kind": "VitalProcess", "name": "Grid"},
        {"id": "vp:water", "kind": "VitalProcess", "name": "Water"},
        {"id": "vp:rail", "kind": "VitalProcess", "name": "Rail"},
    ],
    "relations": [
        share("r:ore", "CN", 0.5, 2022),
        share("r:ore", "DE", 0.3, 2022),
        share("r:ore", "US", 0.2, 2022),
        share("r:ore", "CN", 0.8, 2023),
        share("r:ore", "DE", 0.2, 2023),
        share("r:kit", "CN", 0.9, 2023, scope="imports_value"),
        share("r:kit", "DE", 0.1, 2023, scope="imports_value"),
        share("r:kit", "RU", 0.5, 2023, scope="global_extraction"),
        share("r:vague", "RU", 0.6, None),
        share("r:vague", "US", 0.2, None, marking="amber"),
        {"source": "r:ore", "target": "r:part", "type": "INPUT_TO"},
        {"source": "vp:grid", "target": "r:part", "type": "DEPENDS_ON"},
        {"source": "org:maker", "target": "r:ore", "type": "DEPENDS_ON"},
        {"source": "vp:water", "target": "org:maker", "type": "DEPENDS_ON"},
        {"source": "vp:rail", "target": "vp:grid", "type": "DEPENDS_ON"},
    ],
}


@pytest.fixture
def store(sqlite_store: SqliteStore) -> SqliteStore:
    load_bundle(sqlite_store, BUNDLE)
    return sqlite_store


def lines(store: SqliteStore, clearance: Tlp = Tlp.RED, **options: Any) -> dict[str, Any]:
    report = dependency_report(read_supply(store, clearance), **options)
    return {line.id: line for line in report.resources}


def test_hhi_normalises_the_known_shares() -> None:
    assert hhi([0.5, 0.3, 0.2]) == pytest.approx(0.25 + 0.09 + 0.04)
    assert hhi([0.6, 0.2]) == pytest.approx(0.75**2 + 0.25**2)
    assert hhi([0.71]) == pytest.approx(1.0)


def test_latest_year_headline_with_series(store: SqliteStore) -> None:
    ore: ResourceDependency = lines(store)["r:ore"]
    assert (ore.year, ore.hhi, ore.hhi_floor) == (2023, pytest.approx(0.68), pytest.approx(0.68))
    assert (ore.non_eu_share, ore.flagged_share) == (pytest.approx(0.8), pytest.approx(0.8))
    assert (ore.top_supplier, ore.top_supplier_share) == ("country:CN", 0.8)
    assert ore.flags.model_dump() == {
        "concentrated": True,
        "import_dependent": True,
        "hard_to_substitute": True,
        "strategic": True,
    }
    assert [s.year for s in ore.series] == [2022, 2023]
    earlier = ore.series[0]
    assert earlier.hhi == pytest.approx(0.38) and earlier.flags.concentrated is False
    assert earlier.non_eu_share == pytest.approx(0.7)
    assert earlier.top_supplier == "country:CN" and earlier.top_supplier_share == 0.5
    assert [(s.country, s.share, s.eu_member, s.flagged) for s in ore.suppliers] == [
        ("country:CN", 0.8, False, True),
        ("country:DE", 0.2, True, False),
    ]
    assert [s.country for s in lines(store, year=2022)["r:ore"].suppliers] == [
        "country:CN",
        "country:DE",
        "country:US",
    ]


def test_a_year_can_be_picked_and_resources_without_it_are_left_out(store: SqliteStore) -> None:
    picked = lines(store, year=2022)
    assert set(picked) == {"r:ore"}
    assert picked["r:ore"].hhi == pytest.approx(0.38) and picked["r:ore"].flags.strategic is False


def test_the_most_complete_scope_wins_unless_one_is_asked_for(store: SqliteStore) -> None:
    kit = lines(store)["r:kit"]
    assert kit.scope == "imports_value" and kit.hhi == pytest.approx(0.82)
    assert kit.flags.hard_to_substitute is False and kit.flags.strategic is False
    extraction = lines(store, scope="global_extraction")
    assert set(extraction) == {"r:kit"} and extraction["r:kit"].top_supplier == "country:RU"


def test_undated_shares_unknown_substitutability_and_clearance(store: SqliteStore) -> None:
    vague = lines(store)["r:vague"]
    assert vague.year is None and vague.coverage == pytest.approx(0.8)
    assert vague.hhi == pytest.approx(0.75**2 + 0.25**2)
    assert vague.hhi_floor == pytest.approx(0.36 + 0.04)
    assert vague.flags.hard_to_substitute is None and vague.flags.strategic is None
    hidden = lines(store, Tlp.GREEN)["r:vague"]
    assert hidden.hhi == 1.0 and [s.country for s in hidden.suppliers] == ["country:RU"]


def test_flagged_countries_from_the_graph_and_the_request(store: SqliteStore) -> None:
    report = dependency_report(read_supply(store, Tlp.RED), flagged=["ru", "country:US"])
    assert report.flagged_countries == ["country:CN", "country:RU", "country:US"]
    vague = next(line for line in report.resources if line.id == "r:vague")
    assert vague.flagged_share == pytest.approx(0.8)
    with pytest.raises(AnalysisInputError, match="XX"):
        dependency_report(read_supply(store, Tlp.RED), flagged=["XX"])


def test_thresholds_are_configurable_and_strategic_ones_come_first(store: SqliteStore) -> None:
    data = read_supply(store, Tlp.RED)
    strict = dependency_report(data, thresholds=Thresholds(hhi=0.7, non_eu_share=0.5))
    ore = next(line for line in strict.resources if line.id == "r:ore")
    assert ore.flags.concentrated is False and ore.flags.strategic is False
    assert all(line.flags.strategic is not True for line in strict.resources)
    lenient = dependency_report(data, thresholds=Thresholds(hhi=0.7, non_eu_share=0.85))
    kit = next(line for line in lenient.resources if line.id == "r:kit")
    assert kit.flags.concentrated is True and kit.flags.import_dependent is True
    assert kit.non_eu_share == pytest.approx(0.9)
    default = dependency_report(data)
    assert default.resources[0].id == "r:ore"
    assert [line.id for line in dependency_report(data, strategic_only=True).resources] == ["r:ore"]


def test_vital_processes_directly_through_inputs_and_dependents(store: SqliteStore) -> None:
    ore = lines(store)["r:ore"]
    links = {p.id: p.through for p in ore.vital_processes}
    assert links == {"vp:grid": ["r:ore", "r:part"], "vp:water": ["r:ore", "org:maker"]}


def test_reference_raw_materials_are_screened_with_their_cited_shares(
    sqlite_store: SqliteStore,
) -> None:
    folder = reference_bundle_path()
    load_paths(sqlite_store, [folder])
    cited = yaml.safe_load((folder / "raw_materials.yaml").read_text())["relations"]
    gallium_cn = next(
        r for r in cited if r["source"] == "resource:gallium" and r["target"] == "country:CN"
    )
    gallium = lines(sqlite_store)["resource:gallium"]
    assert gallium.top_supplier_share == gallium_cn["share"] and gallium.year == gallium_cn["year"]
    assert gallium.flags.strategic is True
    assert "vp:internet-access" in {p.id for p in gallium.vital_processes}


def test_persistence_needs_two_strategic_years_of_three(sqlite_store: SqliteStore) -> None:
    years = {"r:p": ["CN", "CN", "CN"], "r:q": ["DE", "DE", "CN"], "r:r": ["DE", "CN"]}
    entities = [country("CN", False), country("DE", True)]
    relations = []
    for resource, suppliers in years.items():
        entities.append({"id": resource, "kind": "Resource", "name": resource,
                         "substitutability": "low"})  # fmt: skip
        relations += [share(resource, c, 1.0, 2023 - i) for i, c in enumerate(reversed(suppliers))]
    load_bundle(sqlite_store, {"entities": entities, "relations": relations})
    found = {k: v.persistent for k, v in lines(sqlite_store).items()}
    assert found == {"r:p": True, "r:q": False, "r:r": None}
    assert lines(sqlite_store, year=2022)["r:p"].persistent is True


def test_the_cache_reads_again_only_after_a_write(store: SqliteStore) -> None:
    cache = SupplyCache(store)
    first = cache.get(Tlp.RED)
    assert cache.get(Tlp.RED) is first and cache.get(Tlp.GREEN) is not first
    assert cache.reads == 2
    load_bundle(store, {"relations": [share("r:part", "CN", 0.5, 2024)]})
    fresh = cache.get(Tlp.RED)
    assert fresh is not first and "r:part" in fresh.shares and cache.reads == 3


def test_a_cap_on_processes_or_lines_gives_the_head_of_the_whole_answer(
    sqlite_store: SqliteStore,
) -> None:
    rng = random.Random(3)
    resources = [f"r:{i:02}" for i in range(30)]
    processes = [f"vp:{i:02}" for i in range(25)]
    entities = [{"id": r, "kind": "Resource", "name": r} for r in resources]
    entities += [{"id": p, "kind": "VitalProcess", "name": p} for p in processes]
    entities += [country("CN", False), country("DE", True)]
    relations = [share(r, "CN", rng.random(), 2023) for r in resources]
    pairs = [(rng.choice(resources + processes), r) for r in rng.choices(resources, k=90)]
    relations += [
        {"source": a, "target": b, "type": "DEPENDS_ON", "key": str(i)}
        for i, (a, b) in enumerate(pairs)
        if a != b
    ]
    relations += [
        {"source": a, "target": b, "type": "INPUT_TO"}
        for a, b in zip(resources, resources[3:], strict=False)
    ]
    load_bundle(sqlite_store, {"entities": entities, "relations": relations})
    data = read_supply(sqlite_store, Tlp.RED)
    whole = dependency_report(data)
    assert any(len(line.vital_processes) > 3 for line in whole.resources)
    projection = build_projection(sqlite_store, Tlp.RED)
    assert dependency_report(data, dependents=projection_dependents(projection)) == whole
    for most in (1, 2, 3, 5, 8):
        capped = dependency_report(data, limit=7, max_processes=most)
        assert capped.total == whole.total == 30
        assert [line.id for line in capped.resources] == [x.id for x in whole.resources[:7]]
        for line, full in zip(capped.resources, whole.resources, strict=False):
            assert line.vital_processes == full.vital_processes[:most]
            assert line.more_vital_processes == (len(full.vital_processes) > most)
