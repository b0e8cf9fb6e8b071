"""`keten risk`, `keten report` and `keten scenario`: the integrated analysis from the shell.

Like `keten cascade`, these run locally with full access to the store (TLP:RED), unless
`--clearance` asks for the view of a lower clearance (to check what a reader will see).

`keten scenario` takes scenarios as ``--name NAME ID... --name NAME ID...`` or from a YAML
(or JSON) file holding the `POST /analysis/scenarios` body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from keten.cli.app import app
from keten.config import Settings
from keten.graph import open_store
from keten.graph.projection import build_projection
from keten.queries.errors import AnalysisInputError, UnknownEntityError
from keten.queries.report import cited_sources, render_report
from keten.queries.risk import CAVEAT, Prefer, RiskOptions, RiskResult, integrated_analysis
from keten.queries.scenarios import ScenariosRequest, ScenariosResult, compare_scenarios
from keten.schema.markings import Tlp

out = Console()
err = Console(stderr=True)

HoursOption = Annotated[
    float, typer.Option("--hours", "-H", min=0, help="Horizon of the chain effects (hours).")
]
StrengthOption = Annotated[
    float, typer.Option(min=0, max=1, help="Ignore dependencies weaker than this.")
]
ClearanceOption = Annotated[
    Tlp, typer.Option(help="Analyse only what this clearance may see.", case_sensitive=False)
]
PreferOption = Annotated[
    str, typer.Option(help="Which impact class wins where both exist: stated or derived.")
]


def fail(message: str) -> typer.Exit:
    """Print an error and give the exit to raise (status 2: bad input)."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def analyse(options: RiskOptions, clearance: Tlp) -> tuple[RiskResult, list[Any]]:
    """Run the integrated analysis on the configured store; also the cited sources."""
    store = open_store(Settings.from_env())
    try:
        projection = build_projection(store, clearance)
        result = integrated_analysis(store, projection, options)
        return result, cited_sources(store, result, projection)
    finally:
        store.close()


def options_from(hours: float, min_strength: float, prefer: str, top: int = 5) -> RiskOptions:
    """Checked analysis options (a bad `prefer` is reported by name)."""
    if prefer not in ("stated", "derived"):
        raise fail(f"--prefer must be 'stated' or 'derived', not {prefer!r}")
    chosen: Prefer = "derived" if prefer == "derived" else "stated"
    return RiskOptions(horizon_hours=hours, min_strength=min_strength, prefer=chosen, top=top)


def risk_table(result: RiskResult) -> Table:
    """Threats ranked by score, with likelihood and impact per interest (d: derived)."""
    table = Table(title=f"Integrated risk analysis (revision {result.revision})")
    interests = [(i.id, i.name) for i in result.interests]
    table.add_column("score", justify="right")
    table.add_column("L", justify="center")
    table.add_column("threat", min_width=24)
    for _, name in interests:
        table.add_column(name.split()[0], justify="center")
    table.add_column("actors", overflow="fold")
    for t in result.threats:
        cells = [
            t.impact[i] + (" d" if t.impact_basis[i] == "derived" else "") if i in t.impact else ""
            for i, _ in interests
        ]
        table.add_row(
            "-" if t.score is None else str(t.score),
            t.likelihood or "-",
            t.name,
            *cells,
            ", ".join(a.name for a in t.actors),
        )
    table.caption = f"L = likelihood; d = impact derived from chain effects. {CAVEAT}"
    return table


@app.command("risk")
def risk_command(
    hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    prefer: PreferOption = "stated",
    clearance: ClearanceOption = Tlp.RED,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
) -> None:
    """The integrated analysis: every threat's likelihood, impact per interest and score."""
    result, _ = analyse(options_from(hours, min_strength, prefer), clearance)
    if as_json:
        typer.echo(orjson.dumps(result.model_dump(mode="json")).decode())
        return
    out.print(risk_table(result))


