"""The integrated risk analysis: every threat against the national-security interests.

The source letter's periodic integrated analysis brings risks, threats and the actors behind
them together against the interests. keten follows the national risk assessment method
(RbRa, ANV) in its scales: a *likelihood class* and, per interest, an *impact class*, both
A (limited / very unlikely) to E (catastrophic / very likely).

Where classes come from:

* **stated**: a contributor gave them on the Threat (`likelihood`, `impact` per interest);
* **derived** (impact only): keten runs the cascade from the threat (along DISRUPTS, then
  against DEPENDS_ON, within `horizon_hours`) and scores what reaches each interest through
  SAFEGUARDS. Each vital process that is hit adds
  ``points = category weight (A: 2, B or unknown: 1)
  x speed weight (hit within 24 h: 2, later: 1)
  x path strength (product of the strengths along its chain)``
  and the interest's points fall in doubling bands (``DERIVED_BANDS``): under 2 is A, under
  4 B, under 8 C, under 16 D, else E. Bands double because the method's class bounds are
  roughly logarithmic. Every derived class comes with its processes, times and chains.

Stated classes win over derived ones unless `prefer="derived"`; an interest with only one
kind of class takes that one. Likelihood is never derived: a threat without it has no score.

Score: ``likelihood index x highest impact index`` (A = 1 ... E = 5, so 1 to 25). This is
keten's own ranking aid on the risk diagram's two axes, not the method's weighted sum over
impact criteria. The reference knowledge base's classes are indicative estimates of the
keten editors, not RbRa scores (`CAVEAT`).

>>> impact_class(1.5), impact_class(4), impact_class(40)
('A', 'C', 'E')
>>> risk_score("C", {"interest:a": "B", "interest:b": "D"})
12
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from keten.graph.projection import TYPE_CODE, FloatArray, Int64Array, Projection
from keten.graph.store import EntityFilter, EntityRow, GraphStore
from keten.queries.cascade import AffectedEntity, affected_entities
from keten.queries.cascade_search import via_chain
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from keten.queries.threatcascades import ThreatCascade
    from keten.queries.workspace import Workspace

CLASSES = "ABCDE"
"""Classes in order; the index (1-based) is the class's value in the score."""
DERIVED_BANDS = (2.0, 4.0, 8.0, 16.0)
"""Upper bounds (exclusive) of classes A to D for derived impact points; above is E."""
CATEGORY_WEIGHT = {"A": 2.0, "B": 1.0}
FAST_HOURS = 24.0
FAST_WEIGHT = 2.0
CAVEAT = (
    "Likelihood and impact classes of the reference knowledge base are indicative estimates "
    "of the keten editors, not scores of the national risk assessment (RbRa 2022); derived "
    "classes follow keten's documented rule. Use them to compare and question, not to cite."
)
IMPACT_RULE = (
    "derived impact: per interest, sum over the vital processes hit that safeguard it of "
    "category weight (A 2, else 1) x speed weight (within 24 h 2, else 1) x path strength; "
    "points < 2 A, < 4 B, < 8 C, < 16 D, else E"
)
SCORE_RULE = "score = likelihood index x highest impact index (A=1 .. E=5; 1 to 25)"

Prefer = Literal["stated", "derived"]


class RiskOptions(BaseModel):
    """How the analysis derives impact and what it shows."""

    model_config = ConfigDict(extra="forbid")

    horizon_hours: Annotated[float, Field(ge=0, le=1e6)] = 72.0
    min_strength: Annotated[float, Field(ge=0, le=1)] = 0.0
    prefer: Prefer = "stated"
    top: Annotated[int, Field(ge=0, le=100, description="Chain effects shown per threat.")] = 5


class ProcessHit(BaseModel):
    """A vital process the threat's cascade reaches, as counted for one interest."""

    id: str
    name: str
    category: str | None
    time_to_impact_hours: float
    path_strength: float = Field(description="Product of the strengths along `via`.")
    points: float
    via: list[str]


class Derivation(BaseModel):
    """How a derived impact class came about."""

    impact: str
    points: float = Field(description="Sum of the points of every process hit (all of them).")
    processes: list[ProcessHit] = Field(description="The processes hit, earliest first.")
    processes_total: int = Field(default=0, description="Processes hit, listed or not.")


class ActorRef(BaseModel):
    """An actor that POSES the threat."""

    id: str
    name: str


