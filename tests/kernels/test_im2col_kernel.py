"""im2col.cu: the im2col and col2im kernels against their plain twins.

On the CPU the kernels run in the CUDA-on-CPU emulator, launched by the very launchers
the GPU path uses (``launch_im2col`` / ``launch_col2im``), over a grid of convolution
geometries -- kernel 1, 3, 4, 5; stride 1, 2; padding 0, 1, 2; dilation 1, 2; batch 1
and 3; channels 1 and 5; sizes that are no multiple of anything -- in float32 and
float64.  im2col only copies, and the col2im gather adds the same numbers in the same
order as ``reference.col2im`` (tap (i, j) ascending, from 0), so both are compared for
exact equality.

On a GPU (``@pytest.mark.gpu``): the kernels against the twins there -- few launches, so
that ``make gpu-check`` runs them under compute-sanitizer's memcheck and racecheck in its
budget.  The convolutions through the kernels on a GPU (kernels on and off, gradchecks) are
tested in tests/ops/test_conv_kernels_gpu.py.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.kernels import cuda, emulator, im2col, reference

from tolerances import assert_within, sum_tolerance
from gpu_helpers import host

HAS_GPU = tinygan.cuda_is_available()


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def geometry(x_shape, O, k, s, p, d, g=1):
    """im2col.Geometry of a convolution of x_shape with O filters of size k (int or pair)."""
    N, C, H, W = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (v if isinstance(v, tuple) else (v, v) for v in (k, s, p, d))
    return im2col.Geometry(x_shape, (O, C // g, kh, kw), (sh, sw), (ph, pw), (dh, dw), g,
                           (out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw)))


def twin_cols(x, geo):
    """reference.im2col in the kernel's layout: (g, C/g kh kw, N Ho Wo), rows (c, i, j)."""
    cols = reference.im2col(x, geo.kh, geo.kw, geo.s, geo.p, geo.d)       # (N, C, kh, kw, Ho, Wo)
    return np.ascontiguousarray(cols.transpose(1, 2, 3, 0, 4, 5)).reshape(geo.g, -1, x.shape[0] * geo.Ho * geo.Wo)


def twin_col2im(cols, geo, n):
    """reference.col2im of cols given in the kernel's layout."""
    c6 = cols.reshape(geo.C, geo.kh, geo.kw, n, geo.Ho, geo.Wo).transpose(3, 0, 1, 2, 4, 5)
    return reference.col2im(np.ascontiguousarray(c6), (n, geo.C, geo.H, geo.W), geo.s, geo.p, geo.d)


# -- the grid of geometries ------------------------------------------------------------------
SHAPES = [(1, 1, 7, 6), (3, 5, 9, 11), (3, 1, 6, 13), (1, 5, 12, 5)]   # (N, C, H, W)


def _grid():
    cases = []
    for t, (k, s, p, d) in enumerate(itertools.product((1, 3, 4, 5), (1, 2), (0, 1, 2), (1, 2))):
        shape = SHAPES[t % len(SHAPES)]
        if min(out_size(n, k, s, p, d) for n in shape[2:]) >= 1:
            cases.append((shape, k, s, p, d))
    # unequal sizes along the two axes, and groups (the same memory, seen per group)
    cases += [((3, 5, 8, 7), (3, 5), (2, 1), (1, 2), (2, 1)), ((2, 4, 10, 9), (4, 2), (1, 2), (0, 1), (1, 2)),
              ((2, 4, 7, 7), 3, 2, 1, 1)]
    return cases


GRID = _grid()


def emulated(name):
    return emulator.function(im2col.SOURCE, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GRID, ids=lambda c: "x{}-k{}-s{}-p{}-d{}".format(*c))
