"""The emulator against a real GPU: each test kernel of tests/kernels/cuda/ run on both.

Every kernel test on the CPU rests on the emulator meaning what CUDA means -- the lanes a shuffle
reads, the threads a __syncthreads() waits for once some have returned, the integer intrinsics.
Here the same sources, compiled by NVRTC through CuPy, run on the GPU on the same inputs, and the
results must agree: exactly where the arithmetic is integer or moves data, within rounding where
the GPU fuses a multiply-add or its libm differs.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.kernels import emulator
from tolerances import assert_within, eps, sum_tolerance

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not tinygan.cuda_is_available(), reason="needs CuPy and a CUDA GPU")]

CUDA = Path(__file__).with_name("cuda")
NAMES = {
    "elementwise.cu": ["scaled_add<float>", "scaled_add<double>", "math_table"],
    "reductions.cu": ["block_sum", "warp_sum<float>", "warp_sum<double>", "warp_exchanges", "atomic_totals"],
    "barriers.cu": ["early_return_reverse"],
    "intrinsics.cu": ["integer_intrinsics", "more_atomics", "warp_reverse"],
    "indexing3d.cu": ["where_am_i"],
    "signatures.cu": ["mixed_types"],
}


def xyz(v):
    return tuple(v) if isinstance(v, tuple) else (v,)


def on_both(source, name, grid, block, args):
    """Run ``name`` of ``source`` on the GPU and in the emulator, each on its own copies of
    ``args``; returns the arrays after the launch, (gpu, emulator), in argument order."""
    cp = backend.cupy_module()
    module = cp.RawModule(code=(CUDA / source).read_text(), options=("--std=c++17",),
                          name_expressions=NAMES[source])
    on_gpu = [cp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    module.get_function(name)(xyz(grid), xyz(block), tuple(on_gpu))
    on_cpu = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    emulator.load(CUDA / source, NAMES[source]).get_function(name)(grid, block, tuple(on_cpu))
    return ([a.get() for a in on_gpu if isinstance(a, cp.ndarray)],
            [a for a in on_cpu if isinstance(a, np.ndarray)])


@pytest.mark.parametrize("source, name, grid, block, args", [
    ("indexing3d.cu", "where_am_i", (2, 3, 2), (4, 2, 3), [np.zeros((6, 6, 8, 6), np.int32)]),
    ("reductions.cu", "warp_exchanges", 2, 64,
     [np.arange(128, dtype=np.int32) * 7 - 300, np.zeros((128, 4), np.int32)]),
    ("barriers.cu", "early_return_reverse", 3, 64,
     [np.arange(192, dtype=np.int32), np.full(192, -7, np.int32), np.int32(40)]),
    ("intrinsics.cu", "warp_reverse", 2, 64, [np.arange(128, dtype=np.float32), np.zeros(128, np.float32)]),
    ("intrinsics.cu", "integer_intrinsics", 1, 128,
     [np.random.default_rng(0).integers(0, 2**32, 100).astype(np.uint32),
      np.resize(np.array([2.5, -2.5, 0.5, 1.5, -0.5, 3.7, -3.7, 0.25], np.float32), 100),
      np.zeros((100, 8), np.int64), np.int32(100)]),
    ("signatures.cu", "mixed_types", 1, 1,
     [np.array([7], np.uint8), np.array([-3], np.int64), np.zeros(1), np.uint64(2**40), np.uint32(5),
      np.int64(-11), np.float64(0.5)]),
])
def test_data_movement_and_integer_kernels_agree_exactly(source, name, grid, block, args):
    gpu, cpu = on_both(source, name, grid, block, args)
    for g, c in zip(gpu, cpu):
        np.testing.assert_array_equal(c, g)   # exact: integers, moved values, bit patterns


def test_integer_atomics_agree():
    x = np.random.default_rng(1).integers(-10**6, 10**6, 1000).astype(np.int32)
    ints = np.array([np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0, 0, 0, 0], np.int32)
    (_, g_ints, g_total), (_, c_ints, c_total) = on_both("intrinsics.cu", "more_atomics", 4, 64,
                                                         [x, np.int32(1000), ints, np.zeros(1, np.uint64)])
    # exact: integer read-modify-writes; which thread wins the compare-and-swap (ints[4]) may differ
    np.testing.assert_array_equal(np.delete(c_ints, 4), np.delete(g_ints, 4))
    np.testing.assert_array_equal(c_total, g_total)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_add_agrees_to_rounding(dtype):
    n = 1000
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    name = {np.float32: "scaled_add<float>", np.float64: "scaled_add<double>"}[dtype]
    gpu, cpu = on_both("elementwise.cu", name, 3, 128, [x, y, np.zeros(n, dtype), dtype(1.75), np.int64(n)])
    # NVRTC fuses a * x + y into one FMA (one rounding), g++ rounds twice: one ulp of the terms apart
    bound = 2 * eps(dtype) * (np.abs(1.75 * x.astype(np.float64)) + np.abs(y))
    assert_within(cpu[2], gpu[2], bound, name)


def test_math_table_agrees_to_rounding():
    n = 300
    x = np.linspace(-2.0, 2.0, n, dtype=np.float32)
    gpu, cpu = on_both("elementwise.cu", "math_table", 3, 128,
                       [x, np.zeros((n, 8), np.float32), np.zeros(n, np.uint32), np.int32(n)])
    # CUDA's single-precision functions are within 2-4 ulp (CUDA C++ Programming Guide, "Mathematical
    # Functions"), glibc's within 1-2: 32 ulp of the largest entry of each column bounds both sides
    assert_within(cpu[1], gpu[1], 32 * eps(np.float32) * (np.abs(gpu[1]).max(0) + 1.0), "math_table")
    np.testing.assert_array_equal(cpu[2], gpu[2])   # exact: __umulhi of the bits


@pytest.mark.parametrize("name, dtype, block", [("block_sum", np.float32, 256), ("warp_sum<float>", np.float32, 256),
                                                ("warp_sum<double>", np.float64, 128)])
def test_reductions_agree_to_rounding(name, dtype, block):
    n = 1000
    x = np.random.default_rng(3).standard_normal(n).astype(dtype)
    blocks = (n + block - 1) // block
    gpu, cpu = on_both("reductions.cu", name, blocks, block, [x, np.zeros(blocks, dtype), np.int32(n)])
    abs_sums = np.add.reduceat(np.abs(x.astype(np.float64)), np.arange(0, n, block))
    assert_within(cpu[1], gpu[1], sum_tolerance(abs_sums, block, dtype), name)
