"""Self-attention over the positions of a feature map: SAGAN (Zhang et al. 2019), as in BigGAN.

A convolution sees only a small window, so a generator drawing one side of a digit has no
direct way to look at the other side.  Self-attention lets every position j of a feature map
x (C channels, H x W positions) read a weighted average of the features at *all* positions i,
with weights it computes itself (SAGAN, eq. 1-3; BigGAN's reference code's names, SAGAN's
letters in brackets)::

    theta = W_theta x   (C/8 channels: the queries, SAGAN's g(x_j))
    phi   = W_phi x     (C/8 channels: the keys, SAGAN's f(x_i))
    g     = W_g x       (C/2 channels: the values, SAGAN's h(x_i))

    s_ji    = theta_j . phi_i                              (SAGAN's s_ij = f(x_i)^T g(x_j))
    beta_ji = exp(s_ji) / sum_i' exp(s_ji')                 (eq. 1: softmax over the positions i)
    o_j     = W_o ( sum_i beta_ji g_i )                     (eq. 2: W_o, SAGAN's v, back to C)
    y_j     = x_j + gamma o_j                               (eq. 3: gamma learned, starting at 0)

beta_ji is how much position j attends to position i when it is computed.  Every W is a 1x1
convolution without bias.  BigGAN's variant (its reference code) makes the values C/2
channels wide and max-pools the keys and values 2x2 before the products, so each of the H*W
queries attends to H*W/4 keys, one per 2x2 block: the (H*W) x (H*W/4) map costs a quarter of
the full one.

gamma starts at 0, so a fresh block is the identity: the network first relies on its
convolutions' local cues and learns to weigh in the non-local evidence as gamma grows
(SAGAN, sec. 3, after eq. 3).
"""
from __future__ import annotations

from ..autograd import Tensor
from ..creation import zeros
from ..ops.math import matmul
from . import functional as F
from ._utils import _float_dtype
from .conv import Conv2d
from .module import Module
from .parameter import Parameter


class SelfAttention2d(Module):
    """y = x + gamma * o, o the attention read-out of SAGAN eq. 1-2 (module docstring).

    Args:
        channels: C, a multiple of 8 (the queries and keys have C/8 channels, the values C/2).
        pooling: max-pool the keys and values 2x2 (BigGAN's variant; H and W must then be even).
            False: every position attends to every position, as in SAGAN's eq. 1 (the values
            stay C/2 wide).

    Children: ``theta``, ``phi`` (Conv2d C -> C/8, 1x1, no bias), ``g`` (Conv2d C -> C/2),
    ``o`` (Conv2d C/2 -> C), each an ordinary ``nn.Conv2d`` with PyTorch's default
    initialization (so ``spectral_norm`` and re-initializations apply to them as to any
    conv); ``gamma``, a scalar Parameter initialized to 0.

    Shapes: x ``(N, C, H, W)`` -> y ``(N, C, H, W)``.  ``forward(x, return_attention=True)``
    also returns the attention map ``beta`` ``(N, H*W, K)`` with K = H*W/4 when pooling
    (H*W otherwise): row ``j = h*W + w`` holds how much the position (h, w) reads from each
    key position (``k = h'*(W/2) + w'`` of the pooled grid); each row sums to 1, and
    ``beta[n, h*W + w].reshape(H // 2, W // 2)`` is the picture of where (h, w) looks.
    """

    def __init__(self, channels: int, pooling: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 8 \
                or channels % 8:
            raise ValueError(f"SelfAttention2d: channels must be a positive multiple of 8 (the "
                             f"queries and keys get channels/8, the values channels/2), got "
                             f"{channels!r}")
        self.channels = channels
        self.pooling = bool(pooling)
        kw = {"bias": False, "device": device, "dtype": dtype}
        self.theta = Conv2d(channels, channels // 8, 1, **kw)
        self.phi = Conv2d(channels, channels // 8, 1, **kw)
        self.g = Conv2d(channels, channels // 2, 1, **kw)
        self.o = Conv2d(channels // 2, channels, 1, **kw)
        self.gamma = Parameter(zeros((), dtype=_float_dtype(dtype), device=device))

    def _check_input(self, x) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"SelfAttention2d: expected a Tensor x of shape (N, {self.channels}, "
                            f"H, W), got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SelfAttention2d: expected x of shape (N, {self.channels}, H, W), "
                             f"got {tuple(x.shape)}")
        if self.pooling and (x.shape[2] % 2 or x.shape[3] % 2):
            raise ValueError(f"SelfAttention2d: the 2x2 pooling of the keys and values needs an "
                             f"even H and W, got x of shape {tuple(x.shape)} (or use "
                             f"pooling=False)")

    def forward(self, x: Tensor, return_attention: bool = False):
        """x (N, C, H, W) -> y (N, C, H, W), or (y, beta (N, H*W, K)) with ``return_attention``."""
        self._check_input(x)
        n, c, h, w = x.shape
        theta = self.theta(x)                                     # (N, C/8, H, W)
        phi, g = self.phi(x), self.g(x)                           # (N, C/8, H, W), (N, C/2, H, W)
        if self.pooling:
            phi, g = F.max_pool2d(phi, 2), F.max_pool2d(g, 2)     # (.., H/2, W/2)
        keys = phi.shape[2] * phi.shape[3]                        # K: H*W/4 pooled, H*W not
        theta = theta.reshape(n, c // 8, h * w)
        phi = phi.reshape(n, c // 8, keys)
        g = g.reshape(n, c // 2, keys)
        # s_ji = theta_j . phi_i for every query j and key i: (N, HW, C/8) @ (N, C/8, K).
        s = matmul(theta.transpose(1, 2), phi)                    # (N, HW, K)
        beta = F.softmax(s, dim=-1)                               # eq. 1: over the keys i
        # sum_i beta_ji g_i, as the columns of g @ beta^T: (N, C/2, K) @ (N, K, HW).
        read = matmul(g, beta.transpose(1, 2)).reshape(n, c // 2, h, w)
        y = x + self.gamma * self.o(read)                         # eq. 2 (W_o) and eq. 3
        return (y, beta) if return_attention else y

    def extra_repr(self) -> str:
        return f"{self.channels}, pooling={self.pooling}"
