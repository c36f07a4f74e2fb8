"""Checkpoints: nested state in one ``.npz``, readable without pickle, written atomically.

``save(path, model=model.state_dict(), optim=opt.state_dict(), step=1200, rng=get_rng_state())``
stores any nesting of dicts, lists and tuples whose leaves are arrays (NumPy or
CuPy), Tensors, NumPy scalars or JSON values (int, float, str, bool, None);
``load(path)`` gives the same structure back.

Format (version 1).  A plain ``.npz`` (a zip of ``.npy`` files):

- every array is one entry ``NAME.npy``, NAME being its path in the structure:
  ``model/conv1.weight``, ``optim/state/0/exp_avg``;
- the entry ``__meta__.json.npy`` is a uint8 array holding UTF-8 JSON::

      {"format": "tinygan-checkpoint", "version": 1, "state": TREE}

  where TREE mirrors the saved structure with each array replaced by a
  reference ``{"__array__": "model/conv1.weight"}`` (plus ``"tensor": true`` for a
  Tensor, ``"scalar": true`` for a NumPy scalar), tuples as ``{"__tuple__": [...]}``,
  and dicts whose keys aren't plain strings as ``{"__items__": [[key, value], ...]}``.

Why not pickle: loading a pickle runs code chosen by whoever wrote the file, so a
checkpoint from the internet could do anything.  Nothing here is ever unpickled.

Why so many checks: a file is read the way safetensors reads its files -- all it declares
is checked before any array is inflated.  ``load`` checks the size of the zip's index, then
reads ``__meta__.json`` and checks its size, its nesting depth and every node of its tree
against the format above; checks that the arrays the metadata names are exactly the file's
entries; reads each entry's ``.npy`` header (dtype, shape) and checks the size it declares
against the entry's uncompressed size and against ``max_bytes`` -- and only then reads the
arrays.  ``save`` refuses to write what ``load`` would refuse to read.

Threat model: a checkpoint from somewhere else (a download, a shared folder) may be
damaged or written to harm.  What such a file CANNOT do to ``load``:

- run code: nothing is unpickled (an entry whose dtype holds Python objects is refused
  from its header), and the metadata is JSON, read into plain values;
- take unbounded memory or time: the zip index is at most ``MAX_INDEX_BYTES``, the
  metadata (JSON and .npy headers) at most ``MAX_META_BYTES``, the JSON at most
  ``MAX_DEPTH`` brackets deep (so no recursion runs out of stack), the arrays at most
  ``max_bytes`` uncompressed in all (default ``MAX_BYTES``), entries only stored or
  deflated (fixed-size decoder state), and no entry is inflated that the metadata does
  not name -- so load's memory is about ``max_bytes`` plus 60 MB at worst (1 MiB of JSON
  like ``[[[]],[[]],...]``, parsed and decoded), and its time that of inflating
  ``max_bytes`` plus under a second of parsing;
- fail with anything but ``CheckpointError``, whose one-line message names the file and
  what is wrong with it.

What it CAN still do: hold well-formed but wrong values (weights that make a model produce
nonsense, a config or step count that misleads the caller, NaNs), up to the limits; a
file within the limits is trusted as to its content.  The zip's CRC-32 catches accidental
damage, not a forger.  Whoever raises ``max_bytes`` raises the memory a file may take.

Why atomic: a run killed while saving (out of time, Ctrl-C, a full disk) must
not destroy the last good checkpoint.  ``save`` writes a temporary file in the
same folder, flushes it to disk (fsync), then renames it onto the target with
``os.replace``, which is atomic: the target is at every moment either the old
complete file or the new complete file (see ``tinygan.atomic``).
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from . import backend
from .atomic import atomic_write
from .autograd import Tensor

FORMAT = "tinygan-checkpoint"
VERSION = 1
META_KEY = "__meta__.json"
_NPY = ".npy"               # the array called NAME is the zip entry NAME.npy
_TAGS = ("__array__", "__tuple__", "__items__")

# What ``load`` reads (see the module's docstring).
# All arrays of one file, uncompressed: the default of ``load(max_bytes=)``.  A DCGAN checkpoint
# with its optimizers and EMA holds 14 MB; 4 GiB leaves room for models a few hundred times
# larger and still fits in a laptop's memory.
MAX_BYTES = 4 << 30
# All metadata of one file: the JSON of __meta__.json and the .npy headers of its entries
# (a DCGAN checkpoint has 6.6 KB of JSON and 81 headers of 128 bytes).  Parsed, JSON costs up
# to ~30 bytes of Python objects per byte of text (``[[[]],[[]],...]``), so this bounds the
# parse to about 30 MB (and as much again for the structure decoded from it); and it bounds
# the time numpy's header parser (ast.literal_eval) gets.
MAX_META_BYTES = 1 << 20
# Brackets in the metadata: a DCGAN checkpoint's go 8 deep.  json.loads and the checks below
# recurse once per level, and must stay far from Python's recursion limit (1000).
MAX_DEPTH = 100
# The zip's index (central directory): about 70 bytes per entry, 5.7 KB for a DCGAN checkpoint.
# Python's zipfile turns the whole index into objects, ~6 bytes of memory per byte of index,
# before a single entry can be looked at -- so its size is checked first, from the file's end.
MAX_INDEX_BYTES = 1 << 20


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
        if "\0" in key:
            raise ValueError(f"checkpoint.save: the name {key!r} holds a NUL character, which "
                             "a zip entry's name can't; rename it")
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
    """The structure a checked TREE describes, its references replaced by ``arrays[name]``."""
    if isinstance(tree, list):
        return [_decode(v, arrays, device) for v in tree]
    if not isinstance(tree, dict):
        return tree
    if "__array__" in tree:
        arr = arrays[tree["__array__"]]
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
    if isinstance(k, dict):
        return tuple(_decode_key(x) for x in k["__tuple__"])
    return k


# ----------------------------------------------------------------------------
# save
# ----------------------------------------------------------------------------
def save(path: "str | os.PathLike", **state: Any) -> Path:
    """Write ``state`` (keyword arguments, any nesting) to ``path`` atomically; return the path.

    The path is used as given (no ``.npz`` is appended).  Folders are created.
    """
    path = Path(path)
    arrays: dict = {}
    tree = _encode(state, "", arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "state": tree}).encode("utf-8")
    arrays[META_KEY] = np.frombuffer(meta, dtype=np.uint8)
    _check_loadable(meta, arrays)
    return atomic_write(path, lambda f: _write_npz(f, arrays))


def _check_loadable(meta: bytes, arrays: dict) -> None:
    """Refuse to write metadata that ``load`` would refuse to read (MAX_DEPTH, MAX_META_BYTES:
    the JSON and the .npy headers together), rather than a checkpoint nobody can load."""
    depth = _json_depth(meta)
    if depth > MAX_DEPTH:
        raise ValueError(f"checkpoint.save: the state is nested {depth} levels deep in JSON, more "
                         f"than the MAX_DEPTH={MAX_DEPTH} that load reads")
    total = len(meta)
    for name, arr in arrays.items():
        header = io.BytesIO()   # what write_array writes before the data (version 1.0 if it fits)
        try:
            np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(arr))
        except ValueError:      # over 65535 bytes, or field names outside Latin-1 (version 3.0)
            header.write(bytes(_MAX_HEAD + 1))
        if len(header.getvalue()) > _MAX_HEAD:
            raise ValueError(f"checkpoint.save: {name!r} has the dtype {_short(arr.dtype, 80)}, which "
                             f"no .npy header load reads describes (format 1.0 or 2.0, at most "
                             f"{_MAX_NPY_HEADER} bytes, Latin-1 field names)")
        total += len(header.getvalue())
    if total > MAX_META_BYTES:
        raise ValueError(f"checkpoint.save: the metadata (the state's JSON and the arrays' .npy "
                         f"headers) is {total} bytes, over the MAX_META_BYTES={MAX_META_BYTES} "
                         "that load reads; store long lists of numbers as arrays")


def _write_npz(f, arrays: dict) -> None:
    """The .npz layout numpy.savez writes, with every entry named ``NAME.npy``.

    Not numpy.savez itself: it leaves a name that already ends in ``.npy`` as it is (so
    ``x.npy`` would come back as ``x``), and takes the names ``file`` and ``allow_pickle``
    for its own arguments.
    """
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            # force_zip64: the entry's size isn't known before it is written, and may pass 4 GiB.
            with zf.open(name + _NPY, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, arr, allow_pickle=False)


# ----------------------------------------------------------------------------
# load: the checks, in the order they are made
# ----------------------------------------------------------------------------
_CHUNK = 1 << 20            # arrays are read in pieces this large, straight into their memory
_MAX_NDIM = 64              # numpy's own limit on the number of dimensions
# numpy refuses .npy headers longer than this; with the magic string and version (8 bytes) and
# the header's length (2 or 4 bytes) before it, no header takes more than _MAX_HEAD bytes.
_MAX_NPY_HEADER = 10_000
_MAX_HEAD = 8 + 4 + _MAX_NPY_HEADER

# What reading a damaged zip raises: a bad index or local header (BadZipFile, struct.error,
# LargeZipFile), a "version needed to extract" zipfile doesn't know (NotImplementedError), an
# entry shorter than its sizes say (EOFError), bad deflate data (zlib.error), a name that isn't
# UTF-8 (UnicodeDecodeError, a ValueError), a failed read (OSError).
_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error,
           struct.error, ValueError, OSError)


def _short(text: Any, limit: int = 160) -> str:
    """``text`` on one line, cut at ``limit`` characters: error messages stay one short line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


