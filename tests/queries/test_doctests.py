"""The examples in the analysis modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "keten.graph.projection",
    "keten.queries.cascade",
    "keten.queries.centrality",
    "keten.queries.paths",
    "keten.queries.propagation",
    "keten.queries.synthetic",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
