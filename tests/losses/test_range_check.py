"""losses/range_check.py: the data's range checked now, or (on a device, in a recorded step)
at the training loop's next read point, with the same error.

There is no GPU here: a device is stood in for by making range_check see an array module
other than NumPy (the arrays stay NumPy arrays; only the decision to defer is the device's).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan.losses import range_check


def message(lo, hi):
    return f"op: values in [{lo:.4g}, {hi:.4g}]"


@pytest.fixture
def on_device(monkeypatch):
    """range_check sees a device array module; nothing is left pending afterwards."""
    monkeypatch.setattr(range_check, "_reading_is_free", lambda a: False)
    range_check._pending.clear()
    yield
    range_check._pending.clear()


def test_on_the_cpu_the_error_is_raised_at_once():
    tinygan.tensor([0.0, 1.0])                                   # in range: nothing
    range_check.check_range(tinygan.tensor([0.0, 1.0]), 0.0, 1.0, message)
    with pytest.raises(ValueError, match=r"op: values in \[-1, 1\]"):
        range_check.check_range(tinygan.tensor([-1.0, 1.0]), 0.0, 1.0, message)
    assert range_check.pending() == 0


def test_on_a_device_the_error_waits_for_the_read_point(on_device):
    x = tinygan.tensor([[-1.0, 0.5], [0.25, 2.0]])
    range_check.check_range(tinygan.tensor([0.0, 1.0]), 0.0, 1.0, message)   # good data first
    range_check.check_range(x, 0.0, 1.0, message)                            # no read, no error
    assert range_check.pending() == 2
    with pytest.raises(ValueError, match=r"op: values in \[-1, 2\]"):
        range_check.raise_pending()
    assert range_check.pending() == 0
    range_check.raise_pending()                                   # forgotten once raised


def test_on_a_device_good_data_raises_nothing(on_device):
    for _ in range(3):
        range_check.check_range(tinygan.tensor([0.0, 0.5, 1.0]), 0.0, 1.0, message)
    range_check.raise_pending()
    assert range_check.pending() == 0


def test_evaluation_on_a_device_checks_at_once(on_device):
    """Nothing is recorded (evaluation reads its results anyway): no deferral."""
    with tinygan.no_grad():
        with pytest.raises(ValueError, match=r"op: values in \[-3, 0\]"):
            range_check.check_range(tinygan.tensor([-3.0, 0.0]), 0.0, 1.0, message)
    assert range_check.pending() == 0


def test_unread_checks_are_bounded(on_device):
    """Code that never reaches a read point hears of bad data after MAX_PENDING checks."""
    bad = tinygan.tensor([5.0])
    for _ in range(range_check.MAX_PENDING):
        range_check.check_range(bad, 0.0, 1.0, message)
    with pytest.raises(ValueError, match=r"op: values in \[5, 5\]"):
        range_check.check_range(bad, 0.0, 1.0, message)
    assert range_check.pending() == 0


def test_the_vae_error_is_the_same_deferred(on_device):
    """VAE.loss on a device: the error the CPU raises at once, raised at the read point."""
    from tinygan.models import VAE_FAMILIES
    tinygan.manual_seed(0)
    model = VAE_FAMILIES["vae"]()
    x = tinygan.tensor(np.linspace(-1.0, 1.0, 3 * 28 * 28, dtype=np.float32).reshape(3, 1, 28, 28))
    model.loss(x)
    assert range_check.pending() == 2                  # the model's check and the likelihood's
    with pytest.raises(ValueError, match=r"VAE\.loss: a VAE models pixels in \[0, 1\], got values in "
                                         r"\[-1, 1\] \(images in \[-1, 1\] map to \[0, 1\]"):
        range_check.raise_pending()