@contextlib.contextmanager
def _damage_is_an_error(path: Path, entry: str | None = None):
    """Turn what zipfile and zlib raise for a damaged file into a CheckpointError naming it."""
    try:
        yield
    except CheckpointError:
        raise
    except _DAMAGE as exc:
        where = "" if entry is None else f"entry {entry!r}: "
        raise CheckpointError(f"{path} is not a valid .npz checkpoint (corrupt or truncated: "
                              f"{where}{type(exc).__name__}: {_short(exc)})") from None


def load(path: "str | os.PathLike", device=None, *, max_bytes: int = MAX_BYTES) -> dict:
    """Read a checkpoint written by ``save``: the dict of its keyword arguments.

    Arrays come back as NumPy arrays, Tensors as Tensors (on ``device``, default
    the CPU), NumPy scalars as NumPy scalars, tuples as tuples.  ``max_bytes`` bounds the
    arrays' bytes in all (uncompressed); raise it only for a file you trust.  Raises
    ``CheckpointError`` for anything that isn't a valid checkpoint within the limits -- never
    unpickles, and inflates no array before the file's index, metadata and .npy headers have
    all been checked (each entry's CRC-32 is checked as it is read; see the module's docstring).
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise CheckpointError(f"{path}: can't be read ({exc.strerror or _short(exc)})") from None
    with f:
        with _damage_is_an_error(path):
            index_size = _zip_index_size(f)
        if index_size is None:
            raise CheckpointError(f"{path} is not a valid .npz checkpoint (not a zip file; "
                                  "truncated or not a checkpoint at all)")
        if index_size > MAX_INDEX_BYTES:
            raise CheckpointError(f"{path}: its zip index is {index_size} bytes, over the limit "
                                  f"MAX_INDEX_BYTES={MAX_INDEX_BYTES}")
        with _damage_is_an_error(path):
            zf = zipfile.ZipFile(f)
        with zf:
            reader = _Reader(path, zf, max_bytes)
            tree = reader.state_tree()
            refs = _check_tree(path, tree)
            arrays = reader.arrays(refs)
    return _decode(tree, arrays, device)


_END = struct.Struct("<4s4H2LH")           # end of central directory record: size at [5]
_END64_LOCATOR = struct.Struct("<4sLQL")   # where the ZIP64 end record is
_END64 = struct.Struct("<4sQ2H2L4Q")       # ZIP64 end of central directory record: size at [8]


def _zip_index_size(f) -> int | None:
    """The size in bytes of a zip's index (central directory), as zipfile will read it; None
    when the file has no end record, i.e. is not a zip.

    The end record is found as zipfile finds it: the last 22 bytes when they are one with no
    comment, else the last signature in the final 64 KiB + 22 bytes; a ZIP64 end record just
    before it (a file over 4 GiB) gives the size instead.
    """
    size = f.seek(0, os.SEEK_END)
    if size < _END.size:
        return None
    f.seek(size - _END.size)
    record = f.read(_END.size)
    at = size - _END.size
    if not (record[:4] == b"PK\x05\x06" and record[-2:] == b"\0\0"):
        start = max(size - (1 << 16) - _END.size, 0)
        f.seek(start)
        tail = f.read()
        i = tail.rfind(b"PK\x05\x06")
        if i < 0 or len(tail) - i < _END.size:
            return None
        at, record = start + i, tail[i:i + _END.size]
    index_size = _END.unpack(record)[5]
    if at >= _END64_LOCATOR.size + _END64.size:
        f.seek(at - _END64_LOCATOR.size)
        if f.read(4) == b"PK\x06\x07":
            f.seek(at - _END64_LOCATOR.size - _END64.size)
            record64 = f.read(_END64.size)
            if record64[:4] == b"PK\x06\x06":
                index_size = _END64.unpack(record64)[8]
    return index_size


class _Header(NamedTuple):
    """What an entry's .npy header declares, and where (``offset``) its data starts."""
    dtype: np.dtype
    shape: tuple
    fortran_order: bool
    offset: int
    nbytes: int


