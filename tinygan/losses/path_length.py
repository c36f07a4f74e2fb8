"""Path length regularization (StyleGAN2, Karras et al. 2020, sec. 3.2, eq. 4).

A fixed-size step in W should change the image by a fixed amount, whatever the
direction of the step and wherever in W it starts.  The Jacobian J_w = dg(w)/dw
then has orthogonal columns of one common length, and the generator is smoother
and easier to invert.  Eq. 4 asks for it on random image-space directions y:

    E_{w, y ~ N(0, I)} ( ||J_w^T y||_2 - a )^2                        (eq. 4)

where ``a`` is a running average of the lengths ||J_w^T y||_2 (the paper's
"long-running exponential moving average"), so the penalty does not fix the
scale, only its spread.  J_w^T y needs no Jacobian: it is the gradient of the
scalar <g(w), y> with respect to w, one backward pass (taken with
``create_graph=True``, so that ``backward()`` of the penalty reaches the
generator's weights -- a second derivative).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor, enable_grad, grad
from ..creation import randn
from .checks import check_float_tensor, check_number


def _check_arguments(fake_images, ws, op: str) -> None:
    check_float_tensor(fake_images, "fake_images", op)
    check_float_tensor(ws, "ws", op)
    if fake_images.ndim != 4 or fake_images.shape[0] == 0:
        raise ValueError(f"{op}: fake_images must be a batch of images (N, C, H, W) with N >= 1, "
                         f"got shape {tuple(fake_images.shape)}")
    if ws.ndim not in (2, 3) or ws.shape[0] != fake_images.shape[0] or 0 in ws.shape:
        raise ValueError(f"{op}: ws must be the generator's latents, (N, num_ws, w_dim) or "
                         f"(N, w_dim) with N = {fake_images.shape[0]} as in fake_images "
                         f"{tuple(fake_images.shape)}, got shape {tuple(ws.shape)}")
    if not ws.requires_grad:
        raise ValueError(f"{op}: ws {tuple(ws.shape)} does not require grad; the fake images must "
                         f"be computed from ws with the graph recorded (ws.requires_grad_() before "
                         f"calling the synthesis network)")
    if not fake_images.requires_grad:
        raise ValueError(f"{op}: fake_images {tuple(fake_images.shape)} has no graph back to ws "
                         f"(computed under no_grad, or detached?); compute them from ws with "
                         f"gradients enabled")


def _as_mean(pl_mean, like: Tensor, op: str) -> Tensor:
    """The running mean as a detached 0-d tensor of ``like``'s dtype and device."""
    if isinstance(pl_mean, Tensor):
        if pl_mean.ndim != 0:
            raise ValueError(f"{op}: pl_mean must be 0-d (one running mean), got shape "
                             f"{tuple(pl_mean.shape)}")
        return pl_mean.detach().to(dtype=like.dtype, device=like.device)
    if isinstance(pl_mean, np.ndarray):
        if pl_mean.ndim != 0:
            raise ValueError(f"{op}: pl_mean must be 0-d (one running mean), got shape "
                             f"{pl_mean.shape}")
        pl_mean = float(pl_mean)
    value = check_number(pl_mean, "pl_mean", op, minimum=0.0)
    return Tensor(np.asarray(value, dtype=like.dtype)).to(device=like.device)


def path_length_penalty(fake_images: Tensor, ws: Tensor, pl_mean, decay: float = 0.01, *,
                        noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """StyleGAN2's path length penalty (sec. 3.2, eq. 4) and the updated running mean.

    With y ~ N(0, I) / sqrt(H W), one draw per pixel, and ws of shape (N, L, w_dim)
    (L = num_ws, the copies of w fed to the synthesis layers)::

        g_i       = grad_{w_i} sum_j <fake_j, y_j>          = J_{w_i}^T y_i   (N, L, w_dim)
        length_i  = sqrt( 1/L sum_l sum_k g_i[l, k]^2 )                         (N,)
        a'        = a + decay * (mean_i length_i - a)       (a lerp: the moving average)
        penalty   = mean_i (length_i - a')^2                                    (eq. 4)

    Sample j's image depends on w_j only, so the gradient of the batch sum splits
    into one J^T y per sample.  Dividing y by sqrt(H W) keeps the lengths
    independent of the image resolution (||y|| ~ sqrt(C)), and averaging over the
    L layers (rather than summing) keeps them independent of num_ws; both follow
    the StyleGAN2 reference code.  For ws of shape (N, w_dim), L = 1.

    As in the reference code, the penalty is taken against the *updated* mean a',
    which carries a graph through mean_i length_i (a gradient of weight ``decay``);
    the returned new mean is detached: it is state, not a parameter.  The caller
    multiplies the penalty by its weight (pl_weight, 2 in StyleGAN2) and, when it
    is applied every k-th step, by k (see ``lazy_regularization``).

    Args:
        fake_images: (N, C, H, W), the generator's output computed from ``ws`` with the
            graph recorded.
        ws: (N, num_ws, w_dim) or (N, w_dim), with ``requires_grad``.
        pl_mean: the running mean a of the lengths: a 0-d Tensor, a 0-d NumPy array or a
            number (0 before the first step, as in the reference code).  The caller keeps
            it, and it belongs in the checkpoint.
        decay: the moving average's weight on the new batch (pl_decay, 0.01).
        noise: (N, C, H, W) standard normal draws for y before the 1/sqrt(H W) scale, or
            None to draw them with tinygan's seeded generator on the images' device.
    Returns:
        (penalty, new_pl_mean): 0-d tensors; the penalty differentiable with respect to
        everything ``fake_images`` depends on, to second order.
    """
    op = "path_length_penalty"
    _check_arguments(fake_images, ws, op)
    decay = check_number(decay, "decay", op, minimum=0.0)
    if decay > 1.0:
        raise ValueError(f"{op}: decay must lie in [0, 1] (the moving average's weight on the "
                         f"new batch), got {decay!r}")
    mean = _as_mean(pl_mean, fake_images, op)
    n, c, h, w = fake_images.shape
    if noise is None:
        noise = randn(n, c, h, w, dtype=fake_images.dtype, device=fake_images.device)
    elif not isinstance(noise, Tensor) or tuple(noise.shape) != tuple(fake_images.shape):
        shape = tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__
        raise ValueError(f"{op}: noise must be a Tensor of the images' shape "
                         f"{tuple(fake_images.shape)}, got {shape}")
    y = noise.detach() / math.sqrt(h * w)
    with enable_grad():          # evaluable under no_grad too (for logging)
        (g,) = grad((fake_images * y).sum(), ws, create_graph=True)
        g = g.reshape(n, -1, ws.shape[-1])                                   # (N, L, w_dim)
        lengths = (g * g).sum(2).mean(1).sqrt()                              # (N,)
        new_mean = mean + decay * (lengths.mean() - mean)                    # lerp(a, mean, decay)
        d = lengths - new_mean
        penalty = (d * d).mean()
    return penalty, new_mean.detach()

