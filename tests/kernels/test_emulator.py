"""The CUDA-on-CPU emulator (tinygan/kernels/emulator/) on kernels written for these tests.

The kernels live in tests/kernels/cuda/*.cu, in the same CUDA subset as tinygan's own kernels
(each also compiles with NVRTC for sm_75 and sm_90; test_emulator_gpu.py runs them on a GPU
too).  Every kernel's result is held against NumPy; the planted bugs -- a missing
__syncthreads(), a missing bounds check, misused shuffles and barriers -- must be caught.  Each
source is compiled once per test run (and cached across runs by the emulator).
"""
from __future__ import annotations

import concurrent.futures
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tinygan.kernels import emulator
from tinygan.kernels.emulator import build
from tolerances import assert_within, eps, sum_tolerance

CUDA = Path(__file__).with_name("cuda")
SCHEDULES = list(emulator.SCHEDULES)


@pytest.fixture(scope="module")
def elementwise():
    return emulator.load(CUDA / "elementwise.cu", ["scaled_add<float>", "scaled_add<double>", "math_table"])


@pytest.fixture(scope="module")
def reductions():
    return emulator.load(CUDA / "reductions.cu", ["block_sum", "warp_sum<float>", "warp_sum<double>",
                                                 "warp_exchanges", "atomic_totals"])


@pytest.fixture(scope="module")
def barriers():
    return emulator.load(CUDA / "barriers.cu", ["early_return_reverse", "divergent_barrier", "half_mask_shuffle"])


def racy():
    return emulator.function(CUDA / "racy_sum.cu", "racy_block_sum")


def block_sums(x, block):
    """NumPy's sums of consecutive runs of ``block`` elements (the last one short)."""
    return np.add.reduceat(x, np.arange(0, x.size, block))


def block_sum_tolerance(x, block, dtype):
    return sum_tolerance(block_sums(np.abs(x.astype(np.float64)), block), block, dtype)


# ----------------------------------------------------------------------------------------------
# elementwise: a grid-stride loop on awkward sizes, a template through its name expressions
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, grid, block", [(1, 1, 32), (127, 1, 32), (1000, 3, 128), (4099, 2, 96),
                                            (300, 7, 64)])
def test_grid_stride_scaled_add(elementwise, dtype, n, grid, block):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    out = np.full(n, np.nan, dtype)
    name = {np.float32: "scaled_add<float>", np.float64: "scaled_add<double>"}[dtype]
    f = elementwise.get_function(name)
    f(grid, block, (x, y, out, dtype(1.75), np.int64(n)))
    # exact: one multiply and one add, each rounded once in both (g++ -std=c++20 does not fuse
    # them into an FMA, and NumPy computes the same two IEEE operations)
    np.testing.assert_array_equal(out, dtype(1.75) * x + y)


def test_math_functions_and_intrinsics(elementwise):
    n = 300
    x = np.linspace(-2.0, 2.0, n, dtype=np.float32)
    out = np.zeros((n, 8), np.float32)
    bits = np.zeros(n, np.uint32)
    elementwise.get_function("math_table")(3, 128, (x, out, bits, np.int32(n)))
    v = x.astype(np.float64)
    i = np.arange(n)
    terms = [  # each column as its terms, in float64
        [np.exp(v), np.log(np.abs(v) + 1)],
        [np.tanh(v) / np.sqrt(np.abs(v) + 1)],
        [np.maximum(v, 0.25), np.minimum(v, -0.25)],
        [np.where(v >= 0, v, 0.2 * v)],
        [np.log1p(np.abs(v)), np.sqrt(np.abs(v)), np.floor(v)],
        [np.abs(v) ** 1.5, np.sin(v) * np.cos(v)],
        [np.copysign(1.0, v) * np.clip(i, 2, 5)],
        [v],
    ]
    ref = np.stack([sum(t) for t in terms], 1)
    # float32 libm calls are accurate to a few ulp and each column chains at most four roundings
    # of such calls and operations: 16 ulp of the terms' magnitude bounds the difference.
    scale = np.stack([sum(np.abs(u) for u in t) for t in terms], 1)
    assert_within(out, ref, 16 * eps(np.float32) * scale, "math_table")
    # exact: integer arithmetic (the high word of a 32x32-bit product)
    np.testing.assert_array_equal(bits, ((x.view(np.uint32).astype(np.uint64) * 0x9E3779B9) >> 32).astype(np.uint32))
    # exact: __uint_as_float(__float_as_uint(v)) moves bits only
    np.testing.assert_array_equal(out[:, 7], x)


