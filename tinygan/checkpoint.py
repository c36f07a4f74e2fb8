"""Checkpoints: nested state in one ``.npz``, readable without pickle, written atomically.

``save(path, model=model.state_dict(), optim=opt.state_dict(), step=1200, rng=get_rng_state())``
stores any nesting of dicts, lists and tuples whose leaves are arrays (NumPy or
CuPy), Tensors, NumPy scalars or JSON values (int, float, str, bool, None);
``load(path)`` gives the same structure back.

Format (version 1).  A plain ``.npz`` (a zip of ``.npy`` files):

- every array is one entry, named by its path in the structure:
  ``model/conv1.weight``, ``optim/state/0/exp_avg``;
- the entry ``__meta__.json`` is a uint8 array holding UTF-8 JSON::

      {"format": "tinygan-checkpoint", "version": 1, "state": TREE}

  where TREE mirrors the saved structure with each array replaced by a
  reference ``{"__array__": "model/conv1.weight"}`` (plus ``"tensor": true`` for a
  Tensor, ``"scalar": true`` for a NumPy scalar), tuples as ``{"__tuple__": [...]}``,
  and dicts whose keys aren't plain strings as ``{"__items__": [[key, value], ...]}``.

Why not pickle: loading a pickle runs code chosen by whoever wrote the file, so
a checkpoint from the internet could do anything.  ``load`` reads with
``allow_pickle=False`` and refuses a file that needs it.

Why atomic: a run killed while saving (out of time, Ctrl-C, a full disk) must
not destroy the last good checkpoint.  ``save`` writes a temporary file in the
same folder, flushes it to disk (fsync), then renames it onto the target with
``os.replace``, which is atomic: the target is at every moment either the old
complete file or the new complete file.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import backend
from .atomic import atomic_write
from .autograd import Tensor

FORMAT = "tinygan-checkpoint"
VERSION = 1
META_KEY = "__meta__.json"
_TAGS = ("__array__", "__tuple__", "__items__")


class CheckpointError(ValueError):
    """A file that isn't a readable tinygan checkpoint."""


# ----------------------------------------------------------------------------
# structure <-> (JSON tree, flat arrays)
# ----------------------------------------------------------------------------
def _encode(obj: Any, key: str, arrays: dict) -> Any:
    """The JSON tree for ``obj``; arrays found on the way go into ``arrays[key]``."""
    if isinstance(obj, Tensor) or isinstance(obj, np.ndarray) or backend.is_cupy_array(obj) \
            or isinstance(obj, np.generic):
        ref: dict = {"__array__": key}
        if isinstance(obj, Tensor):
            obj, ref["tensor"] = obj.data, True
        elif isinstance(obj, np.generic):
            ref["scalar"] = True
        arr = np.asarray(backend.to_device(obj, "cpu"))
        if arr.dtype.hasobject:
            raise TypeError(f"checkpoint.save: {key or 'state'} is an object array, which would need "
                            "pickle; convert it to a numeric array or to lists")
        if key in arrays or key == META_KEY:
            raise ValueError(f"checkpoint.save: two arrays map to the same name {key!r} "
                             "(a key containing '/' collides with a nested one); rename one")
        arrays[key] = arr
        return ref
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj   # json writes nan/inf as NaN/Infinity, and reads them back
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, f"{key}/{i}" if key else str(i), arrays) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        def sub(k):
            return f"{key}/{k}" if key else str(k)
        if all(isinstance(k, str) for k in obj) and not any(k in _TAGS for k in obj):
            return {k: _encode(v, sub(k), arrays) for k, v in obj.items()}
        # int keys (optimizer state by parameter index), tuple keys, or keys that would look
        # like our tags: keep them exactly by storing the pairs.
        return {"__items__": [[_encode_key(k, key), _encode(v, sub(k), arrays)] for k, v in obj.items()]}
    raise TypeError(
        f"checkpoint.save: can't store {type(obj).__name__} at {key or 'state'!r}; use arrays, "
        "Tensors, numbers, strings, bools, None, and dicts/lists/tuples of them"
    )


def _encode_key(k: Any, where: str) -> Any:
    if k is None or isinstance(k, (bool, int, float, str)):
        return k
    if isinstance(k, tuple):
        return {"__tuple__": [_encode_key(x, where) for x in k]}
    raise TypeError(f"checkpoint.save: dict key {k!r} under {where or 'state'!r} is not a number, "
                    "string, bool, None or tuple of them")


