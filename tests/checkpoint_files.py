"""Hand-made checkpoint files for the tests of tinygan.checkpoint: whatever a damaged or
hostile ``.npz`` may hold, built from its parts (metadata, .npy headers, zip entries)."""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

META = "__meta__.json"
ROOT = Path(__file__).resolve().parents[1]


def npy(arr=None, *, dtype=None, shape=None, data: bytes | None = None,
        fortran_order: bool = False) -> bytes:
    """The bytes of an .npy file: ``arr`` as numpy writes it, or a header declaring ``dtype`` and
    ``shape`` followed by ``data`` (which need not match what the header says)."""
    buf = io.BytesIO()
    if arr is not None:
        np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
        return buf.getvalue()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
              "fortran_order": fortran_order, "shape": tuple(shape)}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + (data or b"")


def meta_bytes(state, fmt: str = "tinygan-checkpoint", version=1) -> bytes:
    """The .npy bytes of a ``__meta__.json`` entry whose JSON holds ``state``."""
    text = json.dumps({"format": fmt, "version": version, "state": state})
    return npy(np.frombuffer(text.encode(), np.uint8))


def meta_text_bytes(text: "str | bytes") -> bytes:
    """The .npy bytes of a ``__meta__.json`` entry holding ``text`` verbatim (any JSON or not)."""
    raw = text.encode() if isinstance(text, str) else text
    return npy(np.frombuffer(raw, np.uint8))


def write_zip(path, entries: dict, compression=zipfile.ZIP_STORED):
    """A zip at ``path`` whose entry ``NAME.npy`` holds ``entries[NAME]`` (bytes)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, raw in entries.items():
            zf.writestr(name + ".npy", raw)
    return path


def add_raw_deflated_entry(path, name: str, stream: bytes, file_size: int, crc: int) -> None:
    """Append entry ``name`` to the zip at ``path``: an already deflated ``stream`` said to
    inflate to ``file_size`` bytes with CRC-32 ``crc`` (the sizes are not checked here)."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "a") as zf:
        # ZipFile has no call to add pre-compressed data; write a stored placeholder of the
        # same length and patch it below, so that every offset in the index is right.
        info.compress_type = zipfile.ZIP_STORED
        zf.writestr(info, stream)
    with zipfile.ZipFile(path) as zf:
        placed = zf.getinfo(name)
        offset = placed.header_offset
    data = bytearray(Path(path).read_bytes())
    _patch_entry(data, offset, name, zipfile.ZIP_DEFLATED, crc, len(stream), file_size)
    Path(path).write_bytes(bytes(data))


def _patch_entry(data: bytearray, local_offset: int, name: str, method: int, crc: int,
                 compress_size: int, file_size: int) -> None:
    """Set method, CRC and sizes of one entry in both its local header and its index record."""
    # Local file header: signature, version, flags, method(8), time, date, crc(14), csize, usize.
    assert data[local_offset:local_offset + 4] == b"PK\x03\x04"
    struct.pack_into("<H", data, local_offset + 8, method)
    struct.pack_into("<III", data, local_offset + 14, crc, compress_size, file_size)
    # Central directory record: find the one whose local header offset is ours.
    encoded = name.encode()
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        (rel,) = struct.unpack_from("<I", data, pos + 42)
        (nlen,) = struct.unpack_from("<H", data, pos + 28)
        if rel == local_offset and bytes(data[pos + 46:pos + 46 + nlen]) == encoded:
            struct.pack_into("<H", data, pos + 10, method)
            struct.pack_into("<III", data, pos + 16, crc, compress_size, file_size)
            return
        pos = data.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(f"no index record for {name!r}")


def entries_of(path) -> dict:
    """``{NAME: bytes}`` of the .npz at ``path``: the inverse of ``write_zip``."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename[:-4]: zf.read(info) for info in zf.infolist()}


def same(a, b) -> bool:
    """Whether two loaded states are equal: same types, keys, dtypes, shapes and values
    (NaN equal to NaN)."""
    import math
    import tinygan
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, tinygan.Tensor):
        a, b = a.numpy(), b.numpy()
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and a.shape == b.shape and \
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def killed_write(target: Path) -> Path:
    """Start ``checkpoint.save(target)`` in a child that dies half way (os._exit: no cleanup, as
    when a job is killed); return the temporary file it left."""
    before = set(target.parent.iterdir()) if target.parent.exists() else set()
    code = f"""
import os, sys
import numpy as np
sys.path.insert(0, {str(ROOT)!r})
from tinygan import checkpoint
def dying_writer(f, arrays):
    f.write(b"PK\\x03\\x04 partial")
    f.flush()
    os._exit(17)
checkpoint._write_npz = dying_writer
checkpoint.save({str(target)!r}, step=2, w=np.ones(3))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 17, proc.stderr
    (left,) = set(target.parent.iterdir()) - before
    return left
