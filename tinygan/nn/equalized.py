"""The equalized learning rate: layers whose weights are scaled at run time (Karras et al. 2018).

"Progressive Growing of GANs" (sec. 4.1) initializes every weight from N(0, 1) and multiplies
it, at every forward pass, by He's constant c = 1/sqrt(fan_in):  w_hat = w * c.  The layer
computes the same function as one initialized with std c, but an optimizer that normalizes
its step by the gradient's scale (Adam, RMSprop) now moves every layer's *effective* weights
at the same relative speed, whatever its fan-in.

StyleGAN (Karras et al. 2019, App. C) adds a learning-rate multiplier lambda for
the mapping network (lambda = 0.01): the stored weight is N(0, 1/lambda^2) and the run-time
scale is lambda/sqrt(fan_in), so at initialization nothing changes, while a step of size
delta on the stored weight moves the effective weight by lambda * delta/sqrt(fan_in) -- a
learning rate lambda times smaller.  The bias is scaled by lambda in the same way; its
stored value is bias_init/lambda, so that the effective bias starts at bias_init.

The activation goes through F.bias_act, with its default gains (sqrt(2) for relu and lrelu,
He's gain, so that the activations keep unit variance).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor
from ..creation import full, randn
from ..ops.bias_act import ACTIVATIONS
from ..ops.modulated_conv import conv2d_resample
from ..ops.upfirdn2d import setup_filter
from . import functional as F
from ._utils import _float_dtype
from .module import Module
from .parameter import Parameter


def _check_common(layer: str, sizes: dict, lr_multiplier, activation) -> None:
    for name, v in sizes.items():
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{layer}: expected {name} to be an integer >= 1, got {v!r}")
    if not isinstance(lr_multiplier, (int, float)) or not lr_multiplier > 0:
        raise ValueError(f"{layer}: expected lr_multiplier > 0, got {lr_multiplier!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{layer}: unknown activation {activation!r}; known: "
                         f"{', '.join(ACTIVATIONS)}")


class EqualizedLinear(Module):
    """A fully connected layer with the equalized learning rate (StyleGAN's FullyConnectedLayer).

    y = act(x (w * lr_multiplier/sqrt(in))^T + b * lr_multiplier) * gain   (gain from bias_act)

    Args:
        in_features, out_features: sizes of the last dim of input and output.
        bias: whether to learn a bias.
        lr_multiplier: lambda, the learning-rate multiplier (0.01 in StyleGAN's mapping).
        activation: an F.bias_act activation: 'linear', 'relu', 'lrelu', 'tanh', ...
        bias_init: the effective bias at initialization.
    Shapes: input (N, in_features) -> output (N, out_features); ``weight`` (out_features,
    in_features), stored N(0, 1)/lr_multiplier; ``bias`` (out_features,), stored
    bias_init/lr_multiplier.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 lr_multiplier: float = 1, activation: str = "linear", bias_init: float = 0,
                 device=None, dtype=None):
        super().__init__()
        _check_common("EqualizedLinear", {"in_features": in_features,
                                          "out_features": out_features}, lr_multiplier, activation)
        dtype = _float_dtype(dtype)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.lr_multiplier, self.activation = float(lr_multiplier), activation
        self.weight = Parameter(randn(out_features, in_features, dtype=dtype, device=device)
                                / self.lr_multiplier)
        if bias:
            self.bias = Parameter(full((out_features,), float(bias_init) / self.lr_multiplier,
                                       dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        # Karras et al. 2018, sec. 4.1: w_hat = w * c, c = 1/sqrt(fan_in), times lambda.
        self.weight_gain = self.lr_multiplier / math.sqrt(in_features)
        self.bias_gain = self.lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"EqualizedLinear: expected input of shape (N, {self.in_features}), "
                             f"got {tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
        y = F.linear(x, self.weight * self.weight_gain)
        b = None if self.bias is None else self.bias * self.bias_gain
        return F.bias_act(y, b, dim=1, act=self.activation)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, lr_multiplier={self.lr_multiplier}, "
                f"activation={self.activation}")


class EqualizedConv2d(Module):
    """A convolution with the equalized learning rate (StyleGAN2's Conv2dLayer), 'same'
    padding, and optional FIR up- or downsampling by 2 (ops.modulated_conv.conv2d_resample,
    the reference code's forms: a stride-2 transposed conv then the filter, or the filter
    then a stride-2 conv).

    y = act(conv(x, w * lr_multiplier/sqrt(in*k*k)) + b * lr_multiplier) * gain

    Args:
        in_channels, out_channels, kernel_size: as nn.Conv2d (a square, odd-sized kernel
            keeps the size; padding is kernel_size // 2).
        bias: whether to learn a bias.
        activation: an F.bias_act activation.
        up, down: 1 or 2 (not both).
        resample_filter: the FIR taps for up/down, made with F.setup_filter.
        lr_multiplier: lambda, the learning-rate multiplier.
    Shapes: input (N, in_channels, H, W) -> output (N, out_channels, H*up/down, W*up/down);
    ``weight`` (out_channels, in_channels, k, k), stored N(0, 1)/lr_multiplier; ``bias``
    (out_channels,), stored 0.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter=(1, 3, 3, 1), lr_multiplier: float = 1, device=None, dtype=None):
        super().__init__()
        layer = "EqualizedConv2d"
        _check_common(layer, {"in_channels": in_channels, "out_channels": out_channels,
                              "kernel_size": kernel_size}, lr_multiplier, activation)
        if up not in (1, 2) or down not in (1, 2) or (up == 2 and down == 2):
            raise ValueError(f"{layer}: expected up and down in (1, 2), not both 2; got up={up!r}, "
                             f"down={down!r}")
        dtype = _float_dtype(dtype)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.up, self.down = int(kernel_size), up, down
        self.lr_multiplier, self.activation = float(lr_multiplier), activation
        self.padding = self.kernel_size // 2
        k = self.kernel_size
        self.weight = Parameter(randn(out_channels, in_channels, k, k, dtype=dtype, device=device)
                                / self.lr_multiplier)
        if bias:
            self.bias = Parameter(full((out_channels,), 0.0, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        # A constant, rebuilt from the arguments: not part of the state_dict.
        self.register_buffer("resample_filter", setup_filter(list(resample_filter), device=device),
                             persistent=False)
        self.weight_gain = self.lr_multiplier / math.sqrt(in_channels * k * k)   # sec. 4.1
        self.bias_gain = self.lr_multiplier

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"EqualizedConv2d: expected input of shape (N, {self.in_channels}, "
                             f"H, W), got "
                             f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
        y = conv2d_resample(x, self.weight * self.weight_gain, up=self.up, down=self.down,
                            padding=self.padding, resample_filter=self.resample_filter)
        b = None if self.bias is None else self.bias * self.bias_gain
        return F.bias_act(y, b, dim=1, act=self.activation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"bias={self.bias is not None}, activation={self.activation}, up={self.up}, "
                f"down={self.down}, lr_multiplier={self.lr_multiplier}")
