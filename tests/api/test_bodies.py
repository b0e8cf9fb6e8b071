"""`strict_numbers`: the analyses' request models with numbers that refuse booleans and
strings, however deeply nested, and otherwise the very same models.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from keten.api.analysis_bodies import (
    CascadeBody,
    EmbargoBody,
    InoperabilityBody,
    PropagationBody,
    ScenariosBody,
)
from keten.api.bodies import strict_numbers
from keten.queries.cascade import CascadeRequest
from keten.queries.embargo import EmbargoRequest
from keten.queries.inoperability import InoperabilityRequest
from keten.queries.propagation import PropagationRequest
from keten.queries.scenarios import ScenariosRequest

PAIRS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (CascadeRequest, CascadeBody),
    (PropagationRequest, PropagationBody),
    (InoperabilityRequest, InoperabilityBody),
    (EmbargoRequest, EmbargoBody),
    (ScenariosRequest, ScenariosBody),
]


def refused_fields(model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    """The dotted locations pydantic refuses in `data` (empty when it is taken)."""
    try:
        model.model_validate(data)
    except ValidationError as refused:
        return [".".join(map(str, error["loc"])) for error in refused.errors()]
    return []


@pytest.mark.parametrize(("original", "strict"), PAIRS)
def test_the_strict_model_is_the_same_model_to_everyone_else(
    original: type[BaseModel], strict: type[BaseModel]
) -> None:
    assert issubclass(strict, original) and strict is not original
    assert strict.__name__ == original.__name__
    assert strict.model_json_schema() == original.model_json_schema()
    assert strict_numbers(original) is strict  # made once


def test_nested_models_and_containers_are_strict_too() -> None:
    scenario = {"name": "a", "sources": ["vp:x"], "horizon_hours": True}
    assert refused_fields(ScenariosRequest, {"scenarios": [scenario]}) == []
    assert refused_fields(ScenariosBody, {"scenarios": [scenario]}) == ["scenarios.0.horizon_hours"]
    body = {"perturbation": {"vp:x": False}, "recovery_rates": {"vp:y": "0.5"}}
    assert refused_fields(InoperabilityBody, body) == [
        "perturbation.vp:x",
        "recovery_rates.vp:y",
    ]
    assert refused_fields(EmbargoBody, {"country": "CN", "year": True}) == ["year"]


def test_constraints_and_defaults_still_hold() -> None:
    assert refused_fields(CascadeBody, {"sources": ["a"], "min_strength": 1.5}) == ["min_strength"]
    assert refused_fields(CascadeBody, {"sources": ["a"], "limit": 2.5}) == ["limit"]
    taken = CascadeBody.model_validate({"sources": ["a"], "limit": 7.0, "horizon_hours": 5})
    assert (taken.limit, taken.horizon_hours, taken.min_strength) == (7, 5.0, 0.0)
    assert isinstance(taken, CascadeRequest)
    assert refused_fields(CascadeBody, {"sources": ["a"], "bogus": 1}) == ["bogus"]
