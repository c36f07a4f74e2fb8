"""The losses kept on the device between reads (tinygan/train/loss_buffer.py) and the NaN stop
at the loop's read points (tinygan/train/loop.py): a NaN in the middle of a read interval is
named by its own step, and no checkpoint holds weights updated after it.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.train.gan import train_gan
from tinygan.train.loop import NonFiniteLossError
from tinygan.train.loss_buffer import LossBuffer

import gan_helpers
from gan_helpers import latest


# ----------------------------------------------------------------------------
# LossBuffer
# ----------------------------------------------------------------------------
def test_read_gives_each_value_as_item_would_in_step_order(rng):
    buf = LossBuffer()
    rows = []
    for i in range(4):
        d = np.asarray(rng.standard_normal(), dtype=np.float32).reshape(())
        w = np.asarray(rng.standard_normal(), dtype=np.float64).reshape(())
        rows.append((d, w))
        buf.add({"d_loss": d, "w": w, "lr": 0.5 * i, "t": tinygan.tensor(float(i))},
                [("d", d)], step=i + 1, epoch=1, batch=i + 1)
    assert len(buf) == 4
    out = buf.read()
    assert len(buf) == 0 and buf.read() == []
    assert [r.where for r in out] == [{"step": i + 1, "epoch": 1, "batch": i + 1} for i in range(4)]
    for r, (d, w), i in zip(out, rows, range(4)):
        # exact: float32 -> float64 is exact; a float64 is copied as it is
        assert r.logged == {"d_loss": d.item(), "w": w.item(), "lr": 0.5 * i, "t": float(i)}
        assert all(type(v) is float for v in r.logged.values())
        assert r.checked == [("d", d.item())]


def test_read_copies_one_stack_per_array_module(monkeypatch):
    seen = []
    to_device = backend.to_device
    monkeypatch.setattr(backend, "to_device", lambda a, dev: seen.append(a.shape) or to_device(a, dev))
    buf = LossBuffer()
    for i in range(3):
        loss = np.full((), i, np.float32)
        buf.add({"loss": loss, "other": np.ones((), np.float32)}, [(None, loss)], step=i)
    out = buf.read()
    assert seen == [(6,)]               # 3 rows x 2 arrays; the checked loss is the logged one
    assert [r.checked for r in out] == [[(None, 0.0)], [(None, 1.0)], [(None, 2.0)]]


def test_a_value_that_is_not_one_number_is_refused():
    with pytest.raises(ValueError, match=r"LossBuffer.add: a logged value must be one number, got "
                                         r"d_loss of shape \(2,\)"):
        LossBuffer().add({"d_loss": np.zeros(2, np.float32)})


def test_read_keeps_float64_and_integer_values_exact():
    big = np.full((), 2.0 ** 60 + 2 ** 8, np.float64)      # not a float32
    buf = LossBuffer()
    buf.add({"a": big, "b": np.full((), 7, np.int64), "c": np.full((), 0.1, np.float32)})
    # exact: float64 copied as is, small integers and float32 are exact in float64
    assert buf.read()[0].logged == {"a": float(big), "b": 7.0, "c": float(np.float32(0.1))}


def test_a_nan_is_read_as_nan():
    buf = LossBuffer()
    buf.add({"loss": np.full((), np.nan, np.float32)}, [(None, np.full((), np.inf, np.float32))])
    row = buf.read()[0]
    assert np.isnan(row.logged["loss"]) and row.checked == [(None, float("inf"))]


# ----------------------------------------------------------------------------
# the NaN stop at the read points
# ----------------------------------------------------------------------------
@pytest.mark.usefixtures("mnist")
def test_a_nan_mid_interval_names_its_step_and_no_later_checkpoint_is_written(tmp_path, monkeypatch):
    """Reads every 5 batches (as on a GPU).  The d loss of step 11 (epoch 2, batch 3) is NaN;
    the run goes on to step 12, where ``max_steps`` stops it: the read before that checkpoint
    finds the NaN of step 11, names it, and writes nothing -- epoch 1's checkpoint is kept."""
    monkeypatch.setenv("TINYGAN_FAST", "1")          # 512 images: 8 batches of 64 an epoch
    gan_helpers.register(monkeypatch)
    cls = gan_helpers.TinyGAN
    original = cls.d_loss
    calls = {"n": 0}

    def poisoned(self, *args):
        loss, stats = original(self, *args)
        calls["n"] += 1
        return (loss * float("nan"), stats) if calls["n"] == 11 else (loss, stats)

    monkeypatch.setattr(cls, "d_loss", poisoned)
    run = tmp_path / "r"
    with pytest.raises(NonFiniteLossError,
                       match=r"tiny: the d loss is nan at step 11 \(epoch 2, batch 3\); stopped "
                             r"without saving this state; the last good checkpoint, .*epoch_001.npz") as err:
        train_gan("tiny", out=run, epochs=2, max_steps=12, read_every=5, log_every=100, progress=False)
    assert calls["n"] == 12             # found at the read of step 12, one step after the NaN
    assert "epoch_001.npz" in str(err.value)
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["epoch_001.npz"]
    state = latest(run)
    assert state["step"] == 8 and all(np.isfinite(np.asarray(v.data)).all() for v in state["model"].values())
    # The same run read every batch stops at the NaN's own step, with the same message.
    calls["n"] = 0
    with pytest.raises(NonFiniteLossError, match=r"at step 11 \(epoch 2, batch 3\)"):
        train_gan("tiny", out=tmp_path / "every", epochs=2, max_steps=12, log_every=100,
                  progress=False)
    assert calls["n"] == 11


@pytest.mark.parametrize("bad", [0, -3])
def test_read_every_must_be_a_whole_number(bad, tmp_path):
    with pytest.raises(ValueError, match="read_every must be a whole number >= 1"):
        train_gan("gan", out=tmp_path / "r", read_every=bad, progress=False)
