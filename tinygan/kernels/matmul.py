"""A matrix product on the CPU: the shortcuts and the split over threads.  Arrays in, arrays out.

Twin: ``reference.product`` (``a @ b``).  A split product is the same sums
computed by BLAS on blocks of other shapes, so it may differ from one call by
rounding (BLAS picks other kernels for the edge blocks).
"""
from __future__ import annotations

import numpy as np

from .threads import for_rows

GEMM_SPLIT_MIN = 1 << 22      # multiply-adds from which a 2-D product is split over the threads


def product(a, b):
    """a @ b, on the CPU with two shortcuts:

    * an inner dimension of 1 -- an outer product, e.g. the input gradient of a layer
      with one output -- is a broadcast multiply: the same products (nothing to add up),
      while BLAS took 2.2 ms against 0.1 ms for (64, 1) @ (1, 6272);
    * a large 2-D product is split by rows of a (or columns of b when a has few rows),
      one block per thread (``threads``), each with a one-thread BLAS.
    """
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim < 2 or b.ndim < 2:
        return a @ b
    if a.shape[-1] == 1 and a.dtype == b.dtype:
        return np.multiply(a, b)
    madds = a.shape[0] * a.shape[1] * b.shape[1] if a.ndim == 2 and b.ndim == 2 else 0
    if madds < GEMM_SPLIT_MIN:
        return a @ b
    out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    if a.shape[0] >= b.shape[1]:
        for_rows(lambda sl: np.matmul(a[sl], b, out=out[sl]), a.shape[0], madds)
    else:
        for_rows(lambda sl: np.matmul(a, b[:, sl], out=out[:, sl]), b.shape[1], madds)
    return out
