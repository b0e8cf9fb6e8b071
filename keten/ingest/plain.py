"""A quick yes for plain batches: msgspec types derived from the pydantic schema.

Validating a generated relation with the pydantic models costs about as much as parsing it;
msgspec checks the same types and bounds in a tenth of that. The msgspec types are not
written by hand: `derive` builds them from the schema's TypedDicts, so the two cannot drift,
and it refuses (at import) any annotation it cannot carry over exactly.

This module only ever says yes or "ask pydantic": a batch it accepts is one pydantic accepts
and leaves as it is (`tests/ingest/test_plain.py` checks both on generated and random
records), and anything else goes the pydantic way, which names every problem. Three things
msgspec would do otherwise are kept out:

- patterns are checked by pydantic itself, on all the batch's values of a pattern at once
  (Python's `re` reads `$` and `\\s` differently from pydantic's engine);
- pydantic turns an integer given for a float into a float, so a float field must already
  hold floats (else the row would store 12 where pydantic stores 12.0);
- times become datetimes in pydantic, so a time field passes here only when null.
"""

from __future__ import annotations

import datetime
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from typing import Any, Literal, Union

import annotated_types
import msgspec
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from keten.schema.entities import AnyEntity
from keten.schema.relation_record import Relation

BOUNDS = {
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
    annotated_types.Ge: "ge",
    annotated_types.Gt: "gt",
    annotated_types.Le: "le",
    annotated_types.Lt: "lt",
}
"""pydantic constraints and the msgspec.Meta arguments that say the same."""
SCALARS = (str, int, bool)


@dataclass
class Shape:
    """What one TypedDict asks beyond its msgspec type: fields whose values must be floats,
    and the annotated types whose patterns pydantic checks, per field (`in_list`: the
    field holds a list of such values)."""

    floats: list[str] = field(default_factory=list)
    patterns: list[tuple[str, Any, bool]] = field(default_factory=list)


class NotDerivable(TypeError):
    """The schema uses something `derive` cannot carry over exactly."""


def derive(typed_dict: type, tag: str | None = None) -> tuple[type[msgspec.Struct], Shape]:
    """The msgspec struct of a TypedDict (tagged on `kind` when `tag` is given), and its
    Shape. Unknown fields are let through, as the schema's `extra="allow"` keeps them."""
    shape = Shape()
    fields: list[tuple[str, Any, Any]] = []
    for name, hint in typing.get_type_hints(typed_dict, include_extras=True).items():
        if tag is not None and name == "kind":
            continue
        required = typing.get_origin(hint) is typing.Required
        if required:
            hint = typing.get_args(hint)[0]
        converted = convert(hint, name, shape, top=True)
        fields.append((name, converted) if required else (name, converted, None))  # type: ignore[arg-type]
    options: dict[str, Any] = {"kw_only": True}
    if tag is not None:
        options |= {"tag_field": "kind", "tag": tag}
    return msgspec.defstruct(typed_dict.__name__, fields, **options), shape


