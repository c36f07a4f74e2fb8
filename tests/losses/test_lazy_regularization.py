"""tinygan.losses.lazy_regularization: StyleGAN2's Appendix B, against hand values."""
from __future__ import annotations

import math

import pytest

from tinygan import losses


def test_the_ratio_is_k_over_k_plus_one():
    assert losses.lazy_ratio(16) == 16 / 17     # exact: the same one division
    assert losses.lazy_ratio(4) == 0.8          # exact: 4 / 5 rounds to the double nearest 0.8
    assert losses.lazy_ratio(1) == 0.5          # exact: 1 / 2
    assert losses.lazy_ratio(None) == 1.0       # exact: no lazy regularization


def test_adam_settings_for_r1_every_16_steps_match_hand_values():
    # StyleGAN2's D: lr 0.0025, betas (0, 0.99), R1 every 16 steps: c = 16/17
    lr, (b1, b2) = losses.lazy_adam_settings(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.00235294117647, rel=1e-11)       # 0.0025 * 16 / 17
    assert b1 == 0.0                                              # exact: 0 ** c is 0
    assert b2 == pytest.approx(0.99058545731, rel=1e-10)           # 0.99 ** (16/17) = exp(16/17 ln 0.99)
    assert b2 ** 17 == pytest.approx(0.99 ** 16, rel=1e-13)       # the same decay per 16 batches


def test_adam_settings_for_path_length_every_4_steps_match_hand_values():
    lr, (b1, b2) = losses.lazy_adam_settings(0.002, (0.5, 0.99), 4)   # c = 0.8
    assert lr == pytest.approx(0.0016, rel=1e-14)
    assert b1 == pytest.approx(0.5743492, rel=1e-7)     # 0.5 ** 0.8 = 2 ** -0.8
    assert b2 == pytest.approx(0.99199196782, rel=1e-10)  # 0.99 ** 0.8 = exp(0.8 ln 0.99)
    assert math.isclose(b1 ** 5, 0.5 ** 4, rel_tol=1e-13)


def test_no_interval_leaves_the_settings_alone():
    assert losses.lazy_adam_settings(1e-3, (0.9, 0.999), None) == (1e-3, (0.9, 0.999))


def test_the_gain_and_the_schedule():
    assert losses.lazy_gain(16) == 16 and losses.lazy_gain(4) == 4 and losses.lazy_gain(None) == 1
    assert [s for s in range(40) if losses.lazy_due(s, 16)] == [0, 16, 32]
    assert [s for s in range(10) if losses.lazy_due(s, 4)] == [0, 4, 8]
    assert all(losses.lazy_due(s, 1) for s in range(5))
    assert not any(losses.lazy_due(s, None) for s in range(5))


@pytest.mark.parametrize("bad", [0, -4, 2.5, True, "16"])
def test_bad_intervals_are_refused(bad):
    with pytest.raises(ValueError, match=r"lazy_gain: interval must be an integer >= 1"):
        losses.lazy_gain(bad)
    with pytest.raises(ValueError, match=r"lazy_adam_settings|lazy_ratio"):
        losses.lazy_adam_settings(1e-3, (0.0, 0.99), bad)


def test_bad_adam_settings_are_refused():
    with pytest.raises(ValueError, match=r"lazy_adam_settings: betas must be a pair"):
        losses.lazy_adam_settings(1e-3, (0.9,), 4)
    with pytest.raises(ValueError, match=r"lazy_adam_settings: betas must lie in \[0, 1\)"):
        losses.lazy_adam_settings(1e-3, (0.9, 1.0), 4)
    with pytest.raises(ValueError, match=r"lazy_adam_settings: lr must be >= 0"):
        losses.lazy_adam_settings(-1e-3, (0.9, 0.99), 4)
    with pytest.raises(ValueError, match=r"lazy_due: step must be an integer >= 0"):
        losses.lazy_due(-1, 4)