class _Reader:
    """One open checkpoint: its entries, and the metadata read so far against the limits."""

    def __init__(self, path: Path, zf: zipfile.ZipFile, max_bytes: int):
        self.path, self.zf, self.max_bytes = path, zf, max_bytes
        self.entries = self._entries()
        self.meta_bytes = 0      # metadata read so far: the JSON, then the .npy headers
        # Arrays of one dtype and shape have the same header -- a model's weights, their Adam
        # moments, their EMA -- and numpy's parser (ast.literal_eval) is the slow part of
        # reading a small array: each distinct header is parsed once.
        self.parsed: dict = {}

    def error(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {what}")

    def _entries(self) -> dict:
        """``{array name: ZipInfo}`` of the zip's entries, after the checks its index allows."""
        entries: dict = {}
        for info in self.zf.infolist():
            member = info.filename
            if not member.endswith(_NPY):
                raise self.error(f"entry {_short(repr(member), 80)} is not an array (.npy); a "
                                 "tinygan checkpoint holds nothing else")
            name = member[:-len(_NPY)]
            if name in entries:
                raise self.error(f"entry {_short(repr(member), 80)} appears twice in the zip")
            if info.flag_bits & 0x1:
                raise self.error(f"entry {_short(repr(member), 80)} is encrypted")
            # Stored or deflated only: deflate's decoder has a fixed 32 KiB window, while an
            # LZMA entry chooses its decoder's dictionary size itself (up to 4 GiB).
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self.error(f"entry {_short(repr(member), 80)} uses zip compression method "
                                 f"{info.compress_type}; only stored and deflated entries are read")
            entries[name] = info
        return entries

    # -- the metadata -------------------------------------------------------
    def state_tree(self) -> Any:
        """The metadata's state TREE, its size, depth, format and version checked."""
        info = self.entries.pop(META_KEY, None)
        if info is None:
            raise CheckpointError(f"{self.path} has no {META_KEY} entry: it is an .npz, but not a "
                                  "tinygan checkpoint")
        header = self.header(META_KEY, info, MAX_META_BYTES, "MAX_META_BYTES")
        if header.dtype != np.uint8 or len(header.shape) != 1:
            raise self.error(f"the {META_KEY} entry is garbled (expected a 1-d uint8 array, got "
                             f"{header.dtype} {header.shape})")
        self.spend(header.nbytes, META_KEY)
        raw = self.read_array(META_KEY, info, header).tobytes()
        depth = _json_depth(raw)
        if depth > MAX_DEPTH:
            raise self.error(f"the {META_KEY} entry is nested deeper than {MAX_DEPTH} levels "
                             f"({depth})")
        try:
            meta = json.loads(raw.decode("utf-8"), object_pairs_hook=_object_without_duplicates)
        except ValueError as exc:   # json's errors, UnicodeDecodeError, too many digits
            raise self.error(f"the {META_KEY} entry is garbled ({_short(exc)})") from None
        if type(meta) is not dict:
            raise self.error(f"the {META_KEY} entry is garbled (not a JSON object)")
        fmt = meta.get("format")
        if fmt != FORMAT:
            raise self.error(f"unknown format {_short(repr(fmt), 60)} (expected {FORMAT!r})")
        version = meta.get("version")
        if type(version) is not int or version != VERSION:
            newer = type(version) is int and version > VERSION
            raise self.error(f"checkpoint format version {_short(repr(version), 60)} is not "
                             f"supported (this tinygan reads version {VERSION})"
                             + ("; it was written by a newer tinygan" if newer else ""))
        if set(meta) != {"format", "version", "state"}:
            raise self.error(f"the {META_KEY} entry is garbled (keys {_short(sorted(meta), 80)}; "
                             "expected format, version, state)")
        return meta["state"]

    def spend(self, nbytes: int, name: str) -> None:
        """Count ``nbytes`` of metadata read for entry ``name`` against MAX_META_BYTES."""
        self.meta_bytes += nbytes
        if self.meta_bytes > MAX_META_BYTES:
            raise self.error(f"its metadata (the {META_KEY} JSON and the .npy headers) passes "
                             f"MAX_META_BYTES={MAX_META_BYTES} at entry {_short(repr(name), 80)}")

    # -- the arrays ---------------------------------------------------------
    def arrays(self, refs: dict) -> dict:
        """``{name: array}`` for the references ``{name: is a scalar}`` of the checked tree:
        first every check the headers allow, then the arrays themselves."""
        missing = [name for name in refs if name not in self.entries]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise self.error(f"the metadata refers to an array {_short(repr(missing[0]), 80)} "
                             f"that isn't in the file{more}")
        unnamed = [name for name in self.entries if name not in refs]
        if unnamed:
            raise self.error(f"entry {_short(repr(unnamed[0]), 80)} is not referred to by the "
                             "metadata (a tinygan checkpoint holds exactly the arrays its "
                             "metadata names)")
        headers, total = {}, 0
        for name, scalar in refs.items():
            header = headers[name] = self.header(name, self.entries[name], self.max_bytes)
            if scalar and header.shape != ():
                raise self.error(f"entry {_short(repr(name), 80)} is marked a scalar but has "
                                 f"shape {header.shape}")
            total += header.nbytes
            if total > self.max_bytes:
                raise self.error(f"its arrays hold more than max_bytes={self.max_bytes} bytes in "
                                 f"all (passed at entry {_short(repr(name), 80)}; "
                                 "load(..., max_bytes=) raises the limit for a file you trust)")
        return {name: self.read_array(name, self.entries[name], header)
                for name, header in headers.items()}

    def header(self, name: str, info: zipfile.ZipInfo, max_bytes: int,
               limit: str = "max_bytes") -> _Header:
        """The .npy header of entry ``name``, from its first 10 KB at most (nothing more is
        inflated), checked on its own, against the entry's uncompressed size and against
        ``max_bytes`` (called ``limit`` in messages)."""
        with _damage_is_an_error(self.path, name):
            with self.zf.open(info) as stream:
                prefix = stream.read(min(info.file_size, _MAX_HEAD))
        # The .npy layout: the magic "\x93NUMPY", the version 1.0 or 2.0, the header's length
        # (little-endian, 2 bytes in 1.0 and 4 in 2.0), the header; the data.
        width = {b"\x93NUMPY\x01\x00": 2, b"\x93NUMPY\x02\x00": 4}.get(prefix[:8])
        if width is None:
            raise self.error(f"entry {_short(repr(name), 80)} is not a .npy array of format 1.0 "
                             f"or 2.0 (it starts with {_short(prefix[:8], 40)})")
        offset = 8 + width + int.from_bytes(prefix[8:8 + width], "little")
        head = prefix[:offset]
        declared = self.parsed.get(head)
        if declared is None:
            self.spend(offset, name)
            declared = self.parsed[head] = self._parse_header(name, head)
        shape, fortran_order, dtype = declared
        what = f"entry {_short(repr(name), 80)}"
        if dtype.hasobject:
            raise self.error(f"{what} is a pickled object array (dtype {_short(dtype, 60)}); "
                             "tinygan checkpoints never contain pickles, and loading one could "
                             "run arbitrary code, so the file is refused")
        if dtype.subdtype is not None:
            raise self.error(f"{what} has the sub-array dtype {_short(dtype, 60)}, which numpy "
                             "never writes as an array's dtype")
        if len(shape) > _MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
            raise self.error(f"{what} declares the shape {_short(shape, 80)}, which no array has")
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        # Elements of size 0 count as one byte each: no shape may be arbitrarily large.
        if count * max(dtype.itemsize, 1) > max_bytes:
            hint = " (load(..., max_bytes=) raises it for a file you trust)" \
                if limit == "max_bytes" else ""
            raise self.error(f"{what} declares {dtype} of shape {shape}: {nbytes} bytes, over "
                             f"the limit {limit}={max_bytes}{hint}")
        if info.file_size != offset + nbytes:
            raise self.error(f"{what} declares {dtype} of shape {shape} ({nbytes} bytes) but "
                             f"holds {info.file_size - offset} bytes of data")
        return _Header(dtype, shape, fortran_order, offset, nbytes)

    def _parse_header(self, name: str, head: bytes) -> tuple:
        """``(shape, fortran_order, dtype)`` from the bytes of a .npy header, by numpy."""
        stream = io.BytesIO(head)
        try:
            major, minor = np.lib.format.read_magic(stream)
            read = np.lib.format.read_array_header_1_0 if major == 1 else \
                np.lib.format.read_array_header_2_0
            return read(stream, max_header_size=_MAX_NPY_HEADER)
        except Exception as exc:   # noqa: BLE001
            # numpy parses the header with ast.literal_eval and builds the dtype from what it
            # finds; on a hostile header that fails in several ways (ValueError, SyntaxError,
            # TypeError, RecursionError ...), each of which means one thing: a bad header.
            raise self.error(f"entry {_short(repr(name), 80)} has a bad .npy header "
                             f"({type(exc).__name__}: {_short(exc)})") from None

    def read_array(self, name: str, info: zipfile.ZipInfo, header: _Header) -> np.ndarray:
        """The array of entry ``name``, of the size its checked ``header`` gives, read straight
        into its own memory; zipfile checks the entry's CRC-32 on the way."""
        flat = np.empty(math.prod(header.shape), header.dtype)
        with _damage_is_an_error(self.path, name):
            with self.zf.open(info) as stream:
                stream.read(header.offset)       # the header, checked before
                if header.nbytes:
                    buf = memoryview(flat.view(np.uint8))
                    done = 0
                    while done < header.nbytes:
                        n = stream.readinto(buf[done:done + _CHUNK])
                        if not n:
                            raise self.error(f"entry {_short(repr(name), 80)} ends after {done} "
                                             f"of its {header.nbytes} bytes of data")
                        done += n
                # The entry's last byte made zipfile compare its CRC-32; nothing may follow.
                if stream.read(1):
                    raise self.error(f"entry {_short(repr(name), 80)} holds more than its header "
                                     "says")
        if header.fortran_order:
            return flat.reshape(header.shape[::-1]).T
        return flat.reshape(header.shape)


def _json_depth(raw: bytes) -> int:
    """How deep the brackets ``[ {`` of the JSON text ``raw`` nest, found without recursion (and
    without a regex, whose backtracking state on 1 MiB of escapes would take tens of MB).

    Escapes go first: in a run of backslashes each pairs with the next character, left to
    right, so removing the pairs ``\\\\`` and then ``\\"`` leaves exactly the quotes that open
    and close strings.  A bracket after an odd number of those is inside a string; the others
    count +1 or -1, summed up.  The bytes involved never occur inside a multi-byte UTF-8
    character, so the scan can work on the bytes.  On text that isn't valid JSON the count may
    be off, but only past the point where json.loads stops with an error anyway.
    """
    text = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(text, np.uint8)
    in_string = (np.cumsum(codes == ord('"'), dtype=np.int32) & 1).astype(bool)
    steps = ((codes == ord("[")) | (codes == ord("{"))).view(np.int8) \
        - ((codes == ord("]")) | (codes == ord("}"))).view(np.int8)
    steps[in_string] = 0
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def _object_without_duplicates(pairs: list) -> dict:
    """json.loads' hook for objects: a key given twice is an error, not last-one-wins."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise ValueError(f"the key {_short(repr(twice), 60)} appears twice in one object")
    return obj


def _check_tree(path: Path, tree: Any) -> dict:
    """Check the state TREE node by node against the format; return ``{array name: is a
    scalar}`` of the arrays it refers to, in the order it refers to them."""
    refs: dict = {}
    where_of: dict = {}

    # Where a node is: ``(where of its parent, its key)``, spelled out only for a message (a
    # string per node, made on the way down, would copy long keys once per level below them).
    def spell(where: tuple) -> str:
        keys = []
        while where is not None:
            where, key = where
            keys.append(_short(key, 30))
        return _short("/".join(reversed(keys)), 100)

    def bad(where: tuple, what: str) -> CheckpointError:
        return CheckpointError(f"{path}: the {META_KEY} entry is malformed at {spell(where)}: {what}")

    def check_key(k: Any, where: tuple) -> Any:
        """The dict key ``k`` stands for: a JSON scalar, or a tuple of keys."""
        if k is None or type(k) in (bool, int, float, str):
            return k
        if type(k) is dict and set(k) == {"__tuple__"} and type(k["__tuple__"]) is list:
            return tuple(check_key(x, where) for x in k["__tuple__"])
        raise bad(where, f"a dict key must be a number, string, bool, null or "
                         f'{{"__tuple__": [keys]}}, got {_short(repr(k), 60)}')

    def check(node: Any, where: tuple) -> None:
        if node is None or type(node) in (bool, int, float, str):
            return
        if type(node) is list:
            for i, v in enumerate(node):
                check(v, (where, i))
            return
        # A dict (JSON has nothing else): plain, or one of the tagged forms.
        tag = next((t for t in _TAGS if t in node), None)
        if tag is None:
            for k, v in node.items():
                check(v, (where, k))
        elif tag == "__array__":
            extra = set(node) - {"__array__", "tensor", "scalar"}
            if extra:
                raise bad(where, f"an array reference has other keys too: {_short(sorted(extra), 60)}")
            name = node["__array__"]
            if type(name) is not str:
                raise bad(where, f"__array__ must be an array's name (a string), got "
                                 f"{type(name).__name__}")
            for flag in ("tensor", "scalar"):
                if flag in node and type(node[flag]) is not bool:
                    raise bad(where, f"{flag!r} must be true or false, got {_short(repr(node[flag]), 40)}")
            if node.get("tensor") and node.get("scalar"):
                raise bad(where, "an array can't be both a tensor and a scalar")
            if name in refs:
                raise bad(where, f"the array {_short(repr(name), 60)} is referred to twice (also at "
                                 f"{spell(where_of[name])})")
            refs[name], where_of[name] = bool(node.get("scalar")), where
        elif set(node) != {tag}:
            raise bad(where, f"{tag} must be the only key, got {_short(sorted(node), 60)}")
        elif tag == "__tuple__":
            if type(node[tag]) is not list:
                raise bad(where, f"__tuple__ must be a list, got {type(node[tag]).__name__}")
            for i, v in enumerate(node[tag]):
                check(v, (where, i))
        else:
            pairs = node[tag]
            if type(pairs) is not list:
                raise bad(where, f"__items__ must be a list of [key, value] pairs, got "
                                 f"{type(pairs).__name__}")
            keys: set = set()
            for i, pair in enumerate(pairs):
                if type(pair) is not list or len(pair) != 2:
                    raise bad(where, f"item {i} of __items__ is not a [key, value] pair")
                key = check_key(pair[0], (where, i))
                if key in keys:
                    raise bad(where, f"the key {_short(repr(key), 60)} appears twice")
                keys.add(key)
                check(pair[1], (where, key))

    is_dict = type(tree) is dict and ("__items__" in tree or not any(t in tree for t in _TAGS))
    if not is_dict:
        raise CheckpointError(f"{path}: the metadata's state is not a dict")
    check(tree, (None, "state"))
    return refs


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