def convert(hint: Any, name: str, shape: Shape, top: bool, in_list: bool = False) -> Any:
    """The msgspec annotation that accepts what `hint` accepts unchanged (see module doc)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return annotated(args[0], args[1:], hint, name, shape, top, in_list)
    if origin in (Union, types.UnionType):
        return Union[tuple(convert(a, name, shape, top, in_list) for a in args)]  # noqa: UP007
    if origin is Literal and all(isinstance(a, str) for a in args):
        return hint
    if origin is list and top:
        return list[convert(args[0], name, shape, top=False, in_list=True)]  # type: ignore[misc]
    if origin is dict and args[0] is str:
        return dict[str, convert(args[1], name, shape, top=False)]  # type: ignore[misc]
    if hint in SCALARS or hint is type(None):
        return hint
    if hint is float and top:
        shape.floats.append(name)
        return float
    if hint is datetime.datetime:
        return type(None)
    raise NotDerivable(f"{name}: {hint!r}")


def annotated(
    inner: Any, metadata: tuple[Any, ...], hint: Any, name: str, shape: Shape, top: bool,
    in_list: bool,
) -> Any:  # fmt: skip
    """An Annotated type: its bounds become msgspec.Meta; its pattern is noted in `shape`."""
    bounds: dict[str, Any] = {}
    pattern = False
    for info in metadata:
        if not isinstance(info, FieldInfo) or info.alias or info.discriminator:
            raise NotDerivable(f"{name}: {info!r}")
        for constraint in info.metadata:
            if type(constraint) in BOUNDS:
                key = BOUNDS[type(constraint)]
                bounds[key] = getattr(constraint, key)
            elif getattr(constraint, "pattern", None) and text_only(inner) and (top or in_list):
                pattern = True
            else:
                raise NotDerivable(f"{name}: {constraint!r}")
    if pattern:
        shape.patterns.append((name, hint, in_list))
    return bounded(convert(inner, name, shape, top, in_list), bounds)


def bounded(hint: Any, bounds: dict[str, Any]) -> Any:
    """`hint` with msgspec bounds; on each arm of a union but null (as pydantic reads them)."""
    if not bounds or hint is type(None):
        return hint
    if typing.get_origin(hint) in (Union, types.UnionType):
        return Union[tuple(bounded(arm, bounds) for arm in typing.get_args(hint))]  # noqa: UP007
    return typing.Annotated[hint, msgspec.Meta(**bounds)]


def text_only(hint: Any) -> bool:
    """True for `str` and `str | None`: a pattern's values are then the field's own."""
    return hint is str or set(typing.get_args(hint)) == {str, type(None)}


@dataclass(frozen=True)
class PlainCheck:
    """The derived check of one side: a batch type and the shapes of its kinds."""

    batch: Any
    shapes: dict[str | None, Shape]

    def accepts(self, data: list[Any]) -> bool:
        """True when every record passes the derived types, holds floats where floats are
        asked and matches every pattern; False means "ask pydantic"."""
        return self.fields_of(data) is not None

    def fields_of(self, data: list[Any]) -> set[str] | None:
        """The top-level fields the records give, when the batch passes as `accepts` says;
        None means "ask pydantic". (The caller learns from the fields whether a batch gives
        markings, times or keys, a set lookup instead of a search of the batch's text.)"""
        try:
            msgspec.convert(data, self.batch)
        except msgspec.ValidationError:
            return None
        given: set[str] = set().union(*data)  # every record is an object: msgspec says so
        if len(self.shapes) == 1:
            groups: Iterable[tuple[Shape, list[dict[str, Any]]]] = [(self.shapes[None], data)]
        else:
            groups = self.by_kind(data)
        holds = all(floats_hold(shape, records, given) for shape, records in groups)
        return given if holds and patterns_hold(groups) else None

    def by_kind(self, data: list[dict[str, Any]]) -> list[tuple[Shape, list[dict[str, Any]]]]:
        """The records of each kind, with that kind's shape."""
        kinds: dict[str, list[dict[str, Any]]] = {}
        for record in data:
            kinds.setdefault(record["kind"], []).append(record)
        return [(self.shapes[kind], records) for kind, records in kinds.items()]


def floats_hold(shape: Shape, records: list[dict[str, Any]], given: set[str]) -> bool:
    """True when the float fields hold floats or nothing (never an integer); only the
    fields some record gives (`given`) are looked at."""
    return all(
        {type(r.get(name)) for r in records} <= FLOAT_OR_NULL
        for name in shape.floats
        if name in given
    )


FLOAT_OR_NULL = frozenset({float, type(None)})


def patterns_hold(groups: Iterable[tuple[Shape, list[dict[str, Any]]]]) -> bool:
    """True when pydantic finds every value of a pattern field matching its pattern."""
    values: dict[Any, list[Any]] = {}
    for shape, records in groups:
        for name, hint, in_list in shape.patterns:
            found = values.setdefault(hint, [])
            given = [v for r in records if (v := r.get(name)) is not None]
            found.extend(chain.from_iterable(given) if in_list else given)
    try:
        for hint, found in values.items():
            pattern_adapter(hint).validate_python(found)
    except ValidationError:
        return False
    return True


@cache
def pattern_adapter(hint: Any) -> TypeAdapter[list[Any]]:
    """pydantic's own check of a list of values of an annotated type."""
    return TypeAdapter(list[hint])


def entity_check() -> PlainCheck:
    """The derived check of entity batches: a union of the kinds, tagged on `kind`."""
    union = typing.get_args(AnyEntity)[0]
    structs, shapes = [], {}
    for kind_dict in typing.get_args(union):
        kind = typing.get_args(typing.get_type_hints(kind_dict, include_extras=True)["kind"])
        tag = typing.get_args(kind[0])[0]
        struct, shape = derive(kind_dict, tag)
        structs.append(struct)
        shapes[tag] = shape
    return PlainCheck(list[Union[tuple(structs)]], shapes)  # type: ignore[misc]  # noqa: UP007


def relation_check() -> PlainCheck:
    """The derived check of relation batches."""
    struct, shape = derive(Relation)
    return PlainCheck(list[struct], {None: shape})  # type: ignore[valid-type]


ENTITIES = entity_check()
RELATIONS = relation_check()
