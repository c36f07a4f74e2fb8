"""tinygan.ops.minibatch_stddev: F.minibatch_stddev (Karras et al. 2018, sec. 3).

The forward pass against a NumPy reference written here with explicit loops over the
groups (sample g*n + j belongs to group j); the group size min(group_size, N); the first and
second derivatives in float64; and the errors for bad input.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
import tinygan.nn.functional as F
from tinygan.testing import gradcheck, gradgradcheck

from tests.tolerances import assert_within, eps


def np_minibatch_stddev(x, group_size, num_channels):
    n_all, c, h, w = x.shape
    g = min(group_size, n_all)
    n = n_all // g
    cf = c // num_channels
    stat = np.zeros((n_all, num_channels, h, w))
    for j in range(n):
        members = [m * n + j for m in range(g)]
        for f in range(num_channels):
            block = x[members, f * cf:(f + 1) * cf].astype(np.float64)     # (G, c/F, H, W)
            var = ((block - block.mean(axis=0)) ** 2).mean(axis=0)
            value = np.sqrt(var + 1e-8).mean()
            for m in members:
                stat[m, f] = value
    return np.concatenate([x, stat], axis=1)


CASES = [  # (N, C, H, W, group_size, num_channels)
    (8, 3, 4, 4, 4, 1),
    (4, 4, 3, 5, 4, 2),
    (6, 2, 2, 2, 4, 1),       # group size min(4, 6) = 4 does not divide 6 -> error case below
    (3, 2, 2, 3, 4, 1),       # group min(4, 3) = 3: the whole batch
    (6, 6, 2, 2, 2, 3),
    (5, 1, 2, 2, 1, 1),       # groups of one: the std is sqrt(1e-8)
]
GOOD = [c for c in CASES if c[0] % min(c[4], c[0]) == 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c,h,w,group_size,num_channels", GOOD)
def test_forward_matches_numpy(dtype, n, c, h, w, group_size, num_channels):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    y = F.minibatch_stddev(tinygan.tensor(x), group_size=group_size, num_channels=num_channels)
    assert y.shape == (n, c + num_channels, h, w) and y.dtype == dtype
    expected = np_minibatch_stddev(x, group_size, num_channels)
    # exact: the first C channels are x copied unchanged.
    np.testing.assert_array_equal(y.numpy()[:, :c], x)
    # Means over at most G and c*H*W terms, a square root: a few dozen roundings of values of
    # order max|x|.
    terms = min(group_size, n) + c * h * w
    assert_within(y.numpy(), expected, 4 * terms * eps(dtype) * np.abs(x).max(), "stddev")


def test_groups_are_strided_over_the_batch():
    """Sample g*n + j is in group j: a batch whose first half and second half are copies of
    each other (x[j] == x[n + j]) has zero variance in every group of two."""
    rng = np.random.default_rng(1)
    half = rng.standard_normal((3, 2, 2, 2))
    x = np.concatenate([half, half])
    y = F.minibatch_stddev(tinygan.tensor(x), group_size=2).numpy()
    np.testing.assert_allclose(y[:, 2], np.sqrt(1e-8), rtol=1e-12)
    y_adjacent = F.minibatch_stddev(tinygan.tensor(np.repeat(half, 2, axis=0)), group_size=2)
    assert (y_adjacent.numpy()[:, 2] > 1e-2).all()


@pytest.mark.parametrize("n,c,h,w,group_size,num_channels", [(4, 2, 2, 2, 2, 1), (4, 4, 2, 1, 4, 2),
                                                             (3, 1, 2, 2, 4, 1)])
def test_first_and_second_derivatives(n, c, h, w, group_size, num_channels):
    rng = np.random.default_rng(2)
    x = tinygan.tensor(rng.standard_normal((n, c, h, w)), requires_grad=True)

    def fn(x):
        return F.minibatch_stddev(x, group_size=group_size, num_channels=num_channels)

    assert gradcheck(fn, [x])
    assert gradgradcheck(fn, [x])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"minibatch_stddev: the batch size 6 must be a multiple "
                                         r"of the group size min\(group_size=4, N=6\) = 4"):
        F.minibatch_stddev(tinygan.zeros(6, 2, 2, 2))
    with pytest.raises(ValueError, match=r"minibatch_stddev: the 3 channels of x \(4, 3, 2, 2\) "
                                         r"must be a multiple of num_channels=2"):
        F.minibatch_stddev(tinygan.zeros(4, 3, 2, 2), num_channels=2)
    with pytest.raises(ValueError, match=r"minibatch_stddev: expected x of shape \(N, C, H, W\)"):
        F.minibatch_stddev(tinygan.zeros(4, 3, 2))
    with pytest.raises(ValueError, match=r"minibatch_stddev: expected group_size to be an integer"):
        F.minibatch_stddev(tinygan.zeros(4, 3, 2, 2), group_size=0)
