"""kernels/batch_norm.cu's ``batch_norm_update_running`` against its twin,
reference.batch_norm_update_running (the formula), in the CPU emulator.

Channels 1, 3 and 300 (more than one block of 256 threads, and not a multiple of it, so the
bounds check of the grid-stride loop is exercised; with 32 threads, ten blocks), float32 and
float64, momentum 0.1 and 0.9.  Each updated value is keep * r + momentum * (var * correction):
one rounding for var * correction, two products and a sum (fewer with a fused multiply-add),
so the kernel and the twin differ by at most 4 roundings of the terms' magnitudes (times
FACTOR).  The op's path through this kernel (F.batch_norm's running statistics with the kernels
serving it) is tested in test_batch_norm_kernel.py's ``test_batch_norm_op_served_by_the_kernels``.
"""
from __future__ import annotations

import numpy as np
import pytest

from tinygan.kernels import batch_norm, emulator, reference

from tolerances import FACTOR, eps


def emulated(name):
    return emulator.function(batch_norm.SOURCE, name)


def _stats(c, dtype, seed):
    rng = np.random.default_rng(seed)
    running_mean = rng.standard_normal(c).astype(dtype)
    running_var = rng.uniform(0.5, 2.0, c).astype(dtype)
    mean = (rng.standard_normal((1, c, 1, 1)) * 3).astype(dtype)     # the forward's shape
    var = rng.uniform(0.0, 4.0, (1, c, 1, 1)).astype(dtype)
    return running_mean, running_var, mean, var


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
@pytest.mark.parametrize("c,threads", [(1, 256), (3, 256), (300, 256), (300, 32)])
@pytest.mark.parametrize("momentum", [0.1, 0.9])
def test_update_matches_the_formula(c, threads, dtype, momentum):
    rm, rv, mean, var = _stats(c, dtype, c + threads)
    count = 37
    correction = count / (count - 1)
    want_mean, want_var = reference.batch_norm_update_running(
        rm.astype(np.float64), rv.astype(np.float64), mean.astype(np.float64),
        var.astype(np.float64), momentum, correction)
    magnitude_mean = (1 - momentum) * np.abs(rm) + momentum * np.abs(mean.reshape(c))
    magnitude_var = (1 - momentum) * np.abs(rv) + momentum * np.abs(var.reshape(c)) * correction
    batch_norm.launch_update_running(emulated, rm, rv, mean, var, momentum, correction, threads)
    assert rm.dtype == dtype and rv.dtype == dtype
    for got, want, magnitude, what in ((rm, want_mean, magnitude_mean, "running_mean"),
                                       (rv, want_var, magnitude_var, "running_var")):
        bound = FACTOR * 4 * eps(dtype) * magnitude
        diff = np.abs(got.astype(np.float64) - want)
        assert (diff <= bound).all(), f"{what}: worst {diff.max():.3g} against {bound[diff.argmax()]:.3g}"


def test_update_moves_the_statistics():
    """The control: the update changes every channel (a kernel that wrote nothing would pass a
    comparison of stale arrays only if the twin also did nothing, which it doesn't)."""
    rm, rv, mean, var = _stats(5, np.float32, 1)
    before = rm.copy(), rv.copy()
    batch_norm.launch_update_running(emulated, rm, rv, mean, var, 0.5, 2.0)
    assert (rm != before[0]).all() and (rv != before[1]).all()


@pytest.mark.parametrize("how", ["schedule=forward", "schedule=reverse", "sanitize=thread",
                                 "sanitize=address"])
def test_update_under_the_emulator_checks(how):
    """An index past the arrays' end (AddressSanitizer) or a race (ThreadSanitizer) is caught;
    the result has the same bits as the plain run."""
    key, value = how.split("=")
    module = emulator.load(batch_norm.SOURCE, batch_norm.NAMES, **{key: value})
    for c in (3, 45):
        first, second = _stats(c, np.float32, 2), _stats(c, np.float32, 2)
        batch_norm.launch_update_running(module.get_function, *first, 0.1, 1.25, 32)
        batch_norm.launch_update_running(emulated, *second, 0.1, 1.25, 32)
        np.testing.assert_array_equal(first[0], second[0])   # exact: the same operations
        np.testing.assert_array_equal(first[1], second[1])   # exact: the same operations


def test_bad_input_is_named():
    rm, rv, mean, var = _stats(3, np.float32, 3)
    with pytest.raises(ValueError, match=r"batch_norm running statistics: expected running_mean "
                                         r"and running_var of one shape \(C,\).* float32 \(3,\) and float64 \(3,\)"):
        batch_norm.launch_update_running(emulated, rm, rv.astype(np.float64), mean, var, 0.1, 1.0)
    with pytest.raises(ValueError, match=r"batch_norm running statistics: var has shape \(1, 2, 1, 1\), "
                                         r"expected 3 values"):
        batch_norm.launch_update_running(emulated, rm, rv, mean, var[:, :2], 0.1, 1.0)
    with pytest.raises(ValueError, match=r"batch_norm running statistics: running_mean and running_var "
                                         r"must be contiguous"):
        batch_norm.launch_update_running(emulated, np.zeros(6, np.float32)[::2], rv, mean, var, 0.1, 1.0)
