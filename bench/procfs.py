"""A process's memory as Linux's /proc/<pid>/status gives it, for the benches that measure
resident memory (VmRSS now, VmHWM its high-water mark, RssAnon and RssFile its parts).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path


def status_mb(pid: int, fields: Collection[str]) -> dict[str, float]:
    """The lines of `fields` (in kB there) in MB, read at once; a field the status does not
    hold is left out."""
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in fields:
            values[name] = int(rest.split()[0]) / 1024
    return values


def memory_mb(pid: int, field: str) -> float:
    """One line of the status in MB (0.0 when it holds no such line)."""
    return status_mb(pid, (field,)).get(field, 0.0)
