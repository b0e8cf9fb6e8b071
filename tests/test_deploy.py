"""The server deployment: docker-compose.yml, Dockerfile and .env.example stay consistent.

No container engine runs here, so nothing is started: the compose file is checked
structurally with yaml always, and by `docker-compose config -q` where the binary exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_neo4j_service_is_persistent_authenticated_and_health_checked() -> None:
    neo4j = compose()["services"]["neo4j"]
    pom = (ROOT / "deploy/neo4j-dev/pom.xml").read_text()
    version = re.search(r"<neo4j.version>([^<]+)</neo4j.version>", pom)
    assert version is not None, "the launcher's pom names its Neo4j version"
    assert neo4j["image"] == f"neo4j:{version.group(1)}-community"  # the launcher's version
    assert any(v.endswith(":/data") for v in neo4j["volumes"])
    assert neo4j["env_file"] == ".env"
    assert neo4j["environment"]["NEO4J_AUTH"].startswith("neo4j/${KETEN_NEO4J_PASSWORD")
    assert "7474" in " ".join(neo4j["healthcheck"]["test"])
    assert all(p.startswith("127.0.0.1:") for p in neo4j["ports"])


def test_api_is_built_here_and_waits_for_a_healthy_neo4j() -> None:
    api = compose()["services"]["api"]
    assert api["build"] == "."
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert api["environment"]["KETEN_STORE"] == "bolt://neo4j:7687"
    assert api["env_file"] == ".env"
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert api["command"][:2] == ["keten", "serve"]


def test_env_example_sets_every_variable_compose_requires() -> None:
    example = (ROOT / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert "KETEN_NEO4J_PASSWORD" in names
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_dockerfile_installs_the_package_as_a_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    assert [x for x in lines if x.startswith("FROM ")] == ["FROM python:3.11-slim"]
    assert any(x.strip().startswith("RUN pip install .") for x in lines)
    user = [x for x in lines if x.startswith("USER ")]
    assert user and user[-1] != "USER root"


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    done = subprocess.run(
        [binary, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (tmp_path / ".env").write_text("NEO4J_HEAP=1G\n")
    refused = subprocess.run(
        [binary, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0 and "KETEN_NEO4J_PASSWORD" in refused.stderr
