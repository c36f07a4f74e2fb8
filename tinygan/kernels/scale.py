"""y = a * x: the smallest CUDA kernel, and the worked example of the kernel contract.

No op needs it -- ``a * x`` is one CuPy kernel already -- but it shows every piece a
kernel of tinygan has, with nothing else in the way:

- the CUDA source beside this file, ``scale.cu``, a template for float and double;
- ``cuda.declare`` at import, naming its instances (nothing compiles here);
- the plain twin ``scale_reference`` (the CPU path, and the GPU path when
  ``TINYGAN_KERNELS=0``);
- ``launch_scale(get, x, a)``, the launch written once for any kernel callable
  ``get(name)``: the compiled CUDA kernel on a GPU, or the CPU emulator's build of the
  same source in the tests;
- the public function ``scale`` choosing between the two in one line.

The loader's GPU tests and the kernel benchmark frame (benchmarks/kernels.py) use it.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from . import benchmark, cuda

SOURCE = "scale.cu"
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
cuda.declare(SOURCE, [f"scale<{c}>" for c in CTYPES.values()])

BLOCK = 256            # threads per block: a multiple of the warp (32)
MAX_BLOCKS = 4096      # enough blocks to fill any GPU; the grid-stride loop covers the rest


def scale_reference(x, a: float):
    """The plain twin: ``a * x`` in x's dtype.  x: any shape, float32 or float64."""
    _check(x)
    return x * x.dtype.type(a)


def launch_scale(get, x, a: float):
    """``a * x`` through the kernel ``get("scale<float>")`` (or ``<double>``); x any shape.

    ``get(name)`` returns a callable with ``cupy.RawKernel``'s call shape
    ``f(grid, block, args)``; x's array module allocates the output.
    """
    _check(x)
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)
    y = xp.empty_like(x)
    n = x.size
    if n == 0:
        return y
    blocks = min(-(-n // BLOCK), MAX_BLOCKS)
    kernel = get(f"scale<{CTYPES[x.dtype]}>")
    kernel((blocks,), (BLOCK,), (x, x.dtype.type(a), y, np.uint64(n)))
    return y


def scale(x, a: float):
    """``a * x`` for a float32 or float64 array x of any shape: the CUDA kernel on CuPy
    arrays, the twin otherwise."""
    if cuda.use_kernel(x):
        return launch_scale(lambda name: cuda.function(SOURCE, name), x, a)
    return scale_reference(x, a)


def _check(x) -> None:
    if x.dtype not in CTYPES:
        raise TypeError(f"scale: x must be float32 or float64, got {x.dtype} (shape {x.shape})")


# The example case of benchmarks/kernels.py.  The plain side is one CuPy elementwise kernel
# too, so expect a ratio near 1: the row shows the frame working, not a fused pass.
benchmark.register("scale float32 (64, 512, 32, 32): example, expect ~1x",
                   inputs=lambda xp: (xp.full((64, 512, 32, 32), 1.5, dtype=xp.float32), 3.0),
                   run=scale)
