"""Pooling layers: ``AvgPool2d`` and ``MaxPool2d`` over NCHW images.

Output size per spatial dim, as PyTorch::

    out = floor((in + 2*padding - dilation*(k - 1) - 1) / stride) + 1     (ceil with ceil_mode)
"""
from __future__ import annotations

from ..autograd import Tensor
from . import functional as F
from .module import Module


class AvgPool2d(Module):
    """Mean over each ``kernel_size`` window; ``stride`` defaults to ``kernel_size``.

    Shapes: ``(N, C, H, W)`` -> ``(N, C, H_out, W_out)``.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        # The rarely used options are passed only when set, so the common call stays minimal.
        extra = {}
        if self.ceil_mode:
            extra["ceil_mode"] = True
        if not self.count_include_pad:
            extra["count_include_pad"] = False
        if self.divisor_override is not None:
            extra["divisor_override"] = self.divisor_override
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, **extra)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(Module):
    """Maximum over each ``kernel_size`` window; ``stride`` defaults to ``kernel_size``.

    Shapes: ``(N, C, H, W)`` -> ``(N, C, H_out, W_out)``.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        extra = {}
        if self.ceil_mode:
            extra["ceil_mode"] = True
        if self.return_indices:
            extra["return_indices"] = True
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, **extra)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")
