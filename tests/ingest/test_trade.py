"""Trade CSV import and the supplier-share sum check, against a real SQLite store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keten.graph.sqlite import SqliteStore
from keten.graph.store import RelationFilter, RelationRow
from keten.ingest import Attribution, BundleRejected, load_bundle
from keten.ingest.checker import BundleChecker
from keten.ingest.readers import RawRecord
from keten.ingest.shares import TOLERANCE, ShareTally
from keten.ingest.trade import import_trade
from keten.schema.markings import Tlp

COUNTRIES: dict[str, Any] = {
    "entities": [
        {"id": "country:CN", "kind": "Country", "name": "China", "iso2": "CN", "eu_member": False},
        {"id": "country:DE", "kind": "Country", "name": "Germany", "iso2": "DE", "eu_member": True},
        {"id": "resource:ga", "kind": "Resource", "name": "Gallium (reference)"},
    ]
}


def share_row(target: str, share: float, year: int | None = 2023, **props: Any) -> RelationRow:
    return RelationRow(
        "resource:x", "SOURCED_FROM", target, props={"share": share, "year": year, **props}
    )


def tally_of(rows: list[RelationRow]) -> ShareTally:
    tally = ShareTally()
    places = [RawRecord("relation", {}, "b.yaml", f"relations[{i}]") for i in range(len(rows))]
    tally.add(places, rows)
    return tally


def test_shares_above_one_are_refused_naming_resource_year_sum_and_records() -> None:
    rows = [share_row("country:CN", 0.7, 2022), share_row("country:RU", 0.6, scope="eu_sourcing")]
    rows.append(share_row("country:US", 0.5, scope="eu_sourcing"))
    (problem,) = tally_of(rows).problems()
    assert problem.value == pytest.approx(0.6 + 0.5) and problem.field == "share"
    assert "resource:x" in problem.why and "2023" in problem.why and "eu_sourcing" in problem.why
    assert problem.where == "relations[1]" and "relations[2]" in problem.why


def test_the_tolerance_lets_rounded_shares_pass_and_no_more() -> None:
    within = [share_row("country:CN", 0.6), share_row("country:US", 0.4 + TOLERANCE / 2)]
    assert tally_of(within).problems() == []
    over = [share_row("country:CN", 0.6), share_row("country:US", 0.4 + TOLERANCE * 1.5)]
    assert len(tally_of(over).problems()) == 1


def test_years_and_scopes_are_separate_wholes_and_repeats_count_once() -> None:
    rows = [
        share_row("country:CN", 0.8, 2022),
        share_row("country:CN", 0.8, 2023, scope="eu_sourcing"),
        share_row("country:CN", 0.8, 2023, scope="global_extraction"),
        share_row("country:CN", 0.8, None),
    ]
    assert tally_of(rows).problems() == []
    repeated = [share_row("country:CN", 0.9), share_row("country:US", 0.3)]
    repeated.append(share_row("country:US", 0.1))  # same relation again: the last share counts
    assert tally_of(repeated).problems() == []


def test_an_unscoped_share_is_refused_beside_scoped_ones() -> None:
    mixed = tally_of([share_row("country:CN", 0.9), share_row("country:US", 0.2, scope="eu")])
    (problem,) = mixed.problems()
    assert (problem.where, problem.field) == ("relations[0]", "scope")
    assert "resource:x" in problem.why and "'eu'" in problem.why
    later = tally_of([share_row("country:CN", 0.9)])
    later.add_stored([share_row("country:US", 0.2, scope="eu")])
    assert [p.field for p in later.problems()] == ["scope"]
    other_year = tally_of([share_row("country:CN", 0.9, 2022)])
    other_year.add_stored([share_row("country:US", 0.2, scope="eu")])
    assert other_year.problems() == []


def test_every_load_counts_the_stored_shares_it_may_see(sqlite_store: SqliteStore) -> None:
    def share(code: str, value: float, **extra: Any) -> dict[str, Any]:
        return {"source": "resource:ga", "target": f"country:{code}", "type": "SOURCED_FROM",
                "share": value, "year": 2023, **extra}  # fmt: skip

    hidden = share("DE", 0.2, key="@red", scope="eu")
    load_bundle(sqlite_store, {**COUNTRIES, "relations": [share("CN", 0.7, scope="eu"), hidden]})
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, {"relations": [share("DE", 0.4, scope="eu")]})
    assert "2 of them already in the store" in refused.value.problems[0].why
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, {"relations": [share("DE", 0.1)]})
    assert refused.value.problems[0].field == "scope"
    green = Attribution(clearance=Tlp.GREEN)
    load_bundle(sqlite_store, {"relations": [share("DE", 0.3, scope="eu")]}, by=green)


def test_stored_shares_count_unless_the_bundle_replaces_them() -> None:
    stored = [share_row("country:CN", 0.6), share_row("country:RU", 0.3)]
    stored.append(share_row("country:CN", 0.9, 2020))  # another year: not counted
    replaced = tally_of([share_row("country:RU", 0.4)])
    replaced.add_stored(stored)
    assert replaced.problems() == []
    tally = tally_of([share_row("country:RU", 0.4), share_row("country:US", 0.2)])
    tally.add_stored(stored)
    (problem,) = tally.problems()
    assert "1 of them already in the store" in problem.why
    assert problem.value == pytest.approx(0.6 + 0.4 + 0.2)


def test_a_share_outside_zero_one_is_refused_naming_the_field(sqlite_store: SqliteStore) -> None:
    relation = {"source": "resource:ga", "target": "country:CN", "type": "SOURCED_FROM",
                "share": 1.5, "year": 2023}  # fmt: skip
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, {**COUNTRIES, "relations": [relation]})
    assert [(p.where, p.field) for p in refused.value.problems] == [("relations[0]", "share")]
    assert sqlite_store.revision() == 0


@pytest.mark.skipif(
    "shares" not in BundleChecker.__dataclass_fields__,
    reason="keten.ingest.checker does not apply the share check yet",
)
def test_every_load_refuses_overfull_shares(sqlite_store: SqliteStore) -> None:
    bundle = {
        **COUNTRIES,
        "relations": [
            {"source": "resource:ga", "target": f"country:{code}", "type": "SOURCED_FROM",
             "share": share, "year": 2023}
            for code, share in (("CN", 0.7), ("DE", 0.5))
        ],
    }  # fmt: skip
    with pytest.raises(BundleRejected) as refused:
        load_bundle(sqlite_store, bundle)
    (problem,) = refused.value.problems
    assert problem.field == "share" and problem.value == pytest.approx(1.2)
    assert "resource:ga" in problem.why and "2023" in problem.why
    assert sqlite_store.revision() == 0


@pytest.fixture
def store(sqlite_store: SqliteStore) -> SqliteStore:
    load_bundle(sqlite_store, COUNTRIES)
    return sqlite_store


def write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


def shares_of(store: SqliteStore, resource: str) -> dict[tuple[str, int], RelationRow]:
    page = store.list_relations(RelationFilter(type="SOURCED_FROM", source=resource), limit=1000)
    return {(r.target, r.props["year"]): r for r in page.items}


TRADE = """
product,partner,year,value,unit
Gallium,CN,2022,400,EUR
Gallium,CN,2022,300,EUR
Gallium,Germany,2022,300,EUR
Gallium,CN,2023,900,EUR
Gallium,US,2023,100,EUR
Nickel ore,EL,2023,50,EUR
"""


def test_import_aggregates_values_into_shares_per_product_year(
    store: SqliteStore, tmp_path: Path
) -> None:
    done = import_trade(store, write(tmp_path / "imports 2023.csv", TRADE))
    assert (done.resource_years, done.shares) == (3, 5)
    gallium = shares_of(store, "resource:gallium")
    expected = {
        ("country:CN", 2022): (700, 700 / 1000),
        ("country:DE", 2022): (300, 300 / 1000),
        ("country:CN", 2023): (900, 900 / 1000),
        ("country:US", 2023): (100, 100 / 1000),
    }
    assert {k: (r.props["value"], r.props["share"]) for k, r in gallium.items()} == expected
    first = gallium[("country:CN", 2022)]
    assert first.key == "imports_value:2022" and first.props["scope"] == "imports_value"
    assert first.props["source_ids"] == [done.source_id] == ["source:trade-imports-2023"]
    assert first.props["unit"] == "EUR"
    assert store.get_entity(done.source_id) is not None
    new_country = store.get_entity("country:US")
    assert new_country is not None and new_country.props["eu_member"] is False
    greece = store.get_entity("country:GR")  # Eurostat's EL
    assert greece is not None and greece.props["eu_member"] is True
    assert shares_of(store, "resource:nickel-ore")[("country:GR", 2023)].props["share"] == 1.0
    created = store.get_entity("resource:gallium")
    assert created is not None and created.name == "Gallium"
    assert set(done.created) == {done.source_id, "resource:gallium", "resource:nickel-ore",
                                 "country:US", "country:GR"}  # fmt: skip
    assert import_trade(store, write(tmp_path / "imports 2023.csv", TRADE)).created == []
    with pytest.raises(BundleRejected, match="2 problem"):
        import_trade(store, tmp_path / "nope.csv", resource_map=tmp_path / "map.csv")


def test_import_is_idempotent_and_a_dry_run_writes_nothing(
    store: SqliteStore, tmp_path: Path
) -> None:
    path = write(tmp_path / "t.csv", TRADE)
    before = store.revision()
    dry = import_trade(store, path, dry_run=True)
    assert dry.report.dry_run and dry.report.counts.relations_created == 5
    assert store.revision() == before
    import_trade(store, path)
    again = import_trade(store, path)
    assert (
        again.report.counts.relations_unchanged == 5 and again.report.counts.relations_created == 0
    )


def test_resource_map_and_source_option(store: SqliteStore, tmp_path: Path) -> None:
    load_bundle(store, {"entities": [{"id": "source:cbs", "kind": "Source", "name": "CBS"}]})
    mapping = write(tmp_path / "map.csv", "product;resource\nGa;resource:ga\nGa2O3;resource:ga")
    trade = write(
        tmp_path / "t.csv",
        "product;partner;year;value\nGa;CN;2024;5\nGa2O3;CN;2024;3\nGa2O3;DE;2024;2",
    )
    done = import_trade(store, trade, resource_map=mapping, source_id="source:cbs")
    shares = {k: r.props["share"] for k, r in shares_of(store, "resource:ga").items()}
    assert shares == {("country:CN", 2024): (5 + 3) / 10, ("country:DE", 2024): 2 / 10}
    assert done.resource_years == 1 and done.created == []
    relation = shares_of(store, "resource:ga")[("country:CN", 2024)]
    assert relation.props["source_ids"] == ["source:cbs"]
    kept = store.get_entity("resource:ga")
    assert kept is not None and kept.name == "Gallium (reference)"


def test_bad_rows_are_all_named_and_nothing_is_written(store: SqliteStore, tmp_path: Path) -> None:
    bad = """
