"""The strategic dependency monitor: which supplies are concentrated, foreign and hard to replace.

Built on `Resource -[:SOURCED_FROM {share, year, scope}]-> Country` and on `INPUT_TO` between
resources, following the three product-level tests of the European Commission's 2021
strategic-dependency screening (SWD(2021) 352; thresholds as replicated by CEPII's GeoDep):

* `concentrated`: the Herfindahl-Hirschman index of supplier shares is above `hhi` (0.4);
* `import_dependent`: the share from outside the EU is above `non_eu_share` (0.5). Shares of
  imports that include intra-EU partners stand in for "extra-EU imports in total demand", as
  the Commission and CEPII proxy EU production with intra-EU trade;
* `hard_to_substitute`: the Resource's `substitutability` is "low" (the Commission uses the
  ratio of extra-EU imports to EU exports, which keten does not hold); unknown gives null;
* `strategic`: all three hold (three-valued: null when the third is unknown and the first two
  hold, false as soon as one is false).

How shares are read:

* per resource, year and `scope` (what a share is a share of); for a year with several
  scopes the one with the largest known total wins (ties by scope name), unless `scope` is
  asked for; shares without a year form the undated entry, used only when nothing is dated;
* the headline figures are for the latest year of each resource, or for `year` when given
  (resources without shares in that year are left out); `series` holds every year;
* shares may sum to less than 1: the rest is unknown. `hhi` normalises the known shares to
  sum 1 (the index of the known suppliers); `hhi_floor` is sum(share^2), the index if the
  unknown rest were spread thinly; `coverage` is the known total. `non_eu_share`,
  `flagged_share` and `top_supplier_share` are raw shares: what is known to come from there;
* flagged countries are Countries with `flagged: true` plus those asked for (ISO2 codes, ids
  or names);
* `persistent` applies CEPII GeoDep's persistence test: strategic in 2 of the 3 years up to
  the headline year (null while unknown years could decide it);
* `vital_processes` are those that DEPENDS_ON the resource, or on something it is an INPUT_TO
  (transitively), or on a Resource or Organisation that depends on either; `through` is the
  chain from the resource to what the process depends on directly.

>>> round(hhi([0.5, 0.3]), 4), round(hhi([0.5, 0.5]), 4)
(0.5312, 0.5)
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from keten.graph.projection import EDGE_DEPENDS_ON, Projection
from keten.graph.store import (
    EntityFilter,
    EntityRow,
    GraphStore,
    RelationFilter,
    RelationRow,
    paged,
)
from keten.queries.errors import AnalysisInputError
from keten.schema.markings import Tlp


def hhi(shares: Sequence[float]) -> float:
    """Herfindahl-Hirschman index of shares normalised to sum 1 (0 < HHI <= 1)."""
    total = sum(shares)
    return sum((s / total) ** 2 for s in shares)


@dataclass(frozen=True, slots=True)
class ShareRecord:
    """One SOURCED_FROM: a country's share in a resource's supply in a year."""

    resource: str
    country: str
    share: float
    year: int | None
    scope: str | None


@dataclass
class SupplyData:
    """The supply-chain part of the graph as one clearance sees it."""

    resources: dict[str, EntityRow]
    countries: dict[str, EntityRow]
    shares: dict[str, list[ShareRecord]]
    inputs: dict[str, list[tuple[str, float]]]
    processes: dict[str, str]
    organisations: set[str]
    revision: int
    store: GraphStore
    clearance: Tlp
    _dependents: dict[str, list[str]] = field(default_factory=dict)

    @cached_property
    def eu_members(self) -> frozenset[str]:
        """Ids of the Countries whose `eu_member` is true."""
        return frozenset(c.id for c in self.countries.values() if c.props.get("eu_member") is True)

    def dependents(self, entity_id: str) -> list[str]:
        """Ids of what DEPENDS_ON `entity_id` (read once per id from the store)."""
        if entity_id not in self._dependents:
            flt = RelationFilter(type="DEPENDS_ON", target=entity_id, clearance=self.clearance)
            rows = paged(lambda cursor: self.store.list_relations(flt, cursor, 1000))
            self._dependents[entity_id] = sorted({r.source for r in rows})
        return self._dependents[entity_id]


def read_supply(store: GraphStore, clearance: Tlp) -> SupplyData:
    """Read Resources, Countries, processes, SOURCED_FROM and INPUT_TO visible at `clearance`."""
    revision = store.revision(clearance)

    def entities(kind: str) -> dict[str, EntityRow]:
        flt = EntityFilter(kind=kind, clearance=clearance)
        return {e.id: e for e in paged(lambda c: store.list_entities(flt, c, 1000))}

    def relations(rel_type: str) -> Iterator[RelationRow]:
        flt = RelationFilter(type=rel_type, clearance=clearance)
        return paged(lambda c: store.list_relations(flt, c, 1000))

    shares: dict[str, list[ShareRecord]] = defaultdict(list)
    for r in relations("SOURCED_FROM"):
        year, scope = r.props.get("year"), r.props.get("scope")
        shares[r.source].append(
            ShareRecord(
                r.source,
                r.target,
                float(r.props.get("share") or 0.0),
                None if year is None else int(year),
                None if scope is None else str(scope),
            )
        )
    inputs: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in relations("INPUT_TO"):
        inputs[r.source].append((r.target, float(r.props.get("strength") or 1.0)))
    processes = {e.id: e.name for e in entities("VitalProcess").values()}
    organisations = set(entities("Organisation"))
    return SupplyData(
        entities("Resource"),
        entities("Country"),
        dict(shares),
        dict(inputs),
        processes,
        organisations,
        revision,
        store,
        clearance,
    )


class SupplyCache:
    """One `SupplyData` per clearance, read again only when the store's revision moved.

    Repeated monitor and embargo requests then skip reading every SOURCED_FROM relation.
    Concurrent requests for a stale clearance wait for one read.
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._data: dict[Tlp, SupplyData] = {}
        self._locks = {level: threading.Lock() for level in Tlp}
        self.reads = 0

    def get(self, clearance: Tlp) -> SupplyData:
        """The supply data of the current revision for `clearance`."""
        clearance = Tlp(clearance)
        current = self._data.get(clearance)
        if current is not None and current.revision == self.store.revision(clearance):
            return current
        with self._locks[clearance]:
            current = self._data.get(clearance)
            if current is None or current.revision != self.store.revision(clearance):
                current = read_supply(self.store, clearance)
                self._data[clearance] = current
                self.reads += 1
            return current


