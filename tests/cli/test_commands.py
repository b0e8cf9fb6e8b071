"""The analyst's commands answer what the API answers: same names, same defaults, same JSON.

Each case runs `keten ... --json --clearance green` on the reference store and asks a real
API server over the same store with a green key; the two answers must be equal. With the
default clearance (red) the CLI sees the amber records too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from keten.api.app import create_app
from keten.api.keys import Role
from keten.api.server import background_server
from keten.cli import app
from keten.config import Settings
from keten.graph.sqlite import SqliteStore
from keten.schema.markings import Tlp

runner = CliRunner()

SCENARIOS = {
    "scenarios": [
        {"name": "outage", "sources": ["threat:power-outage"], "horizon_hours": 72},
        {"name": "storm", "sources": ["threat:severe-storm"], "horizon_hours": 72},
    ],
    "min_strength": 0,
}

CASES: list[tuple[list[str], str, str, dict[str, Any]]] = [
    (["cascade", "vp:electricity-national"], "POST", "/analysis/cascade",
     {"sources": ["vp:electricity-national"]}),
    (["cascade", "threat:power-outage", "--hours", "96", "--limit", "5", "--min-strength",
      "0.5"], "POST", "/analysis/cascade",
     {"sources": ["threat:power-outage"], "horizon_hours": 96, "limit": 5, "min_strength": 0.5}),
    (["propagation", "threat:power-outage"], "POST", "/analysis/propagation",
     {"sources": ["threat:power-outage"]}),
    (["propagation", "vp:gas-national", "--runs", "300", "--seed", "7", "--confidence", "0.9"],
     "POST", "/analysis/propagation",
     {"sources": ["vp:gas-national"], "runs": 300, "seed": 7, "confidence": 0.9}),
    (["inoperability", "vp:electricity-national=0.5"], "POST", "/analysis/inoperability",
     {"perturbation": {"vp:electricity-national": 0.5}}),
    (["inoperability", "vp:electricity-national=0.8", "--mode", "dynamic", "--steps", "48",
      "--duration-steps", "12", "--recovery-rate", "0.3", "--recovery-rates",
      "vp:drinking-water=0.9", "--scale", "0.5"], "POST", "/analysis/inoperability",
     {"perturbation": {"vp:electricity-national": 0.8}, "mode": "dynamic", "steps": 48,
      "duration_steps": 12, "recovery_rate": 0.3,
      "recovery_rates": {"vp:drinking-water": 0.9}, "scale": 0.5}),
    (["criticality"], "GET", "/analysis/criticality", {}),
    (["criticality", "--kind", "Resource", "--limit", "5", "--hours", "24"], "GET",
     "/analysis/criticality", {"kind": "Resource", "limit": 5, "horizon_hours": 24}),
    (["paths", "actor:china-state", "interest:economic-security"], "GET", "/analysis/paths",
     {"source": "actor:china-state", "target": "interest:economic-security"}),
    (["paths", "actor:china-state", "interest:economic-security", "-k", "2", "--type",
      "POSES", "--type", "THREATENS"], "GET", "/analysis/paths",
     {"source": "actor:china-state", "target": "interest:economic-security", "k": 2,
      "relation_types": ["POSES", "THREATENS"]}),
    (["show", "vp:drinking-water"], "GET", "/entities/vp:drinking-water", {}),
    (["search", "water"], "GET", "/entities", {"q": "water"}),
    (["search", "--kind", "Interest", "--limit", "3"], "GET", "/entities",
     {"kind": "Interest", "limit": 3}),
    (["neighbourhood", "vp:electricity-national"], "GET",
     "/entities/vp:electricity-national/neighbourhood", {}),
    (["neighbourhood", "vp:drinking-water", "--depth", "2", "--limit", "20"], "GET",
     "/entities/vp:drinking-water/neighbourhood", {"depth": 2, "limit": 20}),
    (["risk"], "GET", "/analysis/risk", {}),
    (["dependencies"], "GET", "/analysis/dependencies", {}),
    (["dependencies", "--limit", "2", "--max-processes", "1"], "GET", "/analysis/dependencies",
     {"limit": 2, "max_processes": 1}),
    (["embargo", "CN"], "POST", "/analysis/embargo", {"country": "CN"}),
    (["scenario", "--name", "outage", "threat:power-outage", "--name", "storm",
      "threat:severe-storm"], "POST", "/analysis/scenarios", SCENARIOS),
    (["submissions", "list"], "GET", "/submissions", {}),
    (["audit", "--entity", "vp:drinking-water"], "GET", "/audit",
     {"entity": "vp:drinking-water"}),
]  # fmt: skip
"""(command line, method, path, the same request over HTTP)."""


@pytest.fixture(scope="module")
def api(reference_home: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A real API server over the reference store; its URL and a green reviewer's headers."""
    store = SqliteStore(Settings(home=reference_home).sqlite_path)
    application = create_app(store, Settings(home=reference_home))
    key = application.state.keys.create(Role.REVIEWER, Tlp.GREEN, "cli test").secret
    with background_server(application) as url:
        yield url, {"X-API-Key": key}
    store.close()


