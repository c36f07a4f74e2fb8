"""upfirdn2d.cu against its twin: in the CPU emulator, and on a GPU when there is one.

The emulator compiles the same CUDA source with g++ and runs it with CUDA's execution
model (tinygan.kernels.emulator); ``launch_forward`` -- the one launch the GPU path uses
too -- runs it on NumPy arrays, and the result must match ``upfirdn2d_reference`` (the
CPU path, itself held against a literal NumPy reference in tests/ops/test_upfirdn2d.py)
on small and awkward shapes: sizes that are not multiples of the block, up and down
factors that do and don't share a divisor, negative pads, 1-D and 2-D filters.

The GPU part (``@pytest.mark.gpu``, skipped without CuPy and a GPU) compares the CuPy
path with kernels on and off (``TINYGAN_KERNELS=0``: the twin on CuPy arrays), forward
and gradients.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan import backend
from tinygan.kernels import cuda, emulator
from tinygan.kernels import upfirdn2d as kernel

from tolerances import assert_within, sum_tolerance


def _emulated(name):
    return emulator.function(kernel.SOURCE, name)


def _tolerance(x, f, dtype, **geometry):
    """Two correct float sums of at most kh*kw products (the kernel's outer product of a
    1-D filter, the twin's two passes) differ by the sum-of-terms bound, plus a rounding
    or two for the gain and the outer product."""
    f2 = np.outer(f, f) if f.ndim == 1 else f
    magnitude = kernel.upfirdn2d_reference(np.abs(x).astype(np.float64),
                                           np.abs(f2).astype(np.float64), **geometry)
    return sum_tolerance(np.abs(magnitude), f2.size + 3, dtype)


FILTERS = {"binomial": np.array([1.0, 3.0, 3.0, 1.0]) / 8, "odd": np.array([0.5, -1.0, 2.0]),
           "2d": np.array([[1.0, 2.0, -1.0], [0.5, 3.0, 1.5]]), "one": np.ones((1, 1))}
GEOMETRIES = [
    dict(up=(1, 1), down=(1, 1), pad=(0, 0, 0, 0)),
    dict(up=(2, 2), down=(1, 1), pad=(2, 1, 2, 1)),
    dict(up=(1, 1), down=(2, 2), pad=(1, 1, 1, 1)),
    dict(up=(4, 2), down=(2, 3), pad=(-1, 3, 2, -2)),
    dict(up=(3, 1), down=(2, 1), pad=(0, -2, 5, 0)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("fname", list(FILTERS))
@pytest.mark.parametrize("shape", [(1, 1, 5, 7), (2, 3, 9, 4)], ids=str)
@pytest.mark.parametrize("flip_filter,gain", [(False, 1.0), (True, -1.5)], ids=["conv", "flip"])
def test_kernel_matches_twin(dtype, geometry, fname, shape, flip_filter, gain, rng):
    x = rng.standard_normal(shape).astype(dtype)
    f = FILTERS[fname].astype(dtype)
    args = dict(flip_filter=flip_filter, gain=gain, **geometry)
    got = kernel.launch_forward(_emulated, x, f, **args)
    want = kernel.upfirdn2d_reference(x, f, **args)
    assert got.dtype == x.dtype and got.shape == want.shape
    assert_within(got, want, _tolerance(x, f, dtype, **geometry), f"upfirdn2d kernel {args}")


def test_kernel_with_a_small_grid(rng, monkeypatch):
    """More outputs than threads in the grid: the grid-stride loop covers the rest."""
    x = rng.standard_normal((3, 2, 11, 13)).astype(np.float32)
    f = FILTERS["binomial"].astype(np.float32)
    monkeypatch.setattr(kernel, "BLOCK", 32)
    monkeypatch.setattr(kernel, "MAX_BLOCKS", 3)
    geometry = dict(up=(2, 2), down=(1, 1), pad=(2, 1, 2, 1))
    got = kernel.launch_forward(_emulated, x, f, **geometry)
    assert got.size > 32 * 3
    assert_within(got, kernel.upfirdn2d_reference(x, f, **geometry),
                  _tolerance(x, f, np.float32, **geometry), "upfirdn2d kernel, small grid")


@pytest.mark.parametrize("sanitize", ["address", "thread"])
def test_kernel_under_the_sanitizers(sanitize, rng):
    """AddressSanitizer: no tap reads outside x or the filter, no write outside y, even with
    crops, pads and factors that put taps beyond the image; ThreadSanitizer: the threads of a
    block write disjoint outputs (no races).  One launch per geometry, float32 and float64."""
    for dtype, geometry in itertools.product((np.float32, np.float64), GEOMETRIES[1:4]):
        x = rng.standard_normal((2, 3, 5, 7)).astype(dtype)
        f = FILTERS["2d"].astype(dtype)

        def sanitized(name):
            return emulator.function(kernel.SOURCE, name, sanitize=sanitize)

        got = kernel.launch_forward(sanitized, x, f, **geometry)
        assert_within(got, kernel.upfirdn2d_reference(x, f, **geometry),
                      _tolerance(x, f, dtype, **geometry), f"upfirdn2d under {sanitize} {geometry}")


def test_kernel_on_an_empty_batch():
    x = np.zeros((0, 2, 5, 7), dtype=np.float32)
    f = FILTERS["odd"].astype(np.float32)
    got = kernel.launch_forward(_emulated, x, f, (2, 2), (1, 1), (1, 1, 1, 1))
    assert got.shape == kernel.upfirdn2d_reference(x, f, (2, 2), (1, 1), (1, 1, 1, 1)).shape


def test_every_kernel_is_declared_for_the_loader():
    assert cuda.declared()[kernel.SOURCE] == ["upfirdn2d_forward<float>", "upfirdn2d_forward<double>"]


# -- on a GPU --------------------------------------------------------------------------------
HAS_GPU = tinygan.cuda_is_available()
F2 = np.array([[1.0, 2.0, -1.0], [0.5, 3.0, 1.5]])
GPU_CASES = {
    "upsample2d": lambda x, dev: F.upsample2d(x, F.setup_filter([1, 3, 3, 1], device=dev)),
    "downsample2d": lambda x, dev: F.downsample2d(x, F.setup_filter([1, 3, 3, 1], device=dev)),
    "upfirdn2d": lambda x, dev: F.upfirdn2d(x, tinygan.tensor(F2, device=dev), up=(2, 3),
                                            down=(3, 1), padding=(-1, 2, 3, 0), gain=0.5),
}


def _run(fn, x, dev):
    """(y, gx) as NumPy arrays: fn on ``dev``, and its gradient along a fixed direction."""
    xd = tinygan.tensor(x, device=dev, requires_grad=True)
    y = fn(xd, dev)
    v = np.linspace(-1, 1, int(np.prod(y.shape))).reshape(y.shape).astype(x.dtype)
    (gx,) = tinygan.grad(y, xd, grad_outputs=tinygan.tensor(v, device=dev))
    return backend.to_device(y.data, "cpu"), backend.to_device(gx.data, "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(GPU_CASES))
def test_gpu_kernels_on_and_off(dtype, name, rng, monkeypatch):
    """The kernel, the twin on CuPy (TINYGAN_KERNELS=0) and the CPU path agree, forward and
    gradient (the gradient is upfirdn2d too, so it runs the kernel again)."""
    x = rng.standard_normal((2, 5, 13, 11)).astype(dtype)
    fn = GPU_CASES[name]
    monkeypatch.setenv("TINYGAN_KERNELS", "1")
    on = _run(fn, x, "cuda")
    monkeypatch.setenv("TINYGAN_KERNELS", "0")
    off = _run(fn, x, "cuda")
    cpu = _run(fn, x, "cpu")
    # Every output and gradient entry is a sum of at most 16 products (the 4 x 4 binomial
    # when downsampling) whose absolute values add up to at most 9 * max|x| or 9 * max|v|
    # (|v| <= 1; the filters' sums of |taps| times the gain are 1, 4 and 4.5): the
    # sum-of-terms bound with n = 16 + 3 roundings (gain, outer product, passes).
    tol = sum_tolerance(9 * max(np.abs(x).max(), 1.0), 19, dtype)
    for what, a, b in (("y kernel vs twin", on[0], off[0]), ("gx kernel vs twin", on[1], off[1]),
                       ("y kernel vs cpu", on[0], cpu[0]), ("gx kernel vs cpu", on[1], cpu[1])):
        assert_within(a, b, tol, f"{name} {what}")
