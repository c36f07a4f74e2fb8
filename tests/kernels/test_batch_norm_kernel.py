"""kernels/batch_norm.cu against its twins, reference.batch_norm_forward / _backward.

The kernels run in the CPU emulator (the same .cu compiled with g++ against an emulation of
CUDA's execution model) through the very launchers the GPU uses, on small and awkward
shapes: 1, 3 and 7 channels, N * H * W not a multiple of the block, one and several blocks
per channel (``threads=32`` makes more slices), float32 and float64.  Then the op itself:
``F.batch_norm`` with these kernels serving ``Normalize`` (the GPU's path, run in the
emulator) against the CPU path, and its first and second derivatives against central
differences.  The ``gpu`` tests at the end compare the CuPy path with kernels on and off.

Rounding bounds (tests/tolerances.py).  A statistic is built by a chain of at most
``steps = batch_norm.reduction_steps(count)`` roundings (Welford's updates of one thread, the
levels of the merges), each of a running mean no larger than max|x|, so

    |d mean| <= steps eps max|x|,       |d var| <= steps eps (var + std max|x|):

an error e in a running mean moves a squared deviation by about 2 |x - mean| e, and the
deviations are about std.  (What is *not* in the bound is var's own size times max|x|^2 /
var, which E[x^2] - E[x]^2 would cost: the offset channels below would fail it by orders of
magnitude.)  The backward's sums of ``count`` terms are within ``steps eps sum |term|``, and
y, dx then are a few roundings of first-order functions of those, written out below.  All
times FACTOR.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.kernels import batch_norm, benchmark, emulator, reference
from tinygan.ops import norm as norm_module
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import FACTOR, assert_within, eps
from gpu_helpers import host


def emulated(name):
    return emulator.function(batch_norm.SOURCE, name)


# (shape, threads): channels 1, 3, 7; counts 5, 35, 75, 6345 (two slices of 256 threads),
# 2442 (one slice) and with 32 threads many slices merged by a partly idle merge block
CASES = [((5, 1), 256), ((5, 3, 7), 256), ((3, 7, 5, 5), 256), ((2, 3, 33, 37), 256),
         ((3, 1, 45, 47), 256), ((3, 1, 45, 47), 32), ((2, 7, 3, 61), 32)]
IDS = [f"{'x'.join(map(str, s))}-t{t}" for s, t in CASES]
DTYPES = [np.float32, np.float64]


def _data(shape, dtype, seed):
    """x with channels of different offsets and spreads: mean 0, 1000 and 3 with spread 1e-3."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    offset = np.array([0.0, 1000.0, 3.0] * c)[:c].reshape((1, c) + (1,) * (len(shape) - 2))
    spread = np.array([1.0, 1.0, 1e-3] * c)[:c].reshape(offset.shape)
    x = (rng.standard_normal(shape) * spread + offset).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    return x, gy, w, b


def _axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _keep(c, ndim):
    return (1, c) + (1,) * (ndim - 2)


def _statistic_bounds(x, dtype, steps):
    """(d mean, d var) bounds per channel, (1, C, 1, ...), for statistics built by chains of
    ``steps`` roundings -- see the module docstring."""
    x64 = x.astype(np.float64)
    amax = np.abs(x64).max(axis=_axes(x), keepdims=True)
    var = x64.var(axis=_axes(x), keepdims=True)
    u = FACTOR * steps * eps(dtype)
    return u * amax, u * (var + np.sqrt(var) * amax)


def check_forward(y, mean, var, inv_std, x, w, b, steps, what=""):
    """The statistics and y of x (dtype of x) against Alg. 1 computed in float64 from the same
    x, for statistics built by chains of ``steps`` roundings; returns (d mean, d inv_std / inv_std)."""
    dtype, c, e = x.dtype, x.shape[1], eps(x.dtype)
    y_r, mean_r, var_r, inv_std_r = reference.batch_norm_forward(
        x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1e-5)
    d_mean, d_var = _statistic_bounds(x, dtype, steps)
    assert_within(mean, mean_r, d_mean, f"mean{what}")
    assert_within(var, var_r, d_var, f"var{what}")
    # inv_std = 1 / sqrt(var + eps): var's error halved relative, two roundings
    d_rel = d_var / (2 * (var_r + 1e-5)) + FACTOR * 2 * e
    assert_within(inv_std, inv_std_r, d_rel * inv_std_r, f"inv_std{what}")
    # y = (x - mean) (inv_std gamma) + beta: mean's and inv_std's errors carried through,
    # and four roundings of terms no larger than |xhat gamma| and |beta|
    xhat = (x - mean_r) * inv_std_r
    gamma, beta = np.abs(w).reshape(_keep(c, x.ndim)), np.abs(b).reshape(_keep(c, x.ndim))
    t_y = gamma * (d_mean * inv_std_r + np.abs(xhat) * d_rel) + FACTOR * 4 * e * (gamma * np.abs(xhat) + beta)
    assert_within(y, y_r, t_y, f"y{what}")
    return d_mean, d_rel