product,partner,year,value
Gallium,CN,20x3,10
Gallium,CN,2023,-5
Gallium,Atlantis,2023,5
Gallium,,2023,5
"""
    before = store.revision()
    with pytest.raises(BundleRejected) as refused:
        import_trade(store, write(tmp_path / "bad.csv", bad))
    found = {(p.where, p.field) for p in refused.value.problems}
    assert found == {
        ("line 2", "year"),
        ("line 3", "value"),
        ("line 4", "partner"),
        ("line 5", "partner"),
    }
    assert store.revision() == before


def test_mixed_units_and_unknown_source_are_refused(store: SqliteStore, tmp_path: Path) -> None:
    mixed = "product,partner,year,value,unit\nTin,CN,2023,5,EUR\nTin,DE,2023,5,kg"
    with pytest.raises(BundleRejected) as refused:
        import_trade(store, write(tmp_path / "m.csv", mixed), source_id="source:nope")
    fields = sorted(p.field for p in refused.value.problems)
    assert fields == ["source", "unit"]


def test_reimport_without_a_partner_is_refused_rather_than_overfull(
    store: SqliteStore, tmp_path: Path
) -> None:
    import_trade(store, write(tmp_path / "t.csv", "product,partner,year,value\nTin,CN,2023,5"))
    with pytest.raises(BundleRejected) as refused:
        import_trade(store, write(tmp_path / "t.csv", "product,partner,year,value\nTin,DE,2023,5"))
    (problem,) = refused.value.problems
    assert "resource:tin" in problem.why and "2023" in problem.why and problem.value == 2.0
    assert set(shares_of(store, "resource:tin")) == {("country:CN", 2023)}


CODES_AND_NAMES = """
product,partner,year,value
resource:ga,CHN,2024,40
resource:ga,156,2024,10
resource:ga,Viet Nam,2024,20
resource:ga,VNM,2024,5
resource:ga,076,2024,10
resource:ga,Türkiye,2024,5
resource:ga,germany,2024,10
"""


def test_partners_as_trade_statistics_write_them(store: SqliteStore, tmp_path: Path) -> None:
    """Alpha-3, numeric and ISO names land on the `country:XX` ids the store uses; a product
    given as a Resource id is that Resource (no `resource:resource-ga`)."""
    load_bundle(store, {"entities": [
        {"id": "country:TR", "kind": "Country", "name": "Turkiye", "iso2": "TR"},
    ]})  # fmt: skip
    done = import_trade(store, write(tmp_path / "comtrade.csv", CODES_AND_NAMES))
    shares = {k[0]: r.props["share"] for k, r in shares_of(store, "resource:ga").items()}
    assert shares == {
        "country:CN": 0.5,
        "country:VN": 0.25,
        "country:BR": 0.1,
        "country:TR": 0.05,
        "country:DE": 0.1,
    }
    assert set(done.created) == {done.source_id, "country:VN", "country:BR"}
    assert store.get_entity("resource:resource-ga") is None
    vietnam, brazil = store.get_entity("country:VN"), store.get_entity("country:BR")
    assert vietnam is not None and vietnam.name == "Vietnam" and vietnam.props["iso2"] == "VN"
    assert brazil is not None and brazil.props["eu_member"] is False


def test_unknown_or_ambiguous_partners_and_products_are_named(
    store: SqliteStore, tmp_path: Path
) -> None:
    bad = """
