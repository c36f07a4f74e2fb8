"""tinygan.nn.equalized: EqualizedLinear and EqualizedConv2d (Karras et al. 2018, sec. 4.1).

The forward pass against the formula written in NumPy (weights times lr_multiplier/sqrt(fan_in),
bias times lr_multiplier, the activation with bias_act's gain); the initialization's
statistics; the effective learning rate under SGD and Adam; first and second derivatives
in float64 with respect to input, weight and bias; the state_dict round trip; bad input.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan import nn
from tinygan.testing import gradcheck, gradgradcheck

from tests.tolerances import assert_within, eps, product_tolerance, sum_tolerance


def np_lrelu(z):
    return np.where(z > 0, z, 0.2 * z) * math.sqrt(2)          # bias_act's lrelu: alpha 0.2, gain sqrt(2)


def np_conv_same(x, w):
    """Cross-correlation with zero padding k // 2, written with loops over the taps."""
    n, i, h, wd = x.shape
    o, _, k, _ = w.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((n, o, h, wd))
    for a in range(k):
        for b in range(k):
            y += np.einsum("oi,nihw->nohw", w[:, :, a, b], xp[:, :, a:a + h, b:b + wd])
    return y


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
@pytest.mark.parametrize("activation", ["linear", "lrelu"])
def test_linear_forward_matches_formula(lr_multiplier, activation):
    tinygan.manual_seed(0)
    layer = nn.EqualizedLinear(5, 3, lr_multiplier=lr_multiplier, activation=activation,
                               bias_init=0.5, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 5))
    w = layer.weight.detach().numpy() * lr_multiplier / math.sqrt(5)
    b = layer.bias.detach().numpy() * lr_multiplier
    np.testing.assert_allclose(b, 0.5, rtol=4 * eps(np.float64))     # the effective bias_init
    z = x @ w.T + b
    expected = np_lrelu(z) if activation == "lrelu" else z
    y = layer(tinygan.tensor(x)).detach().numpy()
    tol = product_tolerance(np.abs(x), np.abs(w.T)) + 4 * eps(np.float64) * np.abs(b)
    assert_within(y, expected, tol * (math.sqrt(2) if activation == "lrelu" else 1), "linear")


def test_linear_without_bias_float32():
    tinygan.manual_seed(1)
    layer = nn.EqualizedLinear(6, 2, bias=False)
    assert layer.bias is None and layer.weight.dtype == np.float32
    x = np.random.default_rng(1).standard_normal((3, 6)).astype(np.float32)
    w = layer.weight.detach().numpy().astype(np.float64) / math.sqrt(6)
    y = layer(tinygan.tensor(x)).detach().numpy()
    assert_within(y, x @ w.T, product_tolerance(np.abs(x), np.abs(w.T), np.float32), "no bias")


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
def test_conv_forward_matches_formula(lr_multiplier):
    tinygan.manual_seed(2)
    layer = nn.EqualizedConv2d(3, 4, 3, activation="lrelu", lr_multiplier=lr_multiplier,
                               dtype=np.float64)
    with tinygan.no_grad():
        layer.bias.data[...] = np.arange(4) / lr_multiplier
    x = np.random.default_rng(2).standard_normal((2, 3, 5, 6))
    w = layer.weight.detach().numpy() * lr_multiplier / math.sqrt(3 * 9)
    b = layer.bias.detach().numpy() * lr_multiplier
    expected = np_lrelu(np_conv_same(x, w) + b[None, :, None, None])
    tol = sum_tolerance(np_conv_same(np.abs(x), np.abs(w)) + np.abs(b)[None, :, None, None], 27 + 2,
                        np.float64) * math.sqrt(2)
    assert_within(layer(tinygan.tensor(x)).detach().numpy(), expected, tol, "conv")


