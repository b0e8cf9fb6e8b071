"""The analysis pages as tables: risk, embargo, scenarios side by side, criticality, paths.

Each builder takes the answer the JSON API would give the same reader (computed on the
reader's projection) and turns it into `Table`s, the same facts the API returns, in the
page's language; entity names become their Dutch names on Dutch pages. The tables are what
the pages show and what `?download=csv|json` answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from keten.api.pages.i18n import Lang
from keten.api.pages.tables import Table
from keten.graph.store import GraphStore
from keten.queries.cascade import AffectedEntity, AffectedInterest
from keten.queries.criticality import CriticalityResult
from keten.queries.embargo import EmbargoResult
from keten.queries.paths import PathRelation, PathsResult
from keten.queries.report import highest_impact
from keten.queries.risk import CAVEAT, RiskResult
from keten.queries.scenarios import ScenariosResult
from keten.schema.markings import Tlp


@dataclass
class AnalysisPage:
    """What analysis.html shows: notes, an optional diagram, links and tables."""

    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    image: dict[str, Any] | None = None
    links: list[dict[str, str]] = field(default_factory=list)

    def context(self) -> dict[str, Any]:
        """The template's view of the page."""
        return {
            "notes": self.notes,
            "tables": self.tables,
            "image": self.image,
            "links": self.links,
        }


class Names:
    """Entity names as a page in `lang` shows them: the analysis's own names in English,
    the store's Dutch names on Dutch pages (read with the reader's clearance).

    It is also the `Wording` the risk report and diagram are written in (text from the
    page's catalogue, names as above).
    """

    def __init__(self, store: GraphStore, clearance: Tlp, lang: Lang) -> None:
        self.store, self.clearance, self.lang = store, clearance, lang
        self.known: dict[str, str] = {}

    def __call__(self, entity_id: str, name: str) -> str:
        """The name to show for `entity_id`, whose English name is `name`."""
        if self.lang.code == "en":
            return name
        if entity_id not in self.known:
            row = self.store.get_entity(entity_id, self.clearance)
            self.known[entity_id] = self.lang.name(name, row.props) if row else name
        return self.known[entity_id]

    @property
    def code(self) -> str:
        """The page's language."""
        return self.lang.code

    def _(self, text: str, /, **values: Any) -> str:
        """`text` in the page's language."""
        return self.lang._(text, **values)

    def name(self, entity_id: str, name: str) -> str:
        """The name to show for `entity_id` (as calling the object)."""
        return self(entity_id, name)


def yes_no(flag: bool, lang: Lang) -> str:
    """'yes' or 'no' in the page's language."""
    return lang._("yes") if flag else lang._("no")


def percent(value: float) -> str:
    """0.715 -> '71.5%'."""
    return f"{100 * value:.3g}%"


def affected_table(
    items: Iterable[AffectedEntity], names: Names, lang: Lang, key: str = "affected"
) -> Table:
    """Affected entities, earliest first, as in the cascade page's table."""
    table = Table(
        key,
        lang._("Affected entities, earliest first"),
        ["time to impact", "entity", "kind", "depth", "via"],
        links={"entity": "id"},
    )
    table.rows = [
        {
            "time to impact": lang.hours(item.time_to_impact_hours),
            "entity": names(item.id, item.name),
            "id": item.id,
            "kind": lang._(item.kind),
            "depth": str(item.depth),
            "via": " -> ".join(item.via) if item.via else lang._("a source"),
        }
        for item in items
    ]
    return table


def interests_table(
    interests: Iterable[AffectedInterest], names: Names, lang: Lang, key: str = "interests"
) -> Table:
    """Interests reached, with when and through which processes."""
    table = Table(
        key,
        lang._("Interests reached"),
        ["interest", "first hit", "processes"],
        links={"interest": "id"},
    )
    table.rows = [
        {
            "interest": names(i.id, i.name),
            "id": i.id,
            "first hit": lang.hours(i.time_to_impact_hours),
            "processes": ", ".join(i.processes),
        }
        for i in interests
    ]
    return table


