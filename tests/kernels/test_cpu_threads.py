"""tinygan.kernels.threads: the pool, and every op that splits its work over it.

The suite runs with one thread (``make test`` sets OMP_NUM_THREADS=1), so the threaded
paths are switched on here explicitly: three threads (uneven shares), and thresholds
lowered so that small arrays are split too.  Each op must give what it gives on one
thread: the same array where every element is computed the same way (elementwise ops,
Adam), and exact first and second derivatives.  Where the work is a sum -- a GEMM split
into blocks, per-thread partial sums (batch norm's statistics, a weight gradient's
chunks) -- the two differ by rounding: the sums are added in another order, and BLAS
picks other kernels for blocks of other shapes (which kernels depends on the CPU).  Those
are compared within the rounding bound of a sum of n terms (tests/tolerances.py).
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan import optim
from tinygan.kernels import matmul as ops_math, threads as cpu_threads
from tinygan.kernels import bias_act as bias_act_kernels, im2col
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, eps, product_tolerance, sum_tolerance


SPLIT_EVERYTHING = {(cpu_threads, "PARALLEL_MIN"): 1, (ops_math, "GEMM_SPLIT_MIN"): 1,
                    (im2col, "CHUNK"): 1, (im2col, "CHUNK_THREADED"): 1,   # one sample per chunk
                    (bias_act_kernels, "CHUNK"): 7,   # pieces that end inside a row
                    (bias_act_kernels, "CHUNK_THREADED"): 7}
DEFAULTS = {key: getattr(*key) for key in SPLIT_EVERYTHING}


def _set(values: dict) -> None:
    for (module, name), value in values.items():
        setattr(module, name, value)


@pytest.fixture
def threads():
    """Three threads, and every op split however small its arrays; all restored afterwards."""
    before = cpu_threads.get_num_threads()
    _set(SPLIT_EVERYTHING)
    cpu_threads.set_num_threads(3)
    yield 3
    _set(DEFAULTS)
    cpu_threads.set_num_threads(before)


def _both(fn):
    """fn() as before threads existed (one thread, nothing split: the reference), then on
    three threads with everything split (the fixture's setting)."""
    n = cpu_threads.get_num_threads()
    _set(DEFAULTS)
    cpu_threads.set_num_threads(1)
    one = fn()
    _set(SPLIT_EVERYTHING)
    cpu_threads.set_num_threads(n)
    return one, fn()


# -- the pool ---------------------------------------------------------------------------
def test_results_in_order_and_work_runs_at_the_same_time(threads):
    barrier = threading.Barrier(threads, timeout=10)   # passes only if 3 items run at once

    def item(i):
        barrier.wait()
        return i * i, threading.get_ident()
    out = cpu_threads.parallel_map(item, range(threads))
    assert [r for r, _ in out] == [0, 1, 4]
    assert len({t for _, t in out}) == threads
    assert cpu_threads.parallel_map(lambda i: -i, range(50)) == [-i for i in range(50)]


def test_an_error_is_raised_after_the_other_items_finish(threads):
    done = []

    def item(i):
        if i == 3:
            raise KeyError("item 3")
        done.append(i)
    with pytest.raises(KeyError, match="item 3"):
        cpu_threads.parallel_map(item, range(20))
    assert sorted(done) == [i for i in range(20) if i != 3]
    assert cpu_threads.parallel_map(lambda i: i + 1, range(4)) == [1, 2, 3, 4]   # still usable


def test_nested_maps_run_in_the_calling_thread(threads):
    def outer(i):
        me = threading.get_ident()
        inner = cpu_threads.parallel_map(lambda j: (i, j, threading.get_ident() == me), range(3))
        return inner
    out = cpu_threads.parallel_map(outer, range(4))
    assert [[(i, j) for i, j, _ in row] for row in out] == [[(i, j) for j in range(3)] for i in range(4)]
    assert all(same for row in out for _, _, same in row)


def test_one_thread_runs_everything_in_the_caller():
    before = cpu_threads.get_num_threads()
    cpu_threads.set_num_threads(1)
    try:
        me = threading.get_ident()
        assert cpu_threads.parallel_map(lambda i: threading.get_ident(), range(5)) == [me] * 5
    finally:
        cpu_threads.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_set_num_threads_refuses_bad_values(bad):
    with pytest.raises(ValueError, match="set_num_threads"):
        cpu_threads.set_num_threads(bad)


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("TINYGAN_NUM_THREADS", "3")
    assert cpu_threads._from_environment() == 3
    monkeypatch.delenv("TINYGAN_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpu_threads._from_environment() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")          # OpenMP's nested form: the outer level
    assert cpu_threads._from_environment() == 4
    for bad in ("0", "two"):
        monkeypatch.setenv("TINYGAN_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="TINYGAN_NUM_THREADS"):
            cpu_threads._from_environment()


@pytest.mark.parametrize("total,parts", [(64, 2), (64, 3), (7, 8), (1, 1), (10, 10)])
def test_split_covers_the_range_evenly(total, parts):
    slices = cpu_threads.split(total, parts)
    sizes = [s.stop - s.start for s in slices]
    assert slices[0].start == 0 and slices[-1].stop == total
    assert all(a.stop == b.start for a, b in zip(slices, slices[1:]))
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert len(slices) == min(parts, total)


def test_for_rows_splits_only_large_work(threads, monkeypatch):
    monkeypatch.setattr(cpu_threads, "PARALLEL_MIN", 1000)     # (the fixture restores it after)
    assert cpu_threads.for_rows(lambda sl: sl, 10, 999) == [slice(0, 10)]
    assert cpu_threads.for_rows(lambda sl: sl, 10, 1000) == cpu_threads.split(10, threads)


# -- the ops: the same results on three threads as on one -------------------------------
def _rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("case", ["conv", "conv_1ch", "conv_transpose", "conv_transpose_1ch", "conv_3x3"])
def test_convolutions_match_one_thread(threads, case):
    x_shape, w_shape, kw = {
        "conv": ((5, 8, 14, 14), (16, 8, 4, 4), dict(stride=2, padding=1)),
        "conv_1ch": ((5, 1, 12, 12), (8, 1, 4, 4), dict(stride=2, padding=1)),
        "conv_transpose": ((5, 16, 7, 7), (16, 8, 4, 4), dict(stride=2, padding=1)),
        "conv_transpose_1ch": ((5, 8, 7, 7), (8, 1, 4, 4), dict(stride=2, padding=1)),
        "conv_3x3": ((3, 8, 20, 20), (8, 8, 3, 3), dict(padding=1)),
    }[case]
    transpose = "transpose" in case
    op = F.conv_transpose2d if transpose else F.conv2d
    x0, w0 = _rand(*x_shape, seed=1), _rand(*w_shape, seed=2)
    b0 = _rand(w_shape[1] if transpose else w_shape[0], seed=4)

    def run(x0, w0, b0):
        x, w = tinygan.tensor(x0, requires_grad=True), tinygan.tensor(w0, requires_grad=True)
        b = tinygan.tensor(b0, requires_grad=True)
        y = op(x, w, b, **kw)                   # the bias is added in place, split by rows
        r = _rand(*y.shape, seed=3, dtype=x0.dtype)
        (y * tinygan.tensor(np.abs(r) if x0.dtype == np.float64 else r)).sum().backward()
        return y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()
    one, three = _both(lambda: run(x0, w0, b0))
    # Chunks of one sample: the GEMMs have other shapes, so BLAS may round differently, and a
    # weight gradient's chunks are added in a new order.  The same step on |x|, |w|, |b| (and
    # |r|) in float64 gives every sum's sum of |terms|; the longest sums have n terms.
    magnitudes = run(*(np.abs(a).astype(np.float64) for a in (x0, w0, b0)))
    taps, (n, _, h, w) = w_shape[2] * w_shape[3], x_shape
    pixels = n * max(h * w, one[0].shape[2] * one[0].shape[3])
    terms = {"y": x_shape[1] * taps + 1,                              # in channels x taps, + bias
             "x.grad": w_shape[1 if transpose else 0] * taps,          # out channels x taps
             "w.grad": pixels, "b.grad": pixels}                       # the batch's pixels
    for name, a, b, m in zip(terms, three, one, magnitudes):
        assert_within(a, b, sum_tolerance(m, terms[name], np.float32), f"{case} {name}")


def test_convolution_derivatives_to_second_order(threads):
    x = tinygan.tensor(_rand(3, 8, 6, 6, seed=4, dtype=np.float64), requires_grad=True)
    w = tinygan.tensor(_rand(4, 8, 3, 3, seed=5, dtype=np.float64), requires_grad=True)
    fn = lambda x, w: F.conv2d(x, w, stride=2, padding=1)   # noqa: E731
    assert gradcheck(fn, (x, w))
    assert gradgradcheck(fn, (x, w))
    wt = tinygan.tensor(_rand(4, 8, 4, 4, seed=6, dtype=np.float64), requires_grad=True)
    z = tinygan.tensor(_rand(3, 4, 3, 3, seed=7, dtype=np.float64), requires_grad=True)
    fn_t = lambda z, w: F.conv_transpose2d(z, w, stride=2, padding=1)   # noqa: E731
    assert gradcheck(fn_t, (z, wt))
    assert gradgradcheck(fn_t, (z, wt))


def _batch_norm_sum_order_bounds(x, w, b, gy, dtype=np.float32):
    """Bounds on how far batch norm's y, x.grad, w.grad, b.grad (float32) may move when its
    per-channel sums are added in another order -- all that differs between one thread and
    three; the elementwise steps around them are the same formula.

    Per channel, over its n values: S1 = sum x (the mean), S2 = sum d^2 (d = x - mu),
    S3 = sum gy, S4 = sum gy d.  Each may move by sum_tolerance(sum |terms|, n), plus what
    the moved mean does to the centred terms; the changes are carried to the outputs to first
    order (ops/norm.py's formulas: y = d inv w + b, inv = (S2/n + eps)^-1/2, b.grad = S3,
    w.grad = S4 inv, x.grad = a gy + B d + C with a = w inv, B = -a inv^2 S4 / n,
    C = -a S3 / n), plus an ulp of each elementwise result, whose inputs have moved.
    """
    x, gy = x.astype(np.float64), gy.astype(np.float64)
    c = x.shape[1]
    axes, n = (0, 2, 3), x.size // c
    keep = lambda v: np.asarray(v).reshape(1, c, 1, 1)            # noqa: E731
    tol = lambda abs_sum: sum_tolerance(abs_sum, n, dtype)         # noqa: E731
    u = eps(dtype)
    w, b = keep(w.astype(np.float64)), keep(b.astype(np.float64))
    mu = x.mean(axes, keepdims=True)
    d = x - mu
    s2, s3, s4 = (d * d).sum(axes, keepdims=True), gy.sum(axes, keepdims=True), (gy * d).sum(axes, keepdims=True)
    inv = 1 / np.sqrt(s2 / n + 1e-5)
    d_mu = tol(np.abs(x).sum(axes, keepdims=True)) / n
    d_s2 = tol(s2) + 2 * np.abs(d).sum(axes, keepdims=True) * d_mu
    d_inv = inv ** 3 / 2 * d_s2 / n
    d_s3 = tol(np.abs(gy).sum(axes, keepdims=True))
    d_s4 = tol(np.abs(gy * d).sum(axes, keepdims=True)) + np.abs(gy).sum(axes, keepdims=True) * d_mu
    y = d * inv * w + b
    dy = np.abs(w) * (inv * d_mu + np.abs(d) * d_inv) + 2 * u * (np.abs(y) + np.abs(b))
    a, bb, cc = w * inv, -w * inv ** 3 * s4 / n, -w * inv * s3 / n
    d_a = np.abs(w) * d_inv
    d_bb = np.abs(w) * (3 * inv ** 2 * d_inv * np.abs(s4) + inv ** 3 * d_s4) / n
    d_cc = (d_a * np.abs(s3) + np.abs(a) * d_s3) / n
    dgx = (d_a * np.abs(gy) + d_bb * np.abs(d) + np.abs(bb) * d_mu + d_cc
           + 3 * u * (np.abs(a * gy) + np.abs(bb * d) + np.abs(cc)))
    dgw = d_s4 * inv + np.abs(s4) * d_inv + u * np.abs(s4 * inv)
    return dy, dgx, dgw.reshape(c), d_s3.reshape(c)


def test_batch_norm_matches_one_thread_and_its_derivatives(threads):
    x0, g0 = _rand(7, 6, 5, 5, seed=8), _rand(7, 6, 5, 5, seed=9)
    w0, b0 = _rand(6, seed=10), _rand(6, seed=11)

    def run():
        x = tinygan.tensor(x0, requires_grad=True)
        w, b = tinygan.tensor(w0, requires_grad=True), tinygan.tensor(b0, requires_grad=True)
        y = F.batch_norm(x, None, None, w, b, training=True)
        (y * tinygan.tensor(g0)).sum().backward()
        return y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()
    bounds = _batch_norm_sum_order_bounds(x0, w0, b0, g0)
    for name, one, three, bound in zip(("y", "x.grad", "w.grad", "b.grad"), *_both(run), bounds):
        assert_within(three, one, bound, f"batch norm {name}")
    x = tinygan.tensor(_rand(5, 3, 4, 4, seed=12, dtype=np.float64), requires_grad=True)
    w = tinygan.tensor(_rand(3, seed=13, dtype=np.float64), requires_grad=True)
    b = tinygan.tensor(_rand(3, seed=14, dtype=np.float64), requires_grad=True)
    fn = lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)   # noqa: E731
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_per_channel_sums_of_a_bias_gradient(threads):
    # sum_to (N, C, H, W) -> (C, 1, 1) and (1, C, 1, 1): einsums, per-thread partial sums
    x0 = _rand(6, 5, 4, 3, seed=40, dtype=np.float64)
    for shape in ((5, 1, 1), (1, 5, 1, 1)):
        got = tinygan.ops.shape.sum_to(tinygan.tensor(x0), shape).numpy()
        bound = sum_tolerance(np.abs(x0).sum((0, 2, 3)), 6 * 4 * 3, np.float64).reshape(shape)
        assert_within(got, x0.sum((0, 2, 3)).reshape(shape), bound, f"sum_to {shape}")


def test_a_bias_of_another_dtype_is_promoted_not_added_in_place():
    x = tinygan.tensor(_rand(2, 3, 6, 6, seed=41))
    w = tinygan.tensor(_rand(4, 3, 3, 3, seed=42))
    b = tinygan.tensor(_rand(4, seed=43, dtype=np.float64))
    y = F.conv2d(x, w, b)
    assert y.dtype == np.float64
    # The float32 convolution may be rounded differently from the reference's (sums of 27 terms).
    magnitude = F.conv2d(*(tinygan.tensor(np.abs(t.numpy()).astype(np.float64)) for t in (x, w))).numpy()
    assert_within(y.numpy(), F.conv2d(x, w).numpy() + b.numpy()[None, :, None, None],
                  sum_tolerance(magnitude, 3 * 3 * 3 + 1, np.float32), "conv2d + float64 bias")


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "add_bias", "mul", "sub"])
def test_elementwise_ops_match_one_thread_exactly(threads, name):
    x0, b0, g0 = _rand(9, 4, 5, 3, seed=15), _rand(1, 4, 1, 3, seed=16), _rand(9, 4, 5, 3, seed=17)
    fn = {"relu": lambda x, b: tinygan.relu(x),
          "leaky_relu": lambda x, b: F.leaky_relu(x, 0.2),
          "add_bias": lambda x, b: x + b,
          "mul": lambda x, b: x * b,
          "sub": lambda x, b: b - x}[name]

    def run(x0, b0, g0):
        x, b = tinygan.tensor(x0, requires_grad=True), tinygan.tensor(b0, requires_grad=True)
        y = fn(x, b)
        (y * tinygan.tensor(g0)).sum().backward()
        return y.detach().numpy(), x.grad.numpy(), None if b.grad is None else b.grad.numpy()
    (y1, gx1, gb1), (y3, gx3, gb3) = _both(lambda: run(x0, b0, g0))
    # exact: every element is the same IEEE operation on the same inputs, whatever the split
    np.testing.assert_array_equal(y3, y1)
    np.testing.assert_array_equal(gx3, gx1)
    if gb1 is not None:        # b's gradient sums 9 x 5 products per element, per-thread partial sums
        _, _, magnitude = run(*(np.abs(a).astype(np.float64) for a in (x0, b0, g0)))
        assert_within(gb3, gb1, sum_tolerance(magnitude, 9 * 5, np.float32), f"{name} b.grad")
    xn = x0.astype(np.float64)
    expected = {"relu": np.maximum(xn, 0), "leaky_relu": np.where(xn > 0, xn, 0.2 * xn),
                "add_bias": xn + b0, "mul": xn * b0, "sub": b0 - xn}[name]
    # and right, not just the same: one float32 rounding per element, relative to the result
    np.testing.assert_allclose(y3, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("act, dim, clamp", [("lrelu", 1, None), ("tanh", 1, 0.5), ("swish", 0, None),
                                             ("sigmoid", 2, None), ("linear", 1, 0.3)])
def test_bias_act_matches_one_thread_exactly_to_second_order(threads, act, dim, clamp):
    # bias_act's passes share a large array's rows among the threads: every element gets the
    # same IEEE operations whatever the split, so the output and both derivatives are the same
    # arrays (b's gradient is a sum over the other axes, split into per-thread partial sums)
    x0, g0, v0 = _rand(5, 4, 6, seed=30), _rand(5, 4, 6, seed=31), _rand(5, 4, 6, seed=32)
    b0 = _rand((5, 4, 6)[dim], seed=33)

    def run():
        x, b = tinygan.tensor(x0, requires_grad=True), tinygan.tensor(b0, requires_grad=True)
        y = F.bias_act(x, b, dim=dim, act=act, clamp=clamp)
        gx, gb = tinygan.grad((y * tinygan.tensor(g0)).sum(), [x, b], create_graph=True)
        ggx, = tinygan.grad((gx * tinygan.tensor(v0)).sum(), [x])
        return tuple(t.detach().numpy() for t in (y, gx, ggx, gb))
    one, three = _both(run)
    for name, a1, a3 in zip(("y", "x.grad", "x.grad's gradient"), one[:3], three[:3]):
        np.testing.assert_array_equal(a3, a1, err_msg=f"bias_act {act}: {name}")
    n_terms = x0.size // b0.size
    assert_within(three[3], one[3], sum_tolerance(np.abs(g0).sum() * np.ones_like(b0) * 2, n_terms,
                                                  np.float32), f"bias_act {act}: b.grad")


def test_activation_of_a_transposed_input(threads):
    x0 = _rand(30, 40, seed=18).T                     # not C-contiguous
    y = F.leaky_relu(tinygan.tensor(x0), 0.1).numpy()
    # exact: one IEEE multiplication by float32(0.1) per element, or the element itself
    np.testing.assert_array_equal(y, np.where(x0 > 0, x0, np.float32(0.1) * x0))


@pytest.mark.parametrize("shapes", [((16, 1), (1, 40)), ((12, 6), (6, 9)), ((3, 6), (6, 20)),
                                    ((2, 5, 1), (2, 1, 7))])
def test_matmul_shortcuts_match_numpy(threads, shapes):
    a0, b0 = _rand(*shapes[0], seed=19, dtype=np.float64), _rand(*shapes[1], seed=20, dtype=np.float64)
    a, b = tinygan.tensor(a0, requires_grad=True), tinygan.tensor(b0, requires_grad=True)
    assert_within((a @ b).detach().numpy(), a0 @ b0, product_tolerance(a0, b0), f"{shapes}")
    assert gradcheck(lambda a, b: a @ b, (a, b))
    assert gradgradcheck(lambda a, b: a @ b, (a, b))


def test_linear_matches_one_thread(threads):
    x0, w0 = _rand(10, 20, seed=21), _rand(30, 20, seed=22)
    one, three = _both(lambda: F.linear(tinygan.tensor(x0), tinygan.tensor(w0)).numpy())
    # Three column blocks against one GEMM: BLAS picks its kernels by block shape and CPU.
    assert_within(three, one, product_tolerance(x0, w0.T), "three threads vs one")
    assert_within(three, x0.astype(np.float64) @ w0.T.astype(np.float64), product_tolerance(x0, w0.T),
                  "three threads vs float64")


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_steps_match_one_thread_exactly(threads, amsgrad):
    def run():
        p = tinygan.tensor(_rand(40, 7, seed=23), requires_grad=True)
        opt = optim.Adam([p], lr=1e-2, betas=(0.5, 0.999), amsgrad=amsgrad, weight_decay=1e-3)
        for k in range(3):
            p.grad = tinygan.tensor(_rand(40, 7, seed=30 + k))
            opt.step()
        return p.detach().numpy()
    one, three = _both(run)
    # exact: Adam's step is elementwise, each element the same IEEE operations whatever the split
    np.testing.assert_array_equal(three, one)


def test_a_dcgan_step_matches_one_thread(threads):
    # The whole D step -- G's fakes, D on both batches, backward, Adam, then D again -- gives
    # the same losses up to the rounding of re-ordered sums and re-blocked GEMMs.  In float64:
    # Adam's first step moves every weight by about lr whatever the size of its gradient, so
    # in float32 a gradient within rounding of zero may step the other way, a change no
    # rounding bound of the sums covers.  In float64 the longest sum, D's last layer
    # (128*7*7 terms w_j h_j), is off by at most sum_tolerance(sum |w_j h_j|, 6272), and the
    # loss (a mean of BCEs, each 1-Lipschitz in its logit) by no more; ten times that leaves
    # room for the layers before it, whose errors reach the logit through sums no longer.
    from tinygan.models import FAMILIES

    def run():
        tinygan.manual_seed(0)
        model = FAMILIES["dcgan"]().to(dtype=tinygan.float64)
        d_opt = optim.Adam(model.d_parameters(), lr=2e-4, betas=(0.5, 0.999))
        real = tinygan.tensor(_rand(64, 1, 28, 28, seed=24, dtype=np.float64).clip(-1, 1))
        losses = []
        for _ in range(2):
            loss_d, _ = model.d_loss(real, None)
            d_opt.zero_grad()
            loss_d.backward()
            d_opt.step()
            losses.append(float(loss_d))
        with tinygan.no_grad():
            h, w = model.D[:-1](real).numpy(), model.D[-1].weight.detach().numpy()
        return losses, (np.abs(h) @ np.abs(w).T).max()
    (one, terms), (three, _) = _both(run)
    assert_within(three, one, sum_tolerance(terms, 128 * 7 * 7, np.float64, factor=20),
                  "D losses")


@pytest.mark.skipif(cpu_threads.blas_threads() == 0, reason="NumPy's BLAS here is not OpenBLAS")
def test_blas_gets_one_thread_while_the_pool_runs_and_its_own_count_back_after():
    before = cpu_threads.get_num_threads()
    original = cpu_threads.blas_threads()
    try:
        cpu_threads.set_num_threads(1)
        cpu_threads._blas_threads_everywhere(2)          # as a 2-thread OpenBLAS starts
        assert cpu_threads.blas_threads() == 2
        cpu_threads.set_num_threads(2)
        cpu_threads.parallel_map(lambda i: i, range(4))  # starts the pool
        assert cpu_threads.blas_threads() == 1           # no OpenBLAS workers spinning beside it
        cpu_threads.set_num_threads(1)
        assert cpu_threads.blas_threads() == 2
    finally:
        cpu_threads.set_num_threads(before)
        cpu_threads._blas_threads_everywhere(original)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
def test_a_forked_child_starts_its_own_helpers():
    import os
    before = cpu_threads.get_num_threads()
    cpu_threads.set_num_threads(2)
    try:
        cpu_threads.parallel_map(lambda i: i, range(4))          # the parent's helper is running
        pid = os.fork()
        if pid == 0:      # the child: two items that can only finish together, on two threads
            barrier = threading.Barrier(2, timeout=5)
            try:
                ok = cpu_threads.parallel_map(lambda i: (barrier.wait(), i)[1], range(2)) == [0, 1]
            except threading.BrokenBarrierError:
                ok = False                                       # only one thread ran them
            os._exit(0 if ok else 1)
        deadline = __import__("time").monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if __import__("time").monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child's parallel_map did not finish in 20 s")
            __import__("time").sleep(0.05)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        cpu_threads.set_num_threads(before)
