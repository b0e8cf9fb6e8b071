"""Request bodies the API refuses up front: integers the store could not hold, and
booleans or strings where a number is expected.

JSON allows integers of any size, but both stores keep signed 64-bit integers (Neo4j's
integer type); a larger one would otherwise fail deep inside a write. The walk names each one.

>>> find_huge_integers({"entities": [{"id": "a", "count": 2**70}]}, "body")[0].where
'entities[0]'

Pydantic's default (lax) mode takes `true` for 1 and `"0.5"` for 0.5, so `"min_strength":
false` would silently mean 0. `strict_numbers(Model)` is `Model` with every number field,
however nested (in lists, dicts, optionals and sub-models), refusing booleans and strings;
floats take integers, and integers take integral floats such as 3.0 (an integer to JSON
Schema). Constraints, defaults, descriptions and the JSON Schema stay as they were.

>>> from pydantic import BaseModel, ValidationError
>>> class Ask(BaseModel):
...     share: float = 0.0
...     shares: dict[str, float] = {}
...     count: int | None = None
>>> StrictAsk = strict_numbers(Ask)
>>> StrictAsk(share=1, shares={"a": 0.5}, count=3.0).model_dump()
{'share': 1.0, 'shares': {'a': 0.5}, 'count': 3}
>>> try:
...     StrictAsk(share=False, shares={"a": True}, count="3")
... except ValidationError as refused:
...     print([".".join(map(str, e["loc"])) for e in refused.errors()])
['share', 'shares.a', 'count']
"""

from __future__ import annotations

import operator
import types
from copy import copy
from functools import cache, reduce
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, Strict, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from keten.ingest import BundleRejected, Problem

M = TypeVar("M", bound=BaseModel)

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


def find_huge_integers(bundle: Any, name: str) -> list[Problem]:
    """Problems for integers outside the 64-bit range in the records of `bundle`."""
    problems: list[Problem] = []
    if not isinstance(bundle, dict):
        return problems
    for key in ("entities", "relations"):
        records = bundle.get(key)
        if not isinstance(records, list):
            continue
        for index, record in enumerate(records):
            for path in _huge_paths(record, ""):
                why = "integer outside the signed 64-bit range both stores hold"
                problems.append(Problem(name, f"{key}[{index}]", path.lstrip("."), why))
    return problems


def _huge_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [path] if not INT_MIN <= value <= INT_MAX else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _huge_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _huge_paths(v, f"{path}[{i}]")]
    return []


def refuse_huge_integers(bundle: Any, name: str) -> None:
    """Raise BundleRejected when `bundle` holds an integer the store cannot keep."""
    problems = find_huge_integers(bundle, name)
    if problems:
        raise BundleRejected(problems, len(problems))


def _no_bool_or_text(value: Any) -> Any:
    """Refuse what lax mode would turn into an integer: booleans and numeric strings."""
    if isinstance(value, bool | str):
        kind = "boolean" if isinstance(value, bool) else "string"
        raise PydanticCustomError(
            "int_type", "Input should be a valid integer, not a {kind}", {"kind": kind}
        )
    return value


def _annotated(annotation: Any, metadata: tuple[Any, ...]) -> Any:
    return Annotated[(annotation, *metadata)] if metadata else annotation


def _strict(annotation: Any, metadata: tuple[Any, ...] = ()) -> Any:
    """`annotation` with strict numbers, recursing through Annotated, optionals, containers
    and sub-models; anything else unchanged.

    `metadata` are constraints (ge, le, max_length, ...) meant for `annotation` as a whole.
    They are carried down to the number itself and the strictness added after them:
    constraints applied to a validator's output instead of the number would validate alike
    but vanish from the JSON Schema (`ge` instead of `minimum`).
    """
    if annotation is float:
        return Annotated[(float, *metadata, Strict())]
    if annotation is int:
        return Annotated[(int, *metadata, BeforeValidator(_no_bool_or_text))]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _annotated(strict_numbers(annotation), metadata)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _strict(args[0], (*args[1:], *metadata))
    if origin in (Union, types.UnionType):
        members = [arg if arg is type(None) else _strict(arg, metadata) for arg in args]
        return reduce(operator.or_, members)
    if origin in (list, dict, tuple, set, frozenset) and args:
        return _annotated(origin[tuple(_strict(arg) for arg in args)], metadata)
    return _annotated(annotation, metadata)


def _strict_field(field: FieldInfo) -> tuple[Any, FieldInfo]:
    """A field definition for `create_model`: the strict annotation, carrying the field's
    constraints, and the rest of the field (default, description, ...) as it was.
    """
    rest = copy(field)
    rest.metadata = []
    return _strict(field.annotation, tuple(field.metadata)), rest


@cache
def strict_numbers(model: type[M]) -> type[M]:
    """A subclass of `model`, of the same name, whose number fields refuse booleans and
    strings (see the module docstring).
    """
    fields: dict[str, Any] = {
        name: _strict_field(field) for name, field in model.model_fields.items()
    }
    strict: type[M] = create_model(model.__name__, __base__=model, __doc__=model.__doc__, **fields)
    return strict
