"""tinygan/kernels/bias_act.cu against its NumPy twin (tinygan/kernels/bias_act.py).

In the CPU emulator (the same .cu compiled with g++, tinygan.kernels.emulator): every kernel
(forward, grad, grad2; float and double) against the twin for every activation, with and
without bias and clamp, on sizes that are not multiples of the block, with the bias along the
first, a middle and the last axis, through the launch functions the GPU path uses; a launch
whose few blocks go round the grid-stride loop several times; guard elements that show
every output written and nothing past the end; one launch of each kernel under
ThreadSanitizer and one under AddressSanitizer.  On the CPU: the twin piece by piece equals the twin at once.

On a GPU (``@pytest.mark.gpu``, skipped without CuPy and a GPU): the CuPy path with the
kernels on against the same path with ``TINYGAN_KERNELS=0`` (the twin's plain CuPy
composition); the op's values and first and second derivatives against the CPU; and
gradcheck / gradgradcheck in float64 on the device.

Tolerances: act, act' and act'' are bounded functions (|values| <= 1 for the derivatives of
tanh and sigmoid, <= 1.1 for swish's) computed with a few roundings each, by CUDA's (or
g++'s) and NumPy's own exp and tanh; each pass then multiplies by gain and the incoming
gradients.  So two correct computations differ by at most a few ulps of the result plus a
few ulps of the product of the factors outside the activation: ``K * eps * (|r| + |factors|)``.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan import backend
from tinygan.kernels import bias_act as K, emulator
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, eps
from gpu_helpers import host

HAS_GPU = tinygan.cuda_is_available()

K_ULPS = 16
# (shape, dim): sizes that are not multiples of the block (256), one of a few elements, one
# empty, and the bias along the first, a middle and the last axis.
LAYOUTS = [((3, 5, 7), 1), ((2, 3), 0), ((1000,), 0), ((4, 9, 5, 3), 3), ((1, 1), 1), ((0, 4), 1),
           ((2, 70, 3, 3), 1)]
CASES = [(act, bias, clamp) for act in K.ACTS for bias in (True, False) for clamp in (-1.0, 0.8)]




def passes(run, x, b, dim, act, clamp, rng, gain=1.7, alpha=0.2):
    """forward, grad and grad2 by ``run`` (a dict of the three array functions), with the
    incoming gradients drawn here; returns the three results and their tolerance scales."""
    xp = backend.get_array_module(x)
    gy = xp.asarray(rng.standard_normal(x.shape).astype(x.dtype))
    ggx = xp.asarray(rng.standard_normal(x.shape).astype(x.dtype))
    y = run["forward"](x, b, dim, act, alpha, gain, clamp)
    g = run["grad"](gy, x, b, y, dim, act, alpha, gain, clamp)
    h = run["grad2"](ggx, gy, x, b, y, dim, act, gain, clamp)
    scales = (abs(gain), abs(gain) * np.abs(host(gy)), abs(gain) * np.abs(host(gy) * host(ggx)))
    return (y, g, h), scales


def compare(got, want, scales, dtype, what):
    for name, a, r, s in zip(("forward", "grad", "grad2"), got, want, scales):
        a, r = host(a), host(r)
        assert a.shape == r.shape and a.dtype == r.dtype == dtype, (what, name, a.shape, a.dtype)
        assert_within(a, r, K_ULPS * eps(dtype) * (np.abs(r) + s), f"{what} {name}")


TWIN = {"forward": K.forward_reference, "grad": K.grad_reference, "grad2": K.grad2_reference}


def launcher(get, **launch):
    """The three launches with kernels from ``get`` (and a launch shape), in ``passes``' form."""
    return {"forward": lambda *a: K.launch_forward(get, *a, **launch),
            "grad": lambda *a: K.launch_grad(get, *a, **launch),
            "grad2": lambda *a: K.launch_grad2(get, *a, **launch)}


