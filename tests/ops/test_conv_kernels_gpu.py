"""conv2d and conv_transpose2d on a GPU through im2col.cu, with the kernels on and off.

ops/conv.py's Functions reach the kernels through kernels/im2col.py: on CuPy arrays the
forward convolution and the weight gradient run ``im2col<T>``, the input gradient and the
transposed convolution ``col2im<T>`` (``TINYGAN_KERNELS=0``: the CuPy composition instead).
Here both settings compute the forward value and both gradients in float32, each against
the float64 CPU result within the rounding bound of its sums (tests/tolerances.py), and
float64 gradchecks of first and second order run on the device with the kernels on.  The
kernels themselves are held against their twins in tests/kernels/test_im2col_kernel.py.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing.
"""
from __future__ import annotations


import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.kernels import cuda
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, sum_tolerance
from gpu_helpers import host

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]








CONV_CASES = [  # (x shape, O, k, stride, padding, dilation, groups)
    ((3, 5, 9, 11), 4, 3, 1, 1, 1, 1), ((2, 6, 14, 14), 4, 4, 2, 1, 1, 2),
    ((3, 1, 28, 28), 8, 4, 2, 1, 1, 1), ((1, 5, 12, 9), 3, (5, 3), (2, 1), (2, 0), (1, 2), 1),
]


def _conv_and_grads(op, x, w, gy, kwargs, dev):
    """op(x, w) and the gradients of <op(x, w), gy> in x and w, computed on dev."""
    xt = tinygan.tensor(x, device=dev, requires_grad=True)
    wt = tinygan.tensor(w, device=dev, requires_grad=True)
    y = op(xt, wt, **kwargs)
    gx, gw = tinygan.grad((y * tinygan.tensor(gy, device=dev)).sum(), (xt, wt))
    return host(y), host(gx), host(gw)


@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("case", CONV_CASES)
def test_device_convolutions_with_kernels_on_and_off(case, transposed, launched):
    shape, O, k, s, p, d, g = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    C = shape[1]
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32)
    # a transposed conv's weight is (C_in, C_out/g, kh, kw): x is its input
    w_shape = (C, O // g, kh, kw) if transposed else (O, C // g, kh, kw)
    op, w = (F.conv_transpose2d if transposed else F.conv2d), rng.standard_normal(w_shape).astype(np.float32)
    kwargs = dict(stride=s, padding=p, dilation=d, groups=g)
    y64 = op(tinygan.tensor(x.astype(np.float64)), tinygan.tensor(w.astype(np.float64)), **kwargs)
    gy = rng.standard_normal(y64.shape).astype(np.float32)
    exact = _conv_and_grads(op, x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64), kwargs, "cpu")
    # the rounding bound: the same sums over |x|, |w|, |gy|, and the longest of them
    size = _conv_and_grads(op, np.abs(x).astype(np.float64), np.abs(w).astype(np.float64),
                           np.abs(gy).astype(np.float64), kwargs, "cpu")
    n = max(C * kh * kw, O * kh * kw, int(np.prod(gy.shape)))
    for on in (True, False):
        launched.clear()
        with cuda.kernels(on):
            got = _conv_and_grads(op, x, w, gy, kwargs, "cuda")
        for what, a, e, m in zip(("y", "gx", "gw"), got, exact, size):
            assert_within(a, e, sum_tolerance(m, n, np.float32), f"{op.__name__} {what}, kernels {on}")
        assert bool(launched) == on and all(nm.endswith("<float>") for nm in launched)
        if on:
            assert {"im2col<float>", "col2im<float>"} <= set(launched)


GRADCHECK_CASES = [  # small: every numeric derivative is two passes through the device
    ((2, 3, 5, 6), 2, 3, 1, 1, 1, 1), ((1, 4, 6, 6), 2, 4, 2, 1, 1, 2),
    ((1, 2, 7, 6), 2, (3, 2), (2, 1), (1, 0), (1, 2), 1),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES)
def test_device_gradchecks_float64(case, launched):
    shape, O, k, s, p, d, g = case
    kh, kw = k if isinstance(k, tuple) else (k, k)
    rng = np.random.default_rng(6)
    x = tinygan.tensor(rng.standard_normal(shape), device="cuda", requires_grad=True)
    w = tinygan.tensor(rng.standard_normal((O, shape[1] // g, kh, kw)), device="cuda", requires_grad=True)
    wt = tinygan.tensor(rng.standard_normal((shape[1], O // g, kh, kw)), device="cuda", requires_grad=True)
    conv = lambda x, w: F.conv2d(x, w, stride=s, padding=p, dilation=d, groups=g)            # noqa: E731
    convt = lambda x, w: F.conv_transpose2d(x, w, stride=s, padding=p, dilation=d, groups=g)  # noqa: E731
    with cuda.kernels(True):
        assert gradcheck(conv, [x, w]) and gradgradcheck(conv, [x, w])
        assert gradcheck(convt, [x, wt]) and gradgradcheck(convt, [x, wt])
    assert {"im2col<double>", "col2im<double>"} <= set(launched)
