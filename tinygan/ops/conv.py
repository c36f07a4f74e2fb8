"""2-D convolution and transposed convolution (work in progress: see the layers issue)."""
from __future__ import annotations


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """(N, C_in, H, W) * (C_out, C_in/groups, kh, kw) -> (N, C_out, H_out, W_out)."""
    raise NotImplementedError("conv2d is being written")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """(N, C_in, H, W) * (C_in, C_out/groups, kh, kw) -> (N, C_out, H_out, W_out)."""
    raise NotImplementedError("conv_transpose2d is being written")