class ThreatRisk(BaseModel):
    """One threat in the integrated analysis."""

    id: str
    name: str
    theme: str | None = None
    malicious: bool | None = None
    likelihood: str | None
    impact: dict[str, str] = Field(description="Impact class per interest id.")
    impact_basis: dict[str, Literal["stated", "derived"]]
    score: int | None = Field(description=SCORE_RULE)
    actors: list[ActorRef]
    derivation: dict[str, Derivation] = Field(description="Per interest: the derived class.")
    cascade_total: int = Field(description="Entities the threat reaches within the horizon.")
    chain_effects: list[AffectedEntity] = Field(description="First entities hit, by time.")
    source_ids: list[str] = Field(default_factory=list)


class RankedThreat(BaseModel):
    """A threat as it ranks against one interest."""

    id: str
    name: str
    impact: str
    basis: Literal["stated", "derived"]
    likelihood: str | None
    score: int | None


class InterestSummary(BaseModel):
    """One interest with the threats that reach it, worst impact first."""

    id: str
    name: str
    threats: list[RankedThreat]
    threats_total: int = Field(default=0, description="Threats that reach it, listed or not.")


class RiskResult(BaseModel):
    """Answer of `GET /analysis/risk`: the whole analysis, or one window of it (`window`)."""

    threats: list[ThreatRisk]
    interests: list[InterestSummary]
    method: dict[str, Any]
    revision: int
    threats_total: int = Field(default=0, description="Threats in the analysis, listed or not.")
    next_cursor: str | None = Field(
        default=None, description="Pass back as `cursor` for the next page."
    )


def class_index(value: str | None) -> int:
    """1 for A ... 5 for E, 0 for no class."""
    return CLASSES.index(value) + 1 if value and value in CLASSES else 0


def impact_class(points: float) -> str:
    """The derived impact class of an interest's points (doubling bands)."""
    for bound, label in zip(DERIVED_BANDS, CLASSES, strict=False):
        if points < bound:
            return label
    return CLASSES[-1]


def risk_score(likelihood: str | None, impact: dict[str, str]) -> int | None:
    """Likelihood index x highest impact index; None without likelihood or impact."""
    worst = max((class_index(c) for c in impact.values()), default=0)
    return class_index(likelihood) * worst if likelihood and worst else None


def entities_of_kind(store: GraphStore, kind: str, clearance: Tlp) -> Iterator[EntityRow]:
    """Every visible entity of `kind`, page by page."""
    cursor: str | None = None
    while True:
        page = store.list_entities(EntityFilter(kind=kind, clearance=clearance), cursor, 1000)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def pair_strengths(projection: Projection) -> tuple[Int64Array, FloatArray]:
    """Sorted keys tail * n + head of the propagation edges, and per edge the strength of
    the strongest edge of its pair (made on first use and kept while the projection lives).

    The CSR rows hold their heads in order, so the keys come out sorted and a whole run's
    predecessor edges are found by one `searchsorted` instead of a scan per edge.
    """
    cached = _PAIRS.get(projection)
    if cached is not None:
        return cached
    p = projection
    n = p.node_count
    tails = np.repeat(np.arange(n, dtype=np.int64), np.diff(p.indptr))
    keys = tails * n + p.targets
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    firsts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    strongest = np.maximum.reduceat(np.asarray(p.strength, dtype=np.float64)[order], firsts)
    pairs = keys, np.repeat(strongest, np.diff(np.r_[firsts, keys.shape[0]]))
    _PAIRS[projection] = pairs
    return pairs


_PAIRS: weakref.WeakKeyDictionary[Projection, tuple[Int64Array, FloatArray]] = (
    weakref.WeakKeyDictionary()
)


def path_strengths(
    projection: Projection, work: Workspace, nodes: Int64Array, out: FloatArray
) -> None:
    """Set `out[v]`, for each of `nodes` (settled by the last run of `work`) and every node on
    their chains, to the product of the strengths (strongest edge per pair) along the chain
    from the source.

    The chain of v runs through its predecessors, each one step less deep, so the products
    are made depth by depth, multiplied from the source in the order the chain is read; only
    the chains' nodes are looked up (a few thousand of a cascade's tens of thousands).
    """
    keys, strongest = pair_strengths(projection)
    pred_of = work.pred
    chain = [nodes]
    frontier = nodes
    seen = np.zeros(0, dtype=np.int64)
    while frontier.shape[0]:
        frontier = np.setdiff1d(pred_of[frontier], seen)
        frontier = frontier[frontier >= 0]
        seen = np.union1d(seen, frontier)
        chain.append(frontier)
    on_chain = np.unique(np.concatenate(chain))
    depth = work.depth[on_chain]
    out[on_chain[depth == 0]] = 1.0
    inner = on_chain[depth > 0]
    if inner.shape[0] == 0:
        return
    pred = pred_of[inner]
    step = strongest[np.searchsorted(keys, pred * projection.node_count + inner)]
    levels = depth[depth > 0]
    by_level = np.argsort(levels, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(levels[by_level]) != 0, True])
    for lo, hi in itertools.pairwise(bounds.tolist()):
        part = by_level[lo:hi]
        out[inner[part]] = out[pred[part]] * step[part]


