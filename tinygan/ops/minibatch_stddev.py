"""Minibatch standard deviation: a discriminator feature that sees variety across samples.

Karras et al. 2018 ("Progressive Growing of GANs", sec. 3) give the discriminator, near its
end, one extra feature map: the standard deviation of the features over a small group of
samples, averaged into a single number.  A generator that collapses to one image makes that
number small, and the discriminator can tell.  StyleGAN2 keeps it with ``num_channels``
groups of channels (one statistic per channel group).  For x (N, C, H, W), G = min(group_size,
N), F = num_channels, and sample m = g*n + j (g < G the member, j < n = N/G the group):

    sigma[j, f] = mean_{c in channel group f, h, w} sqrt(Var_g(x[g*n + j, c, h, w]) + 1e-8)

where Var_g is the biased variance over the G members; sigma[j, f] is then broadcast over
H x W as channel C + f of every member of group j, and appended to x.
"""
from __future__ import annotations

from ..autograd import Tensor
from .shape import cat

STDDEV_EPS = 1e-8            # inside the square root, the reference code's value


def minibatch_stddev(x: Tensor, group_size: int = 4, num_channels: int = 1) -> Tensor:
    """Append num_channels feature maps of the within-group standard deviation.

    Args:
        x: (N, C, H, W).
        group_size: samples per group; min(group_size, N) is used, and N must be a
            multiple of it.
        num_channels: F, the number of channel groups (C must be a multiple of it), one
            statistic each.
    Returns:
        (N, C + F, H, W): x followed by the statistics.
    """
    op = "minibatch_stddev"
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"{op}: expected x of shape (N, C, H, W), got "
                         f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
    for name, v in (("group_size", group_size), ("num_channels", num_channels)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{op}: expected {name} to be an integer >= 1, got {v!r}")
    n_all, c, h, w = x.shape
    g = min(group_size, n_all)
    if n_all % g != 0:
        raise ValueError(f"{op}: the batch size {n_all} must be a multiple of the group size "
                         f"min(group_size={group_size}, N={n_all}) = {g}")
    f = num_channels
    if c % f != 0:
        raise ValueError(f"{op}: the {c} channels of x {tuple(x.shape)} must be a multiple of "
                         f"num_channels={f}")
    n = n_all // g
    y = x.reshape(g, n, f, c // f, h, w)            # sample g*n + j is member g of group j
    y = y - y.mean(dim=0)                           # deviation from the group mean
    y = ((y * y).mean(dim=0) + STDDEV_EPS) ** 0.5   # std over the group: (n, F, c/F, H, W)
    y = y.mean(dim=(2, 3, 4))                       # one number per group and channel group
    y = y.reshape(1, n, f, 1, 1).expand(g, n, f, h, w).reshape(n_all, f, h, w)
    return cat([x, y], dim=1)
