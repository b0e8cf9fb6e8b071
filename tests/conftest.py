"""Fixtures shared by the whole suite: real stores in temporary folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keten.graph.sqlite import SqliteStore


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A fresh SQLite store on disk (WAL mode needs a real file)."""
    store = SqliteStore(tmp_path / "keten.sqlite")
    yield store
    store.close()


@pytest.fixture
def keten_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KETEN_HOME pointed at a temporary folder, KETEN_STORE unset."""
    home = tmp_path / "home"
    monkeypatch.setenv("KETEN_HOME", str(home))
    monkeypatch.delenv("KETEN_STORE", raising=False)
    return home
