"""Tests of tinygan.nn.init: gains, fans, the statistics of every initializer on large tensors,
orthogonality, in-place semantics and seeding; and the layers' default initializations.

Statistical checks use tensors of 10^5..10^6 elements, where the sample std is within about
0.3% of the true one, so the 2% tolerance below can only fail on a wrong formula.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.nn import init


def empty(*shape, dtype=np.float32):
    return tinygan.zeros(*shape, dtype=dtype)


def std_of(t):
    return float(np.std(t.data.astype(np.float64)))


# -- gains and fans ---------------------------------------------------------------------------
def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError):
        init.calculate_gain("leaky_relu", "0.2")


@pytest.mark.parametrize("shape, fans", [
    ((7, 5), (5, 7)),                      # Linear(5, 7): weight (out, in)
    ((8, 3, 4, 4), (48, 128)),             # Conv2d(3, 8, 4): (out, in, kh, kw)
    ((8, 2, 3, 5), (30, 120)),             # Conv2d(4, 8, (3, 5), groups=2): in/groups = 2
    ((6, 4, 4, 4), (64, 96)),              # ConvTranspose2d(6, 4, 4): (in, out, kh, kw)
])
def test_fan_in_and_fan_out(shape, fans):
    assert init._calculate_fan_in_and_fan_out(empty(*shape)) == fans
    assert init._calculate_correct_fan(empty(*shape), "fan_in") == fans[0]
    assert init._calculate_correct_fan(empty(*shape), "fan_out") == fans[1]


def test_fans_of_the_layers_weights():
    assert init._calculate_fan_in_and_fan_out(nn.Linear(5, 7).weight) == (5, 7)
    assert init._calculate_fan_in_and_fan_out(nn.Conv2d(4, 8, 3, groups=2).weight) == (18, 72)
    # PyTorch reads the transposed conv's (in, out/groups, kh, kw) weight the same way.
    assert init._calculate_fan_in_and_fan_out(nn.ConvTranspose2d(6, 4, 3, groups=2).weight) == (18, 54)


def test_fans_match_torch():
    torch = pytest.importorskip("torch")
    for shape in [(7, 5), (8, 3, 4, 4), (6, 2, 3, 5), (3, 4, 2)]:
        expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert init._calculate_fan_in_and_fan_out(empty(*shape)) == expected


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(empty(5))
    with pytest.raises(ValueError, match="fan_in, fan_out"):
        init.kaiming_normal_(empty(3, 3), mode="fan_avg")


# -- statistics ---------------------------------------------------------------------------------
def test_uniform_and_normal_statistics():
    t = init.uniform_(empty(1000, 200), -2.0, 3.0)
    assert t.data.min() >= -2.0 and t.data.max() < 3.0
    assert np.mean(t.data) == pytest.approx(0.5, abs=0.02)
    assert std_of(t) == pytest.approx(5 / math.sqrt(12), rel=0.02)
    t = init.normal_(empty(1000, 200), mean=1.5, std=0.3)
    assert np.mean(t.data) == pytest.approx(1.5, abs=0.005)
    assert std_of(t) == pytest.approx(0.3, rel=0.02)


def test_constant_zeros_ones():
    t = empty(3, 4)
    assert init.constant_(t, 2.5) is t and np.all(t.data == 2.5)
    assert np.all(init.ones_(t).data == 1) and np.all(init.zeros_(t).data == 0)


@pytest.mark.parametrize("shape", [(512, 1024), (256, 64, 3, 3)])
def test_xavier_std(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(empty(*shape))
    expected = 0.7 * math.sqrt(2 / (fan_in + fan_out))
    t = init.xavier_normal_(empty(*shape), gain=0.7)
    assert std_of(t) == pytest.approx(expected, rel=0.02)
    t = init.xavier_uniform_(empty(*shape), gain=0.7)
    assert std_of(t) == pytest.approx(expected, rel=0.02)
    assert np.abs(t.data).max() <= math.sqrt(3) * expected * (1 + 1e-6)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("shape", [(512, 1024), (256, 64, 3, 3)])
def test_kaiming_std(shape, mode):
    fan = init._calculate_correct_fan(empty(*shape), mode)
    expected = math.sqrt(2) / math.sqrt(fan)                       # relu gain / sqrt(fan)
    t = init.kaiming_normal_(empty(*shape), mode=mode, nonlinearity="relu")
    assert np.mean(t.data) == pytest.approx(0, abs=0.01 * expected)
    assert std_of(t) == pytest.approx(expected, rel=0.02)
    t = init.kaiming_uniform_(empty(*shape), mode=mode, nonlinearity="relu")
    assert std_of(t) == pytest.approx(expected, rel=0.02)
    assert np.abs(t.data).max() <= math.sqrt(3) * expected * (1 + 1e-6)
    # leaky_relu with slope a: gain sqrt(2 / (1 + a^2)).
    t = init.kaiming_normal_(empty(*shape), a=0.2, mode=mode)
    assert std_of(t) == pytest.approx(math.sqrt(2 / 1.04) / math.sqrt(fan), rel=0.02)


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (16, 4, 3, 3), (50, 50)])
def test_orthogonal(shape):
    t = init.orthogonal_(empty(*shape, dtype=np.float64), gain=2.0)
    w = t.data.reshape(shape[0], -1)
    rows, cols = w.shape
    gram = w.T @ w if rows >= cols else w @ w.T                    # the smaller Gram matrix
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-10)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(empty(4))


def test_init_is_in_place_keeps_dtype_and_records_nothing():
    p = nn.Parameter(tinygan.zeros(30, 20, dtype=np.float64))
    data = p.data
    out = init.kaiming_uniform_(p, a=math.sqrt(5))
    assert out is p and p.data is data and p.dtype == np.float64
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    assert np.any(p.data != 0)


# -- seeding --------------------------------------------------------------------------------------
def test_seeding_makes_initialization_reproducible():
    tinygan.manual_seed(123)
    a = nn.Conv2d(3, 8, 3)
    tinygan.manual_seed(123)
    b = nn.Conv2d(3, 8, 3)
    c = nn.Conv2d(3, 8, 3)            # the generator moved on: different numbers
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(b.weight.data, c.weight.data)
    # The draws are float64, then cast: a float64 layer from the same seed matches to rounding.
    tinygan.manual_seed(123)
    d = nn.Conv2d(3, 8, 3, dtype=np.float64)
    assert d.weight.dtype == np.float64
    np.testing.assert_allclose(d.weight.data, a.weight.data, rtol=1e-6)
    # An explicit generator is used instead of the global one.
    w1 = init.normal_(empty(4, 4), generator=np.random.default_rng(0))
    w2 = init.normal_(empty(4, 4), generator=np.random.default_rng(0))
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(w1.data, w2.data)


# -- the layers' default initializations (PyTorch's) -----------------------------------------------
def _check_bound(t, bound):
    """Values in [-bound, bound] and spread like U(-bound, bound) (std bound/sqrt(3))."""
    assert np.abs(t.data).max() <= bound * (1 + 1e-6)
    assert std_of(t) == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_linear_default_init():
    tinygan.manual_seed(0)
    layer = nn.Linear(400, 300)
    _check_bound(layer.weight, 1 / math.sqrt(400))          # kaiming_uniform_(a=sqrt(5))
    assert np.abs(layer.bias.data).max() <= 1 / math.sqrt(400)
    assert np.abs(layer.bias.data).max() > 0.8 / math.sqrt(400)


def test_conv_default_inits():
    tinygan.manual_seed(0)
    conv = nn.Conv2d(64, 128, 3)
    _check_bound(conv.weight, 1 / math.sqrt(64 * 9))
    assert np.abs(conv.bias.data).max() <= 1 / math.sqrt(64 * 9)
    # Transposed: fan_in = weight.shape[1] * kh * kw = out/groups * 16.
    convt = nn.ConvTranspose2d(96, 64, 4, groups=2)
    _check_bound(convt.weight, 1 / math.sqrt(32 * 16))
    assert np.abs(convt.bias.data).max() <= 1 / math.sqrt(32 * 16)
    assert np.abs(convt.bias.data).max() > 0.8 / math.sqrt(32 * 16)


def test_norm_and_embedding_default_inits():
    tinygan.manual_seed(0)
    bn = nn.BatchNorm2d(5)
    assert np.all(bn.weight.data == 1) and np.all(bn.bias.data == 0)
    assert np.all(bn.running_mean.data == 0) and np.all(bn.running_var.data == 1)
    assert bn.num_batches_tracked.item() == 0
    ln = nn.LayerNorm((3, 4))
    assert np.all(ln.weight.data == 1) and np.all(ln.bias.data == 0)
    emb = nn.Embedding(1000, 300, padding_idx=2)
    assert std_of(emb.weight) == pytest.approx(1.0, rel=0.02)      # N(0, 1)
    assert np.all(emb.weight.data[2] == 0)
