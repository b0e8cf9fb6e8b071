"""The JSON of a STIX object exactly as the `stix2` library would write it, without building it.

Making a `stix2` object checks every property against the STIX 2.1 specification and costs
about a millisecond; at 1M entities / 10M relations that is hours. What the library does to
an object is small and fixed, and this module does the same from the library's own property
tables (``_properties`` of each class):

- properties come out in the class's order, then the custom ones sorted by name;
- a property that is None or ``[]`` is left out, and an absent one with a constant default
  (``revoked``: false) is written with it;
- a value the library would keep as it is (a ``str`` for a string, a canonical ``type--uuid``
  for an id or reference, a millisecond timestamp for ``created``, ...) is written as it is;
  any other value goes through the library's own ``clean`` of that property;
- an external reference comes out in ``ExternalReference``'s order.

What this module does not cover it hands back: `StixJson.encode` then makes the object as a
`stix2` object after all (so an invalid value raises the library's own error), and counts it.
That covers the object-level rules of a few types (``first_seen`` before ``last_seen``, a
location's coordinates, granular markings, types with their own checks). keten's records
meet none of them; `tests/graph/test_stix_json.py` holds the two ways to the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import orjson
import stix2
import stix2.utils
from stix2.base import _STIXBase
from stix2.properties import (
    BooleanProperty,
    DictionaryProperty,
    EmbeddedObjectProperty,
    EnumProperty,
    ExtensionsProperty,
    IDProperty,
    IntegerProperty,
    ListProperty,
    OpenVocabProperty,
    Property,
    ReferenceProperty,
    SelectorProperty,
    StringProperty,
    TimestampProperty,
)
from stix2.registry import class_for_type
from stix2.utils import Precision, PrecisionConstraint, to_enum
from stix2.v21 import ExternalReference
from stix2.v21.sdo import _DomainObject
from stix2.v21.sro import Relationship

Clean = Callable[[Any], Any]
ABSENT = object()
"""No default: the step writes the object's own value."""
Step = tuple[str, Clean | None, Any]
"""One property of a shape's layout: its name, its clean (None: as it is), its default."""

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
ID_SHAPE = re.compile(rf"([a-z0-9]+(?:-[a-z0-9]+)*)--{UUID}")
"""A STIX id the library accepts as it is: lower-case hex, RFC 4122 variant (8, 9, a, b)."""
MS_TIME = re.compile(r"[1-9]\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
"""A timestamp with milliseconds, which a ``created``/``modified`` property writes back
unchanged when it is a real date (years before 1000 are not: `strftime` drops the zeros)."""
REFERENCE_KEYS = ("source_name", "description", "url", "external_id")
"""``ExternalReference``'s properties in its order (``hashes`` aside)."""
PLAIN_REFERENCE = frozenset(REFERENCE_KEYS)
EXTENSION = "extension-definition--"
TOPLEVEL = "toplevel-property-extension"
POSITIONAL = ("source_ref", "relationship_type", "target_ref")
REMEMBERED = 4096
SHAPES = 10_000
"""How many shapes of object each type remembers the steps of (keten's records come in a
few; a store of ever-new property names must not fill the memory with them)."""
"""How many strings each clean remembers as kept."""
INTEROPERABLE = (
    EmbeddedObjectProperty,
    EnumProperty,
    ExtensionsProperty,
    DictionaryProperty,
    IDProperty,
    ListProperty,
    OpenVocabProperty,
    ReferenceProperty,
    SelectorProperty,
)
"""Property classes whose ``clean`` the library calls with an ``interoperability`` flag."""
CONSTRAINED: dict[type, frozenset[str]] = {
    stix2.v21.Campaign: frozenset({"first_seen", "last_seen"}),
    stix2.v21.ThreatActor: frozenset({"first_seen", "last_seen"}),
    stix2.v21.IntrusionSet: frozenset({"first_seen", "last_seen"}),
    stix2.v21.Malware: frozenset({"first_seen", "last_seen"}),
    stix2.v21.Location: frozenset({"latitude", "longitude", "precision"}),
    Relationship: frozenset({"start_time", "stop_time"}),
}
"""Classes whose own object-level check only looks at these properties: an object without
them passes it (a malware object's name and a location's country are checked below)."""


class Fallback(Exception):
    """An object (or value) the fast path does not cover: the library makes it instead."""


def library_clean(prop: Property) -> Clean:
    """The library's own clean of one property, as `_STIXBase` calls it (custom allowed)."""
    interoperable = isinstance(prop, INTEROPERABLE)

    def clean(value: Any) -> Any:
        try:
            if interoperable:
                return prop.clean(value, True, False)[0]
            return prop.clean(value, True)[0]
        except Exception as error:  # the library raises its own error on the object itself
            raise Fallback(str(error)) from error

    return clean


def fast_clean(prop: Property) -> Clean:
    """What the library keeps of a value of `prop`: the value itself where it is already in
    the library's form, else the library's own clean."""
    slow = library_clean(prop)
    kind = type(prop)
    if hasattr(prop, "_fixed_value"):
        fixed = prop._fixed_value
        return lambda value: value if type(value) is str and value == fixed else slow(value)
    if kind in (StringProperty, OpenVocabProperty):
        return lambda value: value if type(value) is str else slow(value)
    if kind is IDProperty:
        return id_clean(prop.required_prefix, slow)
    if kind is ReferenceProperty:
        return remembering(reference_kept(prop), slow)
    if kind is TimestampProperty and written_as_given(prop):
        return remembering(is_ms_time, slow)
    if kind is BooleanProperty:
        return lambda value: value if type(value) is bool else slow(value)
    if kind is IntegerProperty:
        return integer_clean(prop.min, prop.max, slow)
    if kind is ListProperty:
        return list_clean(prop, slow)
    if kind is ExtensionsProperty:
        return plain_extensions()
    return slow


def remembering(kept: Callable[[Any], bool], slow: Clean) -> Clean:
    """A clean that keeps a string when `kept` says the library would, and remembers the
    first few thousand such strings (marking refs, creators, times repeat from object to
    object), so most are not checked again."""
    seen: set[str] = set()

    def clean(value: Any) -> Any:
        if type(value) is str and value in seen:
            return value
        if not kept(value):
            return slow(value)
        if len(seen) < REMEMBERED:
            seen.add(value)
        return value

    return clean


def id_clean(prefix: str, slow: Clean) -> Clean:
    """An object's own id: kept when it is ``<its type>--<canonical uuid>``."""

    def clean(value: Any) -> Any:
        if type(value) is str and value.startswith(prefix):
            shape = ID_SHAPE.fullmatch(value)
            if shape and len(shape[1]) + 2 == len(prefix):
                return value
        return slow(value)

    return clean


def reference_kept(prop: ReferenceProperty) -> Callable[[Any], bool]:
    """Whether the library keeps a reference as it is: a canonical id of a type the property
    allows. Whether a type is allowed is asked of the library once per type, with a canonical
    id of it (all that the library looks at besides the uuid is the type)."""
    allowed: dict[str, bool] = {}

    def type_allowed(stix_type: str) -> bool:
        if stix_type not in allowed:
            try:
                prop.clean(f"{stix_type}--00000000-0000-4000-8000-000000000000", True, False)
                allowed[stix_type] = True
            except Exception:
                allowed[stix_type] = False
        return allowed[stix_type]

    def kept(value: Any) -> bool:
        shape = ID_SHAPE.fullmatch(value) if type(value) is str else None
        return shape is not None and type_allowed(shape[1])

    return kept


def written_as_given(prop: TimestampProperty) -> bool:
    """Whether the property writes a millisecond timestamp back as it was given (millisecond
    precision at least: ``created`` and ``modified``)."""
    return (
        to_enum(prop.precision, Precision) == Precision.MILLISECOND
        and to_enum(prop.precision_constraint, PrecisionConstraint) == PrecisionConstraint.MIN
    )


def is_ms_time(value: Any) -> bool:
    """Whether `value` is a real date written with milliseconds (``...T12:00:00.000Z``)."""
    if type(value) is not str or not MS_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value[:-1])
    except ValueError:
        return False
    return True


