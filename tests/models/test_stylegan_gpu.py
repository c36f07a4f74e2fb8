"""StyleGAN-lite on a GPU: the same weights give the same images and logits as on the CPU, the
fused modulated convolution is the one chosen there, and both presets take a training step.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing."""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan.models.stylegan import StyleGAN, _use_fused

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]


def _host(t):
    return tinygan.backend.to_device(t.detach().data, "cpu")


def test_fused_modconv_is_chosen_on_the_gpu():
    assert _use_fused(None, tinygan.zeros(1, device="cuda"))
    assert not _use_fused(None, tinygan.zeros(1))


def test_same_weights_same_outputs_on_cpu_and_gpu():
    tinygan.manual_seed(0)
    m = StyleGAN("cpu").to(np.float64)
    z = tinygan.tensor(np.random.default_rng(0).standard_normal((4, m.latent_dim)))
    cpu_img = m.generate(z, noise_mode="none")          # non-fused on the CPU
    cpu_logits = m.discriminate(cpu_img)
    m.to("cuda")
    gpu_img = m.generate(z.to("cuda"), noise_mode="none")   # fused on the GPU
    gpu_logits = m.discriminate(gpu_img)
    # float64: two orders of summation of a few thousand terms of size ~1
    np.testing.assert_allclose(_host(gpu_img), _host(cpu_img), atol=1e-9, rtol=0)
    np.testing.assert_allclose(_host(gpu_logits), _host(cpu_logits), atol=1e-9, rtol=0)


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_a_training_step_on_the_gpu(preset):
    tinygan.manual_seed(1)
    m = StyleGAN(preset, conditional=True).to("cuda")
    real = tinygan.randn(8, 1, 32, 32, device="cuda")
    labels = tinygan.tensor(np.arange(8) % 10, dtype=tinygan.int64, device="cuda")
    for loss, _ in (m.d_loss(real, labels), m.g_loss(8, labels)):
        loss.backward()
        assert np.isfinite(float(loss.item()))
