"""Normalization: batch_norm, instance_norm, layer_norm.

All three standardize the input over some axes and then apply an affine map
(Ioffe & Szegedy 2015, Alg. 1):

    mu     = mean(x)                       over the normalized axes
    sigma2 = mean((x - mu)^2)              (the biased variance)
    xhat   = (x - mu) / sqrt(sigma2 + eps)
    y      = gamma * xhat + beta

They differ only in the axes: batch norm over (N, *spatial) per channel,
instance norm over the spatial axes per sample and channel (Ulyanov et al.
2016), layer norm over the trailing ``normalized_shape`` axes (Ba et al. 2016).
So one ``Normalize`` Function does the work for all of them.

The second derivative.  ``Normalize.backward`` uses the closed form of the
gradient (Ioffe & Szegedy 2015, Sec. 3; with g = gy * gamma, means over the
normalized axes):

    dx = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(sigma2 + eps)

That formula depends on x through mu and 1/std.  When the backward pass is
recorded (``create_graph=True``, e.g. for WGAN-GP or R1), mu and 1/std are
recomputed from x with differentiable ops, so the second derivative sees how
they change.  Keeping the forward pass's 1/std as a constant there would
silently drop those terms -- DeZero's BatchNorm does, and gets the second
derivative wrong.  Only when nothing is recorded are the saved statistics
reused, which is then exact and saves recomputing them.
"""
from __future__ import annotations

from typing import Sequence


from .. import backend
from ..autograd import Function, Tensor, is_grad_enabled
from ..kernels import batch_norm as batch_norm_kernel
from .reduce import mean as _mean
from .shape import reshape, sum_to


def _moments(x: Tensor, axes: tuple, eps: float) -> tuple:
    """(mu, 1/sqrt(sigma2 + eps)) over ``axes`` (keepdim), as differentiable ops on ``x``."""
    mu = _mean(x, axes, keepdim=True)
    d = x - mu
    return mu, (_mean(d * d, axes, keepdim=True) + eps) ** -0.5


