"""The search kernels compiled ahead of time, so that a process can run them without numba.

Numba caches its compiled kernels (`cache=True`), but a process still imports numba and sets
up its compiler before it can load them: 2-5 s, far more than a cascade on 100k entities
takes. A one-shot `keten cascade` paid that every time. Here `settle` and `reset` of
keten.queries.kernel (the same Python functions, compiled by numba's own pipeline through
`numba.pycc`) become a plain extension module that imports in milliseconds with numpy only.

The module is named after a digest of kernel.py, this file and the numba, numpy and Python
versions, so a changed kernel is never run from an old build. It lives in the `__pycache__`
folder beside kernel.py (or, when that is read-only, in the user's cache folder). `make
install`/`make run` and the Docker image build it (`python -m keten.queries.ahead`); a
process that finds none builds it once (under a lock, so two processes do not both
compile). Building needs a C compiler; where it fails, the failure is recorded beside the
module's name and every process uses numba's kernels instead (keten.queries.workspace), so
nothing breaks, only the first search of each process is slower.

The compiled functions do not check their arguments (a wrong dtype reads the wrong memory),
so `AheadKernels` gives every array the exact dtype and layout the signatures name first.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import sys
import sysconfig
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
KERNEL_SOURCE = HERE / "kernel.py"
PREFIX = "keten_kernels_"

ARGUMENTS: dict[str, tuple[str, bool]] = {
    "indptr": ("int64", False),
    "targets": ("int32", False),
    "buffer_hours": ("float64", False),
    "strength": ("float64", False),
    "group": ("int32", False),
    "group_size": ("int32", False),
    "sources": ("int64", False),
    "horizon": ("float64", False),
    "min_strength": ("float64", False),
    "sample": ("boolean", False),
    "count": ("int64", False),
    "time": ("float64", True),
    "depth": ("int64", True),
    "pred": ("int64", True),
    "settled": ("boolean", True),
    "group_count": ("int32", True),
    "group_time": ("float64", True),
    "group_depth": ("int64", True),
    "group_pred": ("int64", True),
    "heap": ("int64", True),
    "pos": ("int64", True),
    "order": ("int64", True),
}
"""Every argument of the exported kernels: its dtype, and whether the kernel writes it."""
SETTLE = (
    "indptr targets buffer_hours strength group group_size sources horizon min_strength sample "
    "time depth pred settled group_count group_time group_depth group_pred heap pos order"
)
RESET = "indptr group order count time depth pred settled group_count group_time"
SETTLE_ARGS = [(name, *ARGUMENTS[name]) for name in SETTLE.split()]
RESET_ARGS = [(name, *ARGUMENTS[name]) for name in RESET.split()]
SCALARS = {"horizon", "min_strength", "sample", "count"}
EXPORTS = {"settle": ("int64", SETTLE_ARGS), "reset": ("none", RESET_ARGS)}


@functools.cache
def module_name() -> str:
    """The extension's name for the current kernel source, compiler and Python."""
    digest = hashlib.sha256()
    digest.update(KERNEL_SOURCE.read_bytes())
    digest.update(Path(__file__).read_bytes())
    for part in (version("numba"), np.__version__, sys.version, sysconfig.get_platform()):
        digest.update(part.encode())
    return PREFIX + digest.hexdigest()[:16]


