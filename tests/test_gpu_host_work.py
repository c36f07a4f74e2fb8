"""The host's work per GPU step, on a GPU: a Python number stays a kernel argument, batch norm's
running statistics take one launch, the VAE's data check waits for the read point.  (The
fused optimizers' tables refreshed in place run in test_fused_optimizer_kernel.py's
``test_gpu_optimizer_kernels_on_and_off``, whose gradients are new arrays at every step.)
On a machine without a GPU the same logic is tested by tests/ops/test_scalar_operand.py,
tests/kernels/test_batch_norm_running_kernel.py and tests/losses/test_range_check.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan import backend
from tinygan.losses import range_check

from tolerances import FACTOR, eps

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]


def host(t):
    return np.asarray(backend.to_device(getattr(t, "data", t), "cpu"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_numbers_on_the_device_give_the_cpu_numbers(dtype):
    x0 = np.random.default_rng(0).uniform(0.5, 2.0, (5, 7)).astype(dtype)
    for expr in (lambda x: x * 0.3, lambda x: 0.3 * x, lambda x: x + 1.5, lambda x: 1 - x,
                 lambda x: x - 2):
        cpu, gpu = expr(tinygan.tensor(x0)), expr(tinygan.tensor(x0, device="cuda"))
        assert gpu.dtype == cpu.dtype == dtype
        # exact: one IEEE operation per element, round to nearest on both devices
        np.testing.assert_array_equal(host(gpu), cpu.data)
    for expr in (lambda x: x / 3, lambda x: 3 / x):      # division: within one rounding
        cpu, gpu = expr(tinygan.tensor(x0)), expr(tinygan.tensor(x0, device="cuda"))
        assert gpu.dtype == dtype
        assert np.all(np.abs(host(gpu) - cpu.data) <= eps(dtype) * np.abs(cpu.data))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_running_statistics_kernels_on_and_off(monkeypatch, dtype):
    rng = np.random.default_rng(1)
    x0 = (rng.standard_normal((6, 5, 7, 3)) * 2 + 1).astype(dtype)
    results = []
    for setting in ("1", "0"):
        monkeypatch.setenv("TINYGAN_KERNELS", setting)
        rm = tinygan.tensor(np.zeros(5, dtype), device="cuda")
        rv = tinygan.tensor(np.ones(5, dtype), device="cuda")
        for _ in range(3):
            F.batch_norm(tinygan.tensor(x0, device="cuda"), rm, rv, training=True, momentum=0.2)
        results.append((host(rm), host(rv)))
    for (a, b), what in zip(zip(*results), ("running_mean", "running_var")):
        # the statistics differ by the reductions' rounding (test_batch_norm_kernel.py's bounds)
        bound = FACTOR * 64 * eps(dtype) * (np.abs(b) + np.abs(x0).max())
        assert np.all(np.abs(a - b) <= bound), what


def test_the_vae_data_check_waits_for_the_read_point():
    from tinygan.models import VAE_FAMILIES
    range_check._pending.clear()
    tinygan.manual_seed(0)
    model = VAE_FAMILIES["vae"]().to("cuda")
    x = tinygan.tensor(np.linspace(-1, 1, 2 * 784, dtype=np.float32).reshape(2, 1, 28, 28),
                       device="cuda")
    model.loss(x)                                    # no read of the device, no error yet
    assert range_check.pending() == 2
    with pytest.raises(ValueError, match=r"VAE\.loss: a VAE models pixels in \[0, 1\], got values in \[-1, 1\]"):
        range_check.raise_pending()
    with tinygan.no_grad(), pytest.raises(ValueError, match=r"VAE\.neg_elbo: a VAE models pixels"):
        model.neg_elbo(x)                            # evaluation: at once