def ask(api: tuple[str, dict[str, str]], method: str, path: str, request: dict[str, Any]) -> Any:
    """The API's answer (asserting success)."""
    url, headers = api
    if method == "POST":
        reply = httpx.post(url + path, json=request, headers=headers, timeout=120)
    else:
        reply = httpx.get(url + path, params=request, headers=headers, timeout=120)
    assert reply.status_code == 200, reply.text
    return reply.json()


@pytest.mark.parametrize(
    ("args", "method", "path", "request_"), CASES, ids=[" ".join(c[0][:2]) for c in CASES]
)
def test_the_cli_answers_what_the_api_answers(
    reference: Path,
    api: tuple[str, dict[str, str]],
    args: list[str],
    method: str,
    path: str,
    request_: dict[str, Any],
) -> None:
    result = runner.invoke(app, [*args, "--json", "--clearance", "green"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == ask(api, method, path, request_)


def test_full_clearance_by_default_and_clearance_hides_like_the_api(
    reference: Path, api: tuple[str, dict[str, str]]
) -> None:
    red = runner.invoke(app, ["cascade", "vp:electricity-national", "--json"])
    assert "vp:shadow-grid@amber" in [a["id"] for a in json.loads(red.stdout)["affected"]]
    green = runner.invoke(
        app, ["cascade", "vp:electricity-national", "--json", "--clearance", "green"]
    )
    assert "vp:shadow-grid@amber" not in green.stdout
    shown = runner.invoke(app, ["show", "vp:shadow-grid@amber"])
    assert shown.exit_code == 0 and "Shadow grid" in shown.stdout
    url, headers = api
    for args, path in [
        (["show", "vp:shadow-grid@amber"], "/entities/vp:shadow-grid@amber"),
        (["neighbourhood", "vp:shadow-grid@amber"], "/entities/vp:shadow-grid@amber/neighbourhood"),
    ]:
        hidden = runner.invoke(app, [*args, "--clearance", "green"])
        assert hidden.exit_code == 3, hidden.output
        assert hidden.stderr == "error: no entity 'vp:shadow-grid@amber'\n"
        assert httpx.get(url + path, headers=headers).status_code == 404
    amber = runner.invoke(app, ["cascade", "vp:shadow-grid@amber", "--clearance", "green"])
    assert amber.exit_code == 3
    assert amber.stderr == "error: unknown entity id(s): 'vp:shadow-grid@amber'\n"


def test_a_request_the_analysis_cannot_run_on_is_refused(reference: Path) -> None:
    same = runner.invoke(app, ["paths", "vp:drinking-water", "vp:drinking-water"])
    assert same.exit_code == 1
    assert same.stderr == "error: source and target are the same entity\n"


def test_an_unusable_interdependency_matrix_is_refused_with_the_scale_that_works(
    keten_home: Path, tmp_path: Path
) -> None:
    loop = {
        "entities": [
            {"id": "vp:a", "kind": "VitalProcess", "name": "A"},
            {"id": "vp:b", "kind": "VitalProcess", "name": "B"},
        ],
        "relations": [
            {"source": "vp:a", "target": "vp:b", "type": "DEPENDS_ON"},
            {"source": "vp:b", "target": "vp:a", "type": "DEPENDS_ON"},
        ],
    }
    bundle = tmp_path / "loop.json"
    bundle.write_text(json.dumps(loop))
    assert runner.invoke(app, ["load", str(bundle)]).exit_code == 0
    refused = runner.invoke(app, ["inoperability", "vp:a=0.5"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: ") and "spectral radius" in refused.stderr
    assert "scale" in refused.stderr and len(refused.stderr.splitlines()) == 1
    usable = runner.invoke(app, ["inoperability", "vp:a=0.5", "--scale", "0.5", "--json"])
    assert usable.exit_code == 0, usable.output
    assert json.loads(usable.stdout)["spectral_radius"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["inoperability", "vp:electricity-national"], "ID=NUMBER"),
        (["inoperability", "vp:electricity-national=lots"], "ID=NUMBER"),
        (["inoperability", "vp:electricity-national=1.5"], "ID=SHARE[vp:electricity-national]"),
        (["inoperability", "vp:electricity-national=0.5", "--scale", "0"], "--scale"),
        (["cascade", "vp:electricity-national", "--limit", "20000"], "--limit"),
        (["propagation", "vp:electricity-national", "--confidence", "1"], "--confidence"),
        (["criticality", "--kind", "Planet"], "--kind"),
        (["paths", "a:x", "b:y", "--type", "LIKES"], "--type"),
    ],
)  # fmt: skip
def test_refused_option_values_are_usage_errors_naming_the_option(
    reference: Path, args: list[str], option: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and option in result.stderr
    assert len(result.stderr.splitlines()) == 1
