"""Where a cascade's nodes go: columns by depth, read left to right like the chain itself.

A force layout piles a cascade's hub and its many dependents into one knot in the centre,
where no label can be read. A cascade has a direction, so keten lays it out in layers: the
sources on the left, each further step one band to the right, the interests in a last band.
A band with more nodes than fit one column is wrapped into several columns, so that the
drawing keeps roughly the shape of the screen whatever the number of nodes; within a band,
the earliest hit comes first (top left).

>>> spots = layered([["s"], ["a", "b", "c"]], ["i"], rows=2)
>>> spots["s"], spots["a"], spots["b"], spots["c"], spots["i"]
((0.0, 0.0), (300.0, 0.0), (300.0, 90.0), (480.0, 0.0), (780.0, 45.0))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

COLUMN = 180.0
"""Width of one column: room for a label of about 20 characters at scale 1."""
BAND_GAP = 120.0
"""Extra room between two depths, so that the bands read as steps."""
ROW = 90.0
ASPECT = 1.75
"""Width over height of the drawing that fits a graph container best (72vh by most of a
landscape screen)."""


def extent(sizes: Sequence[int], rows: int, last: int) -> tuple[float, float]:
    """Width and height of bands of `sizes` nodes at `rows` rows per column."""
    columns = sum(math.ceil(size / rows) for size in sizes if size)
    bands = sum(1 for size in sizes if size) + (1 if last else 0)
    width = (columns + (1 if last else 0)) * COLUMN + max(0, bands - 1) * BAND_GAP
    height = max(rows, last) * ROW
    return width, height


def rows_for(sizes: Sequence[int], last: int = 0) -> int:
    """Rows per column that give the drawing about the shape of the screen (`ASPECT`).

    >>> rows_for([1, 40, 120])
    15
    """
    tallest = max([*sizes, last, 1])
    return min(
        range(1, tallest + 1),
        key=lambda rows: abs(
            math.log(max(1.0, extent(sizes, rows, last)[0]))
            - math.log(ASPECT * extent(sizes, rows, last)[1])
        ),
    )


def layered(
    bands: Sequence[Sequence[str]], last: Sequence[str] = (), rows: int | None = None
) -> dict[str, tuple[float, float]]:
    """Positions of `bands` (ids per depth, earliest first) and of `last` (the interests).

    Each band fills columns of at most `rows` nodes, top to bottom, then the next column;
    `last` is spread over the height of the tallest column, in one band of its own.
    """
    rows = rows or rows_for([len(band) for band in bands], len(last))
    spots: dict[str, tuple[float, float]] = {}
    x = 0.0
    for band in bands:
        if not band:
            continue
        for index, node in enumerate(band):
            column, row = divmod(index, rows)
            spots[node] = (x + column * COLUMN, row * ROW)
        x += math.ceil(len(band) / rows) * COLUMN + BAND_GAP
    if last:
        height = (min(rows, max((len(b) for b in bands), default=1)) - 1) * ROW
        span = max(height, (len(last) - 1) * ROW) if len(last) > 1 else 0.0
        step = span / (len(last) - 1) if len(last) > 1 else 0.0
        offset = (height - span) / 2
        for index, node in enumerate(last):
            spots[node] = (x, offset + index * step)
    return spots
