"""How the pages look: a colour and a shape per kind, and hour bands for time to impact.

Colours per kind follow the Okabe-Ito palette (readable with colour blindness); the hour
bands use a sequential orange-red scale, darkest for what fails first.

>>> band_of(0.0).label, band_of(5.0).label, band_of(1e9).label
('at once (0 h)', '1-6 h', 'after 1 week')
>>> kind_colour("Threat")
'#D55E00'
"""

from __future__ import annotations

from dataclasses import dataclass

KIND_COLOURS: dict[str, str] = {
    "Interest": "#009E73",
    "ImpactCriterion": "#7FBF7B",
    "Threat": "#D55E00",
    "Actor": "#CC79A7",
    "VitalProcess": "#0072B2",
    "Organisation": "#56B4E9",
    "Resource": "#E69F00",
    "Country": "#999999",
    "Source": "#C7C7C7",
    "Institute": "#F0E442",
}
OTHER_COLOUR = "#BBBBBB"

KIND_SHAPES: dict[str, str] = {
    "Interest": "star",
    "Threat": "triangle",
    "Actor": "triangleDown",
    "VitalProcess": "dot",
    "Organisation": "square",
    "Resource": "diamond",
    "Country": "hexagon",
}
OTHER_SHAPE = "dot"

MARKING_COLOURS: dict[str, str] = {
    "green": "#33A02C",
    "amber": "#FFC000",
    "amber+strict": "#FF8C00",
    "red": "#E31A1C",
}
"""Node borders for records marked above TLP:CLEAR (TLP 2.0 colours, darkened for white)."""
CLEAR_BORDER = "#555555"

RELATION_COLOURS: dict[str, str] = {
    "DEPENDS_ON": "#5f6b7a",
    "DISRUPTS": "#D55E00",
    "THREATENS": "#CC79A7",
    "SAFEGUARDS": "#009E73",
    "POSES": "#8E44AD",
    "SOURCED_FROM": "#7f7f7f",
    "INPUT_TO": "#E69F00",
}
OTHER_RELATION_COLOUR = "#b0b0b0"


@dataclass(frozen=True, slots=True)
class Band:
    """Entities whose time to impact is at most `upto` hours (and above the band before)."""

    upto: float
    label: str
    colour: str


TIME_BANDS: tuple[Band, ...] = (
    Band(0.0, "at once (0 h)", "#67000D"),
    Band(1.0, "up to 1 h", "#A50F15"),
    Band(6.0, "1-6 h", "#EF3B2C"),
    Band(24.0, "6-24 h", "#FC9272"),
    Band(72.0, "1-3 days", "#FDD0A2"),
    Band(168.0, "3-7 days", "#FFF5EB"),
    Band(float("inf"), "after 1 week", "#F7F7F7"),
)


def kind_colour(kind: str) -> str:
    """The fill colour of an entity kind."""
    return KIND_COLOURS.get(kind, OTHER_COLOUR)


def kind_shape(kind: str) -> str:
    """The vis-network shape of an entity kind."""
    return KIND_SHAPES.get(kind, OTHER_SHAPE)


def marking_border(marking: str) -> tuple[str, int]:
    """Border colour and width that show a node's TLP marking (thin grey for clear)."""
    colour = MARKING_COLOURS.get(marking)
    return (colour, 4) if colour else (CLEAR_BORDER, 1)


def relation_colour(rel_type: str) -> str:
    """The line colour of a relation type."""
    return RELATION_COLOURS.get(rel_type, OTHER_RELATION_COLOUR)


def band_of(hours: float) -> Band:
    """The first band whose upper bound holds `hours`."""
    return next(band for band in TIME_BANDS if hours <= band.upto)


SHAPE_SYMBOLS: dict[str, str] = {
    "dot": "\u25cf",
    "star": "\u2605",
    "triangle": "\u25b2",
    "triangleDown": "\u25bc",
    "diamond": "\u25c6",
    "square": "\u25a0",
    "hexagon": "\u2b22",
    "dash": "\u2504",
    "line": "\u2501",
    "ring": "\u25ef",
}


def shape_symbol(shape: str) -> str:
    """A text symbol that looks like the vis-network shape, for legends."""
    return SHAPE_SYMBOLS.get(shape, SHAPE_SYMBOLS["dot"])
