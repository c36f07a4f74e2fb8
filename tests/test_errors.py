"""Bad input gives a clear error: the op's name, and the shapes / dtypes / sizes involved.

Each test checks the exception type and the message contents: a learner who reads the message
should see which op failed and why without opening a debugger.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.testing import GradcheckError, gradcheck, gradgradcheck


def raises(exc, fragment: str):
    """``pytest.raises`` whose message must contain ``fragment`` (the op's name, usually)."""
    return pytest.raises(exc, match=re.escape(fragment))


def has(excinfo, *fragments) -> str:
    """Assert that the raised message also contains each of ``fragments``; return it."""
    msg = str(excinfo.value)
    for f in fragments:
        assert f in msg, f"{f!r} missing from the error message: {msg!r}"
    return msg


def f64(shape, requires_grad=True, seed=0):
    data = np.random.default_rng(seed).standard_normal(shape)
    return tinygan.tensor(data, requires_grad=requires_grad)


# ----------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------
def test_broadcasting_mismatch_names_add_and_both_shapes():
    with raises(ValueError, "add") as e:
        tinygan.randn(3) + tinygan.randn(4)
    msg = has(e, "(3,)", "(4,)")
    assert msg.startswith("add:")


@pytest.mark.parametrize("op, name", [(lambda a, b: a * b, "mul"), (lambda a, b: a - b, "sub"),
                                      (lambda a, b: a / b, "div")])
def test_broadcasting_mismatch_names_the_op(op, name):
    with raises(ValueError, name) as e:
        op(tinygan.randn(2, 3), tinygan.randn(2, 4))
    has(e, "(2, 3)", "(2, 4)")


def test_matmul_shape_mismatch_names_matmul_and_shapes():
    with raises(ValueError, "matmul") as e:
        tinygan.randn(2, 3) @ tinygan.randn(4, 5)
    msg = has(e, "(2, 3)", "(4, 5)")
    assert msg.count("matmul") == 1, msg          # said once, not "matmul: matmul: ..."


def test_matmul_mismatch_reports_the_shapes_the_caller_passed():
    with raises(ValueError, "matmul") as e:
        tinygan.randn(2, 3) @ tinygan.randn(4)      # a vector: not the (4, 1) used inside
    has(e, "(2, 3)", "(4,)")
    with raises(ValueError, "matmul") as e:
        tinygan.randn(3) @ tinygan.randn(4)
    has(e, "(3,)", "(4,)")


def test_matmul_batch_dims_that_do_not_broadcast():
    with raises(ValueError, "matmul") as e:
        tinygan.randn(2, 3, 4) @ tinygan.randn(5, 4, 2)
    has(e, "(2, 3, 4)", "(5, 4, 2)", "batch")


def test_matmul_of_a_0d_tensor():
    with raises(ValueError, "matmul") as e:
        tinygan.matmul(tinygan.tensor(2.0), tinygan.randn(3))
    has(e, "()", "(3,)")


def test_reshape_to_an_impossible_shape():
    with raises(ValueError, "reshape") as e:
        tinygan.randn(2, 3).reshape(4, 2)
    msg = has(e, "(4, 2)", "(2, 3)", "6 elements")
    assert msg.count("reshape") == 1, msg


def test_reshape_with_two_minus_ones():
    with raises(ValueError, "reshape") as e:
        tinygan.randn(2, 3).reshape(-1, -1)
    has(e, "-1")


def test_reshape_minus_one_that_does_not_divide():
    with raises(ValueError, "reshape") as e:
        tinygan.randn(2, 3).reshape(-1, 4)
    has(e, "(-1, 4)", "(2, 3)")


@pytest.mark.parametrize("call, name", [
    (lambda t: t.sum(2), "sum"),
    (lambda t: t.sum(-3), "sum"),
    (lambda t: t.mean(5), "mean"),
    (lambda t: t.softmax(2), "softmax"),
    (lambda t: t.log_softmax(-3), "log_softmax"),
    (lambda t: t.transpose(0, 2), "transpose"),
    (lambda t: t.unsqueeze(4), "unsqueeze"),
])
def test_dim_out_of_range(call, name):
    with raises(IndexError, name) as e:
        call(tinygan.randn(2, 3))
    has(e, "out of range", "2 dimensions")


def test_cat_with_mismatched_shapes():
    with raises(ValueError, "cat") as e:
        tinygan.cat([tinygan.randn(2, 3), tinygan.randn(2, 4)], dim=0)
    has(e, "(2, 3)", "(2, 4)", "dim 0")


def test_stack_with_mismatched_shapes():
    with raises(ValueError, "stack") as e:
        tinygan.stack([tinygan.randn(2, 3), tinygan.randn(3, 2)])
    has(e, "(2, 3)", "(3, 2)")


def test_reflect_pad_too_large():
    with raises(ValueError, "pad") as e:
        F.pad(tinygan.randn(1, 1, 3, 3), (3, 3, 1, 1), mode="reflect")
    has(e, "reflect", "(3, 3)", "size 3", "(1, 1, 3, 3)")


def test_unknown_pad_mode():
    with raises(ValueError, "pad") as e:
        F.pad(tinygan.randn(1, 1, 3, 3), (1, 1), mode="circular")
    has(e, "circular", "'constant'", "'reflect'", "'replicate'")


def test_pad_of_odd_length():
    with raises(ValueError, "pad") as e:
        F.pad(tinygan.randn(2, 3), (1, 1, 1))
    has(e, "[1, 1, 1]")


def test_max_over_an_empty_dim():
    with raises(ValueError, "max") as e:
        tinygan.zeros(0, 3).max()
    msg = has(e, "empty", "(0, 3)")
    assert msg.count("max:") == 1, msg


def test_index_out_of_bounds_names_the_shape():
    with raises(IndexError, "index") as e:
        tinygan.randn(2, 3)[5]
    has(e, "(2, 3)")


# ----------------------------------------------------------------------------
# dtypes and conversions
# ----------------------------------------------------------------------------
def test_requires_grad_on_an_integer_tensor():
    with raises(RuntimeError, "requires_grad") as e:
        tinygan.tensor([1, 2, 3], requires_grad=True)
    has(e, "int64", "floating point")
    with raises(RuntimeError, "requires_grad") as e:
        tinygan.arange(3).requires_grad_()
    has(e, "int64")


def test_mean_of_an_integer_tensor():
    with raises(TypeError, "mean") as e:
        tinygan.arange(4).mean()
    has(e, "int64")


def test_where_with_a_non_bool_condition():
    with raises(TypeError, "where") as e:
        tinygan.where(tinygan.ones(3), tinygan.ones(3), tinygan.zeros(3))
    has(e, "float32")


def test_item_on_many_elements_mentions_the_count():
    with raises(ValueError, "item") as e:
        tinygan.randn(5, 2).item()
    has(e, "10 elements", "(5, 2)")


def test_bool_of_many_elements():
    with raises(RuntimeError, "ambiguous") as e:
        bool(tinygan.randn(3))
    has(e, "3 elements")


def test_numpy_on_a_tensor_that_requires_grad():
    with raises(RuntimeError, "numpy") as e:
        f64((3,)).numpy()
    has(e, "detach()")


def test_tensor_from_unsupported_data():
    with raises(TypeError, "tensor") as e:
        tinygan.tensor(["a", "b"])
    has(e, "dtype")


def test_creation_with_a_bad_size():
    with raises(ValueError, "size") as e:
        tinygan.zeros(2, -1)
    has(e, "-1")


# ----------------------------------------------------------------------------
# backward and grad
# ----------------------------------------------------------------------------
def test_backward_on_a_non_scalar_without_gradient():
    y = f64((2, 3)) * 2.0
    with raises(RuntimeError, "scalar") as e:
        y.backward()
    has(e, "(2, 3)", "gradient")


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = f64((3,)) * 2.0
    with raises(RuntimeError, "shape") as e:
        y.backward(tinygan.ones(4, dtype=tinygan.float64))
    has(e, "(4,)", "(3,)")


def test_grad_with_grad_outputs_of_the_wrong_shape():
    x = f64((3,))
    with raises(RuntimeError, "grad") as e:
        tinygan.grad(x * 2.0, x, grad_outputs=tinygan.ones(2, 2, dtype=tinygan.float64))
    has(e, "(2, 2)", "(3,)")


def test_backward_on_a_tensor_without_grad():
    with raises(RuntimeError, "does not require grad") as e:
        (tinygan.randn(3) * 2.0).sum().backward()
    has(e, "backward")


def test_grad_of_an_input_not_in_the_graph():
    x, z = f64((3,)), f64((2,), seed=1)
    with raises(RuntimeError, "grad") as e:
        tinygan.grad((x * x).sum(), z)
    has(e, "inputs[0]", "(2,)", "not used", "allow_unused")


def test_grad_of_an_input_that_does_not_require_grad():
    x = f64((3,))
    c = f64((3,), requires_grad=False)
    with raises(RuntimeError, "grad") as e:
        tinygan.grad((x * c).sum(), [x, c])
    has(e, "inputs[1]", "(3,)", "does not require grad")


def test_grad_of_a_non_tensor_input():
    x = f64((3,))
    with raises(TypeError, "grad") as e:
        tinygan.grad((x * x).sum(), [x, np.zeros(3)])
    has(e, "inputs[1]", "ndarray")


def test_grad_of_an_output_that_does_not_require_grad():
    x = f64((3,))
    with raises(RuntimeError, "grad") as e:
        tinygan.grad(tinygan.ones(1), x)
    has(e, "does not require grad")


class _TwoGradsForOneInput(tinygan.Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return gy * 2.0, gy


class _WrongShapeGrad(tinygan.Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return (gy * 2.0).sum()


def test_function_backward_returning_too_many_gradients():
    y = _TwoGradsForOneInput()(f64((3,)))
    with raises(RuntimeError, "_TwoGradsForOneInput") as e:
        y.sum().backward()
    has(e, "2 gradients", "1 inputs")


def test_function_backward_returning_a_gradient_of_the_wrong_shape():
    y = _WrongShapeGrad()(f64((3,)))
    with raises(RuntimeError, "_WrongShapeGrad") as e:
        y.sum().backward()
    has(e, "()", "(3,)")


# ----------------------------------------------------------------------------
# gradcheck and gradgradcheck catch what they are for
# ----------------------------------------------------------------------------
def test_gradcheck_refuses_float32_inputs():
    x = tinygan.randn(3, requires_grad=True)          # float32
    with raises(TypeError, "gradcheck") as e:
        gradcheck(lambda t: t * t, (x,))
    has(e, "float32", "float64")


def test_gradcheck_needs_an_input_that_requires_grad():
    with raises(ValueError, "gradcheck") as e:
        gradcheck(lambda t: t * t, (f64((3,), requires_grad=False),))
    has(e, "requires grad")


class _CubeWrongDerivative(tinygan.Function):
    """y = x^3 with the derivative 2 x^2 instead of 3 x^2."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        (x,) = self.inputs
        return gy * (x * x * 2.0)


class _CubeRawArrayBackward(tinygan.Function):
    """y = x^3 with the right first derivative, computed on raw arrays: the Tensor it returns is
    a constant, so with create_graph=True the second derivative silently comes out as zero."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        (x,) = self.inputs
        return tinygan.Tensor(gy.data * 3 * x.data ** 2)


class _CubeRight(tinygan.Function):
    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        (x,) = self.inputs
        return gy * (x * x * 3.0)


def test_gradcheck_catches_a_wrong_backward():
    x = f64((4,))
    with raises(GradcheckError, "gradcheck") as e:
        gradcheck(lambda t: _CubeWrongDerivative()(t), (x,))
    has(e, "input 0", "analytic", "numeric")
    assert isinstance(e.value, AssertionError)


def test_gradgradcheck_catches_a_backward_written_on_raw_arrays():
    x = f64((4,))
    assert gradcheck(lambda t: _CubeRawArrayBackward()(t), (x,))   # first order is fine ...
    with pytest.raises(GradcheckError, match="analytic and numeric"):  # ... second order is not
        gradgradcheck(lambda t: _CubeRawArrayBackward()(t), (x,))


def test_gradcheck_and_gradgradcheck_pass_a_correct_function():
    x = f64((4,))
    assert gradcheck(lambda t: _CubeRight()(t), (x,))
    assert gradgradcheck(lambda t: _CubeRight()(t), (x,))