@app.command("report")
def report_command(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    prefer: PreferOption = "stated",
    clearance: ClearanceOption = Tlp.RED,
    top: Annotated[int, typer.Option(min=0, max=100, help="Chain effects per threat.")] = 5,
) -> None:
    """Write the integrated analysis as ONE self-contained HTML file (diagram inline)."""
    result, sources = analyse(options_from(hours, min_strength, prefer, top), clearance)
    out_path.write_text(render_report(result, sources), encoding="utf-8")
    err.print(f"wrote {out_path} ({len(result.threats)} threats, revision {result.revision})")


def parse_named(tokens: list[str]) -> list[dict[str, Any]]:
    """`--name A id id --name B id` into scenario dicts; anything else is an error."""
    scenarios: list[dict[str, Any]] = []
    rest = list(tokens)
    while rest:
        token = rest.pop(0)
        if token != "--name":
            raise fail(f"expected --name NAME ID..., got {token!r}")
        if not rest or rest[0].startswith("-"):
            raise fail("--name needs a scenario name")
        scenarios.append({"name": rest.pop(0), "sources": []})
        while rest and rest[0] != "--name":
            scenarios[-1]["sources"].append(rest.pop(0))
    return scenarios


def read_request(file: Path | None, tokens: list[str], hours: float, strength: float) -> Any:
    """The scenarios body from the file, or from `--name` groups with the common horizon."""
    if file is not None and tokens:
        raise fail("give scenarios either in --file or as --name groups, not both")
    if file is not None:
        try:
            return yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise fail(f"cannot read {file}: {exc}") from None
    scenarios = parse_named(tokens)
    if not scenarios:
        raise fail("no scenarios: use --name NAME ID... (at least once) or --file")
    for scenario in scenarios:
        scenario["horizon_hours"] = hours
    return {"scenarios": scenarios, "min_strength": strength}


def scenario_table(result: ScenariosResult) -> Table:
    """Scenarios side by side: totals and when each interest is hit."""
    table = Table(title=f"Scenarios (revision {result.revision})")
    table.add_column("")
    for outcome in result.scenarios:
        table.add_column(outcome.name, justify="right")
    table.add_row("entities affected", *(f"{o.total:,}" for o in result.scenarios))
    interest_ids = sorted({i.id for o in result.scenarios for i in o.interests})
    for interest in interest_ids:
        hours = [{i.id: i.time_to_impact_hours for i in o.interests} for o in result.scenarios]
        table.add_row(interest, *(f"{h[interest]:g} h" if interest in h else "-" for h in hours))
    return table


def differences_table(result: ScenariosResult) -> Table:
    """Per pair: what only one reaches, and interests only one hits."""
    table = Table(title="Differences")
    for column in ("a", "b", "only in a", "only in b", "interests only in a / b"):
        table.add_column(column, overflow="fold")
    for d in result.differences:
        table.add_row(
            d.a,
            d.b,
            f"{d.only_in_a_total:,}: {', '.join(d.only_in_a[:8])}",
            f"{d.only_in_b_total:,}: {', '.join(d.only_in_b[:8])}",
            f"{', '.join(d.interests_only_in_a) or '-'} / "
            f"{', '.join(d.interests_only_in_b) or '-'}",
        )
    return table


@app.command(
    "scenario", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def scenario_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="YAML/JSON scenarios body.")
    ] = None,
    hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    clearance: ClearanceOption = Tlp.RED,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
) -> None:
    """Compare scenarios side by side: --name A threat:x vp:y --name B threat:z (or --file)."""
    body = read_request(file, list(ctx.args), hours, min_strength)
    try:
        request = ScenariosRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid scenarios: {problems}") from None
    store = open_store(Settings.from_env())
    try:
        projection = build_projection(store, clearance)
    finally:
        store.close()
    try:
        result = compare_scenarios(projection, request)
    except (UnknownEntityError, AnalysisInputError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(orjson.dumps(result.model_dump(mode="json")).decode())
        return
    out.print(scenario_table(result))
    if result.differences:
        out.print(differences_table(result))
