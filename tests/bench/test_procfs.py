"""bench.procfs reads the memory lines of a live process's /proc status."""

from __future__ import annotations

import os

from bench.procfs import memory_mb, status_mb


def test_status_gives_the_fields_asked_for_in_mb() -> None:
    now = status_mb(os.getpid(), ("VmRSS", "VmHWM", "NoSuchLine"))
    assert set(now) == {"VmRSS", "VmHWM"}
    assert 1 < now["VmRSS"] <= now["VmHWM"]


def test_the_high_water_mark_follows_memory_the_process_touches() -> None:
    before = memory_mb(os.getpid(), "VmHWM")
    block = bytearray(b"x" * (64 * 1024 * 1024 + int(before * 1024 * 1024)))
    assert memory_mb(os.getpid(), "VmHWM") >= before + 60
    assert memory_mb(os.getpid(), "VmRSS") >= len(block) / 1024 / 1024
    assert memory_mb(os.getpid(), "NoSuchLine") == 0.0
