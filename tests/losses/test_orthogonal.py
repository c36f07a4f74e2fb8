"""Tests of tinygan.losses.orthogonal_regularization (Brock et al. 2019, eq. 3).

The value against the formula written in NumPy (filters as rows, W W^T, off-diagonal only,
1-D tensors skipped); its first and second derivatives by central differences in float64;
the gradient against the closed form 4 beta (W W^T (.) (1 - I)) W; the arguments it refuses.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.losses import orthogonal_regularization
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, sum_tolerance


def _reference(weights, beta):
    """beta * sum ||W W^T (.) (1 - I)||_F^2 over the >= 2-D arrays, W = w.reshape(out, -1)."""
    total = 0.0
    for w in weights:
        if w.ndim < 2:
            continue
        m = w.reshape(w.shape[0], -1).astype(np.float64)
        gram = m @ m.T
        np.fill_diagonal(gram, 0.0)
        total += (gram ** 2).sum()
    return beta * total


SHAPES = [[(4, 3)], [(5, 3, 3, 3), (5,)], [(3, 7), (6, 3, 2, 2), (6,), ()]]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_value_against_numpy(shapes, dtype, rng):
    arrays = [rng.standard_normal(s) for s in shapes]
    out = orthogonal_regularization([tinygan.tensor(a, dtype=dtype) for a in arrays], beta=0.3)
    assert out.shape == () and out.dtype == dtype
    ref = _reference(arrays, 0.3)
    # Each Gram entry is a sum of fan_in products, squared and summed over out^2 entries, then
    # the layers added: bound by the largest term count and the sum of |terms|.
    n = max(int(np.prod(s[1:])) + int(s[0]) ** 2 for s in shapes if len(s) >= 2) + len(shapes)
    magnitude = _reference([np.abs(a) for a in arrays], 0.3)
    assert_within(out.numpy(), ref, sum_tolerance(magnitude, 2 * n, dtype), f"{shapes} {dtype}")


def test_orthogonal_rows_give_zero_and_the_diagonal_is_free(rng):
    # Rows pairwise orthogonal, of any norms: no penalty (eq. 3 leaves the norms free).
    q, _ = np.linalg.qr(rng.standard_normal((6, 4)))
    w = q.T * np.array([[0.5], [2.0], [3.0], [7.0]])          # (4, 6), orthogonal rows
    value = orthogonal_regularization(tinygan.tensor(w), beta=1.0).item()
    assert value < 1e-24                 # rounding of orthogonal dot products, squared
    # Two equal rows: the off-diagonal entries <w_0, w_1> = ||w_0||^2 count twice.
    w2 = np.stack([w[0], w[0]])
    expected = 2 * (w[0] @ w[0]) ** 2
    assert_within(orthogonal_regularization(tinygan.tensor(w2), beta=1.0).item(), expected,
                  sum_tolerance(expected, 8, np.float64))


def test_model_parameters_skip_biases():
    tinygan.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Conv2d(2, 3, 3), nn.BatchNorm1d(5))
    params = list(model.parameters())
    out = orthogonal_regularization(model.parameters(), beta=1e-4)
    ref = _reference([p.detach().numpy() for p in params], 1e-4)
    magnitude = _reference([np.abs(p.detach().numpy()) for p in params], 1e-4)
    assert_within(out.item(), ref, sum_tolerance(magnitude, 2 * (18 + 25), np.float32))
    # Only the weights of Linear and Conv2d: the biases and BatchNorm's gain and bias have none.
    weights = [model[0].weight, model[2].weight]
    assert out.item() == orthogonal_regularization(weights, beta=1e-4).item()   # exact: same ops


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_first_and_second_derivatives(shapes, rng):
    tensors = [tinygan.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]

    def fn(*ws):
        return orthogonal_regularization(list(ws), beta=0.7)
    assert gradcheck(fn, tensors)
    assert gradgradcheck(fn, tensors)


def test_gradient_closed_form(rng):
    # d/dW ||M||_F^2 with M = W W^T (.) (1 - I) symmetric is 4 M W: twice the gradient that
    # BigGAN's reference code adds (so its strength s is beta = s / 2 here).
    w = rng.standard_normal((5, 2, 3))
    t = tinygan.tensor(w, requires_grad=True)
    (g,) = tinygan.grad(orthogonal_regularization(t, beta=0.25), t)
    m = w.reshape(5, -1)
    gram = m @ m.T
    np.fill_diagonal(gram, 0.0)
    expected = (4 * 0.25 * gram @ m).reshape(w.shape)
    magnitude = (np.abs(m @ m.T) @ np.abs(m)).reshape(w.shape)
    assert_within(g.numpy(), expected, sum_tolerance(magnitude, 4 * 6 * 5, np.float64), "grad")


@pytest.mark.parametrize("args, error, message", [
    ((tinygan.zeros(3, 2), -1.0), ValueError, "orthogonal_regularization: beta must be >= 0"),
    ((tinygan.zeros(3, 2), "1"), TypeError, "orthogonal_regularization: beta must be a number"),
    ((3, 1.0), TypeError, "orthogonal_regularization: expected a Tensor or an iterable of "
                          "Tensors"),
    (([tinygan.zeros(3, 2), np.zeros((2, 2))], 1.0), TypeError,
     "orthogonal_regularization: element 1 of parameters_or_weights must be a Tensor, got "
     "ndarray"),
    (([tinygan.zeros(3), tinygan.zeros(())], 1.0), ValueError,
     r"orthogonal_regularization: no tensor with 2 or more dims among the 2 given \(\(3,\), \(\)\)"),
    (([], 1.0), ValueError, r"among the 0 given \(none\)"),
    (([tinygan.tensor([[1, 2]])], 1.0), TypeError, "must be floating point, got dtype int64"),
])
def test_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        orthogonal_regularization(*args)