def actors_by_threat(projection: Projection) -> dict[int, list[ActorRef]]:
    """Actor -[:POSES]-> threat pairs, grouped by threat index."""
    poses = projection.rel_type == TYPE_CODE["POSES"]
    grouped: dict[int, list[ActorRef]] = {}
    for actor, threat in zip(
        projection.rel_source[poses].tolist(), projection.rel_target[poses].tolist(), strict=True
    ):
        ref = ActorRef(id=projection.ids[actor], name=projection.names[actor])
        grouped.setdefault(threat, []).append(ref)
    for refs in grouped.values():
        refs.sort(key=lambda a: a.id)
    return grouped


class Deriver:
    """Runs one cascade per threat on a shared workspace and scores what reaches interests."""

    def __init__(
        self, projection: Projection, categories: dict[str, str], options: RiskOptions
    ) -> None:
        self.projection = projection
        self.categories = categories
        self.options = options
        from keten.queries.workspace import Workspace

        self.work = Workspace(projection)
        self.strength = np.ones(projection.node_count)
        """Path strength of each node settled by the current run (`path_strengths`)."""

    def hit(self, node: int) -> ProcessHit:
        """The process at `node` as hit in the current run."""
        chain = via_chain(self.work.pred, node, self.projection.ids)
        time, strength = float(self.work.time[node]), float(self.strength[node])
        return process_hit(self.projection, self.categories, node, time, strength, chain)

    def run(self, threat: int) -> tuple[int, dict[str, Derivation], list[AffectedEntity]]:
        """Cascade total, derivation per interest and first chain effects of one threat."""
        p, work = self.projection, self.work
        sources = np.array([threat], dtype=np.int64)
        count = work.run(sources, self.options.horizon_hours, self.options.min_strength)
        try:
            settled = work.order[:count]
            sg = p.safeguards_indptr
            safeguarding = settled[sg[settled + 1] > sg[settled]]
            path_strengths(p, work, safeguarding, self.strength)
            hits = [self.hit(node) for node in safeguarding.tolist()]
            order = settled[: 1 + self.options.top].tolist()
            effects = affected_entities(p, work, order[1 : 1 + self.options.top])
        finally:
            work.clear(count)
        return count, derivations(p, safeguarding.tolist(), hits), effects


def process_hit(
    projection: Projection,
    categories: dict[str, str],
    node: int,
    time: float,
    strength: float,
    via: list[str],
) -> ProcessHit:
    """The process at `node` hit at `time` through a chain of `strength`, with its points."""
    category = categories.get(projection.ids[node])
    speed = FAST_WEIGHT if time <= FAST_HOURS else 1.0
    points = CATEGORY_WEIGHT.get(category or "", 1.0) * speed * strength
    return ProcessHit(
        id=projection.ids[node],
        name=projection.names[node],
        category=category,
        time_to_impact_hours=time,
        path_strength=round(strength, 6),
        points=round(points, 6),
        via=via,
    )


def derivations(
    projection: Projection, nodes: list[int], hits: list[ProcessHit]
) -> dict[str, Derivation]:
    """Per interest the derived class from the processes hit (`nodes`, earliest first)."""
    by_interest: dict[int, list[ProcessHit]] = {}
    for node, hit in zip(nodes, hits, strict=True):
        for interest in projection.interests_of(node).tolist():
            by_interest.setdefault(interest, []).append(hit)
    derivation = {}
    for interest, processes in by_interest.items():
        points = round(sum(h.points for h in processes), 6)
        derivation[projection.ids[interest]] = Derivation(
            impact=impact_class(points),
            points=points,
            processes=processes,
            processes_total=len(processes),
        )
    return derivation


