"""philox.cu run on the CPU by the CUDA emulator, against the NumPy twin of philox.py.

The launches are philox.py's own ``launch_*`` (the GPU path's), given the emulator's build of
the kernels; the grid is one thread per counter, or fewer threads with ``grid`` forced small so
that the grid-stride loop runs.  Sizes that are not multiples of the block or of the 4 words
of a counter, and offsets whose counters carry across 2^32 and 2^64, are included.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinygan.kernels import emulator, philox

from test_philox import normal_tolerance
from tolerances import assert_within


def get(name):
    return emulator.function(philox.SOURCE, name)


SIZES = [1, 3, 4, 5, 255, 257, 1030]
OFFSETS = [(0, 0), (12345, 2 ** 32 - 3), (2 ** 64 - 1, 2 ** 64 - 300), (7, (5 << 64) + 9)]


@pytest.fixture(params=[None, 1], ids=["grid", "one-block"])
def small_grid(request, monkeypatch):
    """Run each launch with its own grid, and once with a single block (grid-stride loop)."""
    if request.param is not None:
        monkeypatch.setattr(philox, "_grid", lambda counters: request.param)
    return request.param


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed,offset", OFFSETS)
def test_words(seed, offset, n, small_grid):
    got = philox.launch_words(get, seed, offset, n, np)
    # exact: integer arithmetic
    np.testing.assert_array_equal(got, philox.words_reference(seed, offset, n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed,offset", OFFSETS)
def test_uniform(seed, offset, n, dtype, small_grid):
    got = philox.launch_uniform(get, seed, offset, n, dtype, np)
    assert got.dtype == dtype
    # exact: integer arithmetic, an exact conversion and a power-of-two scaling on both sides
    np.testing.assert_array_equal(got, philox.uniform_reference(seed, offset, n, dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed,offset", OFFSETS[:3])
def test_normal(seed, offset, n, dtype):
    # to float rounding: logf/cosf/sinf of the C library against NumPy's loops (normal_tolerance)
    got = philox.launch_normal(get, seed, offset, n, dtype, np)
    assert got.dtype == dtype
    u = philox.uniform_reference(seed, offset, n + n % 2, dtype)
    assert_within(got, philox.normal_reference(seed, offset, n, dtype),
                  normal_tolerance(np.repeat(u[0::2], 2)[:n], dtype), "Box-Muller kernel vs twin")


@pytest.mark.parametrize("low,high", [(0, 10), (-5, 7), (0, 2 ** 63), (-2 ** 63, 2 ** 63 - 1)])
@pytest.mark.parametrize("n", [1, 4, 257])
@pytest.mark.parametrize("seed,offset", OFFSETS[:3])
def test_integers(seed, offset, n, low, high, small_grid):
    got = philox.launch_integers(get, seed, offset, n, low, high, np)
    # exact: integer arithmetic
    np.testing.assert_array_equal(got, philox.integers_reference(seed, offset, n, low, high))


@pytest.mark.parametrize("n", [1, 2, 3, 255, 1030])
@pytest.mark.parametrize("seed,offset", OFFSETS[:3])
def test_permutation_keys(seed, offset, n, small_grid):
    got = philox.launch_permutation_keys(get, seed, offset, n, np)
    # exact: integer arithmetic
    np.testing.assert_array_equal(got, philox.permutation_keys_reference(seed, offset, n))


def test_empty_draws_launch_nothing():
    def refuse(name):
        raise AssertionError(f"{name} launched for an empty draw")
    assert philox.launch_words(refuse, 1, 0, 0, np).shape == (0,)
    assert philox.launch_normal(refuse, 1, 0, 0, np.float32, np).shape == (0,)


@pytest.mark.parametrize("sanitize", ["thread", "address"])
def test_every_kernel_under_the_sanitizers(sanitize):
    """ThreadSanitizer (races within a block) and AddressSanitizer (a write past an output's end:
    a missing bounds check) over every kernel, at a size that fills neither a block nor the
    last counter."""
    get = emulator.load(philox.SOURCE, list(philox.KERNELS), sanitize=sanitize).get_function
    seed, offset, n = 2 ** 64 - 1, 2 ** 64 - 3, 261
    # exact: integer arithmetic (the normals: to rounding, as above)
    np.testing.assert_array_equal(philox.launch_words(get, seed, offset, n, np),
                                  philox.words_reference(seed, offset, n))
    for dtype in (np.float32, np.float64):
        np.testing.assert_array_equal(philox.launch_uniform(get, seed, offset, n, dtype, np),
                                      philox.uniform_reference(seed, offset, n, dtype))
        u = philox.uniform_reference(seed, offset, n + 1, dtype)
        assert_within(philox.launch_normal(get, seed, offset, n, dtype, np),
                      philox.normal_reference(seed, offset, n, dtype),
                      normal_tolerance(np.repeat(u[0::2], 2)[:n], dtype), "Box-Muller, sanitized")
    np.testing.assert_array_equal(philox.launch_integers(get, seed, offset, n, -3, 11, np),
                                  philox.integers_reference(seed, offset, n, -3, 11))
    np.testing.assert_array_equal(philox.launch_permutation_keys(get, seed, offset, n, np),
                                  philox.permutation_keys_reference(seed, offset, n))


def test_the_array_functions_launch_the_kernels_off_the_cpu(monkeypatch):
    """The dispatch of ``philox.uniform`` and the others, without a GPU: an array module that is
    not NumPy (here a stand-in whose ``empty`` is NumPy's, all a launch allocates with) takes the
    kernel path -- through ``cuda.function``, here the emulator's build -- unless
    ``TINYGAN_KERNELS=0``; NumPy always takes the twin."""
    from types import SimpleNamespace

    from tinygan.kernels import cuda
    launched = []

    def emulated(source, name):
        launched.append(name)
        return emulator.function(source, name)

    monkeypatch.setattr(cuda, "function", emulated)
    device_like = SimpleNamespace(empty=np.empty)
    monkeypatch.delenv("TINYGAN_KERNELS", raising=False)
    u = philox.uniform(5, 9, 100, np.float32, device_like)
    k = philox.permutation_keys(5, 9, 100, device_like)
    assert launched == ["philox_uniform<float>", "philox_permutation_keys"]
    # exact: integer arithmetic
    np.testing.assert_array_equal(u, philox.uniform_reference(5, 9, 100, np.float32))
    np.testing.assert_array_equal(k, philox.permutation_keys_reference(5, 9, 100))
    philox.uniform(5, 9, 100, np.float32, np)                          # NumPy: the twin
    monkeypatch.setenv("TINYGAN_KERNELS", "0")
    with pytest.raises(AttributeError):          # the twin runs, and needs a whole array module
        philox.uniform(5, 9, 100, np.float32, device_like)
    assert len(launched) == 2
