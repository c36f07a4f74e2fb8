"""Run lesson notebooks top to bottom with the exercises' solutions put in, and check every stub.

    python tools/run_lessons.py                           # every lessons/*.ipynb, TINYGAN_FAST=1
    python tools/run_lessons.py lessons/05_first_gan.ipynb
    python tools/run_lessons.py --full lessons/05_first_gan.ipynb     # without TINYGAN_FAST

A lesson ends with exercises. Each is a code cell tagged ``exercise`` (the stub the learner
completes: ``...`` or ``raise NotImplementedError(...)`` under ``# YOUR ANSWER``), followed by a
code cell tagged ``check``. Exercise N's solution is the section ``# %% Exercise N`` of
``lessons/solutions/NN_topic.py``: the whole cell, answer filled in.

One kernel runs a notebook's cells in order. At an exercise it runs the stub as stored and then
its check, and requires one of the two to fail (a stub that passes its check means a check that
cannot fail). Then it runs the solution in the stub's place and the check again, which must
pass, and goes on. Stub and check cells are written so that running them twice leaves what a
run with the solutions alone would: the later cells see the solution, not the stub.

For each notebook it prints the wall-clock time and the kernel's CPU time (run with
``TINYGAN_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1`` to time one core). tests/test_lessons.py runs
the same code.
"""
from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
EXERCISE, CHECK = "exercise", "check"
SECTION = re.compile(r"^# %% Exercise (\d+)\b.*$", re.M)
HEADING = re.compile(r"^#+ Exercise (\d+)\b", re.M)
ANSI_COLOURS = re.compile(r"\x1b\[[0-9;]*m")      # IPython colours its tracebacks
# A check that fails with one of these did not get as far as judging the stub: the stub is broken.
BROKEN = ("NameError", "SyntaxError", "IndentationError", "ImportError", "ModuleNotFoundError")


class LessonError(Exception):
    """A lesson that does not run, or whose exercises, checks and solutions do not fit together."""


@dataclass
class Exercise:
    number: int
    stub: int          # index of the stub cell in the notebook
    check: int         # index of its check cell
    solution: str      # the solution's source, to run in the stub's place


@dataclass
class Result:
    path: Path
    exercises: int
    wall_s: float
    cpu_s: float


def solutions_path(notebook: Path) -> Path:
    return notebook.parent / "solutions" / f"{notebook.stem}.py"


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def read_solutions(path: Path) -> list[str]:
    """The sections ``# %% Exercise N`` of a solutions file, in order (numbered 1, 2, ...)."""
    parts = SECTION.split(path.read_text())
    numbers = [int(n) for n in parts[1::2]]
    if numbers != list(range(1, len(numbers) + 1)):
        raise LessonError(f"{path.name}: sections numbered {numbers}, expected 1 to {len(numbers)}")
    return [body.strip("\n") for body in parts[2::2]]


