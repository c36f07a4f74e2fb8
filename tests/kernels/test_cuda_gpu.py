"""The kernel loader compiling and running real kernels on a GPU (tinygan/kernels/cuda.py):
scale.cu against its twin, compile-once memoization, TINYGAN_KERNELS=0, and a planted compile
error raised with NVRTC's log and never retried.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing; `make gpu-check`
runs them, and runs them again under compute-sanitizer's memcheck and racecheck.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.kernels import cuda, scale

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]

PLANTED = str(Path(__file__).resolve().parent / "cuda" / "planted_error.cu")


@pytest.fixture
def kernels_on(monkeypatch):
    monkeypatch.delenv("TINYGAN_KERNELS", raising=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 31, 255, 256, 257, 100_003, scale.BLOCK * scale.MAX_BLOCKS + 5])
def test_scale_kernel_matches_its_twin(kernels_on, dtype, n):
    cp = backend.cupy_module()
    x_np = np.random.default_rng(n).standard_normal(n).astype(dtype)
    y = scale.scale(cp.asarray(x_np), 1.75)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype and y.shape == (n,)
    # exact: one IEEE multiplication per element on both devices
    np.testing.assert_array_equal(cp.asnumpy(y), scale.scale_reference(x_np, 1.75))


def test_scale_kernel_on_a_strided_array(kernels_on):
    cp = backend.cupy_module()
    x = cp.arange(35, dtype=cp.float32).reshape(5, 7).T
    y = scale.scale(x, 3.0)
    np.testing.assert_array_equal(cp.asnumpy(y), cp.asnumpy(x) * np.float32(3))  # exact: one multiply


def test_the_kernel_runs_and_is_compiled_once(kernels_on, monkeypatch):
    cp = backend.cupy_module()
    made = []
    real = backend.raw_module
    monkeypatch.setattr(backend, "raw_module", lambda *a: made.append(a) or real(*a))
    cuda.forget()
    x = cp.ones(10, dtype=cp.float64)
    scale.scale(x, 2.0)
    f = cuda.function("scale.cu", "scale<double>")
    scale.scale(x.astype(cp.float32), 2.0)
    assert cuda.function("scale.cu", "scale<double>") is f
    assert len(made) == 1 and made[0][2] == ["scale<float>", "scale<double>"]


def test_kernels_off_runs_the_twin(monkeypatch):
    cp = backend.cupy_module()
    monkeypatch.setenv("TINYGAN_KERNELS", "0")
    monkeypatch.setattr(cuda, "function", lambda *a: pytest.fail("a kernel was asked for"))
    y = scale.scale(cp.ones(5, dtype=cp.float32), 4.0)
    np.testing.assert_array_equal(cp.asnumpy(y), np.full(5, 4, np.float32))   # exact: 4 * 1


def test_a_planted_compile_error_shows_nvrtcs_log_and_is_not_retried(kernels_on, monkeypatch):
    monkeypatch.setattr(cuda, "_declared", dict(cuda._declared))    # the planted source is not kept
    cuda.declare(PLANTED, ["planted"])
    made = []
    real = backend.raw_module
    monkeypatch.setattr(backend, "raw_module", lambda *a: made.append(a) or real(*a))
    try:
        with pytest.raises(cuda.KernelCompileError) as info:
            cuda.function(PLANTED, "planted")
        assert "planted_undeclared_value" in str(info.value) and "'planted'" in str(info.value)
        with pytest.raises(cuda.KernelCompileError, match="planted_undeclared_value"):
            cuda.function(PLANTED, "planted")
        assert len(made) == 1
    finally:
        cuda.forget()