def test_emulated_kernels_match_the_twins(case, dtype):
    shape, k, s, p, d = case
    g = 2 if shape == (2, 4, 7, 7) else 1
    geo = geometry(shape, 2 * g, k, s, p, d, g)
    rng = np.random.default_rng(hash(case) % 2 ** 32)
    x = rng.standard_normal(shape).astype(dtype)
    cols = im2col.launch_im2col(emulated, x, geo)
    assert cols.dtype == dtype
    # exact: im2col copies values (zeros off the image)
    np.testing.assert_array_equal(cols, twin_cols(x, geo))
    # ... and the CPU composition that the kernel replaces on a GPU builds the same matrix
    np.testing.assert_array_equal(cols, im2col._im2col_nchw(x, geo))

    gcols = rng.standard_normal(cols.shape).astype(dtype)
    gx = im2col.launch_col2im(emulated, gcols, geo, shape[0])
    assert gx.shape == shape and gx.dtype == dtype
    # exact: the gather adds the same numbers in the twin's order (tap (i, j) ascending, from 0)
    np.testing.assert_array_equal(gx, twin_col2im(gcols, geo, shape[0]))


def test_grid_covers_every_option():
    """The grid holds every value the kernels are asked to handle, and a Geometry per case."""
    ks, ss, ps, ds = (set(c[i] for c in GRID) for i in range(1, 5))
    assert {1, 3, 4, 5} <= ks and {1, 2} <= ss and {0, 1, 2} <= ps and {1, 2} <= ds
    assert {c[0][0] for c in GRID} == {1, 2, 3} and {1, 5} <= {c[0][1] for c in GRID}


