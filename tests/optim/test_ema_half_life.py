"""``tinygan.optim.EMAHalfLife``: the EMA's beta from a half-life in images (StyleGAN2's
training loop), against the formula written out here, and its refusals."""
import math

import pytest

from tinygan.optim import EMAHalfLife


def test_beta_halves_an_old_weight_after_the_half_life():
    schedule = EMAHalfLife(batch_size=32, ema_kimg=10)
    beta = schedule(123_456)
    assert beta == pytest.approx(0.5 ** (32 / 10_000), rel=1e-15)
    # 10k images are 312.5 updates of 32: beta ** 312.5 is one half.
    assert beta ** (10_000 / 32) == pytest.approx(0.5, rel=1e-12)
    # Without a ramp-up the images seen make no difference.
    assert schedule(0) == schedule(10**9) == beta


def test_rampup_shortens_the_half_life_while_training_is_young():
    schedule = EMAHalfLife(batch_size=4, ema_kimg=0.1, ema_rampup=0.5)
    # exact: min(100, 0 * 0.5) = 0, max(0, 1e-8) = 1e-8, 0.5 ** 4e8 underflows to 0.0
    assert schedule(0) == 0.0
    for seen in (4, 8, 40, 199):
        assert schedule.half_life(seen) == seen * 0.5
        assert schedule(seen) == pytest.approx(0.5 ** (4 / (seen * 0.5)), rel=1e-15)
    # From 200 images on the half-life is the full 100 images.
    for seen in (200, 204, 10_000):
        assert schedule(seen) == pytest.approx(0.5 ** (4 / 100), rel=1e-15)
    betas = [schedule(seen) for seen in range(0, 400, 4)]
    assert betas == sorted(betas) and all(0 <= b < 1 for b in betas)


@pytest.mark.parametrize("kwargs, words", [
    (dict(batch_size=0, ema_kimg=10), "batch_size must be a whole number >= 1, got 0"),
    (dict(batch_size=2.5, ema_kimg=10), "batch_size must be a whole number >= 1, got 2.5"),
    (dict(batch_size=4, ema_kimg=0), "ema_kimg must be a finite number > 0, got 0"),
    (dict(batch_size=4, ema_kimg=math.inf), "ema_kimg must be a finite number > 0, got inf"),
    (dict(batch_size=4, ema_kimg=1, ema_rampup=0), "ema_rampup must be a finite number > 0"),
    (dict(batch_size=4, ema_kimg=1, ema_rampup=math.nan), "ema_rampup must be a finite number > 0"),
])
def test_bad_settings_are_refused(kwargs, words):
    with pytest.raises(ValueError, match="EMAHalfLife: " + words.replace("(", r"\(")):
        EMAHalfLife(**kwargs)


def test_negative_images_are_refused():
    with pytest.raises(ValueError, match="EMAHalfLife: images_seen must be >= 0, got -4"):
        EMAHalfLife(4, 1.0)(-4)