def risk_page(result: RiskResult, names: Names, lang: Lang, query: str) -> AnalysisPage:
    """The risk diagram (served by `/pages/risk/diagram.png`), every threat with its
    classes and score, and per interest the threats ranked worst first."""
    page = AnalysisPage()
    suffix = f"?{query}" if query else ""
    page.image = {
        "src": f"/pages/risk/diagram.png{suffix}",
        "svg": f"/pages/risk/diagram.svg{suffix}",
        "alt": lang._("Risk diagram: likelihood class against highest impact class"),
        "caption": lang._("Likelihood against the highest impact over the interests."),
        "width": 1100,
    }
    page.links.append({"href": "/pages/report", "label": lang._("The whole report")})
    interest_names = {i.id: names(i.id, i.name) for i in result.interests}
    threats = Table(
        "threats",
        lang._("Threats, highest score first"),
        ["threat", "theme", "malicious", "likelihood", "highest impact", "score", "actors"],
        links={"threat": "id"},
    )
    ordered = sorted(result.threats, key=lambda t: (-(t.score or -1), t.id))
    threats.rows = [
        {
            "threat": names(t.id, t.name),
            "id": t.id,
            "theme": lang._(t.theme) if t.theme else "",
            "malicious": "" if t.malicious is None else yes_no(t.malicious, lang),
            "likelihood": t.likelihood or "-",
            "highest impact": highest_impact(t) or "-",
            "score": "-" if t.score is None else str(t.score),
            "actors": ", ".join(names(a.id, a.name) for a in t.actors),
        }
        for t in ordered
    ]
    ranking = Table(
        "per-interest",
        lang._("Threats per interest, worst first"),
        ["interest", "threat", "impact", "basis", "likelihood", "score"],
        links={"threat": "threat_id"},
    )
    ranking.rows = [
        {
            "interest": interest_names[i.id],
            "interest_id": i.id,
            "threat": names(r.id, r.name),
            "threat_id": r.id,
            "impact": r.impact,
            "basis": lang._(r.basis),
            "likelihood": r.likelihood or "-",
            "score": "-" if r.score is None else str(r.score),
        }
        for i in result.interests
        for r in i.threats
    ]
    page.tables += [threats, ranking]
    page.notes.append(lang._(str(result.method.get("caveat", CAVEAT))))
    return page


def embargo_page(result: EmbargoResult, names: Names, lang: Lang) -> AnalysisPage:
    """What the supply stop takes away per resource, and the chain effects of the losses."""
    page = AnalysisPage()
    lost = Table(
        "shortfalls",
        lang._("Shortfall per resource"),
        ["resource", "shortfall", "own share", "via", "disrupted"],
        links={"resource": "id"},
    )
    lost.rows = [
        {
            "resource": names(s.id, s.name),
            "id": s.id,
            "shortfall": percent(s.shortfall),
            "own share": percent(s.own_share),
            "via": " -> ".join(s.via),
            "disrupted": yes_no(s.disrupted, lang),
        }
        for s in result.shortfalls
    ]
    page.tables += [
        lost,
        affected_table(result.affected, names, lang),
        interests_table(result.interests, names, lang),
    ]
    if result.total > len(result.affected):
        page.notes.append(
            lang._(
                "Showing the {shown} earliest of {total} affected entities.",
                shown=len(result.affected),
                total=result.total,
            )
        )
    return page


