"""The plain twins of the fast kernels: the same arithmetic as a textbook writes it.

No threads, no chunks, no in-place tricks, no layout changes: each function is
the formula, on NumPy arrays, and is the reference that ``tests/kernels/`` holds
the fast kernel of the same name against.  Read these first; the fast files say
how they compute the same thing faster.

    fast kernel                              twin here
    elementwise.binary(ufunc, a, b)          binary
    elementwise.relu / leaky_relu            relu / leaky_relu
    elementwise.slope_mask, gy_times_slope   slope_mask, gy_times_slope
    elementwise.add_channel_bias_            add_channel_bias
    elementwise.channel_sums                 channel_sums
    matmul.product                           product
    im2col.conv / conv_weight / conv_input   conv2d / conv2d_weight / conv2d_input (via im2col, col2im)
    im2col.cu (launch_im2col, launch_col2im) im2col / col2im, with cols moved to (C, kh, kw, N, Ho, Wo)
    batch_norm.forward / backward            batch_norm_forward / batch_norm_backward
    batch_norm.launch_update_running         batch_norm_update_running
    adam.update_                             adam_update
"""
from __future__ import annotations

import numpy as np


# -- elementwise ----------------------------------------------------------------------------
def binary(ufunc, a, b):
    """ufunc(a, b), broadcasting as NumPy does."""
    return ufunc(a, b)


def relu(x):
    """relu(x) = max(x, 0)."""
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def leaky_relu(x, negative_slope: float):
    """leaky_relu(x) = x where x > 0, else a x (Maas et al. 2013)."""
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def slope_mask(x, dtype, negative_slope: float = 0.0):
    """leaky_relu'(x) = 1 where x > 0, else a (relu: a = 0); 0 at the kink counts as 'else'."""
    return np.where(x > 0, 1.0, negative_slope).astype(dtype)


def gy_times_slope(gy, x, negative_slope: float):
    """The chain rule through leaky_relu: gy * leaky_relu'(x)."""
    return gy * slope_mask(x, gy.dtype, negative_slope)


def add_channel_bias(y, b):
    """y + b[c] on every channel c (axis 1)."""
    return y + b.reshape((1, -1) + (1,) * (y.ndim - 2))


def channel_sums(x):
    """x (N, C, ...) -> (C,): the sum over every axis but the channels."""
    return x.sum(axis=(0,) + tuple(range(2, x.ndim)))


def product(a, b):
    """The matrix product a @ b."""
    return a @ b


# -- convolution as im2col + GEMM --------------------------------------------------------------
def _out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def im2col(x, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """x (N, C, H, W) -> cols (N, C, kh, kw, Ho, Wo): cols[n, c, i, j, ho, wo] is
    x_pad[n, c, ho*s + i*d, wo*s + j*d], the input under kernel tap (i, j) at output pixel
    (ho, wo).  One strided slice per kernel offset (i, j) -- DeZero's way, kh*kw copies."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    Ho, Wo = _out_size(H, kh, sh, ph, dh), _out_size(W, kw, sw, pw, dw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((N, C, kh, kw, Ho, Wo), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh,
                                  j * dw:j * dw + sw * (Wo - 1) + 1:sw]
    return cols


def col2im(cols, x_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    """The adjoint of im2col: cols (N, C, kh, kw, Ho, Wo) -> (N, C, H, W), every tap's values
    added back where im2col read them."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    N, C, kh, kw, Ho, Wo = cols.shape
    H, W = x_shape[2:]
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh,
               j * dw:j * dw + sw * (Wo - 1) + 1:sw] += cols[:, :, i, j]
    return xp[:, :, ph:ph + H, pw:pw + W]