def test_three_dimensional_grid_and_block():
    f = emulator.function(CUDA / "indexing3d.cu", "where_am_i")
    grid, block = (2, 3, 2), (4, 2, 3)
    shape = (grid[2] * block[2], grid[1] * block[1], grid[0] * block[0])
    out = np.full(shape + (6,), -1, np.int32)
    f(grid, block, (out,))
    z, y, x = np.indices(shape)
    want = np.stack([x // block[0], y // block[1], z // block[2], x % block[0], y % block[1], z % block[2]], -1)
    np.testing.assert_array_equal(out, want)   # exact: integer indices


# ----------------------------------------------------------------------------------------------
# shared memory, warps, atomics
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("n", [1, 256, 1000])
def test_shared_memory_block_sum(reductions, schedule, n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    blocks = (n + 255) // 256
    out = np.full(blocks, np.nan, np.float32)
    reductions.get_function("block_sum")(blocks, 256, (x, out, np.int32(n)), schedule=schedule)
    assert_within(out, block_sums(x, 256), block_sum_tolerance(x, 256, np.float32), "block_sum")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, block", [(1000, 256), (77, 64), (4096, 1024), (40, 32)])
def test_warp_shuffle_sum(reductions, dtype, n, block):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    blocks = (n + block - 1) // block
    out = np.full(blocks, np.nan, dtype)
    name = {np.float32: "warp_sum<float>", np.float64: "warp_sum<double>"}[dtype]
    reductions.get_function(name)(blocks, block, (x, out, np.int32(n)), schedule="shuffle", seed=n)
    assert_within(out, block_sums(x, block), block_sum_tolerance(x, block, dtype), name)


def test_warp_shuffle_lane_arithmetic(reductions):
    blocks, block = 2, 64
    x = np.random.default_rng(1).integers(-1000, 1000, blocks * block).astype(np.int32)
    out = np.zeros((blocks * block, 4), np.int32)
    reductions.get_function("warp_exchanges")(blocks, block, (x, out))
    lane = np.arange(blocks * block) % 32
    segment_start = np.arange(blocks * block) - lane % 8
    up = np.where(lane % 8 >= 2, np.arange(blocks * block) - 2, np.arange(blocks * block))
    down = np.where(lane + 5 < 32, np.arange(blocks * block) + 5, np.arange(blocks * block))
    # exact: integers moved and added
    np.testing.assert_array_equal(out[:, 0], x.reshape(-1, 32).sum(1).repeat(32))
    np.testing.assert_array_equal(out[:, 1], x[segment_start + 3])
    np.testing.assert_array_equal(out[:, 2], x[up])
    np.testing.assert_array_equal(out[:, 3], x[down])


@pytest.mark.parametrize("n, grid, block", [(1000, 4, 64), (77, 3, 32), (5000, 2, 256)])
def test_atomic_add_across_blocks(reductions, n, grid, block):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    bins = rng.integers(0, 7, n).astype(np.int32)
    fsum, dsum = np.zeros(1, np.float32), np.zeros(1, np.float64)
    counts, seen = np.zeros(7, np.int32), np.zeros(1, np.uint32)
    reductions.get_function("atomic_totals")(grid, block, (x, bins, np.int32(n), fsum, dsum, counts, seen))
    abs_sum = np.abs(x.astype(np.float64)).sum()
    assert abs(fsum[0] - x.astype(np.float64).sum()) <= sum_tolerance(abs_sum, n, np.float32)
    assert abs(dsum[0] - x.astype(np.float64).sum()) <= sum_tolerance(abs_sum, n, np.float64)
    np.testing.assert_array_equal(counts, np.bincount(bins, minlength=7))   # exact: integer counts
    assert seen[0] == n                                                       # exact: integer count


@pytest.fixture(scope="module")
def intrinsics():
    return emulator.load(CUDA / "intrinsics.cu", ["integer_intrinsics", "more_atomics", "warp_reverse"])


def test_integer_and_conversion_intrinsics(intrinsics):
    special = [0, 1, 2, 3, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFF, 1000, 1001]
    u = np.concatenate([special, np.random.default_rng(3).integers(0, 2**32, 91)]).astype(np.uint32)
    f = np.resize(np.array([2.5, -2.5, 0.5, 1.5, -0.5, 3.7, -3.7, 0.25, 1.0, 0.0, -1e-3], np.float32), u.size)
    out = np.zeros((u.size, 8), np.int64)
    intrinsics.get_function("integer_intrinsics")(1, 128, (u, f, out, np.int32(u.size)))
    big = [int(v) for v in u]
    want = np.zeros_like(out)
    want[:, 0] = [bin(v).count("1") for v in big]
    want[:, 1] = [32 - v.bit_length() for v in big]
    want[:, 2] = [(v & -v).bit_length() for v in big]
    want[:, 3] = (u.view(np.int32).astype(np.int64) * -7919) >> 32
    high = [((0x9E3779B97F4A7C15 * v % 2**64) * 0xD1B54A32D192ED03) >> 64 for v in big]
    want[:, 4] = np.array(high, np.uint64).view(np.int64)     # the kernel stores the bits as long long
    want[:, 5] = np.rint(f)                                         # round half to even, as _rn
    want[:, 6] = f.astype(np.float64).view(np.int64) ^ np.clip(f, 0, 1).view(np.int32).astype(np.int64)
    want[:, 7] = np.minimum(u, 1000).astype(np.int64) + np.trunc(np.abs(f)).astype(np.int64)
    np.testing.assert_array_equal(out, want)   # exact: integer results and bit patterns


@pytest.mark.parametrize("n, grid, block", [(1000, 4, 64), (33, 2, 32)])
def test_integer_atomics(intrinsics, n, grid, block):
    x = np.random.default_rng(n).integers(-10**6, 10**6, n).astype(np.int32)
    ints = np.array([np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0, 0, 0, 0], np.int32)
    total = np.zeros(1, np.uint64)
    intrinsics.get_function("more_atomics")(grid, block, (x, np.int32(n), ints, total))
    # exact: integer read-modify-writes
    assert ints[:4].tolist() == [x.max(), x.min(), -int(x.astype(np.int64).sum()), 7]
    assert 1 <= ints[4] <= n and ints[5] == 1      # one compare-and-swap succeeded
    assert total[0] == int((x & 0xFF).astype(np.int64).sum())


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_syncwarp_orders_a_warp(intrinsics, schedule):
    x = np.arange(128, dtype=np.float32)
    out = np.zeros_like(x)
    intrinsics.get_function("warp_reverse")(2, 64, (x, out), schedule=schedule)
    np.testing.assert_array_equal(out, x.reshape(-1, 32)[:, ::-1].ravel())   # exact: values moved


# ----------------------------------------------------------------------------------------------
# barriers: threads that return early, a missing __syncthreads, misuse
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_threads_that_return_leave_the_barrier(barriers, schedule):
    k, blocks = 40, 3
    x = np.arange(blocks * 64, dtype=np.int32)
    out = np.full(blocks * 64, -7, np.int32)
    barriers.get_function("early_return_reverse")(blocks, 64, (x, out, np.int32(k)), schedule=schedule)
    want = np.full((blocks, 64), -7, np.int32)
    want[:, :k] = x.reshape(blocks, 64)[:, k - 1::-1]
    np.testing.assert_array_equal(out, want.ravel())   # exact: integers moved


def test_missing_syncthreads_is_exposed_by_the_serial_schedules():
    """In thread order, thread 0 adds partial[128] before thread 128 has written it: the refill's
    NaN reaches every block's sum, the same way on every run.  In reverse order the writes come
    first and the racy kernel happens to be right -- why the race needs the forward order (or
    ThreadSanitizer) to show."""
    n = 1000
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    out = np.zeros(4, np.float32)
    racy()(4, 256, (x, out, np.int32(n)), schedule="forward")
    assert np.isnan(out).all(), out
    racy()(4, 256, (x, out, np.int32(n)), schedule="reverse")
    assert_within(out, block_sums(x, 256), block_sum_tolerance(x, 256, np.float32), "racy_block_sum, reverse")


def test_deadlock_is_reported(barriers, monkeypatch):
    out = np.zeros(64, np.int32)
    f = barriers.get_function("divergent_barrier")
    with pytest.raises(emulator.LaunchError, match="deadlock"):
        f(1, 64, (out,), schedule="forward")     # found at once: no thread can run
    monkeypatch.setenv("TINYGAN_EMULATOR_TIMEOUT", "0.5")
    start = time.perf_counter()
    with pytest.raises(emulator.LaunchError, match="deadlock"):
        f(1, 64, (out,))                          # found by the barrier's timeout
    assert time.perf_counter() - start < 30


def test_shuffle_misuse_is_reported(barriers, reductions):
    with pytest.raises(emulator.LaunchError, match=r"full mask 0xffffffff, got 0x0000ffff"):
        barriers.get_function("half_mask_shuffle")(1, 32, (np.zeros(32, np.int32),))
    x, out = np.ones(48, np.float32), np.zeros(1, np.float32)
    with pytest.raises(emulator.LaunchError, match=r"warp 1 of the block has 16"):
        reductions.get_function("warp_sum<float>")(1, 48, (x, out, np.int32(48)))


# ----------------------------------------------------------------------------------------------
# ThreadSanitizer
# ----------------------------------------------------------------------------------------------
def test_thread_sanitizer_passes_a_correct_reduction_and_catches_the_missing_barrier():
    n = 600
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    sanitized = emulator.load(CUDA / "reductions.cu", ["block_sum", "warp_sum<float>", "atomic_totals"],
                              sanitize="thread")
    assert sanitized.get_function("block_sum").signature == ("const float*", "float*", "int")
    for name in ["block_sum", "warp_sum<float>"]:      # shared memory and barriers; warp shuffles
        out = np.full(3, np.nan, np.float32)
        sanitized.get_function(name)(3, 256, (x, out, np.int32(n)))
        assert_within(out, block_sums(x, 256), block_sum_tolerance(x, 256, np.float32), name)
    fsum, dsum, counts, seen = np.zeros(1, np.float32), np.zeros(1), np.zeros(2, np.int32), np.zeros(1, np.uint32)
    sanitized.get_function("atomic_totals")(2, 64, (x, np.zeros(n, np.int32), np.int32(n), fsum, dsum, counts, seen))
    assert counts.tolist() == [n, 0] and seen[0] == n   # exact: integer atomics

    f = emulator.function(CUDA / "racy_sum.cu", "racy_block_sum", sanitize="thread")
    out = np.zeros(3, np.float32)
    with pytest.raises(emulator.DataRaceError, match="data race") as caught:
        f(3, 256, (x, out, np.int32(n)))
    assert "racy_sum.cu" in caught.value.report     # the report points at the kernel's source line


def test_address_sanitizer_passes_bounds_checked_kernels_and_catches_a_missing_check():
    n = 100
    x, y = np.arange(n, dtype=np.float32), np.ones(n, np.float32)
    out = np.zeros(n, np.float32)
    f = emulator.function(CUDA / "elementwise.cu", "scaled_add<float>", sanitize="address")
    f(2, 64, (x, y, out, np.float32(2), np.int64(n)))        # 128 threads for 100 elements
    np.testing.assert_array_equal(out, 2 * x + 1)            # exact: small integers in float32

    g = emulator.function(CUDA / "unchecked.cu", "unchecked_copy", sanitize="address")
    with pytest.raises(emulator.OutOfBoundsError, match="heap-buffer-overflow") as caught:
        g(2, 64, (x, out, np.int32(n)))
    assert "unchecked.cu:5" in caught.value.report           # the line of the unchecked access


# ----------------------------------------------------------------------------------------------
# arguments, launch shapes, compiling
# ----------------------------------------------------------------------------------------------
def test_signature_is_read_from_the_compiled_kernel():
    f = emulator.function(CUDA / "signatures.cu", "mixed_types")
    assert f.signature == ("const unsigned char*", "const long long*", "double*", "unsigned long long",
                           "unsigned int", "long long", "double")
    out = np.zeros(1)
    f(1, 1, (np.array([7], np.uint8), np.array([-3], np.int64), out, np.uint64(2**40), np.uint32(5),
             np.int64(-11), np.float64(0.5)))
    assert out[0] == 0.5 * (7 - 3 + 2**40 + 5 - 11)   # exact: integers below 2**53, halved


@pytest.mark.parametrize("bad_index, bad, message", [
    (0, np.zeros(4, np.float64), r"argument 0 is a float64 array .* wants const float\*: a C-contiguous float32"),
    (2, np.zeros((4, 2), np.float32)[:, 0], r"argument 2 is a non-contiguous float32 array"),
    (2, "read-only", r"argument 2 is a read-only array, but the C signature wants float\*, which the kernel may write"),
    (3, 2.0, r"argument 3 is a Python float \(2.0\), but the C signature wants float: pass numpy.float32"),
    (3, np.float64(2.0), r"argument 3 is a numpy.float64 scalar, but the C signature wants float"),
    (4, 4, r"argument 4 is a Python int \(4\), but the C signature wants long long: pass numpy.int64"),
    (4, np.int32(4), r"argument 4 is a numpy.int32 scalar, but the C signature wants long long"),
])
def test_argument_types_are_checked(elementwise, bad_index, bad, message):
    f = elementwise.get_function("scaled_add<float>")
    args = [np.zeros(4, np.float32), np.zeros(4, np.float32), np.zeros(4, np.float32), np.float32(1), np.int64(4)]
    if isinstance(bad, str):
        bad = np.zeros(4, np.float32)
        bad.flags.writeable = False
    args[bad_index] = bad
    with pytest.raises(TypeError, match="scaled_add<float>: " + message):
        f(1, 32, tuple(args))


def test_argument_count_and_launch_shape_are_checked(elementwise):
    f = elementwise.get_function("scaled_add<float>")
    a = np.zeros(4, np.float32)
    good = (a, a.copy(), a.copy(), np.float32(1), np.int64(4))
    with pytest.raises(TypeError, match=r"takes 5 arguments \(const float\*, const float\*, float\*, float, "
                                        r"long long\), got 2"):
        f(1, 32, good[:2])
    with pytest.raises(ValueError, match=r"block.x = 0 is outside CUDA's range 1..1024"):
        f(1, 0, good)
    with pytest.raises(ValueError, match=r"a block of \(32, 32, 2\) has 2048 threads"):
        f(1, (32, 32, 2), good)
    with pytest.raises(ValueError, match=r"grid.y = 65536"):
        f((1, 65536), 32, good)
    with pytest.raises(TypeError, match=r"grid must be an int or a tuple of 1 to 3 ints"):
        f((1, 1, 1, 1), 32, good)
    with pytest.raises(ValueError, match="dynamic shared memory"):
        f(1, 32, good, shared_mem=128)
    with pytest.raises(ValueError, match="schedule must be one of"):
        f(1, 32, good, schedule="backwards")
    with pytest.raises(KeyError, match="'scaled_add<int>' is not among the name expressions"):
        elementwise.get_function("scaled_add<int>")


def test_compile_error_shows_gcc_output_and_is_remembered(tmp_path):
    src = tmp_path / "broken.cu"
    src.write_text('extern "C" __global__ void broken(float* out) {\n    out[threadIdx.x] = undefined_name;\n}\n')
    with pytest.raises(emulator.CompileError, match=r"broken.cu:2:.*undefined_name") as first:
        emulator.function(src, "broken")
    with pytest.raises(emulator.CompileError) as second:
        emulator.function(src, "broken")
    assert second.value is first.value     # remembered, not recompiled


def test_builds_are_cached_and_concurrent_builds_do_not_clash(tmp_path, monkeypatch):
    runtime = build.runtime("library")                 # from this test run's cache: not rebuilt here
    (tmp_path / "cache").mkdir()
    shutil.copy(runtime, tmp_path / "cache" / runtime.name)
    monkeypatch.setenv("TINYGAN_EMULATOR_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "tiny.cu"
    src.write_text('extern "C" __global__ void tiny(int* out) { out[threadIdx.x] = threadIdx.x; }\n')
    with concurrent.futures.ThreadPoolExecutor(2) as pool:      # two workers, the same build at once
        paths = list(pool.map(lambda _: build.build(src.resolve(), ["tiny"], "library"), range(2)))
    assert paths[0] == paths[1] and paths[0].exists()
    names = sorted(p.name.split("-")[0] + p.suffix for p in (tmp_path / "cache").iterdir())
    assert names == ["runtime.so", "tiny.cpp", "tiny.so"]       # no temporaries left
    stamp = paths[0].stat().st_mtime_ns
    assert build.build(src.resolve(), ["tiny"], "library").stat().st_mtime_ns == stamp   # found, not rebuilt
    src.write_text(src.read_text().replace("= threadIdx.x", "= 2 * threadIdx.x"))
    assert build.build(src.resolve(), ["tiny"], "library") != paths[0]                   # the source is in the key


def test_function_compiles_the_names_declared_to_the_gpu_loader(monkeypatch):
    """A launcher module declares its names with tinygan.kernels.cuda.declare; function() asked
    for one of them compiles them all in one build (the loader's declared(): source -> names)."""
    import sys
    import types

    names = ["warp_sum<double>", "warp_sum<float>", "block_sum"]
    fake = types.ModuleType("tinygan.kernels.cuda")
    fake.declared = lambda: {str(CUDA / "reductions.cu"): names}
    monkeypatch.setitem(sys.modules, "tinygan.kernels.cuda", fake)
    monkeypatch.setattr(sys.modules["tinygan.kernels"], "cuda", fake, raising=False)
    # schedule="reverse": not the module the `reductions` fixture loaded (that one has the name too)
    f = emulator.function(CUDA / "reductions.cu", "warp_sum<float>", schedule="reverse")
    assert f.module.names == tuple(names)
    assert emulator.function(CUDA / "reductions.cu", "block_sum", schedule="reverse") is f.module.get_function(
        "block_sum")


def test_function_is_memoized_and_resolves_kernel_file_names(reductions):
    f = emulator.function(CUDA / "indexing3d.cu", "where_am_i")
    assert emulator.function(CUDA / "indexing3d.cu", "where_am_i") is f
    # a name that load() compiled with the others of its source comes from that build
    assert emulator.function(CUDA / "reductions.cu", "warp_sum<double>") is reductions.get_function("warp_sum<double>")
    with pytest.raises(FileNotFoundError, match="no CUDA source 'no_such_kernel.cu'"):
        emulator.function("no_such_kernel.cu", "k")
