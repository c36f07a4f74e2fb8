"""The lesson notebooks run top to bottom, and are stored without outputs.

Each ``lessons/*.ipynb`` is executed with nbclient in a fresh ``python3`` kernel
whose working directory is ``lessons/`` and whose environment has
``TINYGAN_FAST=1`` (small data, few steps).  The notebooks check themselves
with ``assert``s (the exercises included), so running them is the test.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
from nbclient.exceptions import CellExecutionError  # noqa: E402

LESSONS = Path(__file__).resolve().parents[1] / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300
ANSI_COLOURS = re.compile(r"\x1b\[[0-9;]*m")   # IPython colours its tracebacks


def test_there_are_lessons():
    assert NOTEBOOKS, f"no notebooks found in {LESSONS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_is_stored_clean(path: Path):
    """No outputs and no execution counts in the stored file (strip them with tools/clean_notebooks.py)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have stored outputs or execution counts; "
        f"run `python tools/clean_notebooks.py {path.relative_to(LESSONS.parent)}`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_runs(path: Path, monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")      # the kernel inherits os.environ
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
        resources={"metadata": {"path": str(LESSONS)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        failed = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
                  and any(out.get("output_type") == "error" for out in cell.get("outputs", []))]
        where = f"cell {failed[0]}" if failed else "a cell"
        message = ANSI_COLOURS.sub("", str(err))
        pytest.fail(f"{path.name}: {where} failed:\n{message}", pytrace=False)
