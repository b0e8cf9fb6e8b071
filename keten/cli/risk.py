"""`keten risk`, `keten report` and `keten scenario`: the integrated analysis from the shell.

Like `keten cascade`, these run locally with full access to the store (TLP:RED), unless
`--clearance` asks for the view of a lower clearance (to check what a reader will see).

`keten scenario` takes scenarios as ``--name NAME ID... --name NAME ID...`` or from a YAML
(or JSON) file holding the `POST /analysis/scenarios` body.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from keten.cli.application import ANALYSES, app
from keten.cli.common import (
    AssessmentsOption,
    ClearanceOption,
    HoursOption,
    JsonOption,
    StrengthOption,
    echo_json,
    usage,
)
from keten.cli.errors import CliError
from keten.cli.stores import Assessments, kept_projection, projection, require_store, store_session
from keten.cli.tables import err, hours, id_column, out, show, table
from keten.schema.markings import Tlp

if TYPE_CHECKING:
    from rich.table import Table

    from keten.queries.risk import RiskOptions, RiskResult
    from keten.queries.riskpages import RiskAnalysis
    from keten.queries.scenarios import ScenariosResult

__all__ = ["ClearanceOption"]  # other command modules import it from here too

PreferOption = Annotated[
    str, typer.Option(help="Which impact class wins where both exist: stated or derived.")
]
WHOLE = 2**62
"""Processes listed per derivation by `keten risk --json`: all of them."""
TopOption = Annotated[int, typer.Option(min=0, max=100, help="Chain effects kept per threat.")]


def fail(message: str) -> CliError:
    """A usage error to raise (exit 2)."""
    return usage(message)


def analyse(
    options: RiskOptions, clearance: Tlp, assessments: Assessments, with_sources: bool = False
) -> tuple[RiskAnalysis, list[Any]]:
    """Run the integrated analysis on the configured store; also the cited sources. The
    analysis lists no process: its `every_threat` searches them again when asked."""
    from keten.queries.riskpages import analyse as analyse_risk

    with store_session() as store:
        graph = kept_projection(store, clearance, assessments)
        analysis = analyse_risk(store, graph, options)
        if not with_sources:
            return analysis, []
        from keten.queries.report import cited_sources

        return analysis, cited_sources(store, analysis.summary, graph)


def echo_whole(analysis: RiskAnalysis, processes: int) -> None:
    """Print the whole analysis (`processes` listed per derivation) as `echo_json` prints a
    result, a threat at a time, so that its size is the output's and not the memory's."""
    import orjson

    rest = orjson.dumps(analysis.summary.model_dump(mode="json", exclude={"threats"}))
    write = sys.stdout.write
    write('{"threats":[')
    for i, threat in enumerate(analysis.every_threat(processes)):
        write(("," if i else "") + orjson.dumps(threat.model_dump(mode="json")).decode())
    write("]," + rest.decode()[1:] + "\n")
    sys.stdout.flush()


def options_from(hours: float, min_strength: float, prefer: str, top: int = 5) -> RiskOptions:
    """Checked analysis options (a bad `prefer` is reported by name)."""
    if prefer not in ("stated", "derived"):
        raise fail(f"--prefer must be 'stated' or 'derived', not {prefer!r}")
    require_store()
    from keten.queries.risk import Prefer, RiskOptions

    chosen: Prefer = "derived" if prefer == "derived" else "stated"
    return RiskOptions(horizon_hours=hours, min_strength=min_strength, prefer=chosen, top=top)


def short(interest_id: str) -> str:
    """A four-letter column head for an interest: interest:economic-security -> econ."""
    return interest_id.removeprefix("interest:")[:4]


def risk_table(result: RiskResult) -> Table:
    """Threats ranked by score, with likelihood and impact per interest (d: derived)."""
    from keten.queries.risk import CAVEAT

    interests = [(i.id, i.name) for i in result.interests]
    legend = ", ".join(f"{short(i)} = {name}" for i, name in interests)
    grid = table(
        f"Integrated risk analysis (revision {result.revision})",
        caption=f"L = likelihood; impact per interest ({legend}); d = derived from chain "
        f"effects. {CAVEAT}",
    )
    grid.add_column("score", justify="right", no_wrap=True)
    grid.add_column("L", justify="center", no_wrap=True)
    for interest_id, _ in interests:
        grid.add_column(short(interest_id), justify="left", no_wrap=True)
    id_column(grid, "threat")
    for t in result.threats:
        cells = [
            t.impact[i] + (" d" if t.impact_basis[i] == "derived" else "") if i in t.impact else ""
            for i, _ in interests
        ]
        grid.add_row("-" if t.score is None else str(t.score), t.likelihood or "-", *cells, t.id)
    return grid


@app.command("risk", rich_help_panel=ANALYSES)
def risk_command(
    horizon_hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    prefer: PreferOption = "stated",
    top: TopOption = 5,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
    processes: Annotated[
        int | None,
        typer.Option(min=1, help="With --json, processes listed per derived impact (all)."),
    ] = None,
) -> None:
    """The integrated analysis: every threat's likelihood, impact per interest and score
    (with --json every process each threat hits, with its chain, or the first --processes)."""
    analysis, _ = analyse(
        options_from(horizon_hours, min_strength, prefer, top), clearance, assessments
    )
    if as_json:
        echo_whole(analysis, WHOLE if processes is None else processes)
    else:
        show(risk_table(analysis.summary))


@app.command("report", rich_help_panel=ANALYSES)
def report_command(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    horizon_hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    prefer: PreferOption = "stated",
    top: TopOption = 5,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
) -> None:
    """Write the integrated analysis as ONE self-contained HTML file (diagram inline)."""
    options = options_from(horizon_hours, min_strength, prefer, top)
    analysis, sources = analyse(options, clearance, assessments, with_sources=True)
    from keten.queries.report import REPORT_PROCESSES, render_report

    result = analysis.summary
    threats = analysis.every_threat(REPORT_PROCESSES)
    out_path.write_text(render_report(result, sources, threats=threats), encoding="utf-8")
    err.print(
        f"wrote {out_path} ({len(result.threats)} threats, revision {result.revision})",
        highlight=False,
    )


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
    import yaml

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
    grid = table(f"Scenarios (revision {result.revision})")
    id_column(grid, "")
    for outcome in result.scenarios:
        grid.add_column(outcome.name, justify="right", overflow="fold")
    grid.add_row("entities affected", *(f"{o.total:,}" for o in result.scenarios))
    interest_ids = sorted({i.id for o in result.scenarios for i in o.interests})
    times = [{i.id: i.time_to_impact_hours for i in o.interests} for o in result.scenarios]
    for interest in interest_ids:
        grid.add_row(
            interest, *(f"{hours(h[interest])} h" if interest in h else "-" for h in times)
        )
    return grid


def print_differences(result: ScenariosResult) -> None:
    """Per pair: what only one reaches, and interests only one hits."""
    out.print("Differences", style="bold")
    for d in result.differences:
        out.print(
            f"{d.a} / {d.b}: only in {d.a} {d.only_in_a_total:,} "
            f"({', '.join(d.only_in_a[:8]) or '-'}); only in {d.b} {d.only_in_b_total:,} "
            f"({', '.join(d.only_in_b[:8]) or '-'}); interests only in {d.a}: "
            f"{', '.join(d.interests_only_in_a) or '-'}; only in {d.b}: "
            f"{', '.join(d.interests_only_in_b) or '-'}",
            highlight=False,
        )


@app.command(
    "scenario",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    rich_help_panel=ANALYSES,
)
def scenario_command(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="YAML/JSON scenarios body.")
    ] = None,
    horizon_hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Compare scenarios side by side: --name A threat:x vp:y --name B threat:z (or --file)."""
    body = read_request(file, list(ctx.args), horizon_hours, min_strength)
    require_store()
    from pydantic import ValidationError

    from keten.queries.scenarios import ScenariosRequest, compare_scenarios

    try:
        request = ScenariosRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise fail(f"invalid scenarios: {problems}") from None
    result = compare_scenarios(projection(clearance, assessments), request)
    if as_json:
        echo_json(result)
        return
    show(scenario_table(result))
    if result.differences:
        out.print()
        print_differences(result)
