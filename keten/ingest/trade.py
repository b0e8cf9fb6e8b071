"""Import trade statistics (product, partner, year, value) as supplier shares.

Analysts get import figures from Eurostat Comext, CBS or UN Comtrade as long tables. This
module turns such a CSV into `Resource -[:SOURCED_FROM {share, year, value, scope}]-> Country`
relations, so the dependency monitor and the embargo analysis run on real trade data:

* columns `product`, `partner`, `year`, `value` (and optionally `unit`), comma, semicolon or
  tab separated; rows of the same product, partner and year are added up (e.g. CN8 lines
  under one product);
* `share` = value from the partner / total value of the resource in that year, `scope` is
  `"imports_value"` and the relation key is `imports_value:<year>`, so every year is kept
  next to the others and next to the reference data (which uses other scopes); other
  columns (reporter, flow...) are ignored, so filter the file to one reporter and flow first;
* a product that is the id of a Resource in the store (`resource:gallium`) is that Resource;
  other products become Resource ids `resource:<slug of the product>` unless a map file
  (columns `product`, `resource`) says otherwise; products mapped to one Resource are added
  up; missing Resources are created with the (first) product name, but a product written as
  an id (`prefix:...`) that names no Resource is a problem, not a new Resource;
* partners are what trade statistics write (`keten.ingest.countries`): ISO 3166-1 alpha-2,
  alpha-3 and numeric codes (Eurostat's `EL` is Greece, `UK` the United Kingdom), ISO names
  ("Viet Nam", "Türkiye") or names and aliases of Countries in the store; each becomes
  `country:<alpha-2>`, created when the store lacks it (EU membership from `EU27`); a name
  that is no country, or that could be several, is a problem;
* every relation cites a Source made for the file (or the given, existing `source_id`).

The bundle is loaded with `keten.ingest.load_bundle`: all of it or, on any problem, nothing.
Shares already stored for the same resource, year and scope count too: re-importing a file
from which a partner disappeared is refused rather than leaving shares that sum above 1.

>>> slug("Rare earths (REE+), oxides")
'rare-earths-ree-oxides'
>>> sorted(EU27)[:3]
['AT', 'BE', 'BG']
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keten.graph.store import GraphStore, RelationFilter, RelationRow, paged
from keten.ingest.countries import CountryIndex, UnknownCountry
from keten.ingest.loader import Attribution, LoadReport, load_bundle
from keten.ingest.problems import BundleRejected, Problem, ProblemLog
from keten.ingest.readers import RawRecord
from keten.ingest.shares import ShareTally
from keten.schema.markings import Tlp, namespace_of, namespaced

SCOPE = "imports_value"
CONTRIBUTOR = "keten import-trade"
# fmt: off
EU27 = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
})
# fmt: on
"""ISO 3166-1 alpha-2 codes of the 27 EU member states (since 1 February 2020)."""
REQUIRED = ("product", "partner", "year", "value")
RECORD_ID = re.compile(r"^[^\s/?#:]+:[^\s/?#]+$")
"""A product written as a record id (`resource:gallium`) rather than as a name."""


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One checked line of the CSV."""

    product: str
    partner: str
    year: int
    value: float
    unit: str
    line: int


