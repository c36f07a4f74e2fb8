"""tinygan.testing: what gradcheck says when it fails -- above all where a gradient is not
finite, which no tolerance can pass."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygan
from tinygan.testing import GradcheckError, gradcheck


def failure(fn, x) -> str:
    with pytest.raises(GradcheckError) as e, np.errstate(all="ignore"):
        gradcheck(fn, (x,))
    return str(e.value)


def test_sqrt_at_zero_counts_and_names_the_gradients_that_are_not_finite():
    # d sqrt(x)/dx = 1/(2 sqrt x) is infinite at 0; the central difference there takes the
    # square root of -eps: NaN.  Both elements are off, and the message says why.
    x = tinygan.zeros(2, dtype=tinygan.float64, requires_grad=True)
    msg = failure(lambda t: t.sqrt(), x)
    assert re.search(r"the analytic gradient is (inf|-inf|inf or -inf) at 2 of 2 elements", msg), msg
    assert "the numeric gradient is nan at 2 of 2 elements" in msg, msg
    assert "2 of 2 elements off" in msg, msg


def test_only_the_elements_that_are_off_are_counted():
    x = tinygan.tensor([0.0, 1.0, 4.0], dtype=tinygan.float64, requires_grad=True)
    msg = failure(lambda t: t.sqrt(), x)
    assert re.search(r"analytic gradient is (-?inf) at 1 of 3 elements \(first at index \(0,\)\)",
                     msg), msg
    assert "1 of 3 elements off" in msg, msg


def test_a_numeric_gradient_that_is_not_finite_fails_the_check():
    # Just right of 0, x - eps < 0: the numeric side is NaN while the analytic one is finite.
    # The check can't confirm anything there, so it fails.
    x = tinygan.tensor([1e-7, 1.0], dtype=tinygan.float64, requires_grad=True)
    msg = failure(lambda t: t.sqrt(), x)
    assert "the numeric gradient is nan at 1 of 2 elements (first at index (0,))" in msg, msg
    assert "analytic gradient is" not in msg, msg
    assert "1 of 2 elements off" in msg, msg


def test_finite_mismatches_keep_their_message():
    class WrongSquare(tinygan.Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            (x,) = self.inputs
            return gy * x * 3.0           # should be 2x

    x = tinygan.tensor([1.0, 2.0, 0.0], dtype=tinygan.float64, requires_grad=True)
    msg = failure(lambda t: WrongSquare()(t), x)
    assert "analytic and numeric derivatives differ at index (1,)" in msg, msg
    assert "not finite" not in msg and "2 of 3 elements off" in msg, msg


def test_a_0d_input():
    x = tinygan.tensor(0.0, dtype=tinygan.float64, requires_grad=True)
    msg = failure(lambda t: t.sqrt(), x)
    assert "at 1 of 1 elements (first at index ())" in msg and "1 of 1 elements off" in msg, msg