def integer_clean(low: int | None, high: int | None, slow: Clean) -> Clean:
    """An integer (not a bool) within the property's bounds is kept."""

    def clean(value: Any) -> Any:
        if type(value) is int and (low is None or value >= low) and (high is None or value <= high):
            return value
        return slow(value)

    return clean


def list_clean(prop: ListProperty, slow: Clean) -> Clean:
    """A list: each item as the contained property keeps it; external references in
    ``ExternalReference``'s order when they hold nothing but its plain strings."""
    contained = prop.contained
    if contained is ExternalReference:
        return lambda value: plain_references(value, slow) if type(value) is list else slow(value)
    if not isinstance(contained, Property):
        return slow
    item = fast_clean(contained)
    return lambda value: [item(v) for v in value] if type(value) is list else slow(value)


def plain_references(value: list[Any], slow: Clean) -> Any:
    """External references in the library's order; any but plain ones made by the library."""
    ordered = []
    for reference in value:
        if (
            type(reference) is not dict
            or not reference.keys() <= PLAIN_REFERENCE
            or "source_name" not in reference
            or len(reference) < 2  # one of description, url, external_id
            or any(type(v) is not str for v in reference.values())
        ):
            return slow(value)
        ordered.append({key: reference[key] for key in REFERENCE_KEYS if key in reference})
    return ordered


