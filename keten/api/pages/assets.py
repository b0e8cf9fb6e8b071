"""The static files of the pages: vis-network as pyvis ships it, and keten's own script
and style. Served by keten itself so that the pages work without internet access.

vis-network is read from the installed pyvis package (its `templates/lib` folder holds the
standalone build), so keten does not keep a second copy of a 700 kB library in its tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from importlib.util import find_spec
from pathlib import Path

VIS_VERSION = "9.1.2"


@dataclass(frozen=True, slots=True)
class Asset:
    """A file served under /pages/static/: where it is and its media type."""

    path: Traversable
    media_type: str


def _vis(name: str) -> Traversable:
    """Found without importing pyvis (which would load networkx and jinja at start-up)."""
    spec = find_spec("pyvis")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("keten's pages need the pyvis package")
    package = Path(next(iter(spec.submodule_search_locations)))
    return package / "templates" / "lib" / f"vis-{VIS_VERSION}" / name


def _own(name: str) -> Traversable:
    return files("keten.api") / "static" / "pages" / name


ASSETS: dict[str, Asset] = {
    "vis-network.min.js": Asset(_vis("vis-network.min.js"), "text/javascript"),
    "vis-network.css": Asset(_vis("vis-network.css"), "text/css"),
    "keten-graph.js": Asset(_own("keten-graph.js"), "text/javascript"),
    "keten-pages.css": Asset(_own("keten-pages.css"), "text/css"),
    "keten-icon.svg": Asset(_own("keten-icon.svg"), "image/svg+xml"),
}


@cache
def asset_bytes(name: str) -> bytes:
    """The content of a known asset (read once); KeyError for an unknown name."""
    asset = ASSETS[name]
    if not asset.path.is_file():
        raise FileNotFoundError(f"page asset {name} is missing at {asset.path}")
    return asset.path.read_bytes()
