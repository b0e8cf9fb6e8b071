"""The integrated risk analysis with shared threat searches against one search per threat.

Run: `.venv/bin/python -m bench.risk [--home DIR] [--size N:M] [--sample S] [--search-only]
[--serve]`

`--home` is a KETEN_HOME holding a loaded store (a copy: opening it may write beside it);
without one a synthetic network of `--size` entities and relations is loaded into a
temporary store. After a warm-up (compiling the kernels), in one process:

* shared: `integrated_analysis` as served (`shared=True`, keten.queries.threatcascades),
  every threat; and its searches alone (`search_threats`, without building the answer);
* baseline: the implementation before it (`Deriver`: one whole search per threat, then the
  answer) on `--sample` threats drawn at random, scaled up to every threat; and its
  searches alone (`Workspace.run`) the same way.

The sample's answers from both are compared (they must be identical). With
`--search-only` the whole analysis is not built (at 1M / 10M its answer does not fit in
memory: tens of millions of listed processes), only the searches are timed.

Then the analysis as served (keten.queries.riskpages): `analyse` (every threat, no process
listed) and its first page (100 threats, 50 processes per derivation, as
`GET /analysis/risk` answers by default): the time to the first page; then the second page
(threats 100 to 200, as its cursor asks). Their threats are checked against the baseline's
answers (`Deriver`, one whole search per threat) for the first `--sample` of the first
page, and both pages against `window` of the whole answer when it was built. The process's
peak memory (max RSS) is printed last.

With `--serve` (and `--home`) nothing of the above runs: the home is served (`keten serve`,
one worker; bench.every_path's red record and keys are written first) and `GET
/analysis/risk` is asked for its first page and then the page its `next_cursor` names,
with a green and a red key, each timed, with the server's peak memory after each.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.cascade import fill_store
from keten.graph.projection import Projection, build_projection
from keten.graph.sqlite import SqliteStore
from keten.queries.risk import (
    Deriver,
    RiskOptions,
    SharedDeriver,
    entities_of_kind,
    integrated_analysis,
    window,
)
from keten.queries.riskpages import RiskAnalysis, analyse
from keten.queries.threatcascades import SharedSearch, plan, search_threats
from keten.queries.workspace import Workspace
from keten.schema.markings import Tlp


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """The call's result, wall seconds and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def categories_of(store: SqliteStore) -> dict[str, str]:
    """Category of every vital process that has one (as the analysis reads them)."""
    rows = entities_of_kind(store, "VitalProcess", Tlp.RED)
    return {r.id: str(r.props["category"]) for r in rows if r.props.get("category")}


def per_threat(p: Projection, sample: list[int], options: RiskOptions) -> float:
    """CPU seconds of the whole search alone for each sampled threat."""
    work = Workspace(p)
    start = time.process_time()
    for threat in sample:
        count = work.run(np.array([threat], dtype=np.int64), options.horizon_hours, 0.0)
        work.clear(count)
    return time.process_time() - start


def line(name: str, wall: float, cpu: float, scale: float = 1.0) -> None:
    """One timing line (scaled from a sample when `scale` > 1)."""
    note = f" (sample x {scale:.1f})" if scale > 1 else ""
    print(f"{name}: {wall * scale:.2f} s wall, {cpu * scale:.2f} s CPU{note}")


def measure(store: SqliteStore, sample_size: int, search_only: bool) -> None:
    """Print the shared and the baseline figures and their ratios."""
    p, wall, _ = timed(lambda: build_projection(store, Tlp.RED))
    threats = [i for i, kind in enumerate(p.kinds) if kind == "Threat"]
    print(f"{p.node_count} entities, {p.edge_count} edges, {len(threats)} threats")
    print(f"projection built in {wall:.1f} s")
    options = RiskOptions()
    categories = categories_of(store)
    sample = sorted(random.Random(7).sample(threats, min(sample_size, len(threats))))
    scale = len(threats) / max(1, len(sample))
    for _ in search_threats(p, sample[:3], 72.0, 0.0, 5):  # compile, untimed
        pass
    per_threat(p, sample[:3], options)
    by_key, alone = plan(SharedSearch(p, 72.0, 0.0), threats)
    shared_threats = sum(len(g) for g in by_key.values())
    print(f"{len(by_key)} hub bases shared by {shared_threats} threats, {len(alone)} alone")
    searches = lambda: sum(1 for _ in search_threats(p, threats, 72.0, 0.0, options.top))  # noqa: E731
    _, s_wall, s_cpu = timed(searches)
    line("shared searches, every threat", s_wall, s_cpu)
    base_cpu = per_threat(p, sample, options)
    print(f"one search per threat: {base_cpu * scale:.2f} s CPU (sample x {scale:.1f})")
    print(f"searches: per-threat/shared CPU {base_cpu * scale / max(s_cpu, 1e-9):.1f}")
    deriver = Deriver(p, categories, options)
    answers, d_wall, d_cpu = timed(lambda: [deriver.run(t) for t in sample])
    line("baseline analysis (one search per threat)", d_wall, d_cpu, scale)
    pages = served(store, p, options, sample_size)
    if search_only:
        print(f"peak memory {peak_mb():.0f} MB")
        return
    result, a_wall, a_cpu = timed(lambda: integrated_analysis(store, p, options))
    line("shared analysis, every threat", a_wall, a_cpu)
    cpu_ratio = d_cpu * scale / max(a_cpu, 1e-9)
    print(f"analysis: baseline/shared CPU {cpu_ratio:.1f}, wall {d_wall * scale / a_wall:.1f}")
    shared = SharedDeriver(p, categories, options, sample)
    same = all(shared.run(t) == answer for t, answer in zip(sample, answers, strict=True))
    print(
        f"sample of {len(sample)} identical to the baseline: {same}; {len(result.threats)} threats"
    )
    windows = [window(result, offset, PAGE, PROCESSES) for offset in (0, PAGE)]
    print(f"served pages identical to windows of the whole answer: {pages == windows}")
    print(f"peak memory {peak_mb():.0f} MB")


