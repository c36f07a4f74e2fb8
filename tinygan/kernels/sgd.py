"""SGD with momentum on a CUDA GPU: ``sgd.cu``, every parameter of a group in one launch.

Arrays in, arrays out.  The CPU path is optim/sgd.py itself (a few in-place NumPy
operations per parameter); this is its twin for CuPy arrays, the same operations in the
same order over a table of pointers (kernels/multi_tensor.py).
"""
from __future__ import annotations

import numpy as np

from . import cuda

SOURCE = "sgd.cu"
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NAMES = [f"sgd_step<{t}>" for t in CTYPES.values()]
cuda.declare(SOURCE, NAMES)
ROLES = ("param", "grad", "momentum_buffer")


def launch_step(get, table, dtype, *, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False,
                first_step: bool = False, threads: int = 256) -> None:
    """One SGD step of every tensor of ``table`` (a ``multi_tensor.Table`` over the three
    ``ROLES``: p, g and the momentum buffer, the last None when momentum is 0), all of
    ``dtype``, in place, in one launch of ``sgd_step``.  ``first_step``: the buffers are new
    and take the gradient itself (PyTorch's start), not a blend with their old values.
    ``get(name)`` returns the kernel callable (see batch_norm.py)."""
    dtype = np.dtype(dtype)
    if dtype not in CTYPES:
        raise ValueError(f"sgd launch_step: expected float32 or float64 parameters, got {dtype}")
    if table.blocks == 0:
        return
    ty = dtype.type
    get(f"sgd_step<{CTYPES[dtype]}>")(
        table.blocks, threads,
        table.args() + (ty(lr), ty(momentum), ty(1 - dampening), ty(weight_decay),
                        np.int32(first_step), np.int32(nesterov), np.int32(maximize)))