class Normalize(Function):
    """y = (x - mu) / sqrt(sigma2 + eps) * weight + bias, statistics over ``axes``.

    Inputs: ``x``; ``weight`` and ``bias`` broadcastable to x (e.g. (1, C, 1, 1)
    for batch norm, ``normalized_shape`` for layer norm).  After the forward
    pass ``self.mean`` and ``self.var`` hold the batch statistics (keepdim
    shape, biased variance) for the caller's running averages.

    Batch norm on float arrays runs the same formulas through
    ``kernels.batch_norm`` -- threaded NumPy passes on the CPU, the CUDA kernels of
    batch_norm.cu on CuPy arrays -- which returns None for everything else.  The
    kernels serve the forward pass and the backward pass when it is not recorded;
    a recorded backward (``create_graph=True``) is always the Tensor formulas below.
    """

    def __init__(self, axes: tuple, eps: float):
        self.axes, self.eps = axes, eps

    def forward(self, x, weight, bias):
        """Ioffe & Szegedy (2015), Alg. 1:

            mu     = mean(x)                       (over the normalized axes)
            sigma2 = mean((x - mu)^2)
            xhat   = (x - mu) / sqrt(sigma2 + eps)
            y      = gamma * xhat + beta
        """
        fast = batch_norm_kernel.normalize_forward(x, weight, bias, self.eps, self.axes)
        if fast is not None:
            y, self.mean, self.var, self.inv_std = fast
            return y
        xp = backend.get_array_module(x)
        mu = x.mean(axis=self.axes, keepdims=True)                      # mu
        d = x - mu
        var = (d * d).mean(axis=self.axes, keepdims=True)               # sigma2 (biased)
        self.mean, self.var = mu, var
        self.inv_std = 1.0 / xp.sqrt(var + self.eps)                    # 1 / sqrt(sigma2 + eps)
        # gamma / std first: for batch norm both are per channel, which saves a full pass.
        return d * (self.inv_std * weight) + bias                       # gamma xhat + beta

    def backward(self, gy):
        """Ioffe & Szegedy (2015), Sec. 3, with g = gy * gamma and means over the
        normalized axes:

            dx     = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(sigma2 + eps)
            dgamma = sum(gy * xhat)      (summed to gamma's shape)
            dbeta  = sum(gy)

        Written with Tensor ops, so a recorded backward (``create_graph=True``)
        can be differentiated again; see the module docstring for why mu and
        1/std are then recomputed from x.
        """
        x, weight, bias = self.inputs
        axes, (need_x, need_w, need_b) = self.axes, self.needs_input_grad
        if not is_grad_enabled():
            # Nothing is recorded: batch norm's arrays may take the kernels (same formulas;
            # on a GPU, batch_norm.cu's two reductions in one pass, then dx in one pass).
            fast = batch_norm_kernel.normalize_backward(x.data, gy.data, weight.data, bias.data,
                                                        self.mean, self.inv_std, axes,
                                                        self.needs_input_grad)
            if fast is not None:
                return tuple(None if g is None else Tensor(g) for g in fast)
            # The saved statistics are exact here (and one pass cheaper).
            mu, inv_std = Tensor(self.mean), Tensor(self.inv_std)
        else:
            # The backward pass is being recorded: mu and 1/std must stay functions of x.
            mu, inv_std = _moments(x, axes, self.eps)
        xhat = (x - mu) * inv_std
        gx = gw = gb = None
        lead = x.ndim - weight.ndim
        if all(a < lead or weight.shape[a - lead] == 1 for a in axes):
            # Batch / instance norm: gamma is constant over the normalized axes, so
            # mean(g) = gamma mean(gy) and mean(g xhat) = gamma mean(gy xhat); the same two
            # means give dgamma = n mean(gy xhat) and dbeta = n mean(gy).
            n = float(x.numel() // mu.numel())             # elements behind each statistic
            m_gy = _mean(gy, axes, keepdim=True)
            m_gy_xhat = _mean(gy * xhat, axes, keepdim=True)
            if need_x:
                gx = (weight * inv_std) * (gy - m_gy - xhat * m_gy_xhat)
            if need_w:
                gw = sum_to(m_gy_xhat * n, weight.shape)
            if need_b:
                gb = sum_to(m_gy * n, bias.shape)
        else:
            # Layer norm: gamma varies over the normalized axes -- the formula as written.
            if need_x:
                g = gy * weight                               # d loss / d xhat
                gx = inv_std * (g - _mean(g, axes, keepdim=True)
                                - xhat * _mean(g * xhat, axes, keepdim=True))
            if need_w:
                gw = sum_to(gy * xhat, weight.shape)
            if need_b:
                gb = sum_to(gy, bias.shape)
        return gx, gw, gb


def _affine_params(x: Tensor, weight, bias, shape: tuple, op: str) -> tuple:
    """Weight and bias reshaped to ``shape`` (broadcastable to x); ones / zeros when None."""
    xp = backend.get_array_module(x.data)
    n = 1
    for s in shape:
        n *= s

    def prep(p, name, fill):
        if p is None:
            return Tensor(xp.full(shape, fill, dtype=x.dtype))
        if p.numel() != n:
            raise ValueError(
                f"{op}: {name} has shape {tuple(p.shape)} but the input of shape {tuple(x.shape)} "
                f"needs {n} elements"
            )
        return reshape(p, shape)

    return prep(weight, "weight", 1.0), prep(bias, "bias", 0.0)


def _check_stats(running_mean, running_var, c: int, op: str) -> None:
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")
    for name, s in (("running_mean", running_mean), ("running_var", running_var)):
        if s is not None and tuple(s.shape) != (c,):
            raise ValueError(f"{op}: {name} has shape {tuple(s.shape)}, expected ({c},)")


def _update_running(running: Tensor, batch_value, momentum: float) -> None:
    """running <- (1 - momentum) * running + momentum * batch value, in place (not recorded)."""
    running.data[...] = ((1.0 - momentum) * running.data
                         + momentum * batch_value.astype(running.dtype, copy=False))


def _eval_norm(x: Tensor, running_mean: Tensor, running_var: Tensor, weight: Tensor,
               bias: Tensor, eps: float, shape: tuple) -> Tensor:
    """y = (x - running_mean) / sqrt(running_var + eps) * weight + bias with constant stats.

    The statistics are constants, so y is affine in x and composed ops give every derivative.
    """
    xp = backend.get_array_module(x.data)
    inv_std = Tensor((1.0 / xp.sqrt(running_var.data + eps)).astype(x.dtype).reshape(shape))
    mu = Tensor(running_mean.data.astype(x.dtype).reshape(shape))
    scale = weight * inv_std                      # (1, C, 1, 1): cheap
    return x * scale + (bias - mu * scale)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization (Ioffe & Szegedy 2015, Alg. 1) over every axis but the channels.

    Args:
        input: (N, C), (N, C, L) or (N, C, H, W) -- any (N, C, *).
        running_mean, running_var: (C,) or None.  In training they are updated in place:
            r <- (1 - momentum) r + momentum * batch_stat, with the *unbiased* batch variance
            for running_var (as PyTorch), while the output is normalized with the biased one.
        weight, bias: (C,) gamma and beta, or None (1 and 0).
        training: use batch statistics (True) or the running ones (False).  Without running
            statistics the batch statistics are always used (PyTorch raises in that case).
    Returns: same shape as input.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C, *), got {tuple(input.shape)}")
    c = input.shape[1]
    _check_stats(running_mean, running_var, c, "batch_norm")
    shape = (1, c) + (1,) * (input.ndim - 2)
    w, b = _affine_params(input, weight, bias, shape, "batch_norm")
    if not training and running_mean is not None:
        return _eval_norm(input, running_mean, running_var, w, b, eps, shape)
    axes = (0,) + tuple(range(2, input.ndim))
    n = input.numel() // c if c else 0
    if n <= 1:
        raise ValueError(
            f"batch_norm: expected more than 1 value per channel when training, "
            f"got input of shape {tuple(input.shape)}"
        )
    fn = Normalize(axes, eps)
    y = fn(input, w, b)
    if training and running_mean is not None:
        # On a GPU one launch updates both (batch_norm.cu); elsewhere the formula below.
        if not batch_norm_kernel.update_running(input.data, axes, running_mean.data,
                                                running_var.data, fn.mean, fn.var, momentum,
                                                n / (n - 1)):
            _update_running(running_mean, fn.mean.reshape(c), momentum)
            _update_running(running_var, fn.var.reshape(c) * (n / (n - 1)), momentum)
    return y


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Instance normalization (Ulyanov et al. 2016): each (sample, channel) over its spatial axes.

    Args:
        input: (N, C, L) or (N, C, H, W) -- any (N, C, *) with at least one spatial axis.
        running_mean, running_var: (C,) or None; with ``use_input_stats`` they are updated in
            place with the batch average of the per-instance mean and unbiased variance
            (as PyTorch).
        weight, bias: (C,) or None.
        use_input_stats: normalize with each instance's statistics (True) or the running ones.
    Returns: same shape as input.
    """
    if input.ndim < 3:
        raise ValueError(
            f"instance_norm: expected input of shape (N, C, *spatial), got {tuple(input.shape)}"
        )
    c = input.shape[1]
    _check_stats(running_mean, running_var, c, "instance_norm")
    shape = (1, c) + (1,) * (input.ndim - 2)
    w, b = _affine_params(input, weight, bias, shape, "instance_norm")
    if not use_input_stats:
        if running_mean is None:
            raise ValueError(
                "instance_norm: running_mean and running_var are needed when use_input_stats=False"
            )
        return _eval_norm(input, running_mean, running_var, w, b, eps, shape)
    axes = tuple(range(2, input.ndim))
    n = input.numel() // (input.shape[0] * c) if input.shape[0] * c else 0
    if n <= 1:
        raise ValueError(
            f"instance_norm: expected more than 1 spatial element when training, "
            f"got input of shape {tuple(input.shape)}"
        )
    fn = Normalize(axes, eps)
    y = fn(input, w, b)
    if running_mean is not None:
        _update_running(running_mean, fn.mean.reshape(-1, c).mean(axis=0), momentum)
        _update_running(running_var, fn.var.reshape(-1, c).mean(axis=0) * (n / (n - 1)), momentum)
    return y


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Layer normalization (Ba et al. 2016) over the trailing ``normalized_shape`` axes.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: an int or the trailing shape, e.g. (C, H, W).
        weight, bias: of shape ``normalized_shape`` (elementwise affine), or None.
    Returns: same shape as input.
    """
    norm_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(norm_shape)
    if k == 0 or k > input.ndim or tuple(input.shape[input.ndim - k:]) != norm_shape:
        raise ValueError(
            f"layer_norm: given normalized_shape={list(norm_shape)}, expected input of shape "
            f"(*, {', '.join(map(str, norm_shape))}), but got input of shape {tuple(input.shape)}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != norm_shape:
            raise ValueError(
                f"layer_norm: {name} has shape {tuple(p.shape)}, expected {norm_shape}"
            )
    w, b = _affine_params(input, weight, bias, norm_shape, "layer_norm")
    axes = tuple(range(input.ndim - k, input.ndim))
    return Normalize(axes, eps)(input, w, b)
