"""philox.cu on a GPU against the NumPy twin: the array functions of philox.py with CuPy arrays,
with the kernels on and off (TINYGAN_KERNELS=0: the CuPy twin).  Under ``make gpu-check`` these
also run under compute-sanitizer's memcheck and racecheck.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.kernels import philox

from test_philox import normal_tolerance
from tolerances import assert_within

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]

SIZES = [1, 5, 255, 257, 4099]
OFFSETS = [(0, 0), (2 ** 64 - 1, 2 ** 64 - 3)]


@pytest.fixture(params=["1", "0"], ids=["kernels", "twin"])
def cp(request, monkeypatch):
    """CuPy, with the CUDA kernels on, and off (the CuPy twin)."""
    monkeypatch.setenv("TINYGAN_KERNELS", request.param)
    return backend.cupy_module()


def host(a):
    return np.asarray(backend.to_device(a, "cpu"))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("seed,offset", OFFSETS)
def test_words_uniforms_integers_and_keys_are_the_cpus(seed, offset, n, cp):
    # exact: integer arithmetic, an exact conversion and a power-of-two scaling on both devices
    np.testing.assert_array_equal(host(philox.words(seed, offset, n, cp)),
                                  philox.words_reference(seed, offset, n))
    for dtype in (np.float32, np.float64):
        got = philox.uniform(seed, offset, n, dtype, cp)
        assert backend.is_cupy_array(got) and got.dtype == dtype
        np.testing.assert_array_equal(host(got), philox.uniform_reference(seed, offset, n, dtype))
    for low, high in [(0, 10), (-2 ** 63, 2 ** 63 - 1)]:
        np.testing.assert_array_equal(host(philox.integers(seed, offset, n, low, high, cp)),
                                      philox.integers_reference(seed, offset, n, low, high))
    np.testing.assert_array_equal(host(philox.permutation_keys(seed, offset, n, cp)),
                                  philox.permutation_keys_reference(seed, offset, n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", SIZES)
def test_normals_are_the_cpus_to_rounding(n, dtype, cp):
    # CUDA's logf/cosf/sinf (or log/cos/sin) against NumPy's: a few ulp each (normal_tolerance)
    seed, offset = 2 ** 64 - 1, 2 ** 64 - 3
    got = philox.normal(seed, offset, n, dtype, cp)
    assert got.dtype == dtype
    u = philox.uniform_reference(seed, offset, n + n % 2, dtype)
    assert_within(host(got), philox.normal_reference(seed, offset, n, dtype),
                  normal_tolerance(np.repeat(u[0::2], 2)[:n], dtype), "Box-Muller on the GPU")


def test_a_large_draw_runs_the_grid_stride_loop():
    # 2^24 + 3 float32 uniforms: more counters than the grid's 4096 blocks of 256 threads
    cp = backend.cupy_module()
    n = 2 ** 24 + 3
    got = host(philox.uniform(3, 2 ** 32 - 5, n, np.float32, cp))
    # exact: integer arithmetic
    np.testing.assert_array_equal(got, philox.uniform_reference(3, 2 ** 32 - 5, n, np.float32))
