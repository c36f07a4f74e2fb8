"""The Philox generator on a GPU: the CPU's numbers, made on the device.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import backend, random
from tinygan.data import DataLoader
from tinygan.kernels import philox

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]


@pytest.fixture(autouse=True)
def _keep_rng_state():
    state = tinygan.get_rng_state()
    yield
    tinygan.set_rng_state(state)


@pytest.fixture(params=["1", "0"], ids=["kernels", "twin"])
def kernels(request, monkeypatch):
    """Run each test with the CUDA kernels on, and with them off (the CuPy twin)."""
    monkeypatch.setenv("TINYGAN_KERNELS", request.param)
    return request.param


def host(a):
    return np.asarray(backend.to_device(a, "cpu"))


def normal_tolerance(u, dtype):
    """As in tests/kernels/test_philox.py: 8 eps (r + 1) for z = r cos t from the same uniforms."""
    r = np.sqrt(-2 * np.log1p(-np.asarray(u, dtype=np.float64)))
    return 8 * float(np.finfo(dtype).eps) * (r + 1)


@pytest.mark.parametrize("n", [1, 257])
def test_same_seed_same_numbers_on_both_devices(n, kernels):
    """The Generator methods on both devices (the kernels themselves: tests/kernels/test_philox_gpu.py)."""
    for seed, offset in [(0, 0), (2 ** 64 - 1, 2 ** 64 - 3)]:
        cpu, gpu = random.Generator(seed, offset, "cpu"), random.Generator(seed, offset, "cuda")
        for dtype in (np.float32, np.float64):
            a, b = cpu.random(n, dtype=dtype), gpu.random(n, dtype=dtype)
            assert backend.is_cupy_array(b) and b.dtype == dtype
            # exact: integer arithmetic, an exact conversion, a power-of-two scaling
            np.testing.assert_array_equal(host(b), a)
        for dtype in (np.float32, np.float64):
            state = cpu.get_state()
            a, b = cpu.standard_normal(n, dtype=dtype), gpu.standard_normal(n, dtype=dtype)
            u = philox.uniform_reference(seed, state["offset"], n + n % 2, dtype)
            tol = normal_tolerance(np.repeat(u[0::2], 2)[:n], dtype)
            assert np.all(np.abs(host(b).astype(np.float64) - a) <= tol)
        for low, high in [(0, 10), (-2 ** 63, 2 ** 63 - 1)]:
            # exact: integer arithmetic
            np.testing.assert_array_equal(host(gpu.integers(low, high, size=n)), cpu.integers(low, high, size=n))
        # exact: distinct integer keys, so any sort gives the same order
        np.testing.assert_array_equal(host(gpu.permutation(n)), cpu.permutation(n))
        assert cpu.get_state() == gpu.get_state()


def test_draws_on_the_gpu_copy_nothing_from_the_host(monkeypatch, kernels):
    cp = backend.cupy_module()
    copies = []
    real_to_device, real_asarray, real_array = backend.to_device, cp.asarray, cp.array

    def counting(real, name):
        def f(a, *args, **kw):
            if not isinstance(a, cp.ndarray):
                copies.append(name)
            return real(a, *args, **kw)
        return f

    monkeypatch.setattr(backend, "to_device", counting(real_to_device, "to_device"))
    monkeypatch.setattr(cp, "asarray", counting(real_asarray, "cupy.asarray"))
    monkeypatch.setattr(cp, "array", counting(real_array, "cupy.array"))
    tinygan.manual_seed(3)
    z = tinygan.randn(64, 100, device="cuda")
    tinygan.rand(7, device="cuda")
    tinygan.randint(0, 10, (9,), device="cuda")
    tinygan.randperm(60000, device="cuda")
    w = tinygan.zeros(20, 30, device="cuda")
    tinygan.nn.init.normal_(w)                   # initial weights are drawn where they live
    tinygan.nn.init.uniform_(w)
    assert z.is_cuda
    assert copies == []


def test_dataloader_shuffles_on_the_device_in_the_cpus_order():
    x = np.arange(100, dtype=np.float32)
    cpu = DataLoader((x,), batch_size=10, shuffle=True, seed=5, device="cpu")
    gpu = DataLoader((x,), batch_size=10, shuffle=True, seed=5, device="cuda")
    for (a,), (b,) in zip(cpu, gpu):
        # exact: the same permutation, pure data movement
        np.testing.assert_array_equal(host(b.data), a.numpy())