class SharedDeriver(Deriver):
    """The same answers as `Deriver`, from searches that share the hubs' cascades
    (keten.queries.threatcascades): every threat is searched when the first is asked for."""

    def __init__(
        self,
        projection: Projection,
        categories: dict[str, str],
        options: RiskOptions,
        threats: list[int],
    ) -> None:
        self.projection = projection
        self.categories = categories
        self.options = options
        self.threats = threats
        self.results: dict[int, tuple[int, dict[str, Derivation], list[AffectedEntity]]] = {}

    def run(self, threat: int) -> tuple[int, dict[str, Derivation], list[AffectedEntity]]:
        """The threat's answer (all threats are searched on the first call)."""
        if not self.results:
            from keten.queries.threatcascades import search_threats

            o = self.options
            for node, cascade in search_threats(
                self.projection, self.threats, o.horizon_hours, o.min_strength, o.top
            ):
                self.results[node] = self.answer(cascade)
        return self.results.pop(threat)

    def answer(
        self, cascade: ThreatCascade
    ) -> tuple[int, dict[str, Derivation], list[AffectedEntity]]:
        """One threat's total, derivations and chain effects from its shared search."""
        p = self.projection
        nodes = cascade.processes.tolist()
        hits = listed_hits(p, self.categories, cascade)
        return cascade.total, derivations(p, nodes, hits), chain_effects(p, cascade)


def chains(projection: Projection, flat: Int64Array, bounds: Int64Array) -> list[list[str]]:
    """The chains of `chains_of` as lists of ids."""
    ids = projection.ids
    chain, cuts = [ids[i] for i in flat.tolist()], bounds.tolist()
    return [chain[cuts[i] : cuts[i + 1]] for i in range(len(cuts) - 1)]


def listed_hits(
    projection: Projection, categories: dict[str, str], cascade: ThreatCascade
) -> list[ProcessHit]:
    """The hits of the processes `cascade` listed (those it made chains for), in order."""
    nodes = cascade.processes[cascade.listed].tolist()
    times = cascade.times[cascade.listed].tolist()
    strengths = cascade.strengths[cascade.listed].tolist()
    vias = chains(projection, *cascade.chains)
    return [
        process_hit(projection, categories, node, time, strength, via)
        for node, time, strength, via in zip(nodes, times, strengths, vias, strict=True)
    ]


def chain_effects(projection: Projection, cascade: ThreatCascade) -> list[AffectedEntity]:
    """The first entities the threat's cascade settles after the threat itself."""
    p = projection
    vias = chains(p, *cascade.first_chains)
    return [
        AffectedEntity(
            id=p.ids[u],
            kind=p.kinds[u],
            name=p.names[u],
            time_to_impact_hours=time,
            depth=depth,
            via=via,
        )
        for u, time, depth, via in zip(
            cascade.first.tolist(),
            cascade.first_times.tolist(),
            cascade.first_depths.tolist(),
            vias,
            strict=True,
        )
    ][1:]


def combine(
    stated: dict[str, str], derived: dict[str, Derivation], prefer: Prefer
) -> tuple[dict[str, str], dict[str, Literal["stated", "derived"]]]:
    """Impact per interest and its basis: the preferred kind where both exist."""
    impact: dict[str, str] = {}
    basis: dict[str, Literal["stated", "derived"]] = {}
    for interest in sorted(set(stated) | set(derived)):
        use_derived = interest in derived and (prefer == "derived" or interest not in stated)
        impact[interest] = derived[interest].impact if use_derived else stated[interest]
        basis[interest] = "derived" if use_derived else "stated"
    return impact, basis


def assess_threat(
    row: EntityRow, deriver: Deriver, actors: dict[int, list[ActorRef]]
) -> ThreatRisk:
    """One threat's classes, score, actors and chain effects."""
    p = deriver.projection
    node = p.index[row.id]
    visible = {k: v for k, v in (row.props.get("impact") or {}).items() if k in p.index}
    total, derivation, effects = deriver.run(node)
    impact, basis = combine(visible, derivation, deriver.options.prefer)
    likelihood = row.props.get("likelihood")
    return ThreatRisk(
        id=row.id,
        name=row.name,
        theme=row.props.get("theme"),
        malicious=row.props.get("malicious"),
        likelihood=likelihood,
        impact=impact,
        impact_basis=basis,
        score=risk_score(likelihood, impact),
        actors=actors.get(node, []),
        derivation=derivation,
        cascade_total=total,
        chain_effects=effects,
        source_ids=list(row.props.get("source_ids") or []),
    )