def _decode(tree: Any, arrays: dict, device) -> Any:
    if isinstance(tree, list):
        return [_decode(v, arrays, device) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__array__" in tree:
        name = tree["__array__"]
        if name not in arrays:
            raise CheckpointError(f"the metadata refers to an array {name!r} that isn't in the file")
        arr = arrays[name]
        if tree.get("scalar"):
            return arr[()]
        if tree.get("tensor"):
            return Tensor(backend.to_device(arr, device if device is not None else "cpu"))
        return arr
    if "__tuple__" in tree:
        return tuple(_decode(v, arrays, device) for v in tree["__tuple__"])
    if "__items__" in tree:
        return {_decode_key(k): _decode(v, arrays, device) for k, v in tree["__items__"]}
    return {k: _decode(v, arrays, device) for k, v in tree.items()}


def _decode_key(k: Any) -> Any:
    if isinstance(k, dict) and "__tuple__" in k:
        return tuple(_decode_key(x) for x in k["__tuple__"])
    return k


# ----------------------------------------------------------------------------
# save / load
# ----------------------------------------------------------------------------
def save(path: "str | os.PathLike", **state: Any) -> Path:
    """Write ``state`` (keyword arguments, any nesting) to ``path`` atomically; return the path.

    The path is used as given (no ``.npz`` is appended).  Folders are created.
    """
    path = Path(path)
    arrays: dict = {}
    tree = _encode(state, "", arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "state": tree})
    arrays[META_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: _write_npz(f, arrays))


def _write_npz(f, arrays: dict) -> None:
    # np.savez with a file object writes the zip there (and doesn't append ".npz" to a name).
    np.savez(f, **arrays)


def load(path: "str | os.PathLike", device=None) -> dict:
    """Read a checkpoint written by ``save``: the dict of its keyword arguments.

    Arrays come back as NumPy arrays, Tensors as Tensors (on ``device``, default
    the CPU), NumPy scalars as NumPy scalars, tuples as tuples.  Raises
    ``CheckpointError`` for anything that isn't a valid checkpoint -- never
    unpickles.
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is not a valid .npz checkpoint (not a zip file; truncated or "
                              "not a checkpoint at all)")
    arrays: dict = {}
    try:
        with np.load(path, allow_pickle=False) as npz:
            names = list(npz.files)
            for name in names:
                try:
                    arrays[name] = npz[name]
                except ValueError as exc:
                    if "allow_pickle" in str(exc) or "pickle" in str(exc).lower():
                        raise CheckpointError(
                            f"{path}: entry {name!r} is a pickled object array; tinygan checkpoints "
                            "never contain pickles, and loading one could run arbitrary code, so "
                            "the file is refused"
                        ) from None
                    raise
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path} is not a valid .npz checkpoint (corrupt or truncated: "
                              f"{type(exc).__name__}: {exc})") from None

    raw_meta = arrays.pop(META_KEY, None)
    if raw_meta is None:
        raise CheckpointError(f"{path} has no {META_KEY} entry: it is an .npz, but not a tinygan "
                              "checkpoint")
    try:
        if raw_meta.dtype != np.uint8 or raw_meta.ndim != 1:
            raise ValueError(f"expected a 1-d uint8 array, got {raw_meta.dtype} {raw_meta.shape}")
        meta = json.loads(raw_meta.tobytes().decode("utf-8"))
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: the {META_KEY} entry is garbled ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown format {meta.get('format')!r} (expected {FORMAT!r})")
    version = meta.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported (this tinygan reads "
            f"version {VERSION})" + ("; it was written by a newer tinygan" if newer else "")
        )
    state = _decode(meta.get("state"), arrays, device)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the metadata's state is not a dict")
    return state


# ----------------------------------------------------------------------------
# finding checkpoints
# ----------------------------------------------------------------------------
def _natural_key(path: Path) -> tuple:
    # "step_10" after "step_9": compare the digit runs as numbers.
    parts = re.split(r"(\d+)", path.name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def list_checkpoints(folder: "str | os.PathLike", pattern: str = "*.npz") -> list:
    """The checkpoints in ``folder``, oldest first by the numbers in their names.

    ``step_900.npz`` comes before ``step_1200.npz``.  Hidden files (``save``'s
    temporary files start with a dot) are skipped; a missing folder gives [].
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob(pattern) if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=_natural_key)


def latest_checkpoint(folder: "str | os.PathLike", pattern: str = "*.npz") -> Path | None:
    """The last of ``list_checkpoints(folder)``, or None when there is none."""
    found = list_checkpoints(folder, pattern)
    return found[-1] if found else None
