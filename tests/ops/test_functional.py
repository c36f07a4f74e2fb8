"""tinygan.nn.functional: what it exports, and the ops without a test file of their own:
linear, embedding (tinygan.ops.linear), dropout (tinygan.ops.dropout), and F.pad's modes.

Forward against NumPy written here, first and second derivatives in float64, dropout's
statistics and its reproducibility under tinygan.manual_seed.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.testing import gradgradcheck


def test_functional_exports_pytorch_names():
    expected = {"relu", "leaky_relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax", "pad",
                "conv2d", "conv_transpose2d", "linear", "embedding", "dropout", "batch_norm",
                "instance_norm", "layer_norm", "avg_pool2d", "max_pool2d", "interpolate",
                "cross_entropy", "nll_loss", "binary_cross_entropy",
                "binary_cross_entropy_with_logits", "mse_loss", "l1_loss"}
    assert expected <= set(F.__all__)
    for name in F.__all__:
        assert callable(getattr(F, name)), name


# -----------------------------------------------------------------------------
# linear
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("in_shape", [(4,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_forward(in_shape, with_bias, rng, close):
    x, w, b = rng.standard_normal(in_shape), rng.standard_normal((5, 4)), rng.standard_normal(5)
    y = F.linear(tinygan.tensor(x), tinygan.tensor(w), tinygan.tensor(b) if with_bias else None)
    close(y, x @ w.T + (b if with_bias else 0))


@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_grads(with_bias, make, check_grads):
    x, w = make(2, 3), make(4, 3)
    params = (make(4),) if with_bias else ()
    # Squared, so the second derivative is not trivially zero.
    check_grads(lambda x, w, *b: F.linear(x, w, *b) ** 2, x, w, *params)


def test_linear_errors():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) has 3 features in its "
                                         r"last dim, but weight of shape \(4, 5\) expects 5"):
        F.linear(tinygan.randn(2, 3), tinygan.randn(4, 5))
    with pytest.raises(ValueError, match=r"linear: bias has shape \(3,\), expected \(4,\)"):
        F.linear(tinygan.randn(2, 5), tinygan.randn(4, 5), tinygan.randn(3))
    with pytest.raises(ValueError, match=r"linear: weight must be \(out_features, in_features\)"):
        F.linear(tinygan.randn(2, 5), tinygan.randn(5))


# -----------------------------------------------------------------------------
# embedding
# -----------------------------------------------------------------------------
def test_embedding_forward_and_gradient(rng, close):
    w = rng.standard_normal((6, 3))
    idx = np.array([[1, 4, 4], [0, 5, 1]])
    wt = tinygan.tensor(w, requires_grad=True)
    y = F.embedding(tinygan.tensor(idx), wt)
    close(y, w[idx])
    gy = rng.standard_normal((2, 3, 3))
    (g,) = tinygan.grad(y, wt, tinygan.tensor(gy))
    ref = np.zeros_like(w)
    for pos, row in np.ndenumerate(idx):          # repeated rows add up
        ref[row] += gy[pos]
    close(g, ref)


@pytest.mark.parametrize("padding_idx", [None, 4, -2])
def test_embedding_padding_idx_gets_no_gradient(padding_idx, rng, close):
    w = rng.standard_normal((6, 2))
    idx = np.array([4, 1, 4, 3])
    wt = tinygan.tensor(w, requires_grad=True)
    y = F.embedding(tinygan.tensor(idx), wt, padding_idx=padding_idx)
    close(y, w[idx])                               # the forward still reads the padding row
    y.sum().backward()
    ref = np.zeros_like(w)
    np.add.at(ref, idx, 1.0)
    if padding_idx is not None:
        ref[padding_idx % 6] = 0.0
    close(wt.grad, ref)


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_grads(padding_idx, make, check_grads):
    w = make(4, 3)
    idx = tinygan.tensor(np.array([[2, 0], [3, 2], [0, 0]]))

    def fn(w):
        return F.embedding(idx, w, padding_idx) ** 2
    if padding_idx is None:
        check_grads(fn, w)
    else:
        # The padding row's zero gradient is by design not the numeric one, so only the
        # second order is checked: the derivative of the (masked) first derivative.
        assert gradgradcheck(fn, (w,))


def test_embedding_errors():
    w = tinygan.randn(5, 2)
    with pytest.raises(IndexError, match=r"embedding: index 5 is out of range for 5 embeddings "
                                         r"\(weight shape \(5, 2\)\)"):
        F.embedding(tinygan.tensor([0, 5]), w)
    with pytest.raises(IndexError, match=r"embedding: index -1 is out of range"):
        F.embedding(tinygan.tensor([-1, 2]), w)
    with pytest.raises(TypeError, match=r"embedding: indices must be integers, got dtype float32"):
        F.embedding(tinygan.tensor([0.0, 1.0]), w)
    with pytest.raises(ValueError, match=r"embedding: padding_idx 7 must be within \[-5, 5\)"):
        F.embedding(tinygan.tensor([0, 1]), w, padding_idx=7)


# -----------------------------------------------------------------------------
# dropout
# -----------------------------------------------------------------------------
def test_dropout_statistics():
    tinygan.manual_seed(0)
    p = 0.3
    x = tinygan.ones(400, 500)
    y = F.dropout(x, p).data
    dropped = (y == 0).mean()
    # 200k Bernoulli draws: the dropped fraction is within ~4 standard deviations (0.004) of p.
    assert abs(dropped - p) < 0.005, dropped
    assert np.allclose(y[y != 0], 1 / (1 - p))           # kept elements are scaled by 1/(1-p)
    assert abs(y.mean() - 1.0) < 0.01                      # so the mean is preserved
    assert y.dtype == np.float32


def test_dropout_same_seed_same_mask():
    x = tinygan.ones(50, 40)
    tinygan.manual_seed(123)
    a = F.dropout(x, 0.5).data
    b = F.dropout(x, 0.5).data                  # the generator moved on: another mask
    tinygan.manual_seed(123)
    c = F.dropout(x, 0.5).data
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_dropout_eval_and_edge_probabilities(rng):
    x = tinygan.tensor(rng.standard_normal((3, 4)))
    assert F.dropout(x, 0.5, training=False) is x
    # exact: p = 0 passes the input through, p = 1 gives exact zeros
    np.testing.assert_array_equal(F.dropout(x, 0.0).data, x.data)
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"dropout: probability has to be between 0 and 1, but got 1.5"):
        F.dropout(x, 1.5)


def test_dropout_grads(make, check_grads):
    x = make(3, 4)

    def fn(x):
        tinygan.manual_seed(7)        # the same mask on every call the checks make
        return F.dropout(x, 0.4) ** 2
    check_grads(fn, x)
    tinygan.manual_seed(7)
    y = F.dropout(x, 0.4)
    (g,) = tinygan.grad(y.sum(), x)
    np.testing.assert_allclose(g.data, (y.data != 0) / 0.6)   # the gradient is the scaled mask


# -----------------------------------------------------------------------------
# F.pad's modes (PyTorch's names: 'constant', 'reflect', 'replicate')
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("mode,np_mode", [("constant", "constant"), ("reflect", "reflect"),
                                          ("replicate", "edge")])
def test_pad_modes(mode, np_mode, rng, close, make, check_grads):
    x = rng.standard_normal((1, 2, 3, 4))
    y = F.pad(tinygan.tensor(x), (1, 2, 2, 1), mode=mode)
    close(y, np.pad(x, ((0, 0), (0, 0), (2, 1), (1, 2)), mode=np_mode))
    check_grads(lambda x: F.pad(x, (1, 2, 2, 0), mode=mode) ** 2, make(1, 1, 3, 3))


# -----------------------------------------------------------------------------
# optional cross-check against PyTorch
# -----------------------------------------------------------------------------
def test_linear_and_embedding_match_torch(rng):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    gy = rng.standard_normal((2, 3, 5))
    targs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    tF.linear(*targs).backward(torch.tensor(gy))
    gargs = [tinygan.tensor(a, requires_grad=True) for a in (x, w, b)]
    grads = tinygan.grad(F.linear(*gargs), gargs, tinygan.tensor(gy))
    for g, t in zip(grads, targs):
        np.testing.assert_allclose(g.data, t.grad.numpy(), rtol=1e-12, atol=1e-12)

    table, idx = rng.standard_normal((6, 3)), rng.integers(0, 6, (4, 5))
    gy = rng.standard_normal((4, 5, 3))
    tt = torch.tensor(table, requires_grad=True)
    tF.embedding(torch.tensor(idx), tt, padding_idx=2).backward(torch.tensor(gy))
    gt = tinygan.tensor(table, requires_grad=True)
    (g,) = tinygan.grad(F.embedding(tinygan.tensor(idx), gt, padding_idx=2), gt, tinygan.tensor(gy))
    np.testing.assert_allclose(g.data, tt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gradient_penalty_through_every_layer_matches_torch(rng):
    """d/dparams |d loss / dx|^2 (WGAN-GP's shape) through norm, resample, pool and losses."""
    torch = pytest.importorskip("torch")
    x, w = rng.standard_normal((4, 2, 6, 6)), rng.standard_normal((3, 18))
    gamma, beta, table = rng.standard_normal(2), rng.standard_normal(2), rng.standard_normal((5, 3))
    labels, idx, classes = rng.random((4, 3)), np.array([1, 4, 4, 0]), np.array([0, 2, 1, 2])

    def penalty_grads(f, T, grad):
        args = [T(a) for a in (x, w, gamma, beta, table)]
        for a in args:
            a.requires_grad_(True)
        x_, w_, g_, b_, e_ = args
        h = f.batch_norm(x_, None, None, g_, b_, training=True)
        h = f.interpolate(h, scale_factor=1.5, mode="bilinear")
        h = f.max_pool2d(h, 3, 2, 1)
        h = f.avg_pool2d(h, 2, 1, ceil_mode=True, count_include_pad=False)
        h = f.leaky_relu(h, 0.2).reshape(4, -1)
        h = f.layer_norm(h, (h.shape[1],))
        out = f.linear(h[:, :18], w_) + f.embedding(T(idx), e_)
        loss = (f.binary_cross_entropy_with_logits(out, T(labels))
                + f.cross_entropy(out, T(classes), label_smoothing=0.1))
        (gx,) = grad(loss, x_, create_graph=True)
        return grad((gx * gx).sum(), [x_, w_, g_, e_])

    got = penalty_grads(F, tinygan.tensor, tinygan.grad)
    want = penalty_grads(torch.nn.functional, torch.tensor, torch.autograd.grad)
    for g, t in zip(got, want):
        np.testing.assert_allclose(g.data, t.numpy(), rtol=1e-9, atol=1e-12)