def check_backward(gx, gw, gb, x, gy, w, mean, inv_std, steps, d_mean=0.0, d_rel=0.0, what=""):
    """dx, dgamma, dbeta against Sec. 3 in float64 at the statistics ``mean``, ``inv_std``
    (the kernel's, in x's dtype), for sums built by chains of ``steps`` roundings.  ``d_mean``,
    ``d_rel``: how far those statistics may be from the truth (0: the test gave the kernel
    the true ones, rounded), carried through xhat."""
    dtype, c, e = x.dtype, x.shape[1], eps(x.dtype)
    as64 = [a.astype(np.float64) for a in (x, gy, w)]
    x64, gy64, w64 = as64
    mean64, inv_std64 = (np.asarray(a, np.float64).reshape(_keep(c, x.ndim)) for a in (mean, inv_std))
    gx_r, gw_r, gb_r = reference.batch_norm_backward(x64, gy64, w64, mean64, inv_std64)
    count = x.size // c
    u = FACTOR * steps * e
    xhat = (x64 - mean64) * inv_std64
    d_xhat = d_mean * inv_std64 + np.abs(xhat) * d_rel      # the statistics' errors, in xhat
    s_g = np.abs(gy64).sum(axis=_axes(x), keepdims=True)              # sum |gy|
    s_gxhat = np.abs(gy64 * xhat).sum(axis=_axes(x), keepdims=True)   # sum |gy xhat|
    d_gb = u * s_g
    d_gw = (u + FACTOR * 3 * e) * s_gxhat + (np.abs(gy64) * d_xhat).sum(axis=_axes(x), keepdims=True)
    assert_within(gb, gb_r, d_gb.reshape(c), f"dbeta{what}")
    assert_within(gw, gw_r, d_gw.reshape(c), f"dgamma{what}")
    # dx = gamma inv_std (gy - dbeta / n - xhat dgamma / n): the sums' errors over n, xhat's
    # error (rounded twice, and the statistics'), about six roundings of terms no larger than
    # the three in brackets, and inv_std's error in the factor in front
    m_g = np.abs(gb_r).reshape(_keep(c, x.ndim)) / count
    m_gx = np.abs(gw_r).reshape(_keep(c, x.ndim)) / count
    scale = np.abs(w64).reshape(_keep(c, x.ndim)) * inv_std64
    t_gx = scale * ((d_gb + np.abs(xhat) * d_gw) / count + (d_xhat + FACTOR * 2 * e * np.abs(xhat)) * m_gx
                    + FACTOR * 6 * e * (np.abs(gy64) + m_g + np.abs(xhat) * m_gx)) + d_rel * np.abs(gx_r)
    assert_within(gx, gx_r, t_gx, f"dx{what}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape,threads", CASES, ids=IDS)