def resolve_country(text: str, countries: dict[str, EntityRow]) -> str | None:
    """A Country id from an id, an ISO2 code or a name (case-insensitive); None if unknown."""
    if text in countries:
        return text
    wanted = text.strip().lower()
    for country in countries.values():
        codes = {country.id.lower(), str(country.props.get("iso2") or "").lower()}
        names = {country.name.lower(), *(str(a).lower() for a in country.props.get("aliases", []))}
        if wanted in codes or f"country:{wanted}" in codes or wanted in names:
            return country.id
    return None


def flagged_countries(data: SupplyData, extra: Iterable[str] = ()) -> list[str]:
    """Countries flagged in the graph plus `extra` (ids, ISO2 codes or names)."""
    flagged = {c.id for c in data.countries.values() if c.props.get("flagged") is True}
    unknown = []
    for text in extra:
        country = resolve_country(text, data.countries)
        if country is None:
            unknown.append(text)
        else:
            flagged.add(country)
    if unknown:
        raise AnalysisInputError(f"unknown flagged country: {', '.join(map(repr, unknown))}")
    return sorted(flagged)


class Thresholds(BaseModel):
    """Screening thresholds (EU 2021 method): a flag is raised above each."""

    hhi: Annotated[float, Field(ge=0, le=1)] = 0.4
    non_eu_share: Annotated[float, Field(ge=0, le=1)] = 0.5


class Flags(BaseModel):
    """The EU screening tests of one resource-year."""

    concentrated: bool = Field(description="hhi above the HHI threshold.")
    import_dependent: bool = Field(description="non_eu_share above its threshold.")
    hard_to_substitute: bool | None = Field(description="substitutability low; null if unknown.")
    strategic: bool | None = Field(description="All three hold; null if undecidable.")


class Supplier(BaseModel):
    """One supplier country and its share."""

    country: str
    name: str
    share: float
    eu_member: bool
    flagged: bool


