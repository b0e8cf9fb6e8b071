"""Presentations of the integrated risk analysis: the risk diagram and the HTML report.

The risk diagram is the national risk assessment's picture: impact class on the horizontal
axis (a threat's highest impact over the interests), likelihood class on the vertical one,
cells shaded by the score. It is drawn with matplotlib's Agg canvas on a private `Figure`
(no pyplot state), so that concurrent requests do not share a figure.

The report is ONE self-contained HTML file: inline CSS, the diagram as inline SVG, the threat
table, the per-interest ranking, the first chain effects per threat with the derivations, and
the sources the threats cite. It needs no network and no other file, so it can be mailed.
A derivation lists its first `REPORT_PROCESSES` processes (the earliest hit) and says how
many more there are: at a million entities a threat on a hub hits thousands, which no reader
goes through in a report (`GET /analysis/risk` lists up to 10,000 per derivation).

Both are written in English with the analysis's own names unless a `Wording` says otherwise:
the pages pass one that reads the gettext catalogue and the store's Dutch names, so that
this module keeps no translations (every text is a catalogue message id, written `w._()`).

>>> from keten.queries.risk import RiskResult
>>> empty = RiskResult(threats=[], interests=[], method={"caveat": "c"}, revision=0)
>>> diagram_svg(empty).startswith("<svg")
True
"""

from __future__ import annotations

import html
import io
import math
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from string import Template
from typing import TYPE_CHECKING, Any, Protocol