def summarise_interests(
    threats: list[ThreatRisk], interests: list[tuple[str, str]]
) -> list[InterestSummary]:
    """Per interest, its threats ranked by impact, then score, then id."""
    summaries = []
    for interest_id, name in interests:
        ranked = [
            RankedThreat(
                id=t.id,
                name=t.name,
                impact=t.impact[interest_id],
                basis=t.impact_basis[interest_id],
                likelihood=t.likelihood,
                score=t.score,
            )
            for t in threats
            if interest_id in t.impact
        ]
        ranked.sort(key=lambda r: (-class_index(r.impact), -(r.score or 0), r.id))
        summaries.append(
            InterestSummary(id=interest_id, name=name, threats=ranked, threats_total=len(ranked))
        )
    return summaries


def visible_inputs(
    store: GraphStore, projection: Projection
) -> tuple[dict[str, str], list[EntityRow]]:
    """The processes' categories and the threats' rows, read with the projection's
    clearance; only threats in the projection take part."""
    clearance = projection.clearance
    categories = {
        row.id: str(row.props["category"])
        for row in entities_of_kind(store, "VitalProcess", clearance)
        if row.props.get("category")
    }
    rows = [
        row for row in entities_of_kind(store, "Threat", clearance) if row.id in projection.index
    ]
    return categories, rows


def ranked_result(
    projection: Projection, options: RiskOptions, threats: list[ThreatRisk]
) -> RiskResult:
    """The analysis of `threats`: ranked by score, summarised per visible interest."""
    threats.sort(key=lambda t: (-(t.score or 0), t.id))
    interests = [
        (entity_id, projection.names[i])
        for i, (entity_id, kind) in enumerate(zip(projection.ids, projection.kinds, strict=True))
        if kind == "Interest"
    ]
    return RiskResult(
        threats=threats,
        interests=summarise_interests(threats, interests),
        method={
            "impact_rule": IMPACT_RULE,
            "score_rule": SCORE_RULE,
            "prefer": options.prefer,
            "horizon_hours": options.horizon_hours,
            "min_strength": options.min_strength,
            "caveat": CAVEAT,
        },
        revision=projection.revision,
        threats_total=len(threats),
    )


def integrated_analysis(
    store: GraphStore,
    projection: Projection,
    options: RiskOptions | None = None,
    shared: bool = True,
) -> RiskResult:
    """Every threat the projection's clearance may see, against every visible interest,
    whole: every process hit listed with its chain.

    `store` supplies the threats' stated classes and the processes' categories, read with
    the projection's clearance; only entities in the projection take part. The cascades
    share the hubs' searches (`SharedDeriver`) unless `shared` is False, which runs one
    whole search per threat (`Deriver`, the reference the shared searches are tested
    against: the answers are the same). What is served is not this whole answer but its
    pages, made when asked (keten.queries.riskpages, tested against `window` of this).
    """
    options = options or RiskOptions()
    categories, rows = visible_inputs(store, projection)
    deriver = (
        SharedDeriver(projection, categories, options, [projection.index[r.id] for r in rows])
        if shared
        else Deriver(projection, categories, options)
    )
    actors = actors_by_threat(projection)
    threats = [assess_threat(row, deriver, actors) for row in rows]
    return ranked_result(projection, options, threats)


def window(result: RiskResult, offset: int, limit: int, processes: int) -> RiskResult:
    """One page of `result`: threats `offset` to `offset + limit` of the ranking, the same
    window of each interest's ranking, and the first `processes` processes hit per
    derivation. Totals and points still count everything, so a page never
    understates a threat; `next_cursor` is left for the caller to set.

    >>> whole = RiskResult(threats=[], interests=[], method={}, revision=3)
    >>> window(whole, 0, 10, 5).threats_total
    0
    """
    end = offset + limit
    threats = [
        threat.model_copy(
            update={
                "derivation": {
                    interest: derived.model_copy(
                        update={"processes": derived.processes[:processes]}
                    )
                    for interest, derived in threat.derivation.items()
                }
            }
        )
        for threat in result.threats[offset:end]
    ]
    interests = [
        summary.model_copy(update={"threats": summary.threats[offset:end]})
        for summary in result.interests
    ]
    return result.model_copy(update={"threats": threats, "interests": interests})