class YearFigures(BaseModel):
    """Dependency figures of one resource in one year (one scope)."""

    year: int | None
    scope: str | None
    coverage: float = Field(description="Sum of the known shares (the rest is unknown).")
    hhi: float = Field(description="HHI over the known shares normalised to sum 1.")
    hhi_floor: float = Field(description="Sum of squared shares: HHI if the rest is spread.")
    non_eu_share: float
    flagged_share: float
    top_supplier: str
    top_supplier_share: float
    flags: Flags


class ProcessLink(BaseModel):
    """A vital process that needs the resource, and the chain through which it does."""

    id: str
    name: str
    through: list[str] = Field(description="From the resource to what the process depends on.")


class ResourceDependency(YearFigures):
    """The monitor's line for one resource: headline year, suppliers, processes, time series."""

    id: str
    name: str
    substitutability: str | None
    persistent: bool | None = Field(
        description="Strategic in at least 2 of the 3 years up to `year` (CEPII's test); "
        "null when the years not known could decide it."
    )
    suppliers: list[Supplier] = Field(description="Of the headline year, largest first.")
    vital_processes: list[ProcessLink] = Field(
        description="Closest first (fewest links between), then by id; at most "
        "`max_processes` of them."
    )
    more_vital_processes: bool = Field(
        default=False, description="More vital processes need it than `vital_processes` lists."
    )
    series: list[YearFigures] = Field(description="Every year with shares, oldest first.")


