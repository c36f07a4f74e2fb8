"""tinygan.nn.noise: NoiseInjection (StyleGAN's per-pixel noise, Karras et al. 2019 sec. 3.2).

The identity at initialization (strength 0); the three noise modes (random: fresh draws of
shape (N, 1, H, W) from tinygan's generator, the same over channels; const: one buffer, in
the state_dict; none); an explicit noise image; the first and second derivatives with
respect to the strength and the input; determinism under manual_seed; bad input.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.testing import gradcheck, gradgradcheck

from tests.tolerances import assert_within, eps


def x_of(shape=(3, 2, 4, 5), dtype=np.float64, seed=0):
    return tinygan.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


@pytest.mark.parametrize("mode", ["random", "const", "none"])
def test_identity_at_initialization(mode):
    layer = nn.NoiseInjection((4, 5), noise_mode=mode, dtype=np.float64)
    assert layer.noise_strength.shape == () and float(layer.noise_strength.detach().numpy()) == 0.0
    x = x_of()
    # exact: x + 0 * n is x for finite noise n.
    np.testing.assert_array_equal(layer(x).detach().numpy(), x.numpy())


def _set_strength(layer, value):
    with tinygan.no_grad():
        layer.noise_strength.data[...] = value


def test_random_mode_draws_from_the_generator():
    layer = nn.NoiseInjection(noise_mode="random", dtype=np.float64)
    _set_strength(layer, 0.5)
    x = x_of()
    tinygan.manual_seed(11)
    y = layer(x).detach().numpy()
    tinygan.manual_seed(11)
    n = tinygan.randn(3, 1, 4, 5, dtype=np.float64).numpy()
    # y - x is 0.5 n: one rounding of the product and one of the sum, relative to |x| + |n|.
    assert_within(y - x.numpy(), 0.5 * np.broadcast_to(n, y.shape),
                  4 * eps(np.float64) * (np.abs(x.numpy()) + np.abs(n)), "random noise")
    # fresh on the next call; the samples get different images
    y2 = layer(x).detach().numpy()
    assert not np.allclose(y, y2)
    assert not np.allclose(n[0], n[1])


def test_random_mode_statistics_and_shape():
    """One noise image per sample, shared by the channels, N(0, 1)."""
    layer = nn.NoiseInjection()
    _set_strength(layer, 1.0)
    tinygan.manual_seed(12)
    x = tinygan.zeros(8, 3, 32, 32)
    d = layer(x).detach().numpy().astype(np.float64)
    # exact: 0 + n * 1 is n, and every channel adds the same n.
    np.testing.assert_array_equal(d[:, 0], d[:, 1])
    np.testing.assert_array_equal(d[:, 0], d[:, 2])
    m = d[:, 0].size
    assert abs(d[:, 0].mean()) < 5 / np.sqrt(m)                # 5 sigma of the sample mean
    assert abs(d[:, 0].std() - 1) < 5 / np.sqrt(2 * m)         # and of the sample std


def test_const_mode_is_fixed_and_saved():
    tinygan.manual_seed(13)
    layer = nn.NoiseInjection(4, noise_mode="const", dtype=np.float64)
    _set_strength(layer, 2.0)
    x = x_of((2, 3, 4, 4))
    a = layer(x).detach().numpy()
    b = layer(x).detach().numpy()
    np.testing.assert_array_equal(a, b)            # exact: the same buffer, the same ops
    c = layer.noise_const.numpy()
    assert_within(a - x.numpy(), 2.0 * np.broadcast_to(c, a.shape),
                  4 * eps(np.float64) * (np.abs(x.numpy()) + 2 * np.abs(c)), "const noise")
    assert set(layer.state_dict()) == {"noise_strength", "noise_const"}
    tinygan.manual_seed(14)
    other = nn.NoiseInjection(4, noise_mode="const", dtype=np.float64)
    assert not np.array_equal(other.noise_const.numpy(), c)
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other(x).detach().numpy(), a)     # exact: same state, same ops


def test_none_mode_and_per_call_override():
    tinygan.manual_seed(15)
    layer = nn.NoiseInjection(4, dtype=np.float64)
    _set_strength(layer, 1.0)
    x = x_of((2, 1, 4, 4))
    assert layer(x, noise_mode="none") is x
    np.testing.assert_array_equal(layer(x, noise_mode="const").detach().numpy(),
                                  layer(x, noise_mode="const").detach().numpy())   # exact: as above


def test_explicit_noise():
    layer = nn.NoiseInjection(dtype=np.float64)
    _set_strength(layer, 3.0)
    x = x_of((2, 2, 3, 3))
    n = x_of((1, 1, 3, 3), seed=1)
    y = layer(x, noise=n).detach().numpy()
    assert_within(y, x.numpy() + 3.0 * n.numpy(),
                  4 * eps(np.float64) * (np.abs(x.numpy()) + 3 * np.abs(n.numpy())), "explicit")


def test_determinism_under_manual_seed():
    layer = nn.NoiseInjection()
    _set_strength(layer, 1.0)
    x = tinygan.zeros(2, 2, 5, 5)
    tinygan.manual_seed(16)
    a = [layer(x).detach().numpy() for _ in range(2)]
    tinygan.manual_seed(16)
    b = [layer(x).detach().numpy() for _ in range(2)]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)        # exact: the same seed gives the same stream
    tinygan.manual_seed(16)
    c = nn.NoiseInjection(5, noise_mode="const").noise_const.numpy()
    tinygan.manual_seed(16)
    np.testing.assert_array_equal(c, nn.NoiseInjection(5).noise_const.numpy())   # exact: as above


@pytest.mark.parametrize("mode", ["random", "const"])
def test_strength_gradient(mode):
    """d/ds sum(v * (x + s n)) = sum(v n): gradcheck and gradgradcheck over s and x (the random
    mode reseeded inside, so that every evaluation sees the same noise)."""
    tinygan.manual_seed(17)
    layer = nn.NoiseInjection(3, noise_mode=mode, dtype=np.float64)
    _set_strength(layer, 0.7)
    x = x_of((2, 2, 3, 3))
    x.requires_grad_(True)

    def fn(x, s):
        tinygan.manual_seed(18)
        return layer(x) * layer(x)                 # quadratic, so the second derivative is not 0

    assert gradcheck(fn, [x, layer.noise_strength])
    assert gradgradcheck(fn, [x, layer.noise_strength])
    tinygan.manual_seed(18)
    n = (tinygan.randn(2, 1, 3, 3, dtype=np.float64).numpy() if mode == "random"
         else np.broadcast_to(layer.noise_const.numpy(), (2, 1, 3, 3)))
    tinygan.manual_seed(18)
    (g,) = tinygan.grad(layer(x_of((2, 2, 3, 3))).sum(), [layer.noise_strength])
    # dL/ds for L = sum(x + s n) over two channels: 2 sum(n), a sum of 36 terms.
    assert_within(g.numpy(), 2 * n.sum(), 4 * 36 * eps(np.float64) * np.abs(n).sum(), "dL/ds")


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"NoiseInjection: unknown noise_mode 'fixed'"):
        nn.NoiseInjection(4, noise_mode="fixed")
    with pytest.raises(ValueError, match=r"NoiseInjection: noise_mode 'const' needs a resolution"):
        nn.NoiseInjection(noise_mode="const")
    with pytest.raises(ValueError, match=r"NoiseInjection: the constant noise is \(4, 4\) but x "
                                         r"\(1, 2, 5, 5\) is 5x5"):
        nn.NoiseInjection(4, noise_mode="const")(tinygan.zeros(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"NoiseInjection: expected noise of shape \(2 or 1, 1, 3, 3\)"):
        nn.NoiseInjection()(tinygan.zeros(2, 2, 3, 3), noise=tinygan.zeros(2, 2, 3, 3))
    with pytest.raises(ValueError, match=r"NoiseInjection: expected x of shape \(N, C, H, W\)"):
        nn.NoiseInjection()(tinygan.zeros(2, 3, 3))