def test_emulated_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), c> = <x, col2im(c)>: the gather is the transpose of the copy (float64)."""
    geo = geometry((3, 5, 9, 8), 4, 4, 2, 1, 1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 9, 8))
    c = rng.standard_normal((1, 5 * 16, 3 * geo.Ho * geo.Wo))
    lhs = float((im2col.launch_im2col(emulated, x, geo) * c).sum())
    rhs = float((x * im2col.launch_col2im(emulated, c, geo, 3)).sum())
    assert_within(lhs, rhs, sum_tolerance(np.abs(x).sum() * np.abs(c).max() * 16, x.size * 16, np.float64))


def test_grid_stride_loop_covers_what_the_grid_does_not(monkeypatch):
    """With fewer blocks than the work needs, each thread takes several elements."""
    monkeypatch.setattr(im2col, "MAX_BLOCKS", 2)
    geo = geometry((3, 5, 9, 11), 2, 3, 1, 1, 1)
    x = np.random.default_rng(2).standard_normal((3, 5, 9, 11)).astype(np.float32)
    cols = im2col.launch_im2col(emulated, x, geo)                      # 1485 * 9 entries, 512 threads
    np.testing.assert_array_equal(cols, twin_cols(x, geo))            # exact: a copy
    gx = im2col.launch_col2im(emulated, cols, geo, 3)
    np.testing.assert_array_equal(gx, twin_col2im(cols, geo, 3))      # exact: same order of additions


def test_col2im_writes_into_out_and_every_element_of_it():
    geo = geometry((3, 1, 6, 13), 2, 4, 2, 2, 1)
    cols = np.random.default_rng(3).standard_normal((1, 16, 3 * geo.Ho * geo.Wo))
    out = np.full((3, 1, 6, 13), np.nan)
    assert im2col.launch_col2im(emulated, cols, geo, 3, out=out) is out
    np.testing.assert_array_equal(out, twin_col2im(cols, geo, 3))     # exact: no NaN left behind
    strided = np.full((3, 1, 6, 26), np.nan)[..., ::2]                # not C-contiguous: copied into
    assert im2col.launch_col2im(emulated, cols, geo, 3, out=strided) is strided
    np.testing.assert_array_equal(strided, out)                       # exact: the same numbers


NAMES = [f"{op}<{c}>" for op in ("im2col", "col2im") for c in ("float", "double")]


@pytest.mark.parametrize("sanitize", ["address", "thread"])
def test_sanitized_kernels_stay_in_bounds_and_race_free(sanitize):
    """Under AddressSanitizer every array sits in a heap block of its exact size, so an index
    past an end (a missing bounds check) fails the launch; under ThreadSanitizer a race of the
    threads of a block would.  Geometries where most taps fall off the image (padding 2,
    dilation 2, stride 2), sizes that are no multiple of the block, and the grid-stride loop."""
    module = emulator.load(im2col.SOURCE, NAMES, sanitize=sanitize)
    rng = np.random.default_rng(7)
    for shape, k, s, p, d in [((3, 5, 9, 11), 5, 2, 2, 2), ((1, 1, 7, 6), 4, 1, 2, 1), ((2, 3, 5, 7), 3, 2, 0, 2)]:
        geo = geometry(shape, 2, k, s, p, d)
        x = rng.standard_normal(shape).astype(np.float32)
        cols = im2col.launch_im2col(module.get_function, x, geo)
        np.testing.assert_array_equal(cols, twin_cols(x, geo))                        # exact: a copy
        gx = im2col.launch_col2im(module.get_function, cols, geo, shape[0])
        np.testing.assert_array_equal(gx, twin_col2im(cols, geo, shape[0]))          # exact: same order


def test_launchers_refuse_bad_input():
    geo = geometry((2, 3, 6, 6), 2, 3, 1, 1, 1)

    def never(name):
        raise AssertionError(f"no kernel should be launched ({name})")

    with pytest.raises(TypeError, match=r"im2col: .*float32 or float64, got int32"):
        im2col.launch_im2col(never, np.zeros((2, 3, 6, 6), np.int32), geo)
    with pytest.raises(ValueError, match=r"col2im: cols has shape \(1, 27, 50\), expected \(1, 27, 72\)"):
        im2col.launch_col2im(never, np.zeros((1, 27, 50)), geo, 2)
    with pytest.raises(ValueError, match=r"im2col: x has shape \(2, 3, 6, 7\), expected \(n, 3, 6, 6\)"):
        im2col.launch_im2col(never, np.zeros((2, 3, 6, 7)), geo)
    # past the 32-bit parts of the kernels' index arithmetic (views of one number: nothing allocated)
    big = geometry((1, 1, 50000, 50000), 1, 1, 1, 0, 1)
    with pytest.raises(ValueError, match=r"im2col: sizes past the kernel's 32-bit index parts: .*'H\*W': 2500000000"):
        im2col.launch_im2col(never, np.broadcast_to(np.float32(0), (1, 1, 50000, 50000)), big)
    with pytest.raises(ValueError, match=r"col2im: sizes past .*'N\*Ho\*Wo': 2500000000"):
        im2col.launch_col2im(never, np.broadcast_to(np.float32(0), (1, 1, 2500000000)), big, 1)


def test_declared_names():
    """Both kernels are declared for float and double, so the NVRTC check compiles all four."""
    assert set(cuda.declared()[im2col.SOURCE]) == {"im2col<float>", "im2col<double>",
                                                     "col2im<float>", "col2im<double>"}


# -- on a GPU ------------------------------------------------------------------------------------






@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GRID[::5], ids=lambda c: "x{}-k{}-s{}-p{}-d{}".format(*c))
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_device_kernels_match_the_twins(case, dtype, launched):
    cp = backend.cupy_module()
    shape, k, s, p, d = case
    geo = geometry(shape, 2, k, s, p, d)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    with cuda.kernels(True):
        cols = im2col._im2col_nchw(cp.asarray(x), geo)
    np.testing.assert_array_equal(host(cols), twin_cols(x, geo))     # exact: a copy
    gcols = rng.standard_normal(cols.shape).astype(dtype)
    gx = cp.empty(shape, dtype=dtype)
    with cuda.kernels(True):
        im2col._col2im_nchw(cp.asarray(gcols), geo, shape[0], gx)
    np.testing.assert_array_equal(host(gx), twin_col2im(gcols, geo, shape[0]))   # exact: same order
    ctype = "float" if dtype == np.float32 else "double"
    assert launched == [f"im2col<{ctype}>", f"col2im<{ctype}>"]