PAGE = 100
PROCESSES = 50
"""The first page `GET /analysis/risk` answers by default: threats, processes listed."""


def peak_mb() -> float:
    """This process's peak resident memory so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def served(store: SqliteStore, p: Projection, options: RiskOptions, check: int) -> list[Any]:
    """Time the analysis as served, to its first and second page; check the first
    `check` threats of the first page against one whole search each (`Deriver`)."""
    analysis, a_wall, a_cpu = timed(lambda: analyse(store, p, options))
    line("served: analysis without listed processes", a_wall, a_cpu)
    first, f_wall, f_cpu = timed(lambda: analysis.page(0, PAGE, PROCESSES))
    line(f"served: first page ({PAGE} threats, {PROCESSES} processes)", f_wall, f_cpu)
    line("served: time to the first page", a_wall + f_wall, a_cpu + f_cpu)
    second, s_wall, s_cpu = timed(lambda: analysis.page(PAGE, PAGE, PROCESSES))
    line("served: second page (by its cursor)", s_wall, s_cpu)
    same = same_as_single(analysis, first.threats[:check], options)
    print(f"first {min(check, len(first.threats))} threats of the first page as one search "
          f"each: {same}")  # fmt: skip
    return [first, second]


def same_as_single(analysis: RiskAnalysis, threats: list[Any], options: RiskOptions) -> bool:
    """True when each of `threats` (of a page) is what one whole search makes of it."""
    p = analysis.projection
    assert p is not None
    deriver = Deriver(p, analysis.categories, options)
    for threat in threats:
        total, derivation, effects = deriver.run(p.index[threat.id])
        listed = {
            k: d.model_copy(update={"processes": d.processes[:PROCESSES]})
            for k, d in derivation.items()
        }
        if (total, listed, effects) != (threat.cascade_total, threat.derivation,
                                        threat.chain_effects):  # fmt: skip
            return False
    return True


def over_http(home: Path) -> None:
    """First and cursor pages of `GET /analysis/risk` from a served `home`, green and red."""
    import httpx

    from bench.every_path import SECRET, prepare
    from bench.every_path import peak_mb as server_peak
    from bench.serving import served_with_pid

    keys = prepare(home, "0:0")
    with served_with_pid(home, wait_seconds=600.0) as (url, pid):
        for level, secret in keys.items():
            with httpx.Client(base_url=url, headers={"X-API-Key": secret}, timeout=600) as c:
                params: dict[str, str] = {}
                for name in ("first page", "cursor page"):
                    answer, wall, _ = timed(lambda p=params: c.get("/analysis/risk", params=p))
                    body = answer.json()
                    leak = level == "green" and SECRET in answer.text
                    size, peak = len(answer.content) / 1e6, server_peak(pid)
                    print(f"{level} {name}: {answer.status_code}, {wall:.2f} s, {size:.2f} MB, "
                          f"{len(body['threats'])} threats, server peak {peak:.0f} MB, "
                          f"red record named: {leak}")  # fmt: skip
                    if not body.get("next_cursor"):
                        break
                    params = {"cursor": body["next_cursor"]}


def main() -> None:
    """Open or load the store, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a KETEN_HOME holding keten.sqlite (a copy)")
    parser.add_argument("--size", default="10000:100000", help="N:M when no --home is given")
    parser.add_argument("--sample", type=int, default=100, help="threats the baseline runs")
    parser.add_argument("--search-only", action="store_true", help="time the searches only")
    parser.add_argument("--serve", action="store_true", help="pages over HTTP from --home")
    args = parser.parse_args()
    if args.serve:
        over_http(args.home)
        return
    if args.home is not None:
        measure(SqliteStore(args.home / "keten.sqlite"), args.sample, args.search_only)
        return
    entities, relations = (int(n) for n in args.size.split(":"))
    with tempfile.TemporaryDirectory() as folder:
        store = fill_store(Path(folder) / "keten.sqlite", entities, relations, seed=7)
        measure(store, args.sample, args.search_only)
        store.close()


if __name__ == "__main__":
    main()
