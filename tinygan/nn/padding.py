"""Padding layers: ``ReflectionPad2d``, the mirror padding of CycleGAN's generator.

Zero padding puts a dark frame around every feature map, and a generator that
convolves many times learns to paint that frame into its output; mirroring the border
instead (``F.pad(..., mode='reflect')``: the rows and columns next to the edge, the edge
itself not repeated) keeps the statistics at the border like those inside.  Johnson et al.
2016 and CycleGAN's ResNet generator (Zhu et al. 2017, appendix 7.2, "reflection padding
was used to reduce artifacts") pad this way before every 3x3 and 7x7 convolution.
"""
from __future__ import annotations

from ..autograd import Tensor
from . import functional as F
from .module import Module


class ReflectionPad2d(Module):
    """Mirror-pad the last two dims of ``(N, C, H, W)`` (or ``(C, H, W)``) inputs.

    Args:
        padding: an int (all four sides) or ``(left, right, top, bottom)``, as PyTorch.

    Shapes: ``(N, C, H, W)`` -> ``(N, C, H + top + bottom, W + left + right)``; each
    padding must be smaller than the size it mirrors (``ValueError`` naming both).
    """

    def __init__(self, padding):
        super().__init__()
        if isinstance(padding, int):
            padding = (padding,) * 4
        padding = tuple(int(p) for p in padding)
        if len(padding) != 4 or any(p < 0 for p in padding):
            raise ValueError(f"ReflectionPad2d: padding must be an int >= 0 or four of them "
                             f"(left, right, top, bottom), got {padding}")
        self.padding = padding

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(f"ReflectionPad2d: expected a 3D or 4D input, got shape "
                             f"{tuple(input.shape)}")
        left, right, top, bottom = self.padding
        h, w = input.shape[-2:]
        if max(left, right) >= w or max(top, bottom) >= h:
            raise ValueError(f"ReflectionPad2d: padding {self.padding} must be less than the "
                             f"input's width and height, got input shape {tuple(input.shape)}")
        return F.pad(input, self.padding, mode="reflect")

    def extra_repr(self) -> str:
        return f"{self.padding}"


__all__ = ["ReflectionPad2d"]
