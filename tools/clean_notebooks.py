"""Strip outputs, execution counts and run metadata from notebooks, so they are stored clean.

    python tools/clean_notebooks.py                 # every lessons/*.ipynb, in place
    python tools/clean_notebooks.py lessons/01_autograd.ipynb
    python tools/clean_notebooks.py --check         # exit 1 (and list them) if any is not clean

tests/test_lessons.py fails on a notebook stored with outputs; run this after working in Jupyter.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
RUN_METADATA = ("execution", "collapsed", "scrolled")   # what running or viewing a cell leaves behind


def clean(nb) -> bool:
    """Clean ``nb`` in place; return whether anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "code":
            if cell.outputs or cell.execution_count is not None:
                cell.outputs, cell.execution_count = [], None
                changed = True
        for key in RUN_METADATA:
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: lessons/*.ipynb)")
    parser.add_argument("--check", action="store_true", help="only report, change nothing")
    args = parser.parse_args(argv)
    paths = args.paths or sorted((ROOT / "lessons").glob("*.ipynb"))
    dirty = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if clean(nb):
            dirty.append(path)
            if not args.check:
                nbformat.write(nb, path)
    verb = "not clean" if args.check else "cleaned"
    for path in dirty:
        print(f"{verb}: {path}")
    return 1 if (args.check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main())
