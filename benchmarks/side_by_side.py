"""What the side-by-side benchmarks share: the thread settings of their child processes and
which frameworks they can compare.

Both frameworks get the same number of threads through the environment, set before
NumPy or torch load in the child (OpenBLAS reads OPENBLAS_NUM_THREADS, PyTorch
OMP_NUM_THREADS, an MKL build MKL_NUM_THREADS).  tinygan's own threads
(tinygan/kernels/threads.py) follow OMP_NUM_THREADS too, unless TINYGAN_NUM_THREADS
is set in the environment the benchmark was started from.
"""
from __future__ import annotations

import os


def thread_env(threads: int) -> dict:
    """os.environ with every BLAS / OpenMP thread count set to ``threads``."""
    n = str(threads)
    return dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)


def sides() -> list:
    """["tinygan", "torch"] when PyTorch is installed, else ["tinygan"]."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return ["tinygan"]
    return ["tinygan", "torch"]