def _grouped(cols, groups):
    """(N, C, kh, kw, Ho, Wo) -> (g, N, Ho, Wo, C/g*kh*kw): the patch matrix of each group."""
    N, C, kh, kw, Ho, Wo = cols.shape
    return cols.reshape(N, groups, C // groups * kh * kw, Ho, Wo).transpose(1, 0, 3, 4, 2)


def conv2d(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """y[n, o, ho, wo] = sum over c, i, j of w[o, c, i, j] x_pad[n, c, ho*s + i*d, wo*s + j*d]
    within o's group: x (N, C, H, W), w (O, C/g, kh, kw) -> y (N, O, Ho, Wo).  One reshape of
    im2col's patches and one matrix product per group."""
    O, _, kh, kw = w.shape
    cols = _grouped(im2col(x, kh, kw, stride, padding, dilation), groups)   # (g, N, Ho, Wo, K)
    wg = w.reshape(groups, O // groups, -1)                                # (g, O/g, K)
    y = np.einsum("gnhwk,gok->ngohw", cols, wg)
    return y.reshape(x.shape[0], O, *y.shape[3:])


def conv2d_weight(x, gy, w_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """dL/dw = sum over n, ho, wo of gy[n, o, ho, wo] times the patch of x: (O, C/g, kh, kw)."""
    O, _, kh, kw = w_shape
    N, _, Ho, Wo = gy.shape
    cols = _grouped(im2col(x, kh, kw, stride, padding, dilation), groups)   # (g, N, Ho, Wo, K)
    gyg = gy.reshape(N, groups, O // groups, Ho, Wo)
    return np.einsum("gnhwk,ngohw->gok", cols, gyg).reshape(w_shape)


def conv2d_input(gy, w, x_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """dL/dx, the transposed convolution: each output pixel's gradient spread over its patch
    (w^T gy per pixel), then col2im adds the patches back: gy (N, O, Ho, Wo) -> (N, C, H, W)."""
    O, Cg, kh, kw = w.shape
    N, _, Ho, Wo = gy.shape
    gyg = gy.reshape(N, groups, O // groups, Ho, Wo)
    wg = w.reshape(groups, O // groups, Cg, kh, kw)
    cols = np.einsum("ngohw,gocij->ngcijhw", gyg, wg).reshape(N, groups * Cg, kh, kw, Ho, Wo)
    return col2im(cols, x_shape, stride, padding, dilation)


# -- batch norm (Ioffe & Szegedy 2015) ---------------------------------------------------------
def batch_norm_forward(x, weight, bias, eps: float):
    """Alg. 1, per channel c over every other axis of x (N, C, ...):
        mu = mean(x),  sigma2 = mean((x - mu)^2),  xhat = (x - mu) / sqrt(sigma2 + eps),
        y = gamma xhat + beta.
    -> (y, mu, sigma2, 1/sqrt(sigma2 + eps)), the statistics as (1, C, 1, ...)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    return xhat * weight.reshape(shape) + bias.reshape(shape), mu, var, inv_std


def batch_norm_backward(x, gy, weight, mean, inv_std):
    """Sec. 3, with means over the normalized axes:
        dx = gamma / sqrt(sigma2 + eps) * (gy - mean(gy) - xhat mean(gy xhat)),
        dgamma = sum(gy xhat),  dbeta = sum(gy).
    -> (dx, dgamma (C,), dbeta (C,))."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = (x - mean) * inv_std
    gx = weight.reshape(shape) * inv_std * (gy - gy.mean(axis=axes, keepdims=True)
                                            - xhat * (gy * xhat).mean(axis=axes, keepdims=True))
    return gx, (gy * xhat).sum(axis=axes), gy.sum(axis=axes)


def batch_norm_update_running(running_mean, running_var, mean, var, momentum: float,
                              correction: float):
    """The running statistics kept for inference, with the unbiased batch variance:
        running_mean <- (1 - momentum) running_mean + momentum mean,
        running_var  <- (1 - momentum) running_var + momentum var count / (count - 1),
    correction = count / (count - 1).  -> (running_mean, running_var), new arrays."""
    keep = 1.0 - momentum
    return (keep * running_mean + momentum * mean.reshape(running_mean.shape),
            keep * running_var + momentum * (var.reshape(running_var.shape) * correction))


# -- Adam (Kingma & Ba 2015, Algorithm 1) ------------------------------------------------------
def adam_update(p, g, m, v, vmax, *, lr, beta1, beta2, eps, step):
    """One step t of Algorithm 1 (with AMSGrad's running maximum of v if vmax is given,
    Reddi et al. 2018), returning new arrays (p, m, v, vmax):
        m_t = beta1 m + (1 - beta1) g,   v_t = beta2 v + (1 - beta2) g^2
        m^ = m_t / (1 - beta1^t),        v^ = v_t / (1 - beta2^t)
        p_t = p - lr m^ / (sqrt(v^) + eps)."""
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    if vmax is not None:
        vmax = np.maximum(vmax, v)          # AMSGrad: the denominator uses the largest v so far
    m_hat = m / (1 - beta1 ** step)
    v_hat = (v if vmax is None else vmax) / (1 - beta2 ** step)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v, vmax