@dataclass
class TradeImport:
    """What an import did: the load report and what it made of the file."""

    report: LoadReport
    source_id: str
    resource_years: int
    shares: int
    created: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json`."""
        return {
            **self.report.as_dict(),
            "source_id": self.source_id,
            "resource_years": self.resource_years,
            "shares": self.shares,
            "created": self.created,
        }


def slug(text: str) -> str:
    """Lower-case ASCII words joined by hyphens (the id convention)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def open_table(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row with lower-cased column names) of a CSV whose separator is sniffed."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(handle, dialect)
        header = [name.strip().lower() for name in next(reader, [])]
        for values in reader:
            if any(v.strip() for v in values):
                yield reader.line_num, dict(zip(header, (v.strip() for v in values), strict=False))


def read_trade_rows(path: Path, log: ProblemLog) -> list[TradeRow]:
    """The rows of a trade CSV; every bad cell goes to `log`."""
    rows: list[TradeRow] = []
    name = str(path)
    for line, cells in open_table(path):
        missing = [c for c in REQUIRED if not cells.get(c)]
        for column in missing:
            log.add(Problem(name, f"line {line}", column, "missing value or column"))
        if missing:
            continue
        year = _year(cells["year"])
        value = _value(cells["value"])
        if year is None:
            log.add(Problem(name, f"line {line}", "year", "not a year 1900-2100", cells["year"]))
        if value is None:
            why = "not a finite number >= 0"
            log.add(Problem(name, f"line {line}", "value", why, cells["value"]))
        if year is not None and value is not None:
            unit = cells.get("unit", "")
            rows.append(TradeRow(cells["product"], cells["partner"], year, value, unit, line))
    return rows


def _year(text: str) -> int | None:
    try:
        year = int(text)
    except ValueError:
        return None
    return year if 1900 <= year <= 2100 else None


def _value(text: str) -> float | None:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def read_resource_map(path: Path, log: ProblemLog) -> dict[str, str]:
    """product -> Resource id from a CSV with columns `product` and `resource`."""
    mapping: dict[str, str] = {}
    for line, cells in open_table(path):
        product, resource = cells.get("product", ""), cells.get("resource", "")
        if not product or not resource:
            why = "needs a `product` and a `resource` id"
            log.add(Problem(str(path), f"line {line}", "resource", why))
            continue
        mapping[product] = resource
    return mapping


@dataclass
class TradeBundle:
    """The bundle made of a trade file, and what it had to create."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    relations: list[dict[str, Any]] = field(default_factory=list)
    resource_years: int = 0
    created: list[str] = field(default_factory=list)

    def add_entity(self, record: dict[str, Any]) -> None:
        """An entity the store lacks."""
        self.entities.append(record)
        self.created.append(record["id"])


@dataclass
class ResourceYear:
    """Values per partner of one resource in one year, and the units they came in."""

    values: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    units: set[str] = field(default_factory=set)


def build_bundle(
    store: GraphStore,
    rows: list[TradeRow],
    resource_map: dict[str, str],
    source_id: str,
    file: str,
    log: ProblemLog,
) -> TradeBundle:
    """SOURCED_FROM shares per resource-year, with the Resources and Countries they need.

    Products mapped to one Resource are added up (e.g. several HS codes for one material).
    A product given as an id that names no Resource is named once, at its first row.
    """
    bundle = TradeBundle()
    countries = CountryIndex.of(store)
    resources: dict[str, str | None] = {}  # None: refused, named at its first row
    flows: dict[tuple[str, int], ResourceYear] = defaultdict(ResourceYear)
    for row in rows:
        country = _partner(row, countries, bundle, file, log)
        if row.product not in resources:
            try:
                resources[row.product] = _resource(store, row, resource_map, source_id, bundle)
            except UnknownProduct as unknown:
                log.add(Problem(file, f"line {row.line}", "product", str(unknown), row.product))
                resources[row.product] = None
        resource = resources[row.product]
        if country is not None and resource is not None:
            flow = flows[(resource, row.year)]
            flow.values[country] += row.value
            flow.units.add(row.unit)
    for (resource_id, year), flow in flows.items():
        problem = _flow_problem(resource_id, year, flow, file)
        if problem:
            log.add(problem)
            continue
        bundle.resource_years += 1
        bundle.relations += _shares(resource_id, year, flow, source_id)
    return bundle


def _partner(
    row: TradeRow, countries: CountryIndex, bundle: TradeBundle, file: str, log: ProblemLog
) -> str | None:
    """The partner's Country id, creating the Country when the store lacks it."""
    try:
        found = countries.resolve(row.partner)
    except UnknownCountry as unknown:
        log.add(Problem(file, f"line {row.line}", "partner", str(unknown), row.partner))
        return None
    if found.new is not None:
        bundle.add_entity(
            {
                "id": found.id,
                "kind": "Country",
                "name": found.new.name,
                "iso2": found.new.alpha_2,
                "eu_member": found.new.alpha_2 in EU27,
                "contributor": CONTRIBUTOR,
            }
        )
    return found.id


def _resource(
    store: GraphStore,
    row: TradeRow,
    resource_map: dict[str, str],
    source_id: str,
    bundle: TradeBundle,
) -> str:
    """The Resource id of a row's product; a Resource is created when the store has none.

    Raises UnknownProduct when the product is written as an id that names no Resource in
    the store: a typo there must not turn into a new Resource.
    """
    product = row.product
    mapped = resource_map.get(product)
    if mapped is None and RECORD_ID.match(product):
        stored = store.get_entity(product)
        if stored is None or stored.kind != "Resource":
            what = "no entity" if stored is None else f"a {stored.kind}"
            raise UnknownProduct(f"{product!r} is {what} in the store, not a Resource")
        return product
    resource_id = mapped or f"resource:{slug(product) or 'unnamed'}"
    if store.get_entity(resource_id) is None and resource_id not in bundle.created:
        bundle.add_entity(
            {
                "id": resource_id,
                "kind": "Resource",
                "name": product,
                "source_ids": [source_id],
                "contributor": CONTRIBUTOR,
            }
        )
    return resource_id


class UnknownProduct(ValueError):
    """A product given as an id that names no Resource."""


def _flow_problem(resource_id: str, year: int, flow: ResourceYear, file: str) -> Problem | None:
    """Why the values of one resource-year cannot become shares, if they cannot."""
    where = f"{resource_id} {year}"
    if len(flow.units) > 1:
        why = f"{where} mixes units {sorted(flow.units)}: values cannot be added"
        return Problem(file, where, "unit", why)
    if sum(flow.values.values()) <= 0:
        return Problem(file, where, "value", f"{where}: total value is 0")
    return None


def _shares(
    resource_id: str, year: int, flow: ResourceYear, source_id: str
) -> list[dict[str, Any]]:
    """One SOURCED_FROM relation per partner: its value and its share of the resource-year."""
    total = sum(flow.values.values())
    (unit,) = flow.units
    relations = []
    for country_id, value in sorted(flow.values.items()):
        relation: dict[str, Any] = {
            "source": resource_id,
            "target": country_id,
            "type": "SOURCED_FROM",
            "key": f"{SCOPE}:{year}",
            "share": round(value / total, 6),
            "year": year,
            "value": value,
            "scope": SCOPE,
            "source_ids": [source_id],
            "contributor": CONTRIBUTOR,
        }
        if unit:
            relation["unit"] = unit
        relations.append(relation)
    return relations


def stored_share_problems(store: GraphStore, relations: list[dict[str, Any]]) -> list[Problem]:
    """Sum checks over the new shares together with the shares already stored for them."""
    tally = ShareTally()
    rows = [RelationRow(r["source"], r["type"], r["target"], r["key"], props=r) for r in relations]
    places = [RawRecord("relation", r, "import", f"{r['source']} {r['year']}") for r in relations]
    tally.add(places, rows)
    for resource_id in sorted({r["source"] for r in relations}):
        tally.add_stored(_stored_shares(store, resource_id))
    return tally.problems()


def _stored_shares(store: GraphStore, resource_id: str) -> Iterator[RelationRow]:
    flt = RelationFilter(type="SOURCED_FROM", source=resource_id)
    return paged(lambda cursor: store.list_relations(flt, cursor, 1000))


def source_entity(path: Path, marking: Tlp = Tlp.CLEAR) -> dict[str, Any]:
    """The Source entity that the shares of a file cite (in the namespace of `marking`)."""
    return {
        "id": namespaced(f"source:trade-{slug(path.stem) or 'file'}", marking.value),
        "kind": "Source",
        "name": f"Trade statistics imported from {path.name}",
        "contributor": CONTRIBUTOR,
    }


def import_trade(
    store: GraphStore,
    path: Path,
    resource_map: Path | None = None,
    source_id: str | None = None,
    dry_run: bool = False,
    marking: Tlp = Tlp.CLEAR,
    institute: str | None = None,
    by: Attribution = Attribution(action="import-trade"),
) -> TradeImport:
    """Read a trade CSV and load its shares; raise BundleRejected naming every problem.

    `by` names who imports, for the audit trail.

    `marking` applies to the shares and the Source made for the file (the Resources and
    Countries they need stay clear, so that marking trade data never hides public records,
    and then cite no marked Source: a record names only what its readers may see);
    `institute` is recorded on everything the import writes.
    """
    log = ProblemLog()
    file = str(path)
    missing = [
        Problem(str(p), "-", "", "no such file")
        for p in (path, resource_map)
        if p is not None and not p.is_file()
    ]
    if missing:
        raise BundleRejected(missing, len(missing))
    mapping = read_resource_map(resource_map, log) if resource_map else {}
    source = source_entity(path, Tlp(marking)) if source_id is None else None
    cited = source["id"] if source else str(source_id)
    if source is None and store.get_entity(cited) is None:
        log.add(Problem(file, "-", "source", "no such Source entity in the store", cited))
    bundle = build_bundle(store, read_trade_rows(path, log), mapping, cited, file, log)
    for problem in stored_share_problems(store, bundle.relations):
        log.add(Problem(file, problem.where, problem.field, problem.why, problem.value))
    if not log and not bundle.relations:
        log.add(Problem(file, "-", "", "holds no trade rows"))
    if log:
        raise log.rejection()
    new_source = source is not None and store.get_entity(cited) is None
    for record in [*([source] if source else []), *bundle.relations]:
        record["marking"] = Tlp(marking).value
    for relation in bundle.relations:
        relation["key"] = namespaced(relation["key"], Tlp(marking).value)
    if namespace_of(cited) is not None:  # the clear Resources made may not cite a marked file
        for record in bundle.entities:
            record.pop("source_ids", None)
    entities = ([source] if source else []) + bundle.entities
    for record in [*entities, *bundle.relations] if institute else []:
        record["institute"] = institute
    report = load_bundle(
        store, {"entities": entities, "relations": bundle.relations}, dry_run, file, by
    )
    created = ([cited] if new_source else []) + bundle.created
    return TradeImport(report, cited, bundle.resource_years, len(bundle.relations), created)
