"""CycleGAN-lite on a GPU: a run on made-up domains trains there (the B batches, both pools
and the fakes stay on the device) and resumes bit for bit, pools included.

Carries ``@pytest.mark.gpu`` and skips where CuPy or a GPU is missing."""
import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.models import cyclegan as model_file
from tinygan.train.cyclegan import CycleGANStepper, train_cyclegan

import cyclegan_domains
from gan_helpers import assert_same_state, latest

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(model_file.PRESETS, "cpu", dict(ngf=2, n_blocks=1, ndf=2, n_layers=1))
    monkeypatch.setenv("TINYGAN_FAST", "1")
    return cyclegan_domains.install(monkeypatch)


def test_step_keeps_everything_on_the_device(tiny):
    tinygan.manual_seed(0)
    b, _ = tiny.load_domain("B")
    cfg = dict(lr=2e-4, betas=[0.5, 0.999], epochs=1, seed=0, no_pool=False, batch_size=4,
               device="cuda", lambda_cyc=10.0, lambda_id=5.0)
    s = CycleGANStepper(model_file.CycleGAN("cpu").to("cuda"), cfg,
                        backend.to_device(b, "cuda"), steps_per_epoch=5)
    a, _ = tiny.load_domain("A")
    logged, _ = s.step(tinygan.tensor(a[:4], device="cuda"), None, lambda *_: None)
    assert backend.is_cupy_array(s.pool_a.images) and backend.is_cupy_array(s.pool_b.images)
    assert backend.is_cupy_array(logged["g_loss"])
    assert np.isfinite(float(logged["g_loss"]))


def test_resume_on_the_device_is_bit_exact(tiny, tmp_path):
    opts = dict(epochs=2, batch_size=4, progress=False, seed=3, device="cuda")
    train_cyclegan(out=tmp_path / "straight", **opts)
    train_cyclegan(out=tmp_path / "broken", max_steps=14, **opts)
    train_cyclegan(out=tmp_path / "broken", resume=True, **opts)
    a, b = latest(tmp_path / "straight"), latest(tmp_path / "broken")
    assert a["pool_a"]["count"] == 50
    assert_same_state(a, b)
