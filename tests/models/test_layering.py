"""Layering: train/ builds on models/, never the other way round.

The registry names each family's kind of training as a string; what a kind does lives in
tinygan/train/kinds.py.  So models/ must not import train/ -- checked in the source (every
import statement of every module) and in a fresh process that loads a shipped model.
"""
import ast
import subprocess
import sys
from pathlib import Path

import tinygan.models

MODELS = Path(tinygan.models.__file__).parent


def _imports(path: Path) -> list:
    """The modules ``path`` imports, absolute (``tinygan.train.loop``) or as written
    relative to tinygan.models (``..train.loop`` -> ``tinygan.train.loop``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ["tinygan", "models"][:max(0, 2 - (node.level - 1))] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [module] + [f"{module}.{alias.name}" for alias in node.names]
    return found


def test_no_module_of_models_imports_train():
    offenders = {path.name: [m for m in _imports(path) if m.startswith("tinygan.train")]
                 for path in sorted(MODELS.glob("*.py"))}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_import_check_sees_a_relative_import_of_train(tmp_path):
    # The check above can fail: a relative import of train from models/ is seen.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..train.loop import load_run\n")
    assert "tinygan.train.loop" in _imports(probe)


def test_loading_a_shipped_model_does_not_import_train():
    code = ("import sys, tinygan.models as m; m.pretrained('vae'); "
            "print(sorted(k for k in sys.modules if k.startswith('tinygan.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
