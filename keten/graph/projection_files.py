"""Projections kept beside the store: one folder of `.npy` arrays per store revision.

Reading a million entities and ten million relations out of the store takes a minute; opening
the arrays of the same revision with `numpy.load(mmap_mode="r")` takes a moment, costs no
memory of the process's own (the pages are the file cache's, shared by every process that
maps them) and so lets a server start, or a CLI command run, without that minute.

Layout, under `<KETEN_HOME>/projection/<store key>/<clearance>.<rule>/`: one folder per
saved revision, named by audit position (number and a digest of its time) and revision,
holding one `.npy` per array and
`meta.json` (format version, store key, clearance, rule, revision, audit position, and per
file its dtype, shape, size and XXH3 digest). A folder is written under a temporary name and
renamed into place, so a reader sees a whole folder or none; one whose meta, sizes or
checksums do not match is deleted and never used. Older folders of the same clearance and
rule go when a newer one is saved (a process still mapping them keeps its pages).

>>> import tempfile, pathlib
>>> from keten.graph.projection import (AuditPosition, Entities, RelationTable, assemble)
>>> import numpy as np
>>> table = RelationTable(np.array([1], np.int32), np.array([0], np.int32),
...     np.array([0], np.int8), np.array([12.0]), np.array([1.0]), np.array([-1], np.int32))
>>> ids = ["r:power", "vp:water"]
>>> entities = Entities(ids, {i: n for n, i in enumerate(ids)}, ["Resource", "VitalProcess"],
...     ["Power", "Water"])
>>> p = assemble(3, Tlp.RED, "all", entities, table, [], AuditPosition(7, "t7"))
>>> files = ProjectionFiles(pathlib.Path(tempfile.mkdtemp()), "sqlite-example")
>>> saved = files.save(p)
>>> opened = files.newest(Tlp.RED, "all")
>>> opened.successors("r:power"), opened.names[1], opened.revision, opened.position.seq
(['vp:water'], 'Water', 3, 7)
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xxhash

from keten.graph.assessments import RULES, AssessmentRule
from keten.graph.projection import AuditPosition, Projection, freeze
from keten.graph.projection_strings import Codes, SortedIndex, Strings, encode_strings
from keten.schema.markings import Tlp

FORMAT = 3
"""Bumped whenever the arrays or their meaning change: older folders are then rebuilt."""

ARRAYS = (
    "indptr",
    "targets",
    "buffer_hours",
    "strength",
    "group",
    "group_size",
    "group_key",
    "edge_kind",
    "safeguards_indptr",
    "safeguards",
    "rel_source",
    "rel_target",
    "rel_type",
    "rel_buffer",
    "rel_strength",
    "rel_group",
)
"""The `Projection` arrays saved as they are."""

log = logging.getLogger(__name__)


def store_key(store: Any) -> str | None:
    """A name for the store's projections: its kind and a digest of where it lives (None for
    a store that lives in memory only, whose projections are not kept)."""
    path = getattr(store, "path", None)
    if path == ":memory:":
        return None
    if path is not None:
        where = os.path.realpath(path)
    else:
        uri = getattr(store, "uri", None)
        if uri is None:
            return None
        where = f"{uri}/{getattr(store, 'database', '')}"
    return f"{store.name}-{hashlib.sha256(where.encode()).hexdigest()[:16]}"


def digest(path: Path) -> int:
    """XXH3 (64 bits) of a file's bytes, read through a memory map.

    Every process that opens a kept projection checks every file, so this runs at each CLI
    command: a 100k / 1M projection's 60 MB took 84 ms as CRC-32 over read chunks and takes
    about 6 ms here (the map reads the file cache's pages in place, and XXH3 hashes at
    memory speed), while a flipped bit still fails the check.
    """
    with (
        path.open("rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        return xxhash.xxh3_64_intdigest(mapped)


class ProjectionFiles:
    """The saved projections of one store, under `root/<store key>`."""

    def __init__(self, root: Path, key: str) -> None:
        self.root = root / key
        self.key = key

    def _folder(self, clearance: Tlp, rule: AssessmentRule) -> Path:
        return self.root / f"{Tlp(clearance).value}.{rule}"

    def save(self, projection: Projection) -> Projection:
        """Write `projection` (atomically) and return it with its arrays mapped from the
        files, so that the memory it was built in can go. Another process saving the same
        revision at the same time is fine: the first folder renamed into place wins."""
        folder = self._folder(projection.clearance, projection.assessments)
        seq, at = projection.position.seq, projection.position.at
        stamp = hashlib.sha256(at.encode()).hexdigest()[:8]  # another store, same numbers
        name = f"s{seq:012d}-r{projection.revision:012d}-{stamp}"
        final = folder / name
        folder.mkdir(parents=True, exist_ok=True)
        if not final.exists():
            temporary = folder / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
            temporary.mkdir()
            try:
                self._write(projection, temporary)
                os.rename(temporary, final)
            except OSError:
                shutil.rmtree(temporary, ignore_errors=True)
                if not final.exists():
                    raise
        for other in folder.iterdir():
            if other.name != name and not other.name.startswith(".tmp-"):
                shutil.rmtree(other, ignore_errors=True)
        opened = self._open(final)
        return opened if opened is not None else projection

    def _write(self, projection: Projection, folder: Path) -> None:
        arrays: dict[str, npt.NDArray[Any]] = {n: getattr(projection, n) for n in ARRAYS}
        arrays["ids"], arrays["ids_offsets"] = encode_strings(projection.ids)
        arrays["names"], arrays["names_offsets"] = encode_strings(projection.names)
        codes = Codes.of(projection.kinds)
        kinds, arrays["kinds"] = codes.vocabulary, codes.codes
        files: dict[str, dict[str, Any]] = {}
        for name, array in arrays.items():
            path = folder / f"{name}.npy"
            np.save(path, np.ascontiguousarray(array))
            files[name] = {
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "bytes": path.stat().st_size,
                "xxh3": digest(path),
            }
        meta = {
            "format": FORMAT,
            "store": self.key,
            "clearance": projection.clearance.value,
            "assessments": projection.assessments,
            "revision": projection.revision,
            "position": [projection.position.seq, projection.position.at],
            "kinds": kinds,
            "group_names": projection.group_names,
            "files": files,
        }
        (folder / "meta.json").write_text(json.dumps(meta))

    def kept(self) -> list[tuple[Tlp, AssessmentRule]]:
        """The clearances and rules that have a folder of saved projections."""
        found: list[tuple[Tlp, AssessmentRule]] = []
        if not self.root.is_dir():
            return found
        for folder in sorted(self.root.iterdir()):
            clearance, _, rule = folder.name.partition(".")
            if folder.is_dir() and clearance in {t.value for t in Tlp} and rule in RULES:
                found.append((Tlp(clearance), rule))
        return found

    def newest(self, clearance: Tlp, rule: AssessmentRule) -> Projection | None:
        """The saved projection of `clearance` and `rule` furthest along the audit trail, or
        None; a folder that fails any check is deleted."""
        folder = self._folder(clearance, rule)
        if not folder.is_dir():
            return None
        for candidate in sorted(folder.iterdir(), reverse=True):
            if candidate.name.startswith(".tmp-"):
                continue
            opened = self._open(candidate)
            if opened is not None:
                return opened
            log.warning("discarding a damaged or outdated projection in %s", candidate)
            shutil.rmtree(candidate, ignore_errors=True)
        return None

    def _open(self, folder: Path) -> Projection | None:
        """The projection in `folder` with its arrays mapped, or None if any check fails.
        Ids, names and kinds stay arrays too (keten.graph.projection_strings)."""
        try:
            meta = json.loads((folder / "meta.json").read_text())
            if meta.get("format") != FORMAT or meta.get("store") != self.key:
                return None
            arrays = {
                name: self._array(folder, name, meta["files"][name]) for name in meta["files"]
            }
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot use the projection in %s: %s", folder, exc)
            return None
        ids = Strings(arrays["ids"], arrays["ids_offsets"])
        seq, at = meta["position"]
        projection = Projection(
            revision=int(meta["revision"]),
            clearance=Tlp(meta["clearance"]),
            ids=ids,
            index=SortedIndex(ids),
            kinds=Codes(arrays["kinds"], list(meta["kinds"])),
            names=Strings(arrays["names"], arrays["names_offsets"]),
            group_names=list(meta["group_names"]),
            assessments=meta["assessments"],
            position=AuditPosition(int(seq), str(at)),
            **{name: arrays[name] for name in ARRAYS},  # type: ignore[arg-type]
        )
        return freeze(projection)

    @staticmethod
    def _array(folder: Path, name: str, expected: dict[str, Any]) -> npt.NDArray[Any]:
        """One array, mapped, after its size, checksum, dtype and shape were checked."""
        path = folder / f"{name}.npy"
        if path.stat().st_size != expected["bytes"] or digest(path) != expected["xxh3"]:
            raise ValueError(f"{path.name} does not match its checksum")
        empty = 0 in expected["shape"]  # an empty file cannot be mapped
        array = np.load(path, mmap_mode=None if empty else "r", allow_pickle=False)
        if array.dtype.str != expected["dtype"] or list(array.shape) != expected["shape"]:
            raise ValueError(f"{path.name} has another dtype or shape than recorded")
        return array
