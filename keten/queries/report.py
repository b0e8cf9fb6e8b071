"""Presentations of the integrated risk analysis: the risk diagram and the HTML report.

The risk diagram is the national risk assessment's picture: impact class on the horizontal
axis (a threat's highest impact over the interests), likelihood class on the vertical one,
cells shaded by the score. It is drawn with matplotlib's Agg canvas on a private `Figure`
(no pyplot state), so that concurrent requests do not share a figure.

The report is ONE self-contained HTML file: inline CSS, the diagram as inline SVG, the threat
table, the per-interest ranking, the first chain effects per threat with the derivations, and
the sources the threats cite. It needs no network and no other file, so it can be mailed.

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
from datetime import UTC, datetime
from string import Template
from typing import TYPE_CHECKING, Any

from keten.graph.projection import Projection
from keten.graph.store import EntityRow, GraphStore
from keten.queries.risk import (
    CAVEAT,
    CLASSES,
    Derivation,
    RankedThreat,
    RiskOptions,
    RiskResult,
    ThreatRisk,
    class_index,
    integrated_analysis,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CELL_COLOURS = ["#d9ead3", "#fff2cc", "#fce5cd", "#f4cccc", "#e6b8af"]
"""Cell shades from low (score <= 4) to high (score >= 20)."""
LABEL_STYLE: dict[str, Any] = {"color": "white", "fontsize": 6, "ha": "center", "va": "center"}


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


LEGEND_WIDTH = 52
"""Characters per line of the diagram's legend; longer names wrap, never cut."""


def legend_lines(number: int, threat: ThreatRisk) -> list[str]:
    """The legend entry of a threat: its number and full name (wrapped) and score.

    >>> legend_lines(3, ThreatRisk(id="t", name="Large-scale disinformation campaign by a "
    ...     "state actor aimed at elections", likelihood="C", impact={}, impact_basis={},
    ...     score=9, actors=[], derivation={}, cascade_total=0, chain_effects=[]))
    [' 3  Large-scale disinformation campaign by a state', '    actor aimed at elections (9)']
    """
    lines = textwrap.wrap(f"{threat.name} ({threat.score})", LEGEND_WIDTH - 4) or [""]
    return [f"{number:>2}  {lines[0]}", *(f"    {line}" for line in lines[1:])]


def draw_diagram(result: RiskResult) -> Figure:
    """The risk diagram of `result` on a new Agg figure."""
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
            axes.plot(x + dx, y + dy, "o", color=colour, markersize=11)
            axes.annotate(str(number), (x + dx, y + dy), **LABEL_STYLE)
            legend += legend_lines(number, threat)
    size = min(7.0, 7.0 * 58 / max(58, len(legend)))
    figure.text(0.65, 0.92, "\n".join(legend), fontsize=size, va="top", family="monospace")
    ticks = list(range(1, 6))
    axes.set_xticks(ticks, [f"{c}" for c in CLASSES])
    axes.set_yticks(ticks, [f"{c}" for c in CLASSES])
    axes.set_xlim(0.5, 5.5)
    axes.set_ylim(0.5, 5.5)
    axes.set_xlabel("Impact class (highest over the interests): A limited ... E catastrophic")
    axes.set_ylabel("Likelihood class: A very unlikely ... E very likely")
    axes.set_title(
        f"Risk diagram (revision {result.revision}); red: malicious, blue: non-malicious",
        fontsize=10,
    )
    figure.text(0.01, 0.01, "Indicative classes, not RbRa scores.", fontsize=7, color="#555")
    return figure


SVG_SALT = "keten-risk-diagram"
"""Salt of the ids in an SVG (matplotlib's default is random per drawing)."""


def diagram_bytes(result: RiskResult, fmt: str) -> bytes:
    """The risk diagram as `png` or `svg` bytes: the same analysis gives the same bytes
    (no date, and SVG ids hashed with a fixed salt instead of a random one)."""
    if fmt not in {"png", "svg"}:
        raise ValueError(f"diagram format must be png or svg, not {fmt!r}")
    from matplotlib import rc_context

    buffer = io.BytesIO()
    with rc_context({"svg.hashsalt": SVG_SALT}):
        draw_diagram(result).savefig(buffer, format=fmt, metadata={"Date": None})
    return buffer.getvalue()


def diagram_svg(result: RiskResult) -> str:
    """The risk diagram as an `<svg>` element (no XML prologue), for inlining in HTML."""
    text = diagram_bytes(result, "svg").decode()
    return text[text.index("<svg") :]


def cited_sources(store: GraphStore, result: RiskResult, projection: Projection) -> list[EntityRow]:
    """The Source entities the threats cite that the projection's clearance may see."""
    ids = sorted({sid for threat in result.threats for sid in threat.source_ids})
    rows = (store.get_entity(sid, projection.clearance) for sid in ids)
    return [row for row in rows if row is not None and row.kind == "Source"]