product,partner,year,value
resource:ga,Korea,2024,1
resource:ga,999,2024,1
resource:ga,XQZ,2024,1
resource:gallum,CN,2024,1
country:CN,CN,2024,1
Gallium,World,2024,1
"""
    before = store.revision()
    with pytest.raises(BundleRejected) as refused:
        import_trade(store, write(tmp_path / "bad.csv", bad))
    found = {(p.where, p.field, p.value): p.why for p in refused.value.problems}
    assert set(found) == {
        ("line 2", "partner", "Korea"),
        ("line 3", "partner", "999"),
        ("line 4", "partner", "XQZ"),
        ("line 5", "product", "resource:gallum"),
        ("line 6", "product", "country:CN"),
        ("line 7", "partner", "World"),
    }
    korea = found[("line 2", "partner", "Korea")]
    assert "(KP)" in korea and "(KR)" in korea and "give its ISO code" in korea
    assert "no ISO 3166-1 country code" in found[("line 3", "partner", "999")]
    assert "no entity in the store" in found[("line 5", "product", "resource:gallum")]
    assert "a Country in the store, not a Resource" in found[("line 6", "product", "country:CN")]
    assert store.revision() == before


def test_a_country_s_alias_in_the_store_wins_over_iso(store: SqliteStore, tmp_path: Path) -> None:
    """Analysts' names come first: a store alias 'Holland' is the Netherlands, whatever a
    fuzzy search would make of it, and its code finds the stored Country."""
    load_bundle(store, {"entities": [
        {"id": "country:NL", "kind": "Country", "name": "Nederland", "iso2": "NL",
         "aliases": ["Holland"]},
    ]})  # fmt: skip
    trade = "product,partner,year,value\nTin,Holland,2024,3\nTin,NLD,2024,1\nTin,528,2024,4"
    import_trade(store, write(tmp_path / "t.csv", trade))
    tin = shares_of(store, "resource:tin")
    assert tin[("country:NL", 2024)].props["value"] == 8