class DependencyReport(BaseModel):
    """Answer of `GET /analysis/dependencies`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "total": 1,
                    "year": None,
                    "scope": None,
                    "thresholds": {"hhi": 0.4, "non_eu_share": 0.5},
                    "flagged_countries": ["country:CN"],
                    "resources": [
                        {
                            "id": "resource:gallium",
                            "name": "Gallium",
                            "substitutability": "low",
                            "year": 2023,
                            "scope": "eu_sourcing",
                            "coverage": 0.71,
                            "hhi": 1.0,
                            "hhi_floor": 0.5041,
                            "non_eu_share": 0.71,
                            "flagged_share": 0.71,
                            "top_supplier": "country:CN",
                            "top_supplier_share": 0.71,
                            "flags": {
                                "concentrated": True,
                                "import_dependent": True,
                                "hard_to_substitute": True,
                                "strategic": True,
                            },
                            "persistent": None,
                            "suppliers": [],
                            "vital_processes": [],
                            "series": [],
                        }
                    ],
                    "revision": 12,
                }
            ]
        }
    )

    total: int = Field(description="Resource lines in all; `resources` holds the first `limit`.")
    year: int | None = Field(description="The year asked for; null means each resource's latest.")
    scope: str | None
    thresholds: Thresholds
    flagged_countries: list[str]
    resources: list[ResourceDependency]
    revision: int


def yearly_shares(
    records: list[ShareRecord], scope: str | None = None
) -> dict[int | None, list[ShareRecord]]:
    """Shares of one resource per year, one scope per year (the most complete, or `scope`)."""
    groups: dict[tuple[int | None, str | None], list[ShareRecord]] = defaultdict(list)
    for record in records:
        if scope is None or record.scope == scope:
            groups[(record.year, record.scope)].append(record)
    candidates: dict[int | None, list[tuple[float, str, list[ShareRecord]]]] = defaultdict(list)
    for (year, group_scope), members in groups.items():
        total = sum(m.share for m in members)
        if total > 0:
            candidates[year].append((-total, group_scope or "~", members))
    return {year: min(c, key=lambda x: x[:2])[2] for year, c in candidates.items()}


def latest_year(years: Iterable[int | None]) -> int | None:
    """The latest dated year, or None when only undated shares exist."""
    dated = [y for y in years if y is not None]
    return max(dated) if dated else None


def year_figures(
    records: list[ShareRecord],
    data: SupplyData,
    flagged: set[str],
    substitutability: str | None,
    thresholds: Thresholds,
) -> YearFigures:
    """The figures and flags of one resource-year (`records` all of one year and scope)."""
    shares = [r.share for r in records]
    non_eu = sum(r.share for r in records if r.country not in data.eu_members)
    top = min(records, key=lambda r: (-r.share, r.country))
    index = hhi(shares)
    concentrated = index > thresholds.hhi
    dependent = non_eu > thresholds.non_eu_share
    hard = None if substitutability is None else substitutability == "low"
    return YearFigures(
        year=records[0].year,
        scope=records[0].scope,
        coverage=round(sum(shares), 6),
        hhi=round(index, 6),
        hhi_floor=round(sum(s * s for s in shares), 6),
        non_eu_share=round(non_eu, 6),
        flagged_share=round(sum(r.share for r in records if r.country in flagged), 6),
        top_supplier=top.country,
        top_supplier_share=top.share,
        flags=Flags(
            concentrated=concentrated,
            import_dependent=dependent,
            hard_to_substitute=hard,
            strategic=_all_three(concentrated, dependent, hard),
        ),
    )


def _all_three(concentrated: bool, dependent: bool, hard: bool | None) -> bool | None:
    if not (concentrated and dependent):
        return False
    return hard


def suppliers_of(records: list[ShareRecord], data: SupplyData, flagged: set[str]) -> list[Supplier]:
    """The supplier countries of one resource-year, largest share first."""
    found = [
        Supplier(
            country=r.country,
            name=data.countries[r.country].name if r.country in data.countries else r.country,
            share=r.share,
            eu_member=r.country in data.eu_members,
            flagged=r.country in flagged,
        )
        for r in records
    ]
    found.sort(key=lambda s: (-s.share, s.country))
    return found


DEPENDENCY_LINES = 100
"""Resource lines of the monitor unless asked (58k resources at 1M entities have shares;
each line's vital processes are a walk of its own)."""
DEPENDENCY_PROCESSES = 20
"""Vital processes per line unless asked (most of a national graph needs a resource)."""

Dependents = Callable[[str], list[str]]
"""Ids of what DEPENDS_ON an id, sorted (`SupplyData.dependents` or `projection_dependents`)."""


def projection_dependents(projection: Projection) -> Dependents:
    """`SupplyData.dependents` read from a projection of the same clearance (assessments
    "all": every visible relation) instead of the store: a store query per entity took
    about 1 ms at 1M entities, 38 s for the 100 lines of the monitor."""
    p = projection

    def dependents(entity_id: str) -> list[str]:
        u = p.index.get(entity_id)
        if u is None:
            return []
        start, end = int(p.indptr[u]), int(p.indptr[u + 1])
        heads = p.targets[start:end][p.edge_kind[start:end] == EDGE_DEPENDS_ON]
        return [p.ids[v] for v in np.unique(heads).tolist()]  # ids are sorted: so are these

    return dependents


def dependent_processes(
    data: SupplyData,
    resource_id: str,
    most: int | None = None,
    dependents: Dependents | None = None,
) -> tuple[list[ProcessLink], bool]:
    """Vital processes needing the resource directly, through INPUT_TO or through dependents,
    closest first (then by id); at most `most` of them, and whether there were more.

    The walk is breadth-first and stops after the hop at which more than `most` were found:
    the rest of the closure cannot come before them. On a national graph the closure of a
    resource is most of the graph (1M entities), read once per resource; the closest
    processes take a few hops.
    """
    parent: dict[str, str | None] = {resource_id: None}
    links: dict[str, ProcessLink] = {}
    queue, depth, level = deque([resource_id]), {resource_id: 0}, 0
    dependents = dependents or data.dependents
    while queue:
        node = queue.popleft()
        if most is not None and len(links) > most and depth[node] > level:
            break  # every link found has fewer hops than any still to come
        level = depth[node]
        for dependent in dependents(node):
            if dependent in data.processes and dependent not in links:
                through = _chain(parent, node)
                links[dependent] = ProcessLink(
                    id=dependent, name=data.processes[dependent], through=through
                )
            elif _passes(data, dependent) and dependent not in parent:
                parent[dependent], depth[dependent] = node, level + 1
                queue.append(dependent)
        for product, _ in data.inputs.get(node, []):
            if product not in parent:
                parent[product], depth[product] = node, level + 1
                queue.append(product)
    found = sorted(links.values(), key=lambda link: (len(link.through), link.id))
    return found[:most], most is not None and len(found) > most


def _passes(data: SupplyData, entity_id: str) -> bool:
    return entity_id in data.resources or entity_id in data.organisations


def _chain(parent: dict[str, str | None], node: str) -> list[str]:
    chain = [node]
    step = parent[node]
    while step is not None:
        chain.append(step)
        step = parent[step]
    chain.reverse()
    return chain


def dependency_report(
    data: SupplyData,
    year: int | None = None,
    scope: str | None = None,
    flagged: Iterable[str] = (),
    thresholds: Thresholds | None = None,
    strategic_only: bool = False,
    limit: int | None = None,
    max_processes: int | None = None,
    dependents: Dependents | None = None,
) -> DependencyReport:
    """The monitor: one line per resource with shares, strategic ones first, then by HHI;
    the first `limit` lines (all when None), each with its closest `max_processes` vital
    processes (all when None).

    The order needs only the shares, so the vital processes (a walk up the dependents per
    resource) are found for the lines given alone: at 1M entities there are 58k resources
    with shares, and most of the graph needs each of them.
    """
    thresholds = thresholds or Thresholds()
    flagged_ids = flagged_countries(data, flagged)
    flagged_set = set(flagged_ids)
    lines = []
    for resource_id, records in data.shares.items():
        line = resource_line(data, resource_id, records, year, scope, flagged_set, thresholds)
        if line is not None and (line.flags.strategic or not strategic_only):
            lines.append(line)
    lines.sort(key=lambda r: (r.flags.strategic is not True, -r.hhi, r.id))
    total = len(lines)
    lines = lines[:limit]
    for line in lines:
        line.vital_processes, line.more_vital_processes = dependent_processes(
            data, line.id, max_processes, dependents
        )
    return DependencyReport(
        total=total,
        year=year,
        scope=scope,
        thresholds=thresholds,
        flagged_countries=flagged_ids,
        resources=lines,
        revision=data.revision,
    )


def resource_line(
    data: SupplyData,
    resource_id: str,
    records: list[ShareRecord],
    year: int | None,
    scope: str | None,
    flagged: set[str],
    thresholds: Thresholds,
) -> ResourceDependency | None:
    """One resource's line, or None when it has no shares for the year asked for."""
    resource = data.resources.get(resource_id)
    by_year = yearly_shares(records, scope)
    if resource is None or not by_year:
        return None
    chosen = year if year is not None else latest_year(by_year)
    if chosen not in by_year:
        return None
    substitutability = resource.props.get("substitutability")

    def figures(members: list[ShareRecord]) -> YearFigures:
        return year_figures(members, data, flagged, substitutability, thresholds)

    series = [figures(by_year[y]) for y in sorted(by_year, key=_year_order)]
    headline: dict[str, Any] = next(s for s in series if s.year == chosen).model_dump()
    return ResourceDependency(
        **headline,
        id=resource_id,
        name=resource.name,
        substitutability=substitutability,
        persistent=persistence(series, chosen),
        suppliers=suppliers_of(by_year[chosen], data, flagged),
        vital_processes=[],
        series=series,
    )


def persistence(series: list[YearFigures], year: int | None, window: int = 3) -> bool | None:
    """Strategic in at least 2 of the `window` years up to `year`, in three-valued logic.

    Dependencies churn from year to year (CEPII finds one in five gone a year later), so
    GeoDep keeps only products that pass in 2 of 3 years. Years without shares, or with an
    undecided flag, count as unknown: None when they could still tip the answer.

    >>> def fig(y, strategic):
    ...     flags = Flags(concentrated=True, import_dependent=True,
    ...                   hard_to_substitute=strategic, strategic=strategic)
    ...     return YearFigures(year=y, scope=None, coverage=1, hhi=1, hhi_floor=1,
    ...         non_eu_share=1, flagged_share=0, top_supplier="c", top_supplier_share=1,
    ...         flags=flags)
    >>> persistence([fig(2021, True), fig(2023, True)], 2023)
    True
    >>> persistence([fig(2022, False), fig(2023, True)], 2023) is None
    True
    >>> persistence([fig(2021, False), fig(2022, False), fig(2023, True)], 2023)
    False
    """
    if year is None:
        return None
    known = [
        s.flags.strategic for s in series if s.year is not None and 0 <= year - s.year < window
    ]
    passed = sum(flag is True for flag in known)
    open_years = window - len(known) + sum(flag is None for flag in known)
    if passed >= 2:
        return True
    return None if passed + open_years >= 2 else False


def _year_order(year: int | None) -> int:
    return -1 if year is None else year
