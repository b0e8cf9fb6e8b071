"""Every CLI command and every API route against one store, with a low and a high clearance.

Run: `.venv/bin/python -m bench.every_path [--home DIR] [--size N:M] [--limit SECONDS]
[--skip WORD ...]`

`--home` is a KETEN_HOME this bench may write into (copy a loaded one first: serving and
the CLI keep projection files beside the store, and the writes below land in it); when it
holds no store, a synthetic network of `--size` entities and relations is loaded there.
A red-marked resource that depends on the hub is written first (`SECRET`), and two real
admin keys are made, one cleared for green (low) and one for red (high).

Every route of the app's OpenAPI document and every page route is then called over HTTP on
`keten serve` (one worker) with each key, and every CLI command is run in a process of its
own with `--clearance green` and `red` where it takes one. Each call is bounded: it must
answer within `--limit` seconds and below 500 (exit code below 2 for the CLI); bodies are
read to at most `MAX_BODY` bytes (the exports stream the whole graph: their first bytes
and the memory meanwhile are what is measured); a low-clearance answer that names SECRET
is a failure. A table gives per call the status, seconds, bytes read and peak memory (the
server's high-water mark after the call; the command's own for the CLI). A route or a
command the tables below do not call is a failure too, so a new one cannot go untested.
`--skip risk` leaves out the calls whose route or command contains "risk" (each is listed
as skipped, not as a failure): a run can then leave out what is known to be slow.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

from bench.cascade import fill_store
from bench.procfs import memory_mb
from bench.serving import KETEN, served_with_pid
from keten.api.keys import KeyStore, Role
from keten.config import Settings
from keten.graph.sqlite import SqliteStore
from keten.ingest import load_bundle
from keten.schema.markings import Tlp

MAX_BODY = 64 * 1024 * 1024
"""Bytes of an answer read at most (the rest of a streamed export is left unread)."""
HUB = "res:power"
SECRET = "res:every-path-secret@red"
COUNTRY = "country:000000"
CAPABILITY = "actor:000000"
VITAL = "vp:000000"
SKIPPED = "skipped"
"""The problem of a call `--skip` left out (not a failure)."""
ANSWERED = (0, 1, 3)
"""Exit codes of a command that answered: done, input refused, not found (2 is a usage
error: the bench called it wrong)."""


@dataclass
class Outcome:
    """What one call did."""

    name: str
    clearance: str
    status: int
    seconds: float
    size: int
    peak_mb: float
    problem: str = ""

    def row(self) -> str:
        capped = "+" if self.size >= MAX_BODY else ""
        return (
            f"| {self.name} | {self.clearance} | {self.status} | {self.seconds:.2f} | "
            f"{self.size / 1e6:.2f}{capped} | {self.peak_mb:.0f} | {self.problem} |"
        )


Call = tuple[str, str, dict[str, Any]]
"""(method, path with ids filled in, httpx keyword arguments)."""


def api_calls(hub: str, vp: str) -> dict[tuple[str, str], list[Call]]:
    """The calls made per (method, route path): reads first, writes and deletes last."""
    entity = {"id": "res:every-path", "kind": "Resource", "name": "Every path"}
    relation = {"source": "res:every-path", "type": "DEPENDS_ON", "target": hub}
    bundle = {"entities": [entity], "relations": [relation]}
    stix = {"type": "bundle", "id": "bundle--8e0a4c7e-5b1c-4a9e-9b62-3c1f2a1b0c01", "objects": []}
    scenario = {"scenarios": [{"name": "hub", "sources": [hub]}]}
    ref = {"source": "res:every-path", "type": "DEPENDS_ON", "target": hub}
    get = "GET"
    return {
        (get, "/health"): [(get, "/health", {})],
        (get, "/entities"): [(get, "/entities", {"params": {"limit": 1000, "q": "synthetic"}})],
        (get, "/entities/{entity_id}"): [(get, f"/entities/{hub}", {})],
        (get, "/entities/{entity_id}/neighbourhood"): [
            (get, f"/entities/{hub}/neighbourhood", {"params": {"depth": 2}})
        ],
        (get, "/relations"): [(get, "/relations", {"params": {"target": hub, "limit": 1000}})],
        (get, "/audit"): [(get, "/audit", {"params": {"limit": 1000}})],
        ("POST", "/analysis/cascade"): [
            ("POST", "/analysis/cascade", {"json": {"sources": [hub]}})
        ],
        ("POST", "/analysis/propagation"): [
            ("POST", "/analysis/propagation", {"json": {"sources": [hub], "runs": 100}})
        ],
        ("POST", "/analysis/inoperability"): [
            ("POST", "/analysis/inoperability", {"json": {"perturbation": {hub: 0.5}}})
        ],
        (get, "/analysis/criticality"): [(get, "/analysis/criticality", {})],
        (get, "/analysis/paths"): [
            (get, "/analysis/paths", {"params": {"source": hub, "target": vp}})
        ],
        (get, "/analysis/targeted"): [
            (get, "/analysis/targeted", {"params": {"capability": CAPABILITY}})
        ],
        (get, "/analysis/dependencies"): [(get, "/analysis/dependencies", {})],
        ("POST", "/analysis/embargo"): [
            ("POST", "/analysis/embargo", {"json": {"country": COUNTRY}})
        ],
        (get, "/analysis/risk"): [(get, "/analysis/risk", {})],
        (get, "/analysis/risk/diagram.png"): [(get, "/analysis/risk/diagram.png", {})],
        (get, "/analysis/risk/diagram.svg"): [(get, "/analysis/risk/diagram.svg", {})],
        ("POST", "/analysis/scenarios"): [("POST", "/analysis/scenarios", {"json": scenario})],
        (get, "/export/json"): [(get, "/export/json", {})],
        (get, "/export/graphml"): [(get, "/export/graphml", {})],
        (get, "/export/stix"): [(get, "/export/stix", {})],
        (get, "/cypher/queries"): [(get, "/cypher/queries", {})],
        ("POST", "/cypher/queries/{name}"): [("POST", "/cypher/queries/dependents", {"json": {}})],
        ("POST", "/cypher"): [("POST", "/cypher", {"json": {"cypher": "MATCH (n) RETURN n"}})],
        (get, "/keys"): [(get, "/keys", {})],
        (get, "/submissions"): [(get, "/submissions", {})],
        ("POST", "/entities"): [("POST", "/entities", {"json": entity})],
        ("POST", "/relations"): [("POST", "/relations", {"json": relation})],
        ("POST", "/ingest"): [("POST", "/ingest", {"json": bundle})],
        ("POST", "/ingest/stix"): [("POST", "/ingest/stix", {"json": stix})],
        ("POST", "/submissions"): [("POST", "/submissions", {"json": {"bundle": bundle}})],
        ("POST", "/submissions/{submission_id}/accept"): [
            ("POST", "/submissions/{submission}/accept", {})
        ],
        ("POST", "/submissions/{submission_id}/reject"): [
            ("POST", "/submissions/{submission}/reject", {"json": {"reason": "bench"}})
        ],
        ("POST", "/keys"): [("POST", "/keys", {"json": {"role": "reader", "clearance": "green"}})],
        ("DELETE", "/keys/{key_id}"): [("DELETE", "/keys/{key_id}", {})],
        ("DELETE", "/relations"): [("DELETE", "/relations", {"params": ref})],
        ("DELETE", "/entities/{entity_id}"): [("DELETE", "/entities/res:every-path", {})],
    }


def page_calls(hub: str, vp: str) -> dict[tuple[str, str], list[Call]]:
    """The page routes' calls (a key in the header, as a script would send it)."""
    get = "GET"
    return {
        (get, "/"): [(get, "/", {})],
        (get, "/login"): [(get, "/login", {})],
        ("POST", "/login"): [("POST", "/login", {"data": {"key": "{key}"}})],
        ("POST", "/logout"): [("POST", "/logout", {})],
        (get, "/pages/static/{name}"): [(get, "/pages/static/keten-pages.css", {})],
        (get, "/pages"): [(get, "/pages", {})],
        (get, "/pages/search"): [(get, "/pages/search", {"params": {"q": "synthetic"}})],
        (get, "/pages/neighbourhood"): [(get, "/pages/neighbourhood", {"params": {"id": hub}})],
        (get, "/pages/neighbourhood/{entity_id}"): [
            (get, f"/pages/neighbourhood/{hub}", {"params": {"depth": 2}})
        ],
        (get, "/pages/cascade"): [(get, "/pages/cascade", {"params": {"sources": hub}})],
        (get, "/pages/supply"): [(get, "/pages/supply", {"params": {"id": hub}})],
        (get, "/pages/supply/{resource_id}"): [(get, f"/pages/supply/{hub}", {})],
        (get, "/pages/risk"): [(get, "/pages/risk", {})],
        (get, "/pages/risk/diagram.png"): [(get, "/pages/risk/diagram.png", {})],
        (get, "/pages/risk/diagram.svg"): [(get, "/pages/risk/diagram.svg", {})],
        (get, "/pages/report"): [(get, "/pages/report", {})],
        (get, "/pages/embargo"): [(get, "/pages/embargo", {"params": {"country": COUNTRY}})],
        (get, "/pages/scenarios"): [(get, "/pages/scenarios", {"params": {"scenario": hub}})],
        (get, "/pages/criticality"): [(get, "/pages/criticality", {})],
        (get, "/pages/paths"): [(get, "/pages/paths", {"params": {"source": hub, "target": vp}})],
        (get, "/docs"): [(get, "/docs", {})],
        (get, "/redoc"): [(get, "/redoc", {})],
        (get, "/docs/static/{name}"): [(get, "/docs/static/swagger-ui.css", {})],
        (get, "/openapi.json"): [(get, "/openapi.json", {})],
    }


