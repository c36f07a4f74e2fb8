"""The IDX file format, in which MNIST and Fashion-MNIST are distributed.

An IDX file is a tiny header followed by the raw array, big-endian, C order::

    bytes 0-1   0x00 0x00            magic: two zero bytes
    byte  2     dtype code           0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double
    byte  3     ndim                 e.g. 3 for images (N, 28, 28), 1 for labels (N,)
    then        ndim uint32 sizes    big-endian, e.g. 60000, 28, 28
    then        the data             prod(sizes) * itemsize bytes

The files are usually shipped gzip-compressed; ``read_idx`` recognises gzip by
its own magic bytes (``1f 8b``), not by the file name, so a ``.gz`` that was
unpacked in place, or raw bytes handed over from a download, both work.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

# IDX dtype code -> big-endian NumPy dtype (the format is always big-endian).
DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}

GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """An IDX file that can't be read: bad magic, unknown dtype, truncated."""


def maybe_gunzip(raw: bytes, name: str = "<bytes>") -> bytes:
    """Decompress ``raw`` if it starts with the gzip magic bytes; otherwise return it as is."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        # A download cut short ends mid-stream: gzip says "Compressed file ended before the
        # end-of-stream marker was reached", which doesn't name the file.
        raise IDXError(f"corrupt or truncated gzip file {name}: {exc}") from None


def read_idx(source: "str | os.PathLike | bytes", name: str | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a NumPy array in native byte order.

    Args:
        source: a path, or the file's bytes.
        name: what to call the file in error messages (default: the path).

    Returns:
        the array, e.g. uint8 of shape (60000, 28, 28) for MNIST's training images,
        uint8 (60000,) for its labels.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
        name = name or "<bytes>"
    else:
        name = name or str(source)
        raw = Path(source).read_bytes()
    raw = maybe_gunzip(raw, name)

    if len(raw) < 4:
        raise IDXError(f"truncated IDX file {name}: {len(raw)} bytes, shorter than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise IDXError(
            f"bad magic number in {name}: {raw[:4].hex(' ')} (an IDX file starts with 00 00, "
            "then a dtype code, then the number of dimensions); is this really an IDX file?"
        )
    code, ndim = raw[2], raw[3]
    if code not in DTYPES:
        known = ", ".join(f"0x{c:02X} ({DTYPES[c].newbyteorder('=').name})" for c in DTYPES)
        raise IDXError(f"unsupported IDX dtype code 0x{code:02X} in {name}; known codes: {known}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(
            f"truncated IDX file {name}: the header of a {ndim}-d array needs {header} bytes, "
            f"found {len(raw)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        dims = "x".join(str(s) for s in shape) or "scalar"
        what = "truncated IDX file" if found < expected else "IDX file with trailing bytes"
        raise IDXError(
            f"{what} {name}: header says {dims} = {expected} bytes of data, found {found}"
        )
    # frombuffer gives a read-only view of the bytes; astype to native order makes an owned,
    # writable copy (for ubyte data the "conversion" is just that copy).
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of an array (the inverse of ``read_idx`` on raw bytes)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise IDXError(
            f"write_idx: IDX can't store dtype {array.dtype}; use uint8, int8, int16, int32, "
            "float32 or float64"
        )
    if array.ndim > 255:
        raise IDXError(f"write_idx: IDX stores at most 255 dimensions, got {array.ndim}")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()


def write_idx(path: "str | os.PathLike", array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` (default: the name ends in .gz).

    Used by the tests (small synthetic data sets) and tools; gzip is written with
    ``mtime=0`` so the same array always gives the same bytes.
    """
    path = Path(path)
    data = idx_bytes(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
