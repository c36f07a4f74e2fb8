"""Weight initialization, shaped like ``torch.nn.init``.

Why initialization matters: with ``y = W x`` and independent zero-mean entries,
``Var(y_i) = fan_in * Var(W) * Var(x)``.  Keeping the signal's variance the same
from layer to layer (so it neither explodes nor vanishes through a deep net)
asks for ``Var(W) = 1 / fan_in`` -- times a *gain* that undoes what the
nonlinearity does to the variance (ReLU zeroes half the signal: gain sqrt(2)).

* Xavier/Glorot (Glorot & Bengio 2010, eq. 16): ``Var(W) = gain^2 * 2 / (fan_in + fan_out)``,
  a compromise between the forward (fan_in) and backward (fan_out) passes.
* Kaiming/He (He et al. 2015, eq. 10): ``Var(W) = gain^2 / fan``, with ``fan`` = fan_in
  (preserve the forward pass) or fan_out (preserve the backward pass).

A uniform distribution on [-b, b] has variance b^2 / 3, hence the ``sqrt(3)``
factors below.  Every function writes into ``tensor.data`` in place (nothing is
recorded for autograd) and returns the tensor.

Random numbers come from tinygan's seeded generator of the tensor's device
(``tinygan.manual_seed`` makes initialization reproducible).  They are drawn
in float64 and then cast, so a float32 and a float64 model built after the same
seed hold the same weights up to rounding.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend, random
from ..autograd import Tensor, no_grad

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "xavier_uniform_",
    "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which to scale the std so that ``nonlinearity`` keeps the variance.

    ===============  =====================================
    linear, conv*    1
    sigmoid          1
    tanh             5/3
    relu             sqrt(2)
    leaky_relu       sqrt(2 / (1 + negative_slope^2))
    selu             3/4
    ===============  =====================================
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight, as PyTorch computes them.

    Dim 1 is taken as the inputs and dim 0 as the outputs, each times the
    receptive field (the product of the remaining dims):

    * Linear ``(out, in)``:                    fan_in = in,              fan_out = out
    * Conv2d ``(out, in/groups, kh, kw)``:     fan_in = in/groups*kh*kw, fan_out = out*kh*kw
    * ConvTranspose2d ``(in, out/groups, kh, kw)``: fan_in = out/groups*kh*kw, fan_out = in*kh*kw
      (PyTorch's convention, kept so default initializations match)
    """
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive_field = 1
    for s in tensor.shape[2:]:
        receptive_field *= s
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _write(tensor: Tensor, values) -> Tensor:
    """Copy ``values`` (float64 array or scalar) into ``tensor.data`` in place, cast to its dtype."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init: expected a Tensor, got {type(tensor).__name__}")
    with no_grad():
        xp = backend.get_array_module(tensor.data)
        tensor.data[...] = xp.asarray(values).astype(tensor.data.dtype, copy=False)
    return tensor


def _generator(tensor: Tensor, generator):
    return generator if generator is not None else random.generator_for(tensor.device)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of U(a, b)."""
    gen = _generator(tensor, generator)
    u = gen.random(tuple(tensor.shape), dtype=np.float64)
    return _write(tensor, a + (b - a) * u)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with samples of N(mean, std^2)."""
    gen = _generator(tensor, generator)
    z = gen.standard_normal(tuple(tensor.shape), dtype=np.float64)
    return _write(tensor, mean + std * z)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _write(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    return _write(tensor, 0)


def ones_(tensor: Tensor) -> Tensor:
    return _write(tensor, 1)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std          # U(-b, b) has std b / sqrt(3)
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """U(-b, b) with ``b = gain * sqrt(3 / fan)`` (He et al. 2015).

    ``a`` is the negative slope of the leaky ReLU that follows (used when
    ``nonlinearity='leaky_relu'``).  Linear and Conv layers use ``a=sqrt(5)``,
    which works out to ``b = 1 / sqrt(fan_in)``.
    """
    if tensor.numel() == 0:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """N(0, std^2) with ``std = gain / sqrt(fan)`` (He et al. 2015)."""
    if tensor.numel() == 0:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix, times ``gain`` (Saxe et al. 2014).

    The weight is viewed as ``(rows, cols) = (shape[0], numel / shape[0])``.
    QR of a Gaussian matrix gives Q with orthonormal columns; multiplying each
    column by the sign of R's diagonal makes Q uniformly (Haar) distributed.
    Afterwards ``W W^T = gain^2 I`` if rows <= cols, else ``W^T W = gain^2 I``.
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    gen = _generator(tensor, generator)
    xp = backend.get_array_module(tensor.data)
    flat = gen.standard_normal((rows, cols), dtype=np.float64)
    if rows < cols:
        flat = flat.T               # QR needs a tall matrix to give orthonormal columns
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))     # fix the signs: otherwise Q is not Haar-distributed
    if rows < cols:
        q = q.T
    return _write(tensor, gain * q.reshape(tensor.shape))