def scenarios_page(result: ScenariosResult, names: Names, lang: Lang) -> AnalysisPage:
    """Scenarios side by side: totals, when each reaches each interest, and differences."""
    page = AnalysisPage()
    outcomes = result.scenarios
    summary = Table(
        "scenarios",
        lang._("Scenarios"),
        ["scenario", "sources", "horizon", "affected", "interests hit"],
    )
    summary.rows = [
        {
            "scenario": s.name,
            "sources": ", ".join(s.sources),
            "horizon": lang.hours(s.horizon_hours),
            "affected": str(s.total),
            "interests hit": str(len(s.interests)),
        }
        for s in outcomes
    ]
    reached: dict[str, dict[str, float]] = {}
    interest_names: dict[str, str] = {}
    for s in outcomes:
        for i in s.interests:
            reached.setdefault(i.id, {})[s.name] = i.time_to_impact_hours
            interest_names[i.id] = names(i.id, i.name)
    side = Table(
        "interests",
        lang._("First hit per interest, scenario by scenario"),
        ["interest", *(s.name for s in outcomes)],
        links={"interest": "id"},
    )
    side.rows = [
        {
            "interest": interest_names[interest],
            "id": interest,
            **{s.name: lang.hours(times[s.name]) if s.name in times else "-" for s in outcomes},
        }
        for interest, times in sorted(reached.items(), key=lambda kv: min(kv[1].values()))
    ]
    differences = Table(
        "differences",
        lang._("What one scenario reaches that the other does not"),
        ["a", "b", "only in a", "only in b", "interests only in a", "interests only in b"],
    )
    differences.rows = [
        {
            "a": d.a,
            "b": d.b,
            "only in a": str(d.only_in_a_total),
            "only in b": str(d.only_in_b_total),
            "interests only in a": ", ".join(d.interests_only_in_a),
            "interests only in b": ", ".join(d.interests_only_in_b),
        }
        for d in result.differences
    ]
    page.tables += [summary, side, differences]
    return page


def criticality_page(result: CriticalityResult, names: Names, lang: Lang) -> AnalysisPage:
    """The entities whose failure matters most, with the three measures."""
    page = AnalysisPage()
    table = Table(
        "critical",
        lang._("Most critical entities"),
        ["entity", "kind", "cascade size", "pagerank", "betweenness"],
        links={"entity": "id"},
    )
    table.rows = [
        {
            "entity": names(e.id, e.name),
            "id": e.id,
            "kind": lang._(e.kind),
            "cascade size": "-" if e.cascade_size is None else str(e.cascade_size),
            "pagerank": f"{e.pagerank:.4g}",
            "betweenness": f"{e.betweenness:.4g}",
        }
        for e in result.entities
    ]
    page.tables.append(table)
    if result.betweenness_sampled:
        page.notes.append(lang._("Betweenness is estimated from a sample of sources."))
    return page


def step_text(before: str, step: list[PathRelation]) -> str:
    """'-[DEPENDS_ON]->' or '<-[SAFEGUARDS]-': the step's relation types, pointing the way
    they run (both ways when relations of the step run both ways).

    >>> step_text("a", [PathRelation(source="a", type="POSES", target="b")])
    '-[POSES]->'
    """
    types = "/".join(sorted({rel.type for rel in step}))
    forward = {rel.source == before for rel in step}
    if forward == {True}:
        return f"-[{types}]->"
    return f"<-[{types}]-" if forward == {False} else f"-[{types}]-"


def paths_page(result: PathsResult, names: Names, lang: Lang) -> AnalysisPage:
    """The shortest explanation paths, each as one line of names and relation types."""
    page = AnalysisPage()
    table = Table("paths", lang._("Shortest paths"), ["path", "hops", "chain", "ids"])
    for number, path in enumerate(result.paths, start=1):
        chain = names(path.nodes[0].id, path.nodes[0].name)
        for before, step, node in zip(path.nodes[:-1], path.steps, path.nodes[1:], strict=True):
            chain += f" {step_text(before.id, step)} {names(node.id, node.name)}"
        table.rows.append(
            {
                "path": str(number),
                "hops": str(path.hops),
                "chain": chain,
                "ids": " ".join(node.id for node in path.nodes),
            }
        )
    page.tables.append(table)
    if not result.paths:
        page.notes.append(lang._("No path links these two within the hops allowed."))
    return page