def routes_of_app() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves: its OpenAPI document and the routes
    left out of it (pages, docs)."""
    from fastapi.routing import APIRoute

    from keten.api import docs
    from keten.api.app import create_app
    from keten.api.routers import pages

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = SqliteStore(home / "keten.sqlite")
        spec = create_app(store, Settings(home=home)).openapi()
        store.close()
    found = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    for router in (pages.router, docs.router):
        for route in router.routes:
            if isinstance(route, APIRoute):
                found |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return found | {("GET", "/openapi.json")}


def record(outcomes: list[Outcome], outcome: Outcome) -> None:
    """Keep `outcome` and print its row at once (a long run shows how far it got)."""
    print(outcome.row(), flush=True)
    outcomes.append(outcome)


def fill(path: str, values: dict[str, str]) -> str:
    """`path` with its `{placeholders}` from `values`."""
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def call_api(
    client: httpx.Client, call: Call, values: dict[str, str], limit: float
) -> tuple[int, float, bytes, int]:
    """Status, seconds, the first bytes and the bytes read of one call (at most MAX_BODY)."""
    method, path, kwargs = call
    kwargs = {k: ({a: fill(b, values) for a, b in v.items()} if k == "data" else v)
              for k, v in kwargs.items()}  # fmt: skip
    start = time.perf_counter()
    with client.stream(method, fill(path, values), timeout=limit, **kwargs) as answer:
        size, head = 0, b""
        for chunk in answer.iter_bytes():
            size += len(chunk)
            if len(head) < 1_000_000:
                head += chunk
            if size >= MAX_BODY:
                break
        return answer.status_code, time.perf_counter() - start, head, size


def learn(name: str, head: bytes, values: dict[str, str]) -> None:
    """Keep the ids later calls need (the submission and key just made)."""
    import orjson

    if name == "POST /submissions" and head:
        values["submission"] = str(orjson.loads(head).get("id", ""))
    if name == "POST /keys" and head:
        values["key_id"] = str(orjson.loads(head).get("key_id", ""))


def skipped(name: str, skip: list[str]) -> bool:
    """Whether `--skip` leaves out the call `name`."""
    return any(word in name for word in skip)


def run_api(
    home: Path, keys: dict[str, str], vp: str, limit: float, skip: list[str]
) -> list[Outcome]:
    """Every route with each key, in the order of the tables (writes last)."""
    calls = {**page_calls(HUB, vp), **api_calls(HUB, vp)}
    outcomes: list[Outcome] = []
    with served_with_pid(home, wait_seconds=600.0) as (url, pid):
        for level, secret in keys.items():
            values = {"key": secret, "submission": "none", "key_id": "none"}
            headers = {"X-API-Key": secret}
            with httpx.Client(base_url=url, headers=headers, follow_redirects=False) as client:
                for (method, route), made in calls.items():
                    for call in made:
                        name = f"{method} {route}"
                        if skipped(name, skip):
                            record(outcomes, Outcome(name, level, 0, 0, 0, 0, SKIPPED))
                            continue
                        try:
                            status, seconds, head, size = call_api(client, call, values, limit)
                        except httpx.TimeoutException:
                            late = Outcome(
                                name, level, 0, limit, 0, memory_mb(pid, "VmHWM"), "timeout"
                            )
                            record(outcomes, late)
                            continue
                        learn(name, head, values)
                        problem = judge(status, seconds, limit, level, head)
                        done = Outcome(
                            name, level, status, seconds, size, memory_mb(pid, "VmHWM"), problem
                        )
                        record(outcomes, done)
    return outcomes


def judge(status: int, seconds: float, limit: float, level: str, head: bytes) -> str:
    """What is wrong with an answer ("" when nothing)."""
    if status >= 500:
        return "server error"
    if seconds > limit:
        return "too slow"
    if level == "green" and SECRET.encode() in head:
        return "low clearance sees the red record"
    return ""


def cli_calls(home: Path, vp: str) -> dict[str, list[list[str]]]:
    """The commands run per command name; `{clearance}` becomes the key's level."""
    work = home / "every-path"
    bundle, trade = work / "bundle.json", work / "trade.csv"
    clear = ["--clearance", "{clearance}"]
    return {
        "cascade": [["cascade", HUB, *clear]],
        "propagation": [["propagation", HUB, "--runs", "100", *clear]],
        "inoperability": [["inoperability", f"{HUB}=0.5", *clear]],
        "criticality": [["criticality", *clear]],
        "paths": [["paths", HUB, vp, *clear]],
        "targeted": [["targeted", CAPABILITY, *clear]],
        "risk": [["risk", *clear]],
        "report": [["report", "--out", str(work / "report-{clearance}.html"), *clear]],
        "scenario": [["scenario", "--name", "hub", HUB, *clear]],
        "dependencies": [["dependencies", *clear]],
        "embargo": [["embargo", COUNTRY, *clear]],
        "show": [["show", HUB, *clear]],
        "search": [["search", "synthetic", *clear]],
        "neighbourhood": [["neighbourhood", HUB, "--depth", "2", *clear]],
        "audit": [["audit", *clear]],
        "export": [["export", "--out", str(work / "export-{clearance}.json"), *clear]],
        "schema": [["schema"]],
        "keys list": [["keys", "list"]],
        "keys create": [["keys", "create", "--role", "reader", "--clearance", "{clearance}"]],
        "keys revoke": [["keys", "revoke", "kt_nonexistent"]],
        "submissions list": [["submissions", "list", *clear]],
        "submissions submit": [["submissions", "submit", str(bundle)]],
        "submissions accept": [["submissions", "accept", "sub:none"]],
        "submissions reject": [["submissions", "reject", "sub:none", "--reason", "bench"]],
        "load": [["load", str(bundle)]],
        "import-trade": [["import-trade", str(trade), "--dry-run"]],
        "generate": [["generate", "-n", "1000", "-m", "5000", "-o", str(work / "generated")]],
        "init": [["init"]],
        "serve": [],  # the API calls above run it
    }


