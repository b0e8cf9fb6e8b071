"""The analyses from the command line: cascade, propagation, inoperability, criticality, paths;
and `keten generate` for synthetic test data.

Each command takes the options of its API request under the same names (`--hours` stands for
`horizon_hours`, which works too), builds the same request model and calls the same query
function as keten.api.routers.analysis, so `--json` prints what the API answers. The CLI
runs with full access to the store (TLP:RED) unless `--clearance` asks for the view of a
lower clearance: then it answers what the API answers a key of that clearance. Unknown ids
exit 3, requests an analysis cannot run on exit 1, refused option values exit 2.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keten.cli.application import ANALYSES, STORE, app
from keten.cli.cascade_answer import run_cascade
from keten.cli.common import (
    AssessmentsOption,
    ClearanceOption,
    HoursOption,
    JsonOption,
    StrengthOption,
    echo_json,
    usage,
)
from keten.cli.stores import Assessments, projection, require_store
from keten.cli.tables import err, id_column, name_column, out, show, table
from keten.schema.kinds import EntityKind
from keten.schema.markings import Tlp
from keten.schema.relations import RelationType

if TYPE_CHECKING:
    from rich.table import Table

    from keten.queries.criticality import CriticalityResult
    from keten.queries.inoperability import InoperabilityResult
    from keten.queries.paths import PathsResult
    from keten.queries.propagation import PropagationResult


@app.command("cascade", rich_help_panel=ANALYSES)
def cascade_command(
    ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="Ids of the disrupted entities (t = 0).")
    ],
    horizon_hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entities.")] = 100,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """What a disruption of IDS sets off within the horizon: when, and through what.

    `after` is the predecessor that explains each time; `--json` has the whole chain (`via`)
    and the interests hit (`POST /analysis/cascade`).
    """
    run_cascade(ids, horizon_hours, min_strength, limit, assessments, clearance, as_json)


def propagation_table(result: PropagationResult) -> Table:
    """Entities by probability of disruption, with the confidence interval."""
    grid = table(
        f"{result.total:,} entities reached in {result.runs:,} runs (seed {result.seed}; "
        f"showing {len(result.entities):,}; revision {result.revision})"
    )
    grid.add_column("p", justify="right", no_wrap=True)
    grid.add_column(f"{result.confidence:.0%} interval", justify="center", no_wrap=True)
    id_column(grid)
    name_column(grid)
    for item in result.entities:
        grid.add_row(
            f"{item.probability:.3f}",
            f"{item.ci_low:.3f}-{item.ci_high:.3f}",
            item.id,
            item.name,
        )
    return grid


@app.command("propagation", rich_help_panel=ANALYSES)
def propagation_command(
    ids: Annotated[
        list[str], typer.Argument(metavar="ID...", help="Ids of the disrupted entities.")
    ],
    horizon_hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    runs: Annotated[int, typer.Option(min=1, max=10_000, help="Monte Carlo runs.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed (same seed, same answer).")] = 0,
    confidence: Annotated[
        float, typer.Option(min=0, max=1, help="Level of the Wilson intervals.")
    ] = 0.95,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entities.")] = 100,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """How likely each entity is to be hit: Monte Carlo with strengths as probabilities.

    Each dependency passes a disruption on with probability `strength`; runs are seeded
    (the same seed gives the same answer) and intervals are Wilson's
    (`POST /analysis/propagation`).
    """
    require_store()
    from keten.queries.propagation import PropagationRequest, propagate

    body = PropagationRequest(
        sources=ids,
        horizon_hours=horizon_hours,
        min_strength=min_strength,
        runs=runs,
        seed=seed,
        confidence=confidence,
        limit=limit,
    )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    graph = projection(clearance, assessments)
    columns = (TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("propagation", total=runs)
        result = propagate(graph, body, lambda done: bar.update(task, completed=done))
    if as_json:
        echo_json(result)
    else:
        show(propagation_table(result))


def parse_shares(pairs: list[str], what: str) -> dict[str, float]:
    """`id=0.5` pairs into a dict; anything else is a usage error."""
    found: dict[str, float] = {}
    for pair in pairs:
        entity, sep, value = pair.rpartition("=")
        try:
            found[entity] = float(value)
        except ValueError:
            sep = ""
        if not sep or not entity:
            raise usage(f"{what} must be ID=NUMBER (like vp:drinking-water=0.5), got {pair!r}")
    return found


def inoperability_table(result: InoperabilityResult) -> Table:
    """Entities by inoperability (and peak and cumulative in dynamic mode)."""
    grid = table(
        f"{result.total:,} entities inoperable ({result.mode}; spectral radius "
        f"{result.spectral_radius:.3f}; showing {len(result.entities):,}; revision "
        f"{result.revision})"
    )
    dynamic = result.mode == "dynamic"
    grid.add_column("q", justify="right", no_wrap=True)
    if dynamic:
        grid.add_column("peak", justify="right", no_wrap=True)
        grid.add_column("sum", justify="right", no_wrap=True)
    id_column(grid)
    name_column(grid)
    for item in result.entities:
        numbers = [f"{item.inoperability:.3f}"]
        if dynamic:
            numbers += [f"{item.peak or 0:.3f}", f"{item.cumulative or 0:.2f}"]
        grid.add_row(*numbers, item.id, item.name)
    return grid


class Mode(StrEnum):
    """Static (equilibrium) or dynamic (step by step) inoperability."""

    STATIC = "static"
    DYNAMIC = "dynamic"


@app.command("inoperability", rich_help_panel=ANALYSES)
def inoperability_command(
    perturbation: Annotated[
        list[str],
        typer.Argument(
            metavar="ID=SHARE...", help="Initial inoperability c* of an entity, in [0, 1]."
        ),
    ],
    mode: Annotated[Mode, typer.Option(help="Equilibrium or step by step.")] = Mode.STATIC,
    scale: Annotated[
        float, typer.Option(help="a*_ij = scale x dependency strength (0 < scale <= 1).")
    ] = 1.0,
    steps: Annotated[int, typer.Option(min=1, help="Steps (dynamic mode).")] = 100,
    duration_steps: Annotated[
        int | None, typer.Option(min=0, help="Steps during which c* acts (default all).")
    ] = None,
    recovery_rate: Annotated[
        float, typer.Option(help="Recovery rate k_i of every entity (0 < k <= 1).")
    ] = 0.5,
    recovery_rates: Annotated[
        list[str] | None,
        typer.Option("--recovery-rates", help="ID=RATE: the rate of one entity (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many entities.")] = 100,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """The share of function each entity loses under a PERTURBATION (IIM).

    Haimes and Jiang's inoperability input-output model, static or dynamic; an A* whose
    spectral radius is 1 or more is refused with the scale that would work (exit 1)
    (`POST /analysis/inoperability`).
    """
    require_store()
    from keten.queries.inoperability import InoperabilityRequest, inoperability

    body = InoperabilityRequest(
        perturbation=parse_shares(perturbation, "a perturbation"),
        mode=mode.value,
        scale=scale,
        steps=steps,
        duration_steps=duration_steps,
        recovery_rate=recovery_rate,
        recovery_rates=parse_shares(recovery_rates or [], "--recovery-rates"),
        limit=limit,
    )
    result = inoperability(projection(clearance, assessments), body)
    if as_json:
        echo_json(result)
    else:
        show(inoperability_table(result))


def criticality_table(result: CriticalityResult) -> Table:
    """The most critical entities with their three measures."""
    sampled = "sampled" if result.betweenness_sampled else "exact"
    grid = table(
        f"The {len(result.entities):,} most critical entities (revision {result.revision})",
        caption=f"reach: others a failure reaches within the horizon (computed for the "
        f"{result.cascade_sizes_computed:,} highest by PageRank, - for the rest); "
        f"betweenness {sampled}",
    )
    grid.add_column("reach", justify="right", no_wrap=True)
    grid.add_column("pagerank", justify="right", no_wrap=True)
    grid.add_column("between", justify="right", no_wrap=True)
    id_column(grid)
    name_column(grid)
    for item in result.entities:
        grid.add_row(
            "-" if item.cascade_size is None else f"{item.cascade_size:,}",
            f"{item.pagerank:.4f}",
            f"{item.betweenness:.4f}",
            item.id,
            item.name,
        )
    return grid


@app.command("criticality", rich_help_panel=ANALYSES)
def criticality_command(
    horizon_hours: HoursOption = 72.0,
    min_strength: StrengthOption = 0.0,
    kind: Annotated[EntityKind | None, typer.Option(help="Rank only entities of this kind.")] = (
        None
    ),
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Entities to list.")] = 20,
    candidates: Annotated[
        int, typer.Option(min=1, max=100_000, help="Entities whose cascade size is computed.")
    ] = 50,
    betweenness_samples: Annotated[
        int, typer.Option(min=1, max=5000, help="Sources sampled for betweenness.")
    ] = 200,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the betweenness sample.")] = 0,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """The entities whose failure matters most: reach, PageRank and betweenness.

    Reach is the cascade size of a failure (computed for the CANDIDATES highest by
    PageRank), PageRank ranks what is needed by much-needed things, betweenness how often
    an entity lies on dependency chains (`GET /analysis/criticality`).
    """
    require_store()
    from keten.queries.criticality import CriticalityRequest, criticality

    query = CriticalityRequest(
        horizon_hours=horizon_hours,
        min_strength=min_strength,
        kind=kind,
        limit=limit,
        candidates=candidates,
        betweenness_samples=betweenness_samples,
        seed=seed,
    )
    result = criticality(projection(clearance, assessments), query)
    if as_json:
        echo_json(result)
    else:
        show(criticality_table(result))


def print_paths(result: PathsResult, source: str, target: str) -> None:
    """Each path as its stored relations, one per line, in the order effects travel."""
    found = len(result.paths)
    out.print(
        f"{found} path{'s' if found != 1 else ''} from {source} to {target} "
        f"(revision {result.revision})",
        style="bold",
        highlight=False,
    )
    for number, path in enumerate(result.paths, start=1):
        out.print(f"{number}. {path.hops} hop{'s' if path.hops != 1 else ''}", highlight=False)
        for step in path.steps:
            for relation in step:
                out.print(
                    f"   {relation.source} {relation.type} {relation.target}",
                    highlight=False,
                )


@app.command("paths", rich_help_panel=ANALYSES)
def paths_command(
    source: Annotated[str, typer.Argument(help="Where the chains start (an actor, say).")],
    target: Annotated[str, typer.Argument(help="Where they end (an interest, say).")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=20, help="Paths to find.")] = 3,
    relation_types: Annotated[
        list[RelationType] | None,
        typer.Option(
            "--relation-types", "--type", help="Relation types to walk (repeatable; default all)."
        ),
    ] = None,
    max_hops: Annotated[int, typer.Option(min=1, max=20, help="Longest path to report.")] = 8,
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """The K shortest explanation chains from SOURCE to TARGET.

    Each step lists the stored relations that make it; chains follow the direction effects
    travel, so DEPENDS_ON is walked from what is needed to what needs it
    (`GET /analysis/paths`).
    """
    require_store()
    from keten.queries.paths import PathsRequest, paths

    query = PathsRequest(
        source=source,
        target=target,
        k=k,
        relation_types=relation_types or None,
        max_hops=max_hops,
    )
    result = paths(projection(clearance, assessments), query)
    if as_json:
        echo_json(result)
    else:
        print_paths(result, source, target)


@app.command("targeted", rich_help_panel=ANALYSES)
def targeted_command(
    capability: Annotated[
        str,
        typer.Argument(help="A technique, malware or tool: keten id, STIX id or ATT&CK id."),
    ],
    assessments: AssessmentsOption = Assessments.ALL,
    clearance: ClearanceOption = Tlp.RED,
    as_json: JsonOption = False,
) -> None:
    """Vital processes targeted by the actors that use CAPABILITY (T1566, say).

    Users are the actors, campaigns and threats that use it, its sub-techniques, or malware
    and tools that use it; they target a process directly, through an organisation that
    operates it, or through a threat they pose (`GET /analysis/targeted`).
    """
    require_store()
    from keten.cli.stores import store_session
    from keten.queries.targeting import resolve_capability, targeted_processes

    with store_session() as store:
        capability_id = resolve_capability(store, clearance, capability)
    result = targeted_processes(projection(clearance, assessments), capability_id)
    if as_json:
        echo_json(result)
        return
    grid = table(
        f"{len(result.processes)} vital process(es) targeted by the {len(result.users)} "
        f"user(s) of {capability_id} (revision {result.revision})"
    )
    id_column(grid, "process")
    name_column(grid)
    grid.add_column("by")
    grid.add_column("how")
    for process in result.processes:
        grid.add_row(process.id, process.name, "\n".join(process.by), "\n".join(process.how))
    show(grid)


MAX_ENTITIES = 5_000_000
MAX_RELATIONS = 20_000_000
"""`keten generate` limits: 20 million relations take about 2.3 GB while being generated."""


def count(value: str) -> int:
    """A whole number as typed: 1000, 1_000, 1,000 or 1e3."""
    text = value.replace("_", "").replace(",", "").strip()
    try:
        number = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a whole number") from None
    if number != int(number) or number > 1e15:
        raise typer.BadParameter(f"{value!r} is not a whole number of a sensible size")
    return int(number)


def relation_room(entities: int) -> int:
    """The most relations a synthetic network of `entities` can be drawn with: half of the
    possible dependencies (dependents x needed), so that drawing distinct pairs finishes."""
    from keten.queries.synthetic import _kind_counts

    kinds = _kind_counts(entities)
    dependents = kinds["VitalProcess"] + kinds["Organisation"] + kinds["Resource"]
    return dependents * (dependents + kinds["Country"] - 1) // 2


@app.command(rich_help_panel=STORE)
def generate(
    entities: Annotated[
        int, typer.Option("--entities", "-n", parser=count, help="Entities (40 to 5,000,000).")
    ],
    relations: Annotated[
        int,
        typer.Option("--relations", "-m", parser=count, help="Relations (up to 20,000,000)."),
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")],
    seed: Annotated[int, typer.Option(min=0, help="Random seed (same seed, same bundle).")] = 0,
) -> None:
    """Write a synthetic, scale-realistic bundle (marked synthetic) to OUT/synthetic.jsonl."""
    if not 40 <= entities <= MAX_ENTITIES:
        raise usage(f"--entities must be between 40 and {MAX_ENTITIES:,}, not {entities:,}")
    if not 1 <= relations <= MAX_RELATIONS:
        raise usage(
            f"--relations must be between 1 and {MAX_RELATIONS:,} (about 2.3 GB of memory "
            f"while generating), not {relations:,}"
        )
    room = relation_room(entities)
    if relations > room:
        raise usage(
            f"--relations {relations:,} is too many for {entities:,} entities: at most {room:,}"
        )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from keten.queries.synthetic import generate_network

    try:
        network = generate_network(entities, relations, seed)
    except ValueError as exc:
        raise usage(str(exc)) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "synthetic.jsonl"
    columns = (
        TextColumn("writing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with (
        Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress,
        path.open("wb") as handle,
    ):
        task = progress.add_task(path.name, total=entities + relations)
        for lines, block in network.jsonl_blocks():
            handle.write(block)
            progress.advance(task, lines)
    err.print(f"wrote {entities:,} entities and {relations:,} relations to {path} (synthetic)")
