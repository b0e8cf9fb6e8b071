"""Every analyst notebook in notebooks/ runs from top to bottom without an error.

The kernel is ipykernel's native `python3` spec; jupyter_client starts a spec whose command
is `python` with the interpreter running the tests (sys.executable), so the notebooks import
the keten installed in this environment, not whatever `python` is first on PATH.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_the_three_walkthroughs_are_there() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-power-outage.ipynb",
        "02-gallium-embargo.ipynb",
        "03-contributor-review.ipynb",
    ]


def test_kernel_runs_this_interpreter() -> None:
    spec = KernelSpecManager().get_kernel_spec("python3")
    command = KernelManager(kernel_name="python3").format_kernel_cmd()
    assert spec.argv[0] in {"python", sys.executable} and command[0] == sys.executable


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert images, f"{path.name} draws no picture"