def test_forward_matches_the_twin(shape, threads, dtype):
    """The statistics and y against Alg. 1 computed in float64 from the same x."""
    x, _, w, b = _data(shape, dtype, 1)
    y, mean, var, inv_std = batch_norm.launch_forward(emulated, x, w, b, 1e-5, threads)
    assert y.dtype == dtype and mean.shape == var.shape == inv_std.shape == _keep(shape[1], x.ndim)
    check_forward(y, mean, var, inv_std, x, w, b, batch_norm.reduction_steps(x.size // shape[1], threads))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape,threads", CASES, ids=IDS)
def test_backward_matches_the_twin(shape, threads, dtype):
    """dx, dgamma, dbeta against Sec. 3 in float64, both given the same statistics (the
    float64 ones rounded to the kernel's dtype), so only the kernels' own roundings differ."""
    x, gy, w, b = _data(shape, dtype, 2)
    c = shape[1]
    _, mean64, _, inv_std64 = reference.batch_norm_forward(
        x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1e-5)
    mean, inv_std = mean64.astype(dtype), inv_std64.astype(dtype)
    gx, gw, gb = batch_norm.launch_backward(emulated, x, gy, w, mean, inv_std, True, threads)
    assert gx.dtype == gw.dtype == gb.dtype == dtype and gw.shape == gb.shape == (c,)
    check_backward(gx, gw, gb, x, gy, w, mean, inv_std, batch_norm.reduction_steps(x.size // c, threads))

    none, gw2, gb2 = batch_norm.launch_backward(emulated, x, gy, w, mean, inv_std, False, threads)
    assert none is None
    np.testing.assert_array_equal(gw2, gw)      # exact: the same sums in the same order
    np.testing.assert_array_equal(gb2, gb)      # exact: the same sums in the same order


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_the_sums_do_not_depend_on_the_run(dtype):
    """No atomics in the results: every partial has its own slot and the merges run in a
    fixed order, so two runs give the same bits."""
    x, gy, w, b = _data((3, 7, 11, 13), dtype, 3)
    first = batch_norm.launch_forward(emulated, x, w, b, 1e-5, 32)
    again = batch_norm.launch_forward(emulated, x, w, b, 1e-5, 32)
    for a, b_ in zip(first, again):
        np.testing.assert_array_equal(a, b_)     # exact: deterministic order of operations
    g1 = batch_norm.launch_backward(emulated, x, gy, w, first[1], first[3], True, 32)
    g2 = batch_norm.launch_backward(emulated, x, gy, w, first[1], first[3], True, 32)
    for a, b_ in zip(g1, g2):
        np.testing.assert_array_equal(a, b_)     # exact: deterministic order of operations


@pytest.mark.parametrize("how", ["schedule=forward", "schedule=reverse", "sanitize=thread",
                                 "sanitize=address"])
def test_barriers_and_bounds_under_the_emulator_checks(how):
    """Each kernel under the emulator's serial schedules (a missing __syncthreads reads a
    slot not yet written: NaN), ThreadSanitizer (a race within a block) and AddressSanitizer
    (an index past an array's end): the same bits as the parallel run, whose order of
    operations is fixed."""
    key, value = how.split("=")
    module = emulator.load(batch_norm.SOURCE, batch_norm.NAMES, **{key: value})
    x, gy, w, b = _data((2, 3, 17, 19), np.float32, 8)
    for threads in (32, 64):          # 2 slices of 32 threads (a merge block of 30 idle), 1 of 64
        checked = batch_norm.launch_forward(module.get_function, x, w, b, 1e-5, threads)
        plain = batch_norm.launch_forward(emulated, x, w, b, 1e-5, threads)
        for a, r in zip(checked, plain):
            np.testing.assert_array_equal(a, r)    # exact: the same operations in the same order
        checked = batch_norm.launch_backward(module.get_function, x, gy, w, plain[1], plain[3], True, threads)
        plain = batch_norm.launch_backward(emulated, x, gy, w, plain[1], plain[3], True, threads)
        for a, r in zip(checked, plain):
            np.testing.assert_array_equal(a, r)    # exact: the same operations in the same order


def test_statistics_of_a_far_offset_channel_beat_the_textbook_one_pass_formula():
    """The control for 'numerically careful': with mean 1000 and spread 1 in float32, the
    one-pass E[x^2] - E[x]^2 (what a plain sum of x and x^2 per block would give) is off by
    far more than the kernel's bound, which the kernel meets."""
    x, _, w, b = _data((6, 2, 17, 19), np.float32, 4)
    _, mean, var, _ = batch_norm.launch_forward(emulated, x, w, b, 1e-5)
    _, d_var = _statistic_bounds(x, np.float32, batch_norm.reduction_steps(6 * 17 * 19))
    truth = x.astype(np.float64).var(axis=(0, 2, 3), keepdims=True)
    assert_within(var, truth, d_var, "var")
    naive = (x * x).mean(axis=(0, 2, 3), keepdims=True, dtype=np.float32) - \
        x.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float32) ** 2
    assert np.abs(naive - truth)[0, 1] > 10 * d_var[0, 1]


def test_bad_input_is_named():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"batch_norm forward: weight has shape \(2,\), expected 3"):
        batch_norm.launch_forward(emulated, x, np.ones(2, np.float32), np.zeros(3, np.float32), 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm backward: the gradient is float32 of shape \(2, 3\)"):
        batch_norm.launch_backward(emulated, x, np.zeros((2, 3), np.float32), np.ones(3, np.float32),
                                   np.zeros(3, np.float32), np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"batch_norm forward: expected a float32 or float64 array .* int64"):
        batch_norm.launch_forward(emulated, np.zeros((2, 3), np.int64), np.ones(3), np.zeros(3), 1e-5)
    with pytest.raises(ValueError, match=r"batch_norm: threads must be 32, 64, 128 or 256 .* got 96"):
        batch_norm.launch_forward(emulated, x, np.ones(3, np.float32), np.zeros(3, np.float32), 1e-5, 96)
    with pytest.raises(ValueError, match=r"batch_norm statistics: the input of shape \(0, 3\)"):
        batch_norm.launch_statistics(emulated, np.zeros((0, 3), np.float32), 1e-5)


# -- the op: Normalize served by the kernels, as on a GPU ------------------------------------------
@pytest.fixture
def served(monkeypatch):
    """Route batch_norm's decision to the CUDA kernels for NumPy arrays, run in the emulator;
    yields the list of kernels launched (so a test can see they ran)."""
    launched = []

    def get(name):
        launched.append(name)
        return emulated(name)
    monkeypatch.setattr(batch_norm, "on_device",
                        lambda x, axes, *others: batch_norm.fits_device_kernels(x, axes))
    monkeypatch.setattr(batch_norm, "_compiled", get)
    yield launched


@pytest.mark.parametrize("shape", [(6, 3), (4, 7, 3, 5)], ids=str)
def test_batch_norm_op_served_by_the_kernels(served, monkeypatch, shape):
    """F.batch_norm's forward, running statistics and gradients, with the kernels serving
    Normalize, against the CPU path (float64: the two differ by rounding only)."""
    rng = np.random.default_rng(5)
    c = shape[1]
    x0, gy = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
    w0, b0 = rng.standard_normal(c), rng.standard_normal(c)
    results = []
    for serve in (True, False):
        if not serve:                        # the CPU path
            served.clear()
            monkeypatch.setattr(batch_norm, "on_device", lambda *args: False)
        x, w, b = (tinygan.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        rm, rv = tinygan.tensor(np.zeros(c)), tinygan.tensor(np.ones(c))
        y = F.batch_norm(x, rm, rv, w, b, training=True)
        y.backward(tinygan.tensor(gy))
        results.append([y.data, rm.data, rv.data, x.grad.data, w.grad.data, b.grad.data])
        if serve:
            kinds = {name.split("<")[0] for name in served}
            assert kinds == set(batch_norm.KERNELS), f"kernels launched: {sorted(kinds)}"
    assert served == []
    for a, r, what in zip(*results, ("y", "running_mean", "running_var", "dx", "dgamma", "dbeta")):
        assert_within(a, r, 1e-12 * (1 + np.abs(r)), what)


def test_second_order_through_the_served_op(served):
    """First and second derivatives of F.batch_norm against central differences in float64
    while the kernels serve the forward pass and the unrecorded backward: the recorded
    backward recomputes mean and 1/std from x (ops/norm.py), so nothing the kernels saved
    freezes the second derivative."""
    rng = np.random.default_rng(6)
    x = tinygan.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    w = tinygan.tensor(rng.standard_normal(2), requires_grad=True)
    b = tinygan.tensor(rng.standard_normal(2), requires_grad=True)

    def fn(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))
    assert any(name.startswith("batch_norm_backward_input") for name in served)


# -- on a GPU: the CuPy path with kernels on and off -----------------------------------------------
HAS_GPU = tinygan.cuda_is_available()




@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape", [(5, 3, 7), (64, 32, 14, 14), (3, 1, 45, 47), (16, 100)], ids=str)
def test_gpu_kernels_on_and_off(monkeypatch, shape, dtype):
    """The CUDA kernels on the device through F.batch_norm (TINYGAN_KERNELS unset), and the
    plain CuPy composition ("0"), each against the float64 twin on the host: the kernels with
    their own rounding bound, the composition with a sequential sum's (count roundings)."""
    x0, gy0, w0, b0 = _data(shape, dtype, 7)
    c = shape[1]
    for setting, steps in (("1", batch_norm.reduction_steps(x0.size // c)), ("0", x0.size // c)):
        monkeypatch.setenv("TINYGAN_KERNELS", setting)
        x, w, b = (tinygan.tensor(a, device="cuda", requires_grad=True) for a in (x0, w0, b0))
        fn = norm_module.Normalize(_axes(x0), 1e-5)
        y = fn(x, w.reshape(_keep(c, x0.ndim)), b.reshape(_keep(c, x0.ndim)))
        y.backward(tinygan.tensor(gy0, device="cuda"))
        mean, var, inv_std = host(fn.mean), host(fn.var), host(fn.inv_std)
        what = f", TINYGAN_KERNELS={setting}"
        check_forward(host(y), mean, var, inv_std, x0, w0, b0, steps, what)
        check_backward(host(x.grad), host(w.grad), host(b.grad), x0, gy0, w0, mean, inv_std, steps,
                       what=what)


def test_the_benchmark_case_runs():
    """benchmarks/kernels.py's case (timed on a GPU only), run here through the CPU path: its
    inputs and its call fit together and give dx of x's shape."""
    case = next(c for c in benchmark.cases() if c.name.startswith("batch norm forward+backward"))
    args = case.inputs(np)
    dx = case.run(*args)
    assert dx.shape == args[0].shape and np.all(np.isfinite(dx))
