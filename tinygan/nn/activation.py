"""Activation layers: ``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``.

Module wrappers around the functions in ``F`` so they can sit in a
``Sequential``.  ``inplace`` is accepted for PyTorch compatibility but ignored:
tinygan never overwrites a tensor that autograd may still need, so the result
is always a new tensor (the saving in-place buys in PyTorch is memory only).
"""
from __future__ import annotations

from ..autograd import Tensor
from . import functional as F
from .module import Module


class ReLU(Module):
    """``max(0, x)``, elementwise; any shape in, same shape out."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x if x >= 0 else negative_slope * x``; DCGAN's discriminator uses slope 0.2."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Tanh(Module):
    """``tanh(x)``: squashes to (-1, 1), the range of a GAN generator's images."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``: squashes to (0, 1)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)