def folders() -> list[Path]:
    """Where the module may live: beside kernel.py, then the user's cache folder."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [HERE / "__pycache__", Path(cache) / "keten" / "kernels"]


def _file(folder: Path, name: str) -> Path:
    return folder / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"


def _import(path: Path, name: str) -> ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def load() -> ModuleType | None:
    """The compiled module if one was built for this kernel source, else None."""
    name = module_name()
    for folder in folders():
        path = _file(folder, name)
        if path.exists():
            try:
                return _import(path, name)
            except ImportError as exc:
                log.warning("cannot load the compiled kernels %s: %s", path, exc)
    return None


def failed() -> str | None:
    """Why building the module for this source failed before, or None."""
    name = module_name()
    for folder in folders():
        marker = folder / f"{name}.failed"
        if marker.exists():
            return marker.read_text()
    return None


def _writable_folder() -> Path:
    for folder in folders():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise OSError("no writable folder for the compiled kernels: " + ", ".join(map(str, folders())))


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    with (folder / f"{PREFIX}build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _numba_type(dtype: str, array: bool, writable: bool) -> Any:
    from numba import types

    scalar = getattr(types, dtype)
    if not array:
        return scalar
    return types.Array(scalar, 1, "C", readonly=not writable)


def _compile(folder: Path, name: str) -> Path:
    """Compile the kernels into `folder` (written under another name, then renamed)."""
    from numba.core.errors import NumbaPendingDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        from numba import types
        from numba.pycc import CC

        from keten.queries import kernel

        cc = CC(name)
        for export, (result, args) in EXPORTS.items():
            signature = getattr(types, result)(
                *(_numba_type(dtype, arg not in SCALARS, w) for arg, dtype, w in args)
            )
            cc.export(export, signature)(getattr(kernel, export).py_func)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as build:
            cc.output_dir = build
            cc.compile()
            built = _file(Path(build), name)
            final = _file(folder, name)
            os.replace(built, final)
    return final


def build(force: bool = False) -> ModuleType:
    """Build (unless already built) and load the module; raises when compiling fails, after
    recording why, so that later processes use numba's kernels without trying again."""
    name = module_name()
    if not force:
        module = load()
        if module is not None:
            return module
    folder = _writable_folder()
    with _locked(folder):
        path = _file(folder, name)
        if force or not path.exists():
            try:
                _compile(folder, name)
            except Exception as exc:
                (folder / f"{name}.failed").write_text(f"{type(exc).__name__}: {exc}")
                raise
        (folder / f"{name}.failed").unlink(missing_ok=True)
        if folder == folders()[0]:  # the user's folder may serve other checkouts too
            _drop_old(folder, name)
        return _import(path, name)


def _drop_old(folder: Path, name: str) -> None:
    """Remove modules and markers of earlier kernel sources (a running process that loaded
    one keeps its copy)."""
    for other in folder.glob(f"{PREFIX}*"):
        if not other.name.startswith(name) and not other.name.endswith(".lock"):
            if other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
            else:
                other.unlink(missing_ok=True)


Array = npt.NDArray[Any]


class AheadKernels:
    """`settle` and `reset` with the signatures of keten.queries.kernel, run by the compiled
    module after each argument is given its exact dtype and layout (inputs are converted,
    which copies only when they differ; the state arrays a search writes into must already
    be right, since a converted copy would take the results away)."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module

    @staticmethod
    def _arguments(spec: list[tuple[str, str, bool]], values: tuple[Any, ...]) -> list[Any]:
        if len(values) != len(spec):
            raise TypeError(f"expected {len(spec)} arguments, got {len(values)}")
        out: list[Any] = []
        for (arg, dtype, writable), value in zip(spec, values, strict=True):
            if arg in SCALARS:
                out.append(bool(value) if dtype == "boolean" else _scalar(dtype, value))
                continue
            wanted = np.dtype("bool" if dtype == "boolean" else dtype)
            array = np.ascontiguousarray(value, dtype=wanted)
            if array.ndim != 1:
                raise TypeError(f"{arg} must be one-dimensional")
            if writable and (array is not value or not array.flags.writeable):
                raise TypeError(f"{arg} must be a writable C-contiguous {wanted} array")
            out.append(array)
        return out

    def settle(self, *args: Any) -> int:
        """keten.queries.kernel.settle, compiled ahead."""
        return int(self.module.settle(*self._arguments(SETTLE_ARGS, args)))

    def reset(self, *args: Any) -> None:
        """keten.queries.kernel.reset, compiled ahead."""
        self.module.reset(*self._arguments(RESET_ARGS, args))


def _scalar(dtype: str, value: Any) -> float | int:
    return float(value) if dtype.startswith("float") else int(value)


def main() -> None:
    """`python -m keten.queries.ahead`: build the module now (`make install` runs it)."""
    try:
        module = build(force=failed() is not None)
    except Exception as exc:
        reason = f"could not compile the search kernels ahead ({exc}); numba's are used"
        print(reason, file=sys.stderr)
        raise SystemExit(1) from exc
    print(f"compiled search kernels: {module.__file__}")


if __name__ == "__main__":
    main()
