"""tinygan.nn.conditional_norm: ConditionalBatchNorm2d (BigGAN's class-conditional BatchNorm).

Per sample against NumPy (two samples with different conditions get different scales and
shifts), in float64 and float32 with a rounding-error bound as tolerance; the running
statistics in training and their use in eval mode; first and second derivatives in both
modes; the children and the state_dict; bad input; and, where PyTorch is installed, against
the same layer written with torch.nn (outputs, gradients, running statistics).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.testing import gradcheck, gradgradcheck

from tests.tolerances import FACTOR, assert_within, eps


def _layer(c=3, k=4, dtype=np.float64, seed=0, momentum=0.1, eps_=1e-5):
    tinygan.manual_seed(seed)
    return nn.ConditionalBatchNorm2d(c, k, eps=eps_, momentum=momentum, dtype=dtype)


def _t(shape, dtype=np.float64, seed=1, requires_grad=False, loc=0.0):
    a = np.random.default_rng(seed).standard_normal(shape) + loc
    return tinygan.tensor(a, dtype=dtype, requires_grad=requires_grad)


def _weights(layer):
    return (layer.gain.weight.detach().numpy().astype(np.float64),
            layer.bias.weight.detach().numpy().astype(np.float64))


def reference(x, cond, wg, wb, eps_, dtype, mean=None, var=None):
    """(y, bound): BigGAN's CBN in float64 -- batch statistics, or ``mean``/``var`` given
    (eval mode) -- and a first-order bound on a computation of y in ``dtype`` (each sum of m
    terms off by FACTOR * m * eps * the sum of |terms|, as tests/tolerances.py)."""
    u, f, a = eps(dtype), FACTOR, np.abs
    n, c, h, w = x.shape
    m = n * h * w
    axes = (0, 2, 3)
    if mean is None:
        mu = x.mean(axis=axes, keepdims=True)
        d = x - mu
        var = (d * d).mean(axis=axes, keepdims=True)                  # biased, as BatchNorm
        e_mu = f * m * u * a(x).mean(axis=axes, keepdims=True)
        e_var = f * m * u * (d * d).mean(axis=axes, keepdims=True) + 2 * a(d).mean(
            axis=axes, keepdims=True) * e_mu
    else:
        mu, var = mean.reshape(1, c, 1, 1), var.reshape(1, c, 1, 1)
        d = x - mu
        e_mu = e_var = 0.0                                            # constants, only rounded
    std = np.sqrt(var + eps_)
    xhat = d / std
    e_xhat = (e_mu + u * a(d)) / std + a(xhat) * (e_var / (2 * (var + eps_)) + 3 * u)
    gain = 1.0 + cond @ wg.T                                           # (N, C): 1 + Linear(c)
    bias = cond @ wb.T
    k = cond.shape[1]
    e_gain = f * (k + 1) * u * (1.0 + a(cond) @ a(wg).T)
    e_bias = f * k * u * (a(cond) @ a(wb).T)
    g4, b4 = gain[:, :, None, None], bias[:, :, None, None]
    y = xhat * g4 + b4
    e_y = (a(g4) * e_xhat + a(xhat) * e_gain[:, :, None, None] + e_bias[:, :, None, None]
           + f * 2 * u * (a(xhat * g4) + a(b4)))
    return y, e_y


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_training_forward_per_sample_against_numpy(dtype):
    layer = _layer(dtype=dtype)
    x = _t((2, 3, 4, 5), dtype, loc=0.5)
    cond = _t((2, 4), dtype, seed=2)
    y = layer(x, cond).detach().numpy()
    ref, bound = reference(x.numpy().astype(np.float64), cond.numpy().astype(np.float64),
                           *_weights(layer), 1e-5, dtype)
    assert y.dtype == dtype
    assert_within(y, ref, 2 * bound, "CBN, training")   # two computations, each within the bound


def test_samples_with_different_conditions_get_different_affine_maps():
    """The same normalized input, two conditions: the outputs differ by exactly the affine
    maps the conditions give -- y_n = xhat * (1 + W_g c_n) + W_b c_n."""
    layer = _layer(c=2, k=3)
    one = np.random.default_rng(3).standard_normal((1, 2, 3, 3))
    x = np.concatenate([one, one])                    # both samples share their pixels
    cond = np.array([[1.0, 0.0, -1.0], [0.0, 2.0, 0.5]])
    y = layer(tinygan.tensor(x), tinygan.tensor(cond)).detach().numpy()
    wg, wb = _weights(layer)
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    xhat = (one - mu) / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    for i in range(2):
        scale = (1 + wg @ cond[i])[None, :, None, None]
        shift = (wb @ cond[i])[None, :, None, None]
        np.testing.assert_allclose(y[i:i + 1], xhat * scale + shift, rtol=1e-12, atol=1e-12)
    assert not np.allclose(y[0], y[1])


def test_zero_condition_is_plain_batch_norm():
    layer = _layer(c=3, k=2)
    x = _t((4, 3, 2, 2), loc=1.0)
    plain = nn.BatchNorm2d(3, affine=False, dtype=np.float64)
    y = layer(x, tinygan.zeros(4, 2, dtype=np.float64)).detach().numpy()
    # exact: a zero condition gives gain 1 + 0 and bias 0, so x_hat * 1 + 0 is x_hat
    np.testing.assert_array_equal(y, plain(x).detach().numpy())


def test_running_statistics_in_training_and_their_use_in_eval():
    layer = _layer(c=3, k=4, momentum=0.25)
    xs = [_t((3, 3, 2, 4), seed=s, loc=2.0) for s in (4, 5)]
    cond = _t((3, 4), seed=6)
    mean, var = np.zeros(3), np.ones(3)
    for x in xs:
        layer(x, cond)
        a = x.numpy()
        m = a.shape[0] * a.shape[2] * a.shape[3]
        mean = 0.75 * mean + 0.25 * a.mean(axis=(0, 2, 3))
        var = 0.75 * var + 0.25 * a.var(axis=(0, 2, 3)) * m / (m - 1)     # unbiased, as PyTorch
    np.testing.assert_allclose(layer.bn.running_mean.numpy(), mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.bn.running_var.numpy(), var, rtol=1e-12, atol=1e-14)
    assert int(layer.bn.num_batches_tracked.item()) == 2
    layer.eval()
    x = _t((2, 3, 2, 4), seed=7)
    c2 = _t((2, 4), seed=8)
    y = layer(x, c2).detach().numpy()
    ref, bound = reference(x.numpy(), c2.numpy(), *_weights(layer), 1e-5, np.float64,
                           mean=layer.bn.running_mean.numpy(), var=layer.bn.running_var.numpy())
    assert_within(y, ref, 2 * bound, "CBN, eval")
    # eval mode leaves the statistics alone, and one sample alone is fine
    layer(x[:1], c2[:1])
    np.testing.assert_allclose(layer.bn.running_mean.numpy(), mean, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_first_and_second_derivatives(training):
    layer = _layer(c=2, k=3)
    layer(_t((4, 2, 2, 2), seed=9, loc=0.3), _t((4, 3), seed=10))    # non-trivial running stats
    layer.train(training)
    x = _t((3, 2, 2, 3), seed=11, requires_grad=True)
    cond = _t((3, 3), seed=12, requires_grad=True)
    fn = lambda x, cond, wg, wb: layer(x, cond)                        # noqa: E731
    inputs = [x, cond, layer.gain.weight, layer.bias.weight]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_children_and_state_dict():
    layer = nn.ConditionalBatchNorm2d(5, 7, eps=1e-4, momentum=0.2)
    assert type(layer.bn) is nn.BatchNorm2d and not layer.bn.affine
    assert (layer.bn.eps, layer.bn.momentum) == (1e-4, 0.2) == (layer.eps, layer.momentum)
    for lin in (layer.gain, layer.bias):
        assert type(lin) is nn.Linear and lin.bias is None and tuple(lin.weight.shape) == (5, 7)
        # PyTorch's default init, U(-1/sqrt(7), 1/sqrt(7)): random, not zeros (spectral norm
        # needs a largest singular value above 0).
        w = lin.weight.detach().numpy()
        assert np.abs(w).max() <= 1 / np.sqrt(7) and np.abs(w).max() > 0
    assert set(layer.state_dict()) == {"bn.running_mean", "bn.running_var",
                                       "bn.num_batches_tracked", "gain.weight", "bias.weight"}
    assert layer.gain.weight.dtype == np.float32
    other = _layer(c=5, k=7, seed=13, momentum=0.2, eps_=1e-4).float()
    other.load_state_dict(layer.state_dict())
    x, c = _t((2, 5, 2, 2), np.float32), _t((2, 7), np.float32)
    # exact: the same weights through the same ops
    np.testing.assert_array_equal(other(x, c).detach().numpy(), layer(x, c).detach().numpy())


def test_bad_input_names_the_layer_and_shapes():
    layer = nn.ConditionalBatchNorm2d(3, 4)
    x, c = tinygan.zeros(2, 3, 2, 2), tinygan.zeros(2, 4)
    with pytest.raises(ValueError, match=r"ConditionalBatchNorm2d: expected x of shape "
                                         r"\(N, 3, H, W\), got \(2, 3, 2\)"):
        layer(tinygan.zeros(2, 3, 2), c)
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 3, H, W\), got \(2, 4, 2, 2\)"):
        layer(tinygan.zeros(2, 4, 2, 2), c)
    with pytest.raises(ValueError, match=r"expected cond of shape \(2, 4\) for x of shape "
                                         r"\(2, 3, 2, 2\), got \(3, 4\)"):
        layer(x, tinygan.zeros(3, 4))
    with pytest.raises(ValueError, match=r"expected cond of shape \(2, 4\).*got \(2, 4, 1\)"):
        layer(x, tinygan.zeros(2, 4, 1))
    with pytest.raises(TypeError, match=r"ConditionalBatchNorm2d: expected a Tensor cond, got list"):
        layer(x, [[0.0] * 4] * 2)
    with pytest.raises(ValueError, match=r"cond_features must be a positive int, got 0"):
        nn.ConditionalBatchNorm2d(3, 0)
    with pytest.raises(ValueError, match=r"num_features must be a positive int, got 2.5"):
        nn.ConditionalBatchNorm2d(2.5, 3)


@pytest.mark.gpu
def test_on_a_gpu_against_numpy():
    if not tinygan.cuda_is_available():
        pytest.skip("CuPy with a GPU is not available")
    layer = _layer(c=8, k=5, dtype=np.float32)
    x, cond = _t((4, 8, 4, 4), np.float32, loc=0.5), _t((4, 5), np.float32, seed=2)
    ref, bound = reference(x.numpy().astype(np.float64), cond.numpy().astype(np.float64),
                           *_weights(layer), 1e-5, np.float32)
    layer.to("cuda")
    y = layer(x.to("cuda"), cond.to("cuda"))
    assert y.is_cuda and layer.bn.running_mean.is_cuda
    assert_within(y.detach().cpu().numpy(), ref, 2 * bound, "CBN, GPU")


# -- against PyTorch, when installed: BigGAN's conditional BN written with torch.nn ------------
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _torch_cbn(torch, c, k, momentum):
    tnn = torch.nn

    class CBN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.bn = tnn.BatchNorm2d(c, momentum=momentum, affine=False)
            self.gain = tnn.Linear(k, c, bias=False)
            self.bias = tnn.Linear(k, c, bias=False)

        def forward(self, x, cond):
            n = x.shape[0]
            gain, bias = 1 + self.gain(cond), self.bias(cond)
            return self.bn(x) * gain.view(n, c, 1, 1) + bias.view(n, c, 1, 1)

    return CBN().double()


def test_matches_torch_in_training_and_eval(torch):
    theirs = _torch_cbn(torch, 4, 6, 0.3)
    ours = _layer(c=4, k=6, momentum=0.3)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(0)
    for step, training in enumerate([True, True, False]):
        theirs.train(training)
        ours.train(training)
        x = rng.standard_normal((3, 4, 3, 2)) + step
        cond, w = rng.standard_normal((3, 6)), rng.standard_normal((3, 4, 3, 2))
        xt, ct = torch.tensor(x, requires_grad=True), torch.tensor(cond, requires_grad=True)
        xo, co = tinygan.tensor(x, requires_grad=True), tinygan.tensor(cond, requires_grad=True)
        yt, yo = theirs(xt, ct), ours(xo, co)
        # float64 both: the same formulas summed in other orders
        np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-10)
        theirs.zero_grad()
        ours.zero_grad()
        (yt * torch.tensor(w)).sum().backward()
        (yo * tinygan.tensor(w)).sum().backward()
        for a, b, name in [(xo, xt, "x"), (co, ct, "cond"), (ours.gain.weight, theirs.gain.weight,
                           "gain"), (ours.bias.weight, theirs.bias.weight, "bias")]:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-10,
                                       err_msg=name)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key].data, value.numpy(), rtol=1e-9,
                                       atol=1e-12, err_msg=key)