# -----------------------------------------------------------------------------
# the twin, piece by piece
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("act,bias,clamp", CASES)
def test_twin_in_pieces_is_the_twin_at_once(act, bias, clamp, monkeypatch):
    """On the CPU the twin works through CHUNK elements at a time; pieces of 7 elements (not
    dividing any size here, cutting across rows and bias entries) give the same numbers."""
    rng = np.random.default_rng(4)
    for shape, dim in LAYOUTS:
        x = (rng.standard_normal(shape) * 2).astype(np.float32)
        b = rng.standard_normal(shape[dim]).astype(np.float32) if bias else None
        results = []
        for chunk in (7, 1 << 20):
            monkeypatch.setattr(K, "CHUNK", chunk)
            results.append(passes(TWIN, x, b, dim, act, clamp, np.random.default_rng(5))[0])
        for name, a, c in zip(("forward", "grad", "grad2"), *results):
            # exact: the same operations on each element, whatever piece it falls in
            np.testing.assert_array_equal(a, c, err_msg=f"{act} {name} {shape} dim {dim}")


# -----------------------------------------------------------------------------
# in the CPU emulator (bias_act.cu compiled with g++)
# -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulated():
    """``get(name)`` for the kernels of bias_act.cu, all compiled in one g++ run."""
    module = emulator.load(K.SOURCE, K.KERNELS)
    return module.get_function


# A launch of 3 blocks of 48 threads (not a multiple of 32): the grid-stride loop goes round
# several times, and its last round covers only part of the block.
SMALL_LAUNCH = {"block": 48, "max_grid": 3}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("act,bias,clamp", CASES)
def test_emulated_kernels_match_the_twin(act, bias, clamp, dtype, emulated):
    rng = np.random.default_rng(6)
    for shape, dim in LAYOUTS:
        x = (rng.standard_normal(shape) * 2).astype(dtype)
        b = rng.standard_normal(shape[dim]).astype(dtype) if bias else None
        want, scales = passes(TWIN, x, b, dim, act, clamp, np.random.default_rng(7))
        got, _ = passes(launcher(emulated, **SMALL_LAUNCH), x, b, dim, act, clamp, np.random.default_rng(7))
        compare(got, want, scales, dtype, f"{act} bias={bias} clamp={clamp} {shape} dim {dim}")


