"""The lessons run top to bottom, their exercises' checks can fail, and they are stored clean.

Each ``lessons/*.ipynb`` runs in one fresh ``python3`` kernel (nbclient), working directory
``lessons/``, with ``TINYGAN_FAST=1`` (small data, few steps): tools/run_lessons.py, which at each
exercise runs the stub as stored and requires it or its check to fail, then runs the solution
from ``lessons/solutions/`` in its place and requires the check to pass.  The notebooks check
themselves with ``assert``s, so running them is the test.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_lessons", ROOT / "tools" / "run_lessons.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module               # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


run_lessons = _load_runner()


def test_there_are_lessons():
    assert NOTEBOOKS, f"no notebooks found in {LESSONS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_is_stored_clean(path: Path):
    """No outputs, no execution counts in the stored file (tools/clean_notebooks.py strips them)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (
        f"{path.name}: code cells {dirty} have stored outputs or execution counts; "
        f"run `python tools/clean_notebooks.py {path.relative_to(LESSONS.parent)}`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_fit_their_solutions(path: Path):
    """Every stub is tagged, sits under its heading, is followed by its check, has one solution."""
    try:
        found = run_lessons.exercises(path)
    except run_lessons.LessonError as err:
        pytest.fail(str(err), pytrace=False)
    assert found, f"{path.name}: no exercises (code cells tagged 'exercise')"


def test_every_solutions_file_has_its_lesson():
    names = {p.stem for p in NOTEBOOKS}
    orphans = [p.name for p in (LESSONS / "solutions").glob("*.py") if p.stem not in names]
    assert not orphans, f"solutions without a lesson notebook: {orphans}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lesson_runs(path: Path):
    """Top to bottom with the solutions in; every stub, as stored, fails its check."""
    try:
        run_lessons.run_lesson(path, fast=True, cell_timeout=CELL_TIMEOUT_S)
    except run_lessons.LessonError as err:
        pytest.fail(str(err), pytrace=False)