def plain_extensions() -> Clean:
    """``extensions`` as the library keeps them: as they are when they are only extension
    definitions it has no class for (each key checked once), none a top-level property
    extension (which would change what counts as custom); any other is the library's to make.
    """
    known: set[str] = set()

    def clean(value: Any) -> Any:
        if type(value) is not dict:
            raise Fallback("extensions")
        for key, ext in value.items():
            if type(ext) is not dict or ext.get("extension_type") == TOPLEVEL:
                raise Fallback("extensions")
            if key not in known:
                if not unregistered_extension(key):
                    raise Fallback("extensions")
                known.add(key)
        return value

    return clean


def unregistered_extension(key: Any) -> bool:
    """An ``extension-definition--<uuid>`` key with no class registered in the library."""
    return (
        type(key) is str
        and key.startswith(EXTENSION)
        and ID_SHAPE.fullmatch(key) is not None
        and class_for_type(key, "2.1", "extensions") is None
    )


class Plan:
    """How the library lays out objects of one class: order, defaults, required, cleans."""

    def __init__(self, cls: Any) -> None:
        self.cls = cls
        props: Mapping[str, Property] = cls._properties
        self.order = tuple(props)
        self.cleans = {name: fast_clean(prop) for name, prop in props.items()}
        self.defaults = {
            name: prop.default()
            for name, prop in props.items()
            if type(prop) is BooleanProperty and hasattr(prop, "default")
        }
        """Constant defaults (``revoked``); the others (now, a fresh id) are the library's."""
        self.made = frozenset(
            name
            for name, prop in props.items()
            if hasattr(prop, "default") and name not in self.defaults
        )
        self.required = tuple(name for name, prop in props.items() if prop.required)
        self.constrained = CONSTRAINED.get(cls, frozenset()) | {"granular_markings"}
        self.covered = plain_class(cls)
        self.positional = POSITIONAL if cls is Relationship else ()
        """`Relationship.__init__` drops a falsy source_ref, relationship_type or target_ref."""

        self.shapes: dict[tuple[str, ...], tuple[Step, ...] | None] = {}
        """The steps of each shape of object seen (its keys in order), None where the
        library makes objects of that shape."""

    def lay_out(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The object's properties as the library holds them (raises `Fallback`).

        Objects of one shape take the same steps, so the steps are worked out once per shape;
        an object with an empty value (None, ``[]``) among them takes the general way."""
        shape = tuple(obj)
        steps = self.shapes.get(shape, ())
        if steps == ():
            steps = self.steps(shape)
            if len(self.shapes) < SHAPES:
                self.shapes[shape] = steps
        if steps is None or (self.positional and not all(map(obj.get, self.positional))):
            raise Fallback(obj.get("type"))
        out: dict[str, Any] = {}
        for name, clean, default in steps:
            if default is not ABSENT:
                out[name] = default
                continue
            value = obj[name]
            if value is None or value == []:
                return self.lay_out_any(obj)
            out[name] = value if clean is None else clean(value)
        return out

    def steps(self, shape: tuple[str, ...]) -> tuple[Step, ...] | None:
        """The steps for objects of `shape` with no empty values: each property in the
        library's order with its clean (None for a custom one) or its default."""
        present = set(shape)
        custom = sorted(present - self.cleans.keys())
        if (
            not self.covered
            or not self.constrained.isdisjoint(present)
            or not present.issuperset(self.required)
            or (self.made - present) - set(self.required)
            or any(not "a" <= name[:1] <= "z" for name in custom)
            or not self.holds_rules(present)
        ):
            return None
        steps: list[Step] = []
        for name in self.order:
            if name in present:
                steps.append((name, self.cleans[name], ABSENT))
            elif name in self.defaults:
                steps.append((name, None, self.defaults[name]))
        steps.extend((name, None, ABSENT) for name in custom)
        return tuple(steps)

    def lay_out_any(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """`lay_out` for any object of the class, property by property (raises `Fallback`)."""
        if (
            not self.covered
            or not self.constrained.isdisjoint(obj)
            or not all(map(obj.get, self.positional))
        ):
            raise Fallback(obj.get("type"))
        out: dict[str, Any] = {}
        cleans = self.cleans
        for name in self.order:
            value = obj.get(name)
            if value is not None and value != []:
                out[name] = cleans[name](value)
            elif name in self.defaults:
                out[name] = self.defaults[name]
            elif name in self.made:
                raise Fallback(name)
        custom = sorted(name for name in obj if name not in cleans)
        if any(not "a" <= name[:1] <= "z" for name in custom):
            raise Fallback("a custom property's name")  # the library's error
        for name in custom:
            value = obj[name]
            if value is not None and value != []:
                out[name] = value
        if any(name not in out for name in self.required) or not self.holds_rules(out):
            raise Fallback(obj.get("type"))
        return out

    def holds_rules(self, out: Collection[str]) -> bool:
        """The object-level rules of `CONSTRAINED` that do not depend on the left-out
        properties: a malware object has a name, a location a region or country."""
        if self.cls is stix2.v21.Malware:
            return "name" in out
        if self.cls is stix2.v21.Location:
            return "region" in out or "country" in out
        return True


def plain_class(cls: Any) -> bool:
    """Whether objects of `cls` are made by `_STIXBase.__init__` and checked by no more than
    `CONSTRAINED` says: a spec SDO or relationship, or a custom object with no checks."""
    checks = cls._check_object_constraints
    if cls not in CONSTRAINED and checks is not _STIXBase._check_object_constraints:
        return False
    if not issubclass(cls, _DomainObject | Relationship):
        return False
    if cls.__init__ in (_STIXBase.__init__, Relationship.__init__):
        return True
    # a custom object: `_CustomObject.__init__` also runs the decorated class's __init__
    decorated = cls.__mro__[1]
    return (
        getattr(decorated, "__init__", object.__init__) is object.__init__
        and getattr(cls, "with_extension", None) is None
    )


def stix_default(value: Any) -> Any:
    """What orjson cannot write itself: STIX timestamps as `stix2` formats them, and the
    library's nested objects (external references, extensions) as the mappings they are."""
    if isinstance(value, datetime):
        return stix2.utils.format_datetime(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(type(value).__name__)


def dumps(obj: Any) -> bytes:
    """An object (a `stix2` object or the layout of one) as JSON: orjson, with the library's
    own timestamp format."""
    return orjson.dumps(obj, default=stix_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


class StixJson:
    """Writes objects as the library would, counting those the library made itself."""

    def __init__(self, make: Callable[[dict[str, Any]], Any], classes: Callable[[str], Any]):
        self.make = make
        """Makes a `stix2` object of a dict: the way for what the fast path does not cover."""
        self.classes = classes
        """The `stix2` class of a STIX type (custom types registered)."""
        self.plans: dict[str, Plan] = {}
        self.made: dict[str, int] = {}
        """How many objects of each type the library made, by type."""

    def encode(self, obj: dict[str, Any]) -> bytes:
        """The JSON of one STIX object, byte for byte what ``dumps(make(obj))`` gives."""
        kind = obj["type"]
        plan = self.plans.get(kind)
        if plan is None:
            plan = self.plans[kind] = Plan(self.classes(kind))
        try:
            return dumps(plan.lay_out(obj))
        except Fallback:
            self.made[kind] = self.made.get(kind, 0) + 1
            return dumps(self.make(obj))
