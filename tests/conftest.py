"""Fixtures shared by the whole suite: real stores in temporary folders."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from pluggy import Result

from keten.graph.sqlite import SqliteStore


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A fresh SQLite store on disk (WAL mode needs a real file)."""
    store = SqliteStore(tmp_path / "keten.sqlite")
    yield store
    store.close()


@pytest.fixture(autouse=True)
def embedded_store_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's keten (CLI, app, subprocess) uses SQLite unless the test says otherwise.

    With NEO4J_URI set (as in CI), keten itself would pick the server; the Neo4j tests reach
    it through their own fixtures instead, each wiping only what it uses.
    """
    monkeypatch.setenv("KETEN_STORE", "sqlite")


@pytest.fixture
def keten_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KETEN_HOME pointed at a temporary folder, the store the embedded one."""
    home = tmp_path / "home"
    monkeypatch.setenv("KETEN_HOME", str(home))
    return home


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Result[pytest.TestReport]]:
    """In CI (CI=true) a Neo4j test that would skip fails: .ci/run starts a real server.

    A test counts as a Neo4j test when its node id, its skip reason or its markers
    mention Neo4j (the `neo4j` marker, the `store[neo4j]` parameter, NEO4J_URI, ...).
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    mentions = " ".join([item.nodeid, reason, *(m.name for m in item.iter_markers())])
    if "neo4j" in mentions.lower():
        report.outcome = "failed"
        report.longrepr = f"Neo4j tests must not skip in CI: {reason}"


def resident_kb(folder: Path) -> int:
    """kB of this process's resident pages mapped from files under `folder` (its mappings
    in /proc/self/smaps): what `let_go` is to bring to zero."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's first line
            inside = len(head) >= 6 and head[-1].startswith(str(folder))
        elif inside and head and head[0] == "Rss:":
            total += int(head[1])
    return total
