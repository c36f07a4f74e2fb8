"""The moving average of a model's weights on a CUDA GPU: ``ema.cu``, every tensor in one launch.

Arrays in, arrays out.  The CPU path is optim/ema.py itself (ema *= beta; ema += (1 - beta) p
per parameter); this is its twin for CuPy arrays over a table of pointers
(kernels/multi_tensor.py).
"""
from __future__ import annotations

import numpy as np

from . import cuda

SOURCE = "ema.cu"
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NAMES = [f"ema_update<{t}>" for t in CTYPES.values()]
cuda.declare(SOURCE, NAMES)
ROLES = ("average", "param")


def launch_update(get, table, dtype, *, beta: float, threads: int = 256) -> None:
    """ema <- ema beta + (1 - beta) p for every tensor of ``table`` (a ``multi_tensor.Table``
    over the two ``ROLES``), all of ``dtype``, in place, in one launch of ``ema_update``.
    ``get(name)`` returns the kernel callable (see batch_norm.py)."""
    dtype = np.dtype(dtype)
    if dtype not in CTYPES:
        raise ValueError(f"ema launch_update: expected float32 or float64 averages, got {dtype}")
    if table.blocks == 0:
        return
    ty = dtype.type
    get(f"ema_update<{CTYPES[dtype]}>")(table.blocks, threads, table.args() + (ty(beta), ty(1 - beta)))