from keten.graph.projection import Projection
from keten.graph.store import EntityRow, GraphStore
from keten.queries.risk import (
    CAVEAT,
    CLASSES,
    IMPACT_RULE,
    SCORE_RULE,
    Derivation,
    RankedThreat,
    RiskOptions,
    RiskResult,
    ThreatRisk,
    class_index,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class Wording(Protocol):
    """The language a report or diagram is written in: its code, its text, its names."""

    @property
    def code(self) -> str:
        """The language's code (`html lang`)."""
        ...

    def _(self, text: str, /, **values: Any) -> str:
        """`text` (a message id with `{field}`s) in this language, the fields filled in."""
        ...

    def name(self, entity_id: str, name: str) -> str:
        """The name shown for `entity_id`, whose name in the analysis is `name`."""
        ...


class English:
    """The report as written: English, with the analysis's own names."""

    code = "en"

    def _(self, text: str, /, **values: Any) -> str:
        """`text` with its fields filled in."""
        return text.format(**values) if values else text

    def name(self, entity_id: str, name: str) -> str:
        """`name` itself."""
        return name


ENGLISH = English()

CELL_COLOURS = ["#d9ead3", "#fff2cc", "#fce5cd", "#f4cccc", "#e6b8af"]
"""Cell shades from low (score <= 4) to high (score >= 20)."""
LABEL_STYLE: dict[str, Any] = {
    "color": "white",
    "fontsize": 8,
    "fontweight": "bold",
    "ha": "center",
    "va": "center",
}
MARKER_SIZE = 16
"""Points across a threat's marker: room for its number at 8 pt."""
LEGEND_POINTS = 9.0
LEGEND_LINES = 44
"""The legend is written at `LEGEND_POINTS` (about 12 px on a page) while it has at most
`LEGEND_LINES` lines, and smaller beyond, so that it always fits the figure's height."""


def highest_impact(threat: ThreatRisk) -> str | None:
    """The threat's worst impact class over all interests."""
    return max(threat.impact.values(), key=class_index, default=None)


def plotted(result: RiskResult) -> list[tuple[ThreatRisk, int, int]]:
    """Threats with a likelihood and an impact, as (threat, impact index, likelihood index)."""
    points = []
    for threat in result.threats:
        impact = highest_impact(threat)
        if threat.likelihood and impact:
            points.append((threat, class_index(impact), class_index(threat.likelihood)))
    return points


def spread(count: int) -> list[tuple[float, float]]:
    """Offsets that spread `count` markers sharing a cell over a small circle."""
    if count == 1:
        return [(0.0, 0.0)]
    return [
        (0.28 * math.cos(2 * math.pi * k / count), 0.28 * math.sin(2 * math.pi * k / count))
        for k in range(count)
    ]


LEGEND_WIDTH = 44
"""Characters per line of the diagram's legend (what fits beside the diagram at
`LEGEND_POINTS`); longer names wrap, never cut."""


def legend_lines(number: int, threat: ThreatRisk, w: Wording = ENGLISH) -> list[str]:
    """The legend entry of a threat: its number and full name (wrapped) and score.

    >>> legend_lines(3, ThreatRisk(id="t", name="Large-scale disinformation campaign by a "
    ...     "state actor aimed at elections", likelihood="C", impact={}, impact_basis={},
    ...     score=9, actors=[], derivation={}, cascade_total=0, chain_effects=[]))
    [' 3  Large-scale disinformation campaign by a', '    state actor aimed at elections (9)']
    """
    name = w.name(threat.id, threat.name)
    lines = textwrap.wrap(f"{name} ({threat.score})", LEGEND_WIDTH - 4) or [""]
    return [f"{number:>2}  {lines[0]}", *(f"    {line}" for line in lines[1:])]


def draw_diagram(result: RiskResult, w: Wording = ENGLISH) -> Figure:
    """The risk diagram of `result` on a new Agg figure, its text and names in `w`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # loads on the first diagram
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    figure = Figure(figsize=(11, 7), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.07, 0.1, 0.55, 0.82))
    for x in range(1, 6):
        for y in range(1, 6):
            shade = CELL_COLOURS[min(4, (x * y - 1) // 5)]
            axes.add_patch(Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=shade, edgecolor="w"))
    cells: dict[tuple[int, int], list[ThreatRisk]] = defaultdict(list)
    for threat, x, y in plotted(result):
        cells[(x, y)].append(threat)
    legend: list[str] = []
    number = 0
    for (x, y), threats in sorted(cells.items(), key=lambda c: (-c[0][1], -c[0][0])):
        for threat, (dx, dy) in zip(threats, spread(len(threats)), strict=True):
            number += 1
            colour = "#a61c00" if threat.malicious else "#1c4587"
            axes.plot(x + dx, y + dy, "o", color=colour, markersize=MARKER_SIZE)
            axes.annotate(str(number), (x + dx, y + dy), **LABEL_STYLE)
            legend += legend_lines(number, threat, w)
    size = LEGEND_POINTS * LEGEND_LINES / max(LEGEND_LINES, len(legend))
    figure.text(0.65, 0.92, "\n".join(legend), fontsize=size, va="top", family="monospace")
    ticks = list(range(1, 6))
    axes.set_xticks(ticks, [f"{c}" for c in CLASSES])
    axes.set_yticks(ticks, [f"{c}" for c in CLASSES])
    axes.set_xlim(0.5, 5.5)
    axes.set_ylim(0.5, 5.5)
    axes.set_xlabel(w._("Impact class (highest over the interests): A limited ... E catastrophic"))
    axes.set_ylabel(w._("Likelihood class: A very unlikely ... E very likely"))
    axes.set_title(
        w._(
            "Risk diagram (revision {revision}); red: malicious, blue: non-malicious",
            revision=result.revision,
        ),
        fontsize=10,
    )
    figure.text(0.01, 0.01, w._("Indicative classes, not RbRa scores."), fontsize=8, color="#555")
    return figure


SVG_SALT = "keten-risk-diagram"
"""Salt of the ids in an SVG (matplotlib's default is random per drawing)."""


def diagram_bytes(result: RiskResult, fmt: str, w: Wording = ENGLISH) -> bytes:
    """The risk diagram as `png` or `svg` bytes, written in `w`: the same analysis gives the
    same bytes (no date, and SVG ids hashed with a fixed salt instead of a random one)."""
    if fmt not in {"png", "svg"}:
        raise ValueError(f"diagram format must be png or svg, not {fmt!r}")
    from matplotlib import rc_context

    buffer = io.BytesIO()
    with rc_context({"svg.hashsalt": SVG_SALT}):
        draw_diagram(result, w).savefig(buffer, format=fmt, metadata={"Date": None})
    return buffer.getvalue()


def diagram_svg(result: RiskResult, w: Wording = ENGLISH) -> str:
    """The risk diagram as an `<svg>` element (no XML prologue), for inlining in HTML."""
    text = diagram_bytes(result, "svg", w).decode()
    return text[text.index("<svg") :]


def cited_sources(store: GraphStore, result: RiskResult, projection: Projection) -> list[EntityRow]:
    """The Source entities the threats cite that the projection's clearance may see."""
    ids = sorted({sid for threat in result.threats for sid in threat.source_ids})
    rows = (store.get_entity(sid, projection.clearance) for sid in ids)
    return [row for row in rows if row is not None and row.kind == "Source"]


e = html.escape

PAGE = Template("""<!DOCTYPE html>
<html lang="$lang"><head><meta charset="utf-8">
<title>$title</title>$head
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.caveat{background:#fff4e5;border-left:4px solid #e69138;padding:.6rem}
.cls{font-weight:600;text-align:center}.derived{color:#1c4587}.small{font-size:.8rem;color:#555}
details{margin:.3rem 0}svg{max-width:100%;height:auto}
</style></head><body>
$top<h1>$heading</h1>
<p class="small">$generated</p>
<p class="caveat">$caveat</p>
<h2>$diagram_heading</h2>
$diagram
<h2>$threats_heading</h2>
<p class="small">$rules</p>
$threat_table
<h2>$interests_heading</h2>
$interest_tables
<h2>$effects_heading</h2>
$chain_effects
<h2>$sources_heading</h2>
$sources
</body></html>
""")

REPORT_PROCESSES = 10
"""Processes listed per derivation in the report; the rest are counted ("and N more")."""

DERIVED_MARK = '<span class="derived">d</span>'
"""How the tables mark an impact class derived from chain effects."""


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _impact_cell(threat: ThreatRisk, interest: str) -> str:
    value = threat.impact.get(interest)
    if value is None:
        return ""
    mark = f" {DERIVED_MARK}" if threat.impact_basis[interest] == "derived" else ""
    return f'<span class="cls">{e(value)}</span>{mark}'


def threat_table(result: RiskResult, w: Wording = ENGLISH) -> str:
    """All threats with likelihood, impact per interest, score and actors."""
    interests = [(i.id, w.name(i.id, i.name)) for i in result.interests]
    headers = [w._("Threat"), w._("Theme"), w._("Malicious"), w._("Likelihood")]
    headers += [name for _, name in interests] + [w._("Score"), w._("Actors")]
    rows = []
    for t in result.threats:
        malicious = "" if t.malicious is None else (w._("yes") if t.malicious else w._("no"))
        row = [
            f"{e(w.name(t.id, t.name))}<br><span class='small'>{e(t.id)}</span>",
            e(w._(t.theme) if t.theme else ""),
            e(malicious),
            f'<span class="cls">{e(t.likelihood or "-")}</span>',
        ]
        row += [_impact_cell(t, interest_id) for interest_id, _ in interests]
        row += [
            str(t.score) if t.score is not None else "-",
            e(", ".join(w.name(a.id, a.name) for a in t.actors)),
        ]
        rows.append(row)
    return _table(headers, rows)


def ranked_row(r: RankedThreat, w: Wording = ENGLISH) -> list[str]:
    """Table cells of a threat ranked against an interest."""
    score = str(r.score) if r.score is not None else "-"
    return [
        e(w.name(r.id, r.name)),
        f'<span class="cls">{e(r.impact)}</span>',
        e(w._(r.basis)),
        e(r.likelihood or "-"),
        score,
    ]


def interest_tables(result: RiskResult, fold_from: int = 8, w: Wording = ENGLISH) -> str:
    """Per interest, every threat ranked worst first; a table longer than `fold_from` rows
    is folded into a `<details>` that opens on the whole table (the first rows stay shown).
    """
    parts = []
    headers = [w._("Threat"), w._("Impact"), w._("Basis"), w._("Likelihood"), w._("Score")]
    for interest in result.interests:
        rows = [ranked_row(r, w) for r in interest.threats]
        if not rows:
            body = f"<p>{e(w._('No threat reaches it.'))}</p>"
        elif len(rows) <= fold_from:
            body = _table(headers, rows)
        else:
            every = e(w._("All {count} threats", count=len(rows)))
            body = (
                _table(headers, rows[:fold_from])
                + f"<details><summary>{every}</summary>"
                + _table(headers, rows)
                + "</details>"
            )
        parts.append(f"<h3>{e(w.name(interest.id, interest.name))}</h3>{body}")
    return "\n".join(parts)


def derivation_details(
    interest: str, derivation: Derivation, w: Wording = ENGLISH, limit: int = REPORT_PROCESSES
) -> str:
    """A collapsible table of the first `limit` processes behind one derived impact class
    and how many more there are (`interest` is the interest's name as shown)."""
    listed = derivation.processes[:limit]
    rows = [
        [
            e(w.name(hit.id, hit.name)),
            e(hit.category or "-"),
            w._("{hours} h", hours=f"{hit.time_to_impact_hours:g}"),
            f"{hit.path_strength:g}",
            f"{hit.points:g}",
        ]
        for hit in listed
    ]
    total = max(derivation.processes_total, len(derivation.processes))
    summary = w._(
        "{interest}: {impact} ({points} points, {count} processes)",
        interest=interest,
        impact=derivation.impact,
        points=f"{derivation.points:g}",
        count=total,
    )
    headers = [w._("Process"), w._("Category"), w._("Time"), w._("Path strength"), w._("Points")]
    table = _table(headers, rows)
    if total > len(listed):
        more = e(w._("and {count} more", count=total - len(listed)))
        row = f"<tr><td colspan='{len(headers)}' class='small'>{more}</td></tr></tbody>"
        table = table.removesuffix("</tbody></table>") + row + "</table>"
    return f"<details><summary>{e(summary)}</summary>{table}</details>"


def chain_effects(
    result: RiskResult,
    w: Wording = ENGLISH,
    threats: Iterable[ThreatRisk] | None = None,
    processes: int = REPORT_PROCESSES,
) -> str:
    """First entities each threat reaches, and how derived classes came about (the first
    `processes` per derivation); `threats` are `result`'s with their processes listed (its
    own when not given)."""
    interest_names = {i.id: w.name(i.id, i.name) for i in result.interests}
    headers = [w._("Time"), w._("Kind"), w._("Entity"), w._("Via")]
    parts = []
    for t in result.threats if threats is None else threats:
        if not t.chain_effects and not t.derivation:
            continue
        rows = [
            [
                w._("{hours} h", hours=f"{a.time_to_impact_hours:g}"),
                e(w._(a.kind)),
                e(w.name(a.id, a.name)),
                e(" -> ".join(a.via)),
            ]
            for a in t.chain_effects
        ]
        effects = _table(headers, rows) if rows else ""
        derived = "".join(
            derivation_details(interest_names.get(interest, interest), d, w, processes)
            for interest, d in t.derivation.items()
        )
        reached = e(w._("{count} entities reached.", count=t.cascade_total))
        parts.append(
            f"<h3>{e(w.name(t.id, t.name))}</h3><p class='small'>{reached}</p>{effects}{derived}"
        )
    return "\n".join(parts) or f"<p>{e(w._('No threat sets off a chain effect.'))}</p>"


def sources_list(sources: list[EntityRow], w: Wording = ENGLISH) -> str:
    """The cited sources with publisher, year and link."""
    items = []
    for s in sources:
        url = s.props.get("url")
        title = f'<a href="{e(url)}">{e(s.name)}</a>' if url else e(s.name)
        bits = [str(s.props[k]) for k in ("publisher", "year") if s.props.get(k)]
        extra = f" ({e(', '.join(bits))})" if bits else ""
        items.append(f"<li>{title}{extra} <span class='small'>{e(s.id)}</span></li>")
    return f"<ul>{''.join(items)}</ul>" if items else f"<p>{e(w._('No sources cited.'))}</p>"


def method_lines(result: RiskResult, generated: str, w: Wording) -> dict[str, str]:
    """The report's header lines: when and how it was made, the caveat and the rules."""
    method = result.method
    prefer = str(method.get("prefer", "stated"))
    horizon, strength = f"{method.get('horizon_hours', 72):g}", f"{method.get('min_strength', 0):g}"
    made = w._(
        "Generated {generated} from store revision {revision}. Impact derived from chain "
        "effects within {horizon} h (minimum strength {min_strength}); {prefer} classes "
        "preferred.",
        generated=generated or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        revision=result.revision,
        horizon=horizon,
        min_strength=strength,
        prefer=w._(prefer),
    )
    marked = w._(
        "Impact classes marked {mark} are derived from chain effects ({rule}).",
        mark="\0",
        rule=w._(str(method.get("impact_rule", IMPACT_RULE))),
    )
    score = w._(str(method.get("score_rule", SCORE_RULE)))
    return {
        "generated": e(made),
        "caveat": e(w._(str(method.get("caveat", CAVEAT)))),
        "rules": e(f"{score}. {marked}").replace("\0", DERIVED_MARK),
    }


def render_report(
    result: RiskResult,
    sources: list[EntityRow],
    generated: str = "",
    w: Wording = ENGLISH,
    top: str = "",
    head: str = "",
    threats: Iterable[ThreatRisk] | None = None,
    processes: int = REPORT_PROCESSES,
) -> str:
    """The self-contained HTML report of `result`, written in `w`; `top` and `head` are
    trusted HTML put above its heading and into its head (the pages' way back, language
    switch and icon). `threats` are `result`'s with (at least) their first `processes`
    processes listed, in its order, when `result` lists none (`RiskAnalysis.every_threat`)."""
    return PAGE.substitute(
        lang=e(w.code),
        top=top,
        head=head,
        title=e(
            w._("keten integrated risk analysis (revision {revision})", revision=result.revision)
        ),
        heading=e(w._("keten: integrated risk analysis")),
        **method_lines(result, generated, w),
        diagram_heading=e(w._("Risk diagram")),
        diagram=diagram_svg(result, w),
        threats_heading=e(w._("Threats")),
        threat_table=threat_table(result, w),
        interests_heading=e(w._("Threats per interest")),
        interest_tables=interest_tables(result, w=w),
        effects_heading=e(w._("Top chain effects per threat")),
        chain_effects=chain_effects(result, w, threats, processes),
        sources_heading=e(w._("Sources")),
        sources=sources_list(sources, w),
    )


def build_report(
    store: GraphStore, projection: Projection, options: RiskOptions | None = None
) -> str:
    """Run the integrated analysis on `projection` and render it as the HTML report."""
    from keten.queries.riskpages import analyse

    analysis = analyse(store, projection, options)
    result = analysis.summary
    return render_report(
        result,
        cited_sources(store, result, projection),
        threats=analysis.every_threat(REPORT_PROCESSES),
    )
