"""Helpers of the GPU tests: a Tensor's or array's values on the host, and which CUDA
kernels a test launched through the loader (the ``launched`` fixture lives in conftest.py)."""
from __future__ import annotations

import numpy as np

from tinygan import backend


def host(a) -> np.ndarray:
    """A Tensor's (or array's) values as a NumPy array."""
    return np.asarray(backend.to_device(getattr(a, "data", a), "cpu"))