e = html.escape

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>keten integrated risk analysis (revision $revision)</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222;line-height:1.4}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.caveat{background:#fff4e5;border-left:4px solid #e69138;padding:.6rem}
.cls{font-weight:600;text-align:center}.derived{color:#1c4587}.small{font-size:.8rem;color:#555}
details{margin:.3rem 0}svg{max-width:100%;height:auto}
</style></head><body>
<h1>keten: integrated risk analysis</h1>
<p class="small">Generated $generated from store revision $revision. Impact derived from chain
effects within $horizon h (minimum strength $min_strength); $prefer classes preferred.</p>
<p class="caveat">$caveat</p>
<h2>Risk diagram</h2>
$diagram
<h2>Threats</h2>
<p class="small">$score_rule. Impact classes marked <span class="derived">d</span> are derived
from chain effects ($impact_rule).</p>
$threat_table
<h2>Threats per interest</h2>
$interest_tables
<h2>Top chain effects per threat</h2>
$chain_effects
<h2>Sources</h2>
$sources
</body></html>
""")


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _impact_cell(threat: ThreatRisk, interest: str) -> str:
    value = threat.impact.get(interest)
    if value is None:
        return ""
    mark = ' <span class="derived">d</span>' if threat.impact_basis[interest] == "derived" else ""
    return f'<span class="cls">{e(value)}</span>{mark}'


def threat_table(result: RiskResult) -> str:
    """All threats with likelihood, impact per interest, score and actors."""
    interests = [(i.id, i.name) for i in result.interests]
    headers = ["Threat", "Theme", "Malicious", "Likelihood"]
    headers += [name for _, name in interests] + ["Score", "Actors"]
    rows = []
    for t in result.threats:
        malicious = "" if t.malicious is None else ("yes" if t.malicious else "no")
        row = [
            f"{e(t.name)}<br><span class='small'>{e(t.id)}</span>",
            e(t.theme or ""),
            malicious,
            f'<span class="cls">{e(t.likelihood or "-")}</span>',
        ]
        row += [_impact_cell(t, interest_id) for interest_id, _ in interests]
        row += [
            str(t.score) if t.score is not None else "-",
            e(", ".join(a.name for a in t.actors)),
        ]
        rows.append(row)
    return _table(headers, rows)


def ranked_row(r: RankedThreat) -> list[str]:
    """Table cells of a threat ranked against an interest."""
    score = str(r.score) if r.score is not None else "-"
    return [
        e(r.name),
        f'<span class="cls">{e(r.impact)}</span>',
        e(r.basis),
        e(r.likelihood or "-"),
        score,
    ]


def interest_tables(result: RiskResult, fold_from: int = 8) -> str:
    """Per interest, every threat ranked worst first; a table longer than `fold_from` rows
    is folded into a `<details>` that opens on the whole table (the first rows stay shown).
    """
    parts = []
    headers = ["Threat", "Impact", "Basis", "Likelihood", "Score"]
    for interest in result.interests:
        rows = [ranked_row(r) for r in interest.threats]
        if not rows:
            body = "<p>No threat reaches it.</p>"
        elif len(rows) <= fold_from:
            body = _table(headers, rows)
        else:
            body = (
                _table(headers, rows[:fold_from])
                + f"<details><summary>All {len(rows)} threats</summary>"
                + _table(headers, rows)
                + "</details>"
            )
        parts.append(f"<h3>{e(interest.name)}</h3>{body}")
    return "\n".join(parts)


def derivation_details(interest: str, derivation: Derivation) -> str:
    """A collapsible table of the processes behind one derived impact class."""
    rows = [
        [
            e(hit.name),
            e(hit.category or "-"),
            f"{hit.time_to_impact_hours:g} h",
            f"{hit.path_strength:g}",
            f"{hit.points:g}",
        ]
        for hit in derivation.processes
    ]
    summary = (
        f"{e(interest)}: {e(derivation.impact)} ({derivation.points:g} points, "
        f"{len(derivation.processes)} processes)"
    )
    table = _table(["Process", "Category", "Time", "Path strength", "Points"], rows)
    return f"<details><summary>{summary}</summary>{table}</details>"


def chain_effects(result: RiskResult) -> str:
    """First entities each threat reaches, and how derived classes came about."""
    parts = []
    for t in result.threats:
        if not t.chain_effects and not t.derivation:
            continue
        rows = [
            [f"{a.time_to_impact_hours:g} h", e(a.kind), e(a.name), e(" -> ".join(a.via))]
            for a in t.chain_effects
        ]
        effects = _table(["Time", "Kind", "Entity", "Via"], rows) if rows else ""
        derived = "".join(derivation_details(interest, d) for interest, d in t.derivation.items())
        parts.append(
            f"<h3>{e(t.name)}</h3><p class='small'>{t.cascade_total} entities reached.</p>"
            f"{effects}{derived}"
        )
    return "\n".join(parts) or "<p>No threat sets off a chain effect.</p>"


def sources_list(sources: list[EntityRow]) -> str:
    """The cited sources with publisher, year and link."""
    items = []
    for s in sources:
        url = s.props.get("url")
        title = f'<a href="{e(url)}">{e(s.name)}</a>' if url else e(s.name)
        bits = [str(s.props[k]) for k in ("publisher", "year") if s.props.get(k)]
        extra = f" ({e(', '.join(bits))})" if bits else ""
        items.append(f"<li>{title}{extra} <span class='small'>{e(s.id)}</span></li>")
    return f"<ul>{''.join(items)}</ul>" if items else "<p>No sources cited.</p>"


def render_report(result: RiskResult, sources: list[EntityRow], generated: str = "") -> str:
    """The self-contained HTML report of `result`."""
    method = result.method
    return PAGE.substitute(
        revision=result.revision,
        generated=e(generated or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        horizon=f"{method.get('horizon_hours', 72):g}",
        min_strength=f"{method.get('min_strength', 0):g}",
        prefer=e(str(method.get("prefer", "stated"))),
        caveat=e(str(method.get("caveat", CAVEAT))),
        score_rule=e(str(method.get("score_rule", ""))),
        impact_rule=e(str(method.get("impact_rule", ""))),
        diagram=diagram_svg(result),
        threat_table=threat_table(result),
        interest_tables=interest_tables(result),
        chain_effects=chain_effects(result),
        sources=sources_list(sources),
    )


def build_report(
    store: GraphStore, projection: Projection, options: RiskOptions | None = None
) -> str:
    """Run the integrated analysis on `projection` and render it as the HTML report."""
    result = integrated_analysis(store, projection, options)
    return render_report(result, cited_sources(store, result, projection))