@pytest.mark.parametrize("up,down", [(2, 1), (1, 2)])
def test_conv_resampling_is_the_filtered_composition(up, down):
    """The StyleGAN2 reference code's forms with [1, 3, 3, 1]: up: a stride-2 transposed conv
    with the scaled weight flipped, then the filter (gain 4); down: the filter, then a
    stride-2 conv.  Away from the border that is the plain composition (upsample2d then the
    conv; the conv then downsample2d): only the outermost ring of pixels may differ."""
    tinygan.manual_seed(3)
    layer = nn.EqualizedConv2d(2, 3, 3, up=up, down=down, dtype=np.float64)
    x = tinygan.tensor(np.random.default_rng(3).standard_normal((2, 2, 8, 8)))
    f = F.setup_filter([1, 3, 3, 1])
    w = layer.weight * (1 / math.sqrt(2 * 9))
    y = layer(x)
    if up == 2:
        wt = w[:, :, ::-1, ::-1].permute(1, 0, 2, 3)
        expected = F.upfirdn2d(F.conv_transpose2d(x, wt, stride=2), f, padding=1, gain=4)
        plain = lambda x, w: F.conv2d(F.upsample2d(x, f), w, padding=1)        # noqa: E731
    else:
        expected = F.conv2d(F.upfirdn2d(x, f, padding=2), w, stride=2)
        plain = lambda x, w: F.downsample2d(F.conv2d(x, w, padding=1), f)      # noqa: E731
    assert y.shape == (2, 3, 8 * up // down, 8 * up // down)
    # exact: the layer runs these very ops in this order on the same numbers.
    np.testing.assert_array_equal(y.detach().numpy(), expected.detach().numpy())
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    magnitude = plain(tinygan.tensor(np.abs(x.numpy())), tinygan.tensor(np.abs(w.detach().numpy())))
    tol = sum_tolerance(magnitude.numpy()[inner], 2 * (2 * 9 * 16 + 4), np.float64)
    assert_within(y.detach().numpy()[inner], plain(x, w).detach().numpy()[inner], tol,
                  "reference form vs plain composition inside the border")
    assert not np.allclose(y.detach().numpy(), plain(x, w).detach().numpy()), \
        "the border ring was expected to differ"


@pytest.mark.parametrize("lr_multiplier", [1.0, 0.01])
def test_initialization_statistics(lr_multiplier):
    """Stored weights N(0, 1)/lr_multiplier, so the effective weights are N(0, 1/fan_in)."""
    tinygan.manual_seed(4)
    layer = nn.EqualizedLinear(256, 256, lr_multiplier=lr_multiplier)
    w = layer.weight.detach().numpy().astype(np.float64) * lr_multiplier
    n = w.size
    # The sample mean has std 1/sqrt(n), the sample std about 1/sqrt(2n): 5 sigma of each.
    assert abs(w.mean()) < 5 / math.sqrt(n)
    assert abs(w.std() - 1) < 5 / math.sqrt(2 * n)
    # exact: bias_init 0 divided by lr_multiplier is 0.
    np.testing.assert_array_equal(layer.bias.detach().numpy(), 0)


def _effective_step(lr_multiplier, optimizer):
    """One optimizer step on the same effective layer; returns the change of the effective
    weights, that of the stored weights, and the stored weights before."""
    tinygan.manual_seed(5)
    layer = nn.EqualizedLinear(8, 4, lr_multiplier=lr_multiplier, dtype=np.float64)
    x = tinygan.tensor(np.random.default_rng(5).standard_normal((16, 8)))
    target = tinygan.tensor(np.random.default_rng(6).standard_normal((16, 4)))
    before = layer.weight.detach().numpy().copy()
    opt = optimizer([layer.weight])
    loss = ((layer(x) - target) ** 2).mean()
    loss.backward()
    opt.step()
    after = layer.weight.detach().numpy()
    return (after - before) * layer.weight_gain, after - before, before


def test_effective_learning_rate_sgd():
    """The stored weight is w/lambda and the run-time scale lambda/sqrt(fan_in): the gradient
    of the stored weight is lambda times smaller AND a stored step moves the effective weight
    lambda times less, so with plain SGD the effective weights move lambda^2 = 1e-4 times as
    far (the 'lambda times slower' of StyleGAN holds for Adam, whose step does not scale
    with the gradient: next test)."""
    sgd = lambda params: tinygan.optim.SGD(params, lr=0.1)            # noqa: E731
    d1, _, _ = _effective_step(1.0, sgd)
    d2, s2, w2 = _effective_step(0.01, sgd)
    # Both start from the same effective weights (the same draw, scaled): the gradients
    # agree up to rounding, relative ~ n eps.  The differences after - before lose
    # eps * |w| / |step| relatively: large for the stored 100x weights.
    rel = 64 * eps(np.float64) + 4 * eps(np.float64) * np.abs(w2) / np.abs(s2)
    assert_within(d2 / d1, np.full(d1.shape, 1e-4), 1e-4 * rel, "SGD effective step ratio")


def test_effective_learning_rate_adam():
    """Adam's first step is lr * g / (|g| + eps_adam), about lr in size whatever g's scale, so
    the stored weights move alike and the effective weights lambda = 100 times slower."""
    adam = lambda params: tinygan.optim.Adam(params, lr=1e-3, eps=1e-14)  # noqa: E731
    d1, s1, _ = _effective_step(1.0, adam)
    d2, s2, w2 = _effective_step(0.01, adam)
    # Relative error: eps_adam / |g| (g >= ~1e-4 here, a few 1e-10) and the subtraction's
    # eps * |w| / |step|.
    rel = 1e-8 + 4 * eps(np.float64) * np.abs(w2) / np.abs(s2)
    assert_within(d2 / d1, np.full(d1.shape, 0.01), 0.01 * rel, "Adam effective step ratio")


@pytest.mark.parametrize("activation", ["linear", "lrelu", "tanh"])
def test_linear_derivatives(activation):
    tinygan.manual_seed(7)
    layer = nn.EqualizedLinear(3, 2, lr_multiplier=0.1, activation=activation, bias_init=0.3,
                               dtype=np.float64)
    x = tinygan.tensor(np.random.default_rng(7).standard_normal((4, 3)) + 0.3, requires_grad=True)
    fn = lambda x, w, b: layer(x)                                      # noqa: E731
    inputs = [x, layer.weight, layer.bias]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


@pytest.mark.parametrize("up,down", [(1, 1), (2, 1), (1, 2)])
def test_conv_derivatives(up, down):
    tinygan.manual_seed(8)
    layer = nn.EqualizedConv2d(2, 2, 3, activation="tanh", up=up, down=down, dtype=np.float64)
    x = tinygan.tensor(np.random.default_rng(8).standard_normal((1, 2, 2 * down, 2 * down)),
                       requires_grad=True)
    fn = lambda x, w, b: layer(x)                                      # noqa: E731
    inputs = [x, layer.weight, layer.bias]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_state_dict_round_trip():
    tinygan.manual_seed(9)
    a = nn.EqualizedConv2d(2, 3, 3, down=2, lr_multiplier=0.5)
    tinygan.manual_seed(10)
    b = nn.EqualizedConv2d(2, 3, 3, down=2, lr_multiplier=0.5)
    assert set(a.state_dict()) == {"weight", "bias"}
    x = tinygan.randn(2, 2, 4, 4)
    assert not np.array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    b.load_state_dict(a.state_dict())
    # exact: the same parameters and ops on the same input.
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    la, lb = nn.EqualizedLinear(3, 2, lr_multiplier=0.01), nn.EqualizedLinear(3, 2, lr_multiplier=0.01)
    lb.load_state_dict(la.state_dict())
    z = tinygan.randn(4, 3)
    np.testing.assert_array_equal(la(z).detach().numpy(), lb(z).detach().numpy())       # exact: as above


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"EqualizedLinear: expected lr_multiplier > 0, got 0"):
        nn.EqualizedLinear(3, 2, lr_multiplier=0)
    with pytest.raises(ValueError, match=r"EqualizedLinear: unknown activation 'gelu'"):
        nn.EqualizedLinear(3, 2, activation="gelu")
    with pytest.raises(ValueError, match=r"EqualizedLinear: expected input of shape \(N, 3\), "
                                         r"got \(4, 2\)"):
        nn.EqualizedLinear(3, 2)(tinygan.zeros(4, 2))
    with pytest.raises(ValueError, match=r"EqualizedConv2d: expected up and down in \(1, 2\)"):
        nn.EqualizedConv2d(3, 2, 3, up=2, down=2)
    with pytest.raises(ValueError, match=r"EqualizedConv2d: expected kernel_size to be an integer"):
        nn.EqualizedConv2d(3, 2, 0)
    with pytest.raises(ValueError, match=r"EqualizedConv2d: expected input of shape \(N, 3, H, W\), "
                                         r"got \(1, 2, 4, 4\)"):
        nn.EqualizedConv2d(3, 2, 3)(tinygan.zeros(1, 2, 4, 4))
