"""No host<->device copy and no wait for the device inside a training step (tinygan/train/loop.py,
tinygan/train/loss_buffer.py, tinygan/data/loader.py), counted on the CPU.

On the CPU a transfer costs nothing and a read waits for nothing, so the test counts the calls
that would cost on a GPU, where the very same code runs with CuPy arrays:

- ``backend.to_device``: every host->device or device->host copy goes through it (on the CPU it
  is a no-op, which is why it is counted, not timed);
- ``Tensor.item`` (and ``float``/``int``/``bool`` of a Tensor, which call it), ``Tensor.tolist``,
  ``Tensor.numpy``: each reads a value to the host, which on a GPU waits for every kernel queued.

Each event is filed under the phase of the loop it happened in (tests/transfer_counter.py):
``step`` (fetching a batch, the Stepper's update, the EMA -- everything a training step does),
``epoch`` (the loader's uploads: the data set once, the order once per epoch), ``read``
(``LossBuffer.read``, the loop's read points), ``save`` and ``pictures``, ``setup``.  What the
shim can't see: ``float()`` of a raw 0-d array, and a read hidden in array code (``if (x >
0).any()``) -- tinygan's code reads values through the Tensor methods above, and the GPU tests
(tests/train/test_device_step.py) run the same steps on a device.

``test_the_shim_sees_a_read_inside_a_step`` plants the old behaviour (the ``loss.item()`` of each
logged loss) and checks that the counter reports it: the main test can fail.
"""
from __future__ import annotations

import pytest

from tinygan.autograd import Tensor
from tinygan.train.gan import GANStepper, train_gan

from transfer_counter import TransferCounter

pytestmark = pytest.mark.usefixtures("mnist")      # found or fetched, never skipped (conftest.py)


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("TINYGAN_FAST", "1")


def _train(tmp_path, steps=8, **kw):
    return train_gan("dcgan", out=tmp_path / "r", batch_size=16, max_steps=steps, progress=False,
                     **kw)


def test_a_dcgan_step_copies_nothing_and_reads_nothing(tmp_path, monkeypatch):
    counter = TransferCounter(monkeypatch)
    result = _train(tmp_path, steps=8, read_every=3, log_every=100)
    assert result["step"] == 8
    # Inside the steps: no copy, no read.
    assert counter.during("step") == []
    # The loader's uploads: the uint8 images and int64 labels once, the epoch's order once.
    uploads = counter.during("epoch")
    assert len(uploads) == 3, uploads
    assert "uint8(512, 28, 28)" in uploads[0] and "int64(512,)" in uploads[1]
    assert "int64(512,)" in uploads[2]
    # The reads: every 3 batches and at the stop -- steps 3, 6 and 8 -- each one copy to the host.
    assert counter.reads == 3
    reads = counter.during("read")
    assert len(reads) == 3 and all(r.endswith("-> cpu)") and "float64(" in r for r in reads), reads
    # One stack of 3 steps x 4 values (d_loss, d_real, d_fake, g_loss; the checked losses are
    # the logged arrays themselves, read once), then the 2 steps before the stop.
    assert [r.split(" -> ")[0] for r in reads] == ["to_device(ndarray float64(12,)"] * 2 + \
        ["to_device(ndarray float64(8,)"]


def test_the_cpu_reads_after_every_step_and_logs_the_same_numbers(tmp_path, monkeypatch):
    """The default on the CPU: a read per batch (today's bar); any interval logs the same."""
    counter = TransferCounter(monkeypatch)
    _train(tmp_path, steps=6, log_every=2)
    assert counter.during("step") == [] and counter.reads == 6
    monkeypatch.undo()
    monkeypatch.setenv("TINYGAN_FAST", "1")
    train_gan("dcgan", out=tmp_path / "sparse", batch_size=16, max_steps=6, progress=False,
              log_every=2, read_every=5)
    from gan_helpers import compare_runs
    compare_runs(tmp_path / "r", tmp_path / "sparse")


def test_the_shim_sees_a_read_inside_a_step(tmp_path, monkeypatch):
    """The old step read each loss with ``.item()``: the counter must report it."""
    step = GANStepper.step

    def reading_step(self, x, y, check):
        logged, stepped = step(self, x, y, check)
        return {k: Tensor(v).item() for k, v in logged.items()}, stepped    # the old floats

    monkeypatch.setattr(GANStepper, "step", reading_step)
    counter = TransferCounter(monkeypatch)
    # The shim marks Stepper.step's span as "step" from the loader's first batch on.
    _train(tmp_path, steps=2, read_every=2)
    seen = counter.during("step")
    assert seen == ["Tensor.item() of shape ()"] * (2 * 4)     # 2 steps x 4 logged values
