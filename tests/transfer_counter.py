"""``TransferCounter``: counts, by phase of the training loop, the calls that would copy between
host and device or wait for the device on a GPU (tests/train/test_step_transfers.py on the CPU,
tests/train/test_device_step.py on a GPU).

Counted: ``backend.to_device`` (every host<->device copy goes through it) and ``Tensor.item``
(which ``float``/``int``/``bool`` of a Tensor call), ``Tensor.tolist``, ``Tensor.numpy``.  The
phase is ``setup`` until the loader's first upload; ``epoch`` during the loader's uploads (the
data set once) and while it draws an epoch's order (on the device, no upload); ``read`` in
``LossBuffer.read`` and ``range_check.raise_pending`` (the deferred data checks); ``save`` in
``checkpoint.save``; ``pictures`` while the loop draws its grids and curves; ``step`` otherwise
-- a batch's fetch, the Stepper's update, the EMA.
"""
from __future__ import annotations

from tinygan import backend, checkpoint
from tinygan.autograd import Tensor
from tinygan.data.loader import DataLoader
from tinygan.losses import range_check
from tinygan.train import loop
from tinygan.train.loss_buffer import LossBuffer


class TransferCounter:
    """Record ``(phase, event)`` for every would-be transfer or read while a run trains."""

    def __init__(self, monkeypatch):
        self.phase = "setup"
        self.events = []
        self.reads = 0              # LossBuffer.read calls that had rows to read
        counter = self

        def record(what):
            counter.events.append((counter.phase, what))

        to_device = backend.to_device

        def counting_to_device(a, dev):
            record(f"to_device({type(a).__name__} {getattr(a, 'dtype', '')}"
                   f"{tuple(getattr(a, 'shape', ()))} -> {dev})")
            return to_device(a, dev)

        monkeypatch.setattr(backend, "to_device", counting_to_device)
        for name in ("item", "tolist", "numpy"):
            original = getattr(Tensor, name)

            def counting(self, *args, _original=original, _name=name, **kwargs):
                record(f"Tensor.{_name}() of shape {tuple(self.shape)}")
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(Tensor, name, counting)

        # The phases: a wrapped function runs in its own phase, then the previous one resumes.
        def in_phase(owner, name, phase, after=None):
            original = getattr(owner, name)

            def wrapped(*args, **kwargs):
                before, counter.phase = counter.phase, phase
                try:
                    result = original(*args, **kwargs)
                finally:
                    counter.phase = before if after is None else after
                return result

            monkeypatch.setattr(owner, name, wrapped)

        in_phase(DataLoader, "_device_arrays", "epoch", after="step")
        in_phase(DataLoader, "_device_order", "epoch", after="step")
        in_phase(range_check, "raise_pending", "read")       # the loop's read points
        in_phase(checkpoint, "save", "save")
        in_phase(loop, "save_image_grid", "pictures")
        in_phase(loop, "generate", "pictures")
        in_phase(loop, "plot_curves", "pictures")
        read = LossBuffer.read

        def counting_read(buffer):
            if len(buffer):
                counter.reads += 1
            before, counter.phase = counter.phase, "read"
            try:
                return read(buffer)
            finally:
                counter.phase = before

        monkeypatch.setattr(LossBuffer, "read", counting_read)

    def during(self, phase) -> list:
        return [what for p, what in self.events if p == phase]