@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish"])
def test_emulated_kernels_with_the_default_launch(act, emulated):
    """The launch shape the GPU gets (BLOCK threads, as many blocks as that takes), on a size
    of five blocks and a bit."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 70, 3, 3)).astype(np.float32)
    b = rng.standard_normal(70).astype(np.float32)
    want, scales = passes(TWIN, x, b, 1, act, 0.8, np.random.default_rng(12))
    got, _ = passes(launcher(emulated), x, b, 1, act, 0.8, np.random.default_rng(12))
    compare(got, want, scales, np.float32, f"{act} default launch")


def test_emulated_kernels_touch_only_their_elements(emulated):
    """Every output element is written and none past the end: each output is the start of a
    NaN-filled buffer, whose guard elements after the n outputs must stay NaN."""
    rng = np.random.default_rng(8)
    n, guard = 101, 37
    for dtype, ctype in ((np.float32, "float"), (np.float64, "double")):
        t = np.dtype(dtype).type
        x, gy, ggx, y = (rng.standard_normal(n + guard).astype(dtype) for _ in range(4))
        b = rng.standard_normal(n).astype(dtype)
        layout = (np.int64(n), np.int64(1), np.int32(n), np.int32(K.ACTS.index("tanh")))
        calls = {"forward": lambda out: (out, x, b, *layout, t(0.2), t(1.5), t(-1)),
                 "grad": lambda out: (out, gy, x, b, y, *layout, t(0.2), t(1.5), t(-1)),
                 "grad2": lambda out: (out, ggx, gy, x, b, y, *layout, t(1.5), t(-1))}
        for kind, args in calls.items():
            buf = np.full(n + guard, np.nan, dtype)
            emulated(f"bias_act_{kind}<{ctype}>")((2,), (32,), args(buf[:n]))
            assert np.isfinite(buf[:n]).all(), (kind, ctype)
            assert np.isnan(buf[n:]).all(), (kind, ctype)


@pytest.mark.parametrize("sanitizer", ["thread", "address"])
@pytest.mark.parametrize("act", ["lrelu", "sigmoid", "swish"])
def test_emulated_kernels_under_sanitizers(act, sanitizer):
    """One launch of each kernel built with -fsanitize=thread (no data race within a block) and
    with -fsanitize=address (each array in a heap block of its exact size: no index past an
    end, in the outputs or in any input, the bias included)."""
    module = emulator.load(K.SOURCE, K.KERNELS, sanitize=sanitizer)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 5, 7)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    want, scales = passes(TWIN, x, b, 1, act, 0.8, np.random.default_rng(10))
    got, _ = passes(launcher(module.get_function, block=64, max_grid=2), x, b, 1, act, 0.8,
                    np.random.default_rng(10))
    compare(got, want, scales, np.float32, f"{act} under {sanitizer} sanitizer")


# -----------------------------------------------------------------------------
# on a GPU
# -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("act", K.ACTS)
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_kernels_on_and_off(act, dtype, monkeypatch):
    """The three passes with the kernels on, and with TINYGAN_KERNELS=0 (the twin's CuPy
    composition), for each layout, with a bias and without, clamped and not."""
    cp = backend.cupy_module()
    rng = np.random.default_rng(0)
    kernel_path = {"forward": K.forward, "grad": K.grad, "grad2": K.grad2}
    for bias, clamp in [(True, -1.0), (False, 0.8), (True, 0.8)]:
        for shape, dim in LAYOUTS:
            x = cp.asarray((rng.standard_normal(shape) * 2).astype(dtype))
            b = cp.asarray(rng.standard_normal(shape[dim]).astype(dtype)) if bias else None
            monkeypatch.delenv("TINYGAN_KERNELS", raising=False)
            assert K.cuda.use_kernel(x), "the kernel path is not taken"
            on, scales = passes(kernel_path, x, b, dim, act, clamp, np.random.default_rng(1))
            monkeypatch.setenv("TINYGAN_KERNELS", "0")
            assert not K.cuda.use_kernel(x)
            off, _ = passes(kernel_path, x, b, dim, act, clamp, np.random.default_rng(1))
            compare(on, off, scales, dtype, f"{act} bias={bias} clamp={clamp} {shape} dim {dim}")


@pytest.mark.parametrize("act", K.ACTS)
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_op_matches_cpu(act):
    """F.bias_act's value, gradients and the gradient of the squared gradient norm (R1's
    shape) on the GPU (kernels on) against the CPU, in float64."""
    rng = np.random.default_rng(2)
    xa, ba = rng.standard_normal((3, 6, 5, 5)), rng.standard_normal(6)
    v = rng.standard_normal(xa.shape)
    out = {}
    for device in ("cpu", "cuda"):
        x = tinygan.tensor(xa, device=device, requires_grad=True)
        b = tinygan.tensor(ba, device=device, requires_grad=True)
        y = F.bias_act(x, b, act=act, gain=1.3, clamp=1.1)
        gx, gb = tinygan.grad(y, (x, b), tinygan.tensor(v, device=device), create_graph=True)
        hx, hb = tinygan.grad((gx * gx).sum() + (gb * gb).sum(), (x, b))
        out[device] = [host(t) for t in (y, gx, gb, hx, hb)]
    for name, c, g in zip(("y", "gx", "gb", "hx", "hb"), out["cpu"], out["cuda"]):
        np.testing.assert_allclose(g, c, rtol=1e-12, atol=1e-12, err_msg=f"{act} {name}")


@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish"])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_gradcheck(act):
    rng = np.random.default_rng(3)
    z = np.where(rng.random((2, 3, 3)) < 0.5, -1.0, 1.0) * (0.2 + np.abs(rng.standard_normal((2, 3, 3))))
    ba = rng.standard_normal(3)
    x = tinygan.tensor(z - ba.reshape(1, 3, 1), device="cuda", requires_grad=True)
    b = tinygan.tensor(ba, device="cuda", requires_grad=True)

    def f(x, b):
        return F.bias_act(x, b, act=act, gain=0.9)
    assert gradcheck(f, (x, b))
    assert gradgradcheck(f, (x, b))
