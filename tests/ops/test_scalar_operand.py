"""A tensor and a Python number (``x * 0.5``, ``1 - x``): ops/math.py's scalar ops.

The number is a constant operand kept as a number (on a GPU a kernel argument, never a
host->device copy).  What must not change is what the same expression computed when the
number was made a 0-d tensor of the tensor's dtype (``as_tensor``) and the binary op ran:
the values and dtypes (the same IEEE operation: compared exactly), the gradients, and the
type promotions of integer tensors, which keep that path.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan.autograd import Tensor, as_tensor
from tinygan.ops import math as math_ops
from tinygan.testing import gradcheck, gradgradcheck

NUMBERS = [2.0, -0.3, 3, True, np.float64(0.7), np.int64(5)]
# (name, expression, the binary op with the number as a 0-d tensor, scalar op class)
EXPRESSIONS = [
    ("x+c", lambda x, c: x + c, lambda x, c: math_ops.Add()(x, c), math_ops.AddScalar),
    ("c+x", lambda x, c: c + x, lambda x, c: math_ops.Add()(c, x), math_ops.AddScalar),
    ("x-c", lambda x, c: x - c, lambda x, c: math_ops.Sub()(x, c), math_ops.SubScalar),
    ("c-x", lambda x, c: c - x, lambda x, c: math_ops.Sub()(c, x), math_ops.RSubScalar),
    ("x*c", lambda x, c: x * c, lambda x, c: math_ops.Mul()(x, c), math_ops.MulScalar),
    ("c*x", lambda x, c: c * x, lambda x, c: math_ops.Mul()(c, x), math_ops.MulScalar),
    ("x/c", lambda x, c: x / c, lambda x, c: math_ops.Div()(x, c), math_ops.DivScalar),
    ("c/x", lambda x, c: c / x, lambda x, c: math_ops.Div()(c, x), math_ops.RDivScalar),
]
IDS = [e[0] for e in EXPRESSIONS]


def _x(dtype, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.5, 2.0, shape) * np.where(rng.random(shape) < 0.5, -1, 1)   # away from 0
    return v.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("number", NUMBERS, ids=repr)
@pytest.mark.parametrize("name,expr,binary,cls", EXPRESSIONS, ids=IDS)
def test_same_numbers_as_the_binary_op(name, expr, binary, cls, number, dtype):
    x0 = _x(dtype)
    x = tinygan.tensor(x0, requires_grad=True)
    y = expr(x, number)
    assert isinstance(y.grad_fn, cls), type(y.grad_fn).__name__          # the scalar op ran
    xr = tinygan.tensor(x0, requires_grad=True)
    c = as_tensor(number, like=xr)
    yr = binary(xr, c)
    assert y.dtype == yr.dtype == dtype
    np.testing.assert_array_equal(y.data, yr.data)     # exact: the same IEEE operation
    gy = tinygan.tensor(_x(dtype, seed=1))
    y.backward(gy)
    yr.backward(gy)
    np.testing.assert_array_equal(x.grad.data, xr.grad.data)   # exact: the same operations


@pytest.mark.parametrize("name,expr,binary,cls", EXPRESSIONS, ids=IDS)
def test_first_and_second_derivatives(name, expr, binary, cls):
    x = tinygan.tensor(_x(np.float64, (2, 3), seed=2), requires_grad=True)
    assert gradcheck(lambda x: expr(x, 1.7), (x,))
    assert gradgradcheck(lambda x: expr(x, 1.7) * x, (x,))      # * x: a nonzero second derivative


def test_integer_tensors_keep_their_promotions():
    i = tinygan.tensor(np.array([1, 2, 3], np.int64))
    assert (i + 1).dtype == np.int64 and (i * 2).dtype == np.int64
    assert (i * 0.5).dtype == np.float32 and (0.5 - i).dtype == np.float32
    assert (i / 2).dtype == np.float32
    np.testing.assert_array_equal((i * 0.5).data, np.array([0.5, 1.0, 1.5], np.float32))  # exact: halves


def test_a_number_is_not_made_an_array_on_a_device(monkeypatch):
    """On any array module but NumPy the constant is a NumPy scalar of the tensor's dtype,
    which CuPy passes as a kernel argument (a 0-d array would be a host->device copy)."""
    x = np.ones(3, np.float32)
    host = math_ops._constant(x, 0.1)
    assert type(host) is np.ndarray and host.dtype == np.float32 and host.ndim == 0
    monkeypatch.setattr(math_ops.backend, "get_array_module", lambda *a: "a device module")
    device = math_ops._constant(x, 0.1)
    assert type(device) is np.float32 and device == np.float32(0.1)
    assert type(math_ops._constant(x.astype(np.float64), 3)) is np.float64


def test_tensor_operands_still_take_the_binary_ops():
    b = tinygan.tensor(3.0)
    assert type((tinygan.tensor([1.0], requires_grad=True) * b).grad_fn).__name__ == "Mul"
    assert type((tinygan.tensor([1.0], requires_grad=True) * np.array(2.0)).grad_fn).__name__ == "Mul"
    with pytest.raises(ValueError, match=r"can't be broadcast"):
        tinygan.tensor([1.0, 2.0]) + tinygan.tensor([1.0, 2.0, 3.0])