def commands_of_cli() -> set[str]:
    """Every command of the `keten` CLI, groups' commands as "group command"."""
    from keten.cli import app

    group: Any = typer.main.get_command(app)
    names: set[str] = set()
    for name, command in group.commands.items():
        subcommands = getattr(command, "commands", None)
        names |= {f"{name} {sub}" for sub in subcommands} if subcommands else {name}
    return names


def run_command(
    args: list[str], env: dict[str, str], limit: float
) -> tuple[int, float, int, float]:
    """Exit code, seconds, bytes printed and peak MB of one `keten` command (killed past
    `limit`: code -9)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen([KETEN, *args], env=env, stdout=out, stderr=out)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > limit:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        return process.returncode, seconds, out.tell(), usage.ru_maxrss / 1024


def run_cli(home: Path, vp: str, limit: float, skip: list[str]) -> list[Outcome]:
    """Every command with each clearance (once when it takes none)."""
    work = home / "every-path"
    work.mkdir(exist_ok=True)
    bundle = {"entities": [{"id": "res:every-path-cli", "kind": "Resource", "name": "CLI"}]}
    (work / "bundle.json").write_text(__import__("json").dumps(bundle))
    (work / "trade.csv").write_text("product,partner,year,value\n2804,CN,2024,10\n")
    env = {**os.environ, "KETEN_HOME": str(home), "KETEN_STORE": "sqlite"}
    env.pop("NEO4J_URI", None)
    outcomes: list[Outcome] = []
    for name, runs in cli_calls(home, vp).items():
        for args in runs:
            levels = ["green", "red"] if "{clearance}" in " ".join(args) else ["-"]
            for level in levels:
                if skipped(f"keten {name}", skip):
                    record(outcomes, Outcome(f"keten {name}", level, 0, 0, 0, 0, SKIPPED))
                    continue
                filled = [a.replace("{clearance}", level) for a in args]
                code, seconds, size, peak = run_command(filled, env, limit)
                problem = (
                    "timeout" if code == -9 else ("failed" if code in (2, 4) or code < 0 else "")
                )
                record(
                    outcomes, Outcome(f"keten {name}", level, code, seconds, size, peak, problem)
                )
    return outcomes


def prepare(home: Path, size: str) -> dict[str, str]:
    """The store (loaded when empty), the red record, and the two keys."""
    settings = Settings(home=home)
    store = SqliteStore(settings.sqlite_path)
    try:
        if store.is_empty():
            n, m = (int(x) for x in size.split(":"))
            store.close()
            store = fill_store(settings.sqlite_path, n, m, seed=0)
        secret = {
            "entities": [{"id": SECRET, "kind": "Resource", "name": "Secret", "marking": "red"}],
            "relations": [
                {
                    "source": SECRET,
                    "type": "DEPENDS_ON",
                    "target": HUB,
                    "key": "x@red",
                    "marking": "red",
                }
            ],
        }
        load_bundle(store, secret, False, "bench")
    finally:
        store.close()
    keys = KeyStore(settings.keys_path)
    made = {
        "green": keys.create(Role.ADMIN, Tlp.GREEN).secret,
        "red": keys.create(Role.ADMIN, Tlp.RED).secret,
    }
    keys.close()
    return made


def uncovered(outcomes: list[Outcome]) -> list[str]:
    """Routes and commands the run did not call."""
    called = {o.name for o in outcomes}
    routes = {f"{m} {p}" for m, p in routes_of_app()} - called
    commands = {f"keten {c}" for c in commands_of_cli()} - called - {"keten serve"}
    return sorted(routes | commands)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="default: a new temporary folder")
    parser.add_argument("--size", default="300:1500", help="entities:relations when empty")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds a call may take")
    parser.add_argument("--skip", nargs="*", default=[], help="leave out calls naming these")
    args = parser.parse_args()
    if args.home is None:
        args.home = Path(tempfile.mkdtemp(prefix="keten-every-path-"))
    args.home.mkdir(parents=True, exist_ok=True)
    keys, vp = prepare(args.home, args.size), VITAL
    print("| call | clearance | status | seconds | MB read | peak MB | problem |")
    print("|---|---|---|---|---|---|---|", flush=True)
    api = run_api(args.home, keys, vp, args.limit, args.skip)
    outcomes = api + run_cli(args.home, vp, args.limit, args.skip)
    missing = uncovered(outcomes)
    failed = [o for o in outcomes if o.problem and o.problem != SKIPPED]
    print(f"calls: {len(outcomes)}, failed: {len(failed)}, not called: {len(missing)}")
    for name in missing:
        print(f"not called: {name}")
    if failed or missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
