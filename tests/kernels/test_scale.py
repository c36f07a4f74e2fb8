"""The example kernel y = a * x (tinygan/kernels/scale.py) on the CPU: its twin, its launch
arithmetic (which block covers which element) and its argument types, checked with a Python
stand-in for the compiled kernel.  The CUDA source itself is compiled by
test_nvrtc_compile.py and run on a GPU by test_cuda_gpu.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinygan.kernels import scale


def grid_stride_stand_in(calls):
    """A Python model of scale.cu's kernel with RawKernel's call shape: every thread of the
    grid walks its grid-stride loop; every element must be written exactly once."""
    def kernel(grid, block, args, shared_mem=0):
        x, a, y, n = args
        assert isinstance(n, np.uint64) and type(a) is x.dtype.type and y.dtype == x.dtype
        assert x.flags.c_contiguous and y.flags.c_contiguous
        threads = grid[0] * block[0]
        writes = np.zeros(int(n), dtype=np.int64)
        for t in range(threads):
            idx = np.arange(t, int(n), threads)
            y.reshape(-1)[idx] = a * x.reshape(-1)[idx]
            writes[idx] += 1
        assert (writes == 1).all()
        calls.append((grid, block))

    def get(name):
        calls.append(name)
        return kernel
    return get


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (255,), (256,), (257,), (3, 5, 7), (0, 4)])
def test_launch_covers_every_element_once(dtype, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    calls = []
    y = scale.launch_scale(grid_stride_stand_in(calls), x, 2.5)
    assert y.shape == x.shape and y.dtype == x.dtype
    # exact: one multiplication by the same float on both sides
    np.testing.assert_array_equal(y, scale.scale_reference(x, 2.5))
    if x.size:
        ctype = "float" if dtype == np.float32 else "double"
        assert calls[0] == f"scale<{ctype}>"
        (blocks,), (block,) = calls[1]
        assert block == scale.BLOCK and blocks == -(-x.size // scale.BLOCK)
    else:
        assert calls == []                 # nothing to do: no launch


def test_launch_caps_the_grid_and_the_loop_covers_the_rest():
    n = scale.BLOCK * scale.MAX_BLOCKS + 3
    calls = []

    def get(name):
        def kernel(grid, block, args, shared_mem=0):
            calls.append((grid, block))
            x, a, y, n_ = args
            y[...] = a * x                  # (the coverage itself is checked above)
        return kernel
    scale.launch_scale(get, np.ones(n, np.float32), 1.0)
    assert calls == [((scale.MAX_BLOCKS,), (scale.BLOCK,))]


def test_a_strided_input_is_made_contiguous_for_the_kernel():
    x = np.arange(12.0).reshape(3, 4).T
    calls = []
    y = scale.launch_scale(grid_stride_stand_in(calls), x, -1.0)
    np.testing.assert_array_equal(y, -x)   # exact: negation


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_public_function_on_the_cpu_is_the_twin(dtype):
    x = np.linspace(-2, 2, 9).astype(dtype)
    y = scale.scale(x, 0.5)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, x * dtype(0.5))   # exact: one multiplication


@pytest.mark.parametrize("fn", [scale.scale, scale.scale_reference])
def test_an_integer_array_is_refused_with_its_dtype_and_shape(fn):
    with pytest.raises(TypeError, match=r"scale: x must be float32 or float64, got int64 \(shape \(2, 3\)\)"):
        fn(np.zeros((2, 3), np.int64), 2.0)