def _names(source: str) -> tuple[set, set]:
    """(names a cell defines at top level, names it reads), IPython magics left out."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defined, read


def exercises(path: Path, nb=None) -> list[Exercise]:
    """The exercises of a notebook with their solutions; LessonError if they do not fit together."""
    nb = nb if nb is not None else nbformat.read(path, as_version=4)
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    stubs = [i for i in code if EXERCISE in tags(nb.cells[i])]
    checks = [i for i in code if CHECK in tags(nb.cells[i])]
    problems = []
    untagged = [i for i in code if "YOUR ANSWER" in nb.cells[i].source and i not in stubs]
    if untagged:
        problems.append(f"cells {untagged} hold `# YOUR ANSWER` but are not tagged {EXERCISE!r}")
    found = []
    for number, i in enumerate(stubs, start=1):
        source = nb.cells[i].source
        after = [j for j in code if j > i]
        check = after[0] if after else None
        if check is None or check not in checks:
            problems.append(f"exercise {number} (cell {i}) is not followed by a code cell "
                            f"tagged {CHECK!r}")
        headings = [h for cell in nb.cells[:i] if cell.cell_type == "markdown"
                    for h in HEADING.findall(cell.source)]
        if not headings or int(headings[-1]) != number:
            problems.append(f"exercise cell {number} (cell {i}) is not under a heading "
                            f"'Exercise {number}'")
        blanks = "..." in source or "NotImplementedError" in source
        if "YOUR ANSWER" not in source or not blanks:
            problems.append(f"exercise {number} (cell {i}) is not a stub: it needs `# YOUR ANSWER` "
                            "and a `...` or `raise NotImplementedError(...)` to replace")
        found.append(Exercise(number, i, check, ""))
    stray = sorted(set(checks) - {e.check for e in found})
    if stray:
        problems.append(f"cells {stray} are tagged {CHECK!r} but follow no exercise")
    sol_path = solutions_path(path)
    if found:
        if not sol_path.exists():
            problems.append(f"no solutions file {sol_path.relative_to(path.parent)}")
        else:
            solutions = read_solutions(sol_path)
            if len(solutions) != len(found):
                problems.append(f"{len(found)} exercise stubs but {len(solutions)} solutions in "
                                f"{sol_path.relative_to(path.parent)}")
            for e, solution in zip(found, solutions):
                e.solution = solution
                if "NotImplementedError" in solution:
                    problems.append(f"the solution to exercise {e.number} is still a stub")
                    continue
                # What the check reads of the solution's names, the stub must define too (as
                # `...` or a function that raises), or the learner meets a NameError, not a hint.
                try:
                    stub_defines, _ = _names(nb.cells[e.stub].source)
                    solution_defines, _ = _names(solution)
                    check_source = nb.cells[e.check].source if e.check is not None else ""
                    _, check_reads = _names(check_source)
                except SyntaxError as err:
                    problems.append(f"exercise {e.number}: {err}")
                    continue
                missing = sorted((solution_defines & check_reads) - stub_defines)
                if missing:
                    problems.append(f"exercise {e.number}'s check reads {missing}, which the "
                                    "solution defines but the stub does not")
    elif sol_path.exists():
        problems.append(f"{sol_path.relative_to(path.parent)} exists but the lesson has no "
                        "exercises")
    if problems:
        raise LessonError(f"{path.name}: " + "; ".join(problems))
    return found


def _run(client: NotebookClient, cell, index: int) -> CellExecutionError | None:
    """Execute one cell; return its error (None if it ran)."""
    try:
        client.execute_cell(cell, index)
    except CellExecutionError as err:
        return err
    return None


def _fail(path: Path, what: str, err: CellExecutionError) -> LessonError:
    return LessonError(f"{path.name}: {what} failed:\n{ANSI_COLOURS.sub('', str(err))}")


def run_lesson(path: Path, fast: bool = True, cell_timeout: int = 300) -> Result:
    """Run the notebook at ``path`` as described in the module docstring; LessonError if it fails.

    ``fast`` sets ``TINYGAN_FAST=1`` for the kernel (else removes it); the kernel's working
    directory is the notebook's folder.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    found = {e.stub: e for e in exercises(path, nb)}
    checks = {e.check for e in found.values()}
    env = dict(os.environ)
    if fast:
        env["TINYGAN_FAST"] = "1"
    else:
        env.pop("TINYGAN_FAST", None)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel(env=env):
        for index, cell in enumerate(list(nb.cells)):
            if index in checks:
                continue                                   # run with its exercise, below
            e = found.get(index)
            if e is None:
                err = _run(client, cell, index)
                if err is not None:
                    raise _fail(path, f"cell {index}", err)
                continue
            check = nb.cells[e.check]
            # The stub as stored: it raises NotImplementedError, or runs and its check fails.
            err = _run(client, cell, index)
            if err is not None and err.ename != "NotImplementedError":
                raise _fail(path, f"exercise {e.number}'s stub (cell {index}) should run or raise "
                            f"NotImplementedError, but it", err)
            if err is None:
                err = _run(client, check, e.check)
                if err is None:
                    raise LessonError(f"{path.name}: exercise {e.number}'s check (cell {e.check}) "
                                      "passes with the stub as stored: it cannot fail")
                if err.ename in BROKEN:
                    raise _fail(path, f"exercise {e.number}'s check (cell {e.check}) did not get "
                                "to judge the stub: it", err)
            # The solution in the stub's place, then the check, which must pass.
            solved = copy.deepcopy(cell)
            solved.source = e.solution
            for what, c, i in [("solution", solved, index), ("check", check, e.check)]:
                err = _run(client, c, i)
                if err is not None:
                    raise _fail(path, f"exercise {e.number}'s {what} (cell {i}, the solution in)",
                                err)
        probe = nbformat.v4.new_code_cell("import time as _t; print(repr(_t.process_time()))")
        nb.cells.append(probe)
        err = _run(client, probe, len(nb.cells) - 1)
        if err is not None:
            raise _fail(path, "reading the kernel's CPU time", err)
        cpu = float("".join(o.get("text", "") for o in probe.outputs).strip())
    return Result(path, len(found), time.perf_counter() - start, cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: lessons/*.ipynb)")
    parser.add_argument("--full", action="store_true",
                        help="run without TINYGAN_FAST (the full lessons)")
    parser.add_argument("--cell-timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(LESSONS.glob("*.ipynb"))
    failed = 0
    print(f"{'lesson':40s} {'exercises':>9s} {'wall s':>8s} {'CPU s':>8s}   "
          f"(TINYGAN_FAST={'unset' if args.full else '1'})", flush=True)
    for path in paths:
        try:
            r = run_lesson(path, fast=not args.full, cell_timeout=args.cell_timeout)
        except LessonError as err:
            failed += 1
            print(f"{path.name:40s} FAILED\n{err}", flush=True)
            continue
        print(f"{path.name:40s} {r.exercises:9d} {r.wall_s:8.1f} {r.cpu_s:8.1f}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
