"""nn.ReflectionPad2d: against NumPy's reflect padding, gradients of first and second order,
and its errors."""
import numpy as np
import pytest

import tinygan
from tinygan import nn


@pytest.mark.parametrize("padding,widths", [(1, ((1, 1), (1, 1))), (3, ((3, 3), (3, 3))),
                                            ((1, 2, 0, 3), ((0, 3), (1, 2)))])
def test_matches_numpy_reflect(padding, widths, rng, close):
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    y = nn.ReflectionPad2d(padding)(tinygan.tensor(x))
    # exact: padding only copies values
    close(y, np.pad(x, ((0, 0), (0, 0), *widths), mode="reflect"), rtol=0, atol=0)


def test_unbatched_input(rng, close):
    x = rng.standard_normal((2, 4, 4))
    y = nn.ReflectionPad2d(2)(tinygan.tensor(x))
    close(y, np.pad(x, ((0, 0), (2, 2), (2, 2)), mode="reflect"), rtol=0, atol=0)   # exact: a copy


@pytest.mark.parametrize("padding", [1, (2, 1, 1, 2)])
def test_gradients_first_and_second_order(padding, make, check_grads):
    pad = nn.ReflectionPad2d(padding)
    weights = make(1, 2, 7, 7, requires_grad=False)      # a non-uniform weighting of the output
    check_grads(lambda x: (pad(x) * weights[..., :pad(x).shape[-2], :pad(x).shape[-1]]) ** 2,
                make(1, 2, 4, 4))


def test_backward_adds_the_mirrored_gradients():
    x = tinygan.tensor(np.zeros((1, 1, 1, 3)), requires_grad=True)
    y = nn.ReflectionPad2d((2, 2, 0, 0))(x)             # columns 2 1 | 0 1 2 | 1 0
    (g,) = tinygan.grad(y.sum(), x)
    # exact: counts of small integers
    np.testing.assert_array_equal(g.data[0, 0, 0], [2, 3, 2])


def test_errors():
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding \(3, 3, 3, 3\) must be less "
                                         r"than the input's width and height, got input shape "
                                         r"\(1, 1, 3, 3\)"):
        nn.ReflectionPad2d(3)(tinygan.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match="ReflectionPad2d: padding must be"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match=r"ReflectionPad2d: expected a 3D or 4D input, got shape \(4, 4\)"):
        nn.ReflectionPad2d(1)(tinygan.zeros(4, 4))
    assert repr(nn.ReflectionPad2d(2)) == "ReflectionPad2d((2, 2, 2, 2))"
