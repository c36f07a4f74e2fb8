"""A training step on a GPU that never waits for it: DCGAN steps on CuPy with the training set
on the device (uint8, batches cut there), the losses read only at the loop's read points, and a
bit-exact resume on the device.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing; the same counting
runs on the CPU in tests/train/test_step_transfers.py.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.data import Compose, DataLoader, get_dataset, normalize, pad_to_32, to_float
from tinygan.train.gan import train_gan

from gan_helpers import compare_runs, latest, records
from transfer_counter import TransferCounter

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU"),
              pytest.mark.usefixtures("mnist")]


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")


def test_the_training_set_lives_on_the_device_and_batches_are_cut_there():
    train = get_dataset("mnist", train=True)
    images, labels = train.data[:300], train.targets[:300]
    transform = Compose([to_float, normalize, pad_to_32])
    gpu = DataLoader((images, labels), batch_size=64, shuffle=True, seed=3, device="cuda",
                     transform=transform)
    cpu = DataLoader((images, labels), batch_size=64, shuffle=True, seed=3, transform=transform)
    on_device = gpu._device_arrays()
    assert all(backend.is_cupy_array(a) for a in on_device)
    assert on_device[0].dtype == np.uint8 and on_device[1].dtype == np.int64    # as stored
    for epoch in range(2):
        for (x, y), (xc, yc) in zip(gpu, cpu):
            assert x.is_cuda and y.is_cuda and x.dtype == np.float32 and x.shape == (64, 1, 32, 32)
            # exact: u8 -> f32 is exact, and *, - and / are correctly rounded IEEE operations
            # on both devices, so the conversion on the GPU is today's on the CPU bit for bit
            np.testing.assert_array_equal(backend.to_device(x.data, "cpu"), xc.numpy())
            np.testing.assert_array_equal(backend.to_device(y.data, "cpu"), yc.numpy())   # exact: a gather
    assert gpu._device_arrays() is on_device         # uploaded once


def test_dcgan_steps_on_the_device_read_nothing_inside_a_step(tmp_path, monkeypatch):
    counter = TransferCounter(monkeypatch)
    result = train_gan("dcgan", out=tmp_path / "r", batch_size=16, max_steps=8, read_every=3,
                       log_every=100, progress=False, device="cuda")
    assert result["step"] == 8 and np.isfinite(result["d_loss"]) and np.isfinite(result["g_loss"])
    step = counter.during("step")
    # No device->host copy and no read in a step.
    assert [e for e in step if "-> cpu" in e or e.startswith("Tensor.")] == [], step
    # What is left is host->device: only the noise the host generator draws (tinygan.random)
    # for D's fakes and G's step, two (16, 100) draws a step, until a generator on the device
    # replaces it.
    assert all(e.startswith("to_device(ndarray float32(16, 100") and "-> cuda" in e for e in step), step
    assert len(step) == 2 * 8
    assert counter.reads == 3                         # steps 3, 6 and the stop at 8
    assert [e.split(" -> ")[0] for e in counter.during("read")] == \
        ["to_device(ndarray float64(12,)", "to_device(ndarray float64(12,)", "to_device(ndarray float64(8,)"]


def test_resume_on_the_device_is_bit_exact_whatever_the_read_interval(tmp_path):
    kw = dict(batch_size=16, progress=False, device="cuda", log_every=2)
    train_gan("dcgan", out=tmp_path / "straight", max_steps=6, read_every=1, **kw)
    train_gan("dcgan", out=tmp_path / "split", max_steps=3, **kw)            # default interval
    assert latest(tmp_path / "split")["step"] == 3
    train_gan("dcgan", out=tmp_path / "split", max_steps=6, resume=True, **kw)
    compare_runs(tmp_path / "straight", tmp_path / "split")
    assert len([r for r in records(tmp_path / "split") if r["type"] == "train"]) == 3
