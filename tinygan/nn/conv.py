"""2-D convolution layers: ``Conv2d`` and ``ConvTranspose2d``.

The arithmetic lives in ``F.conv2d`` / ``F.conv_transpose2d``; these classes own
the weights, their PyTorch layouts and default initialization, and the padding
modes.  Output sizes, per spatial dim (PyTorch's formulas)::

    Conv2d:          out = floor((in + 2*padding - dilation*(k - 1) - 1) / stride) + 1
    ConvTranspose2d: out = (in - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1

A transposed convolution is the gradient of a convolution with respect to its
input, which is why it maps the conv's output size back to its input size
(DCGAN's generator upsamples with ``ConvTranspose2d(k=4, stride=2, padding=1)``,
doubling H and W).
"""
from __future__ import annotations


from ..autograd import Tensor
from ..ops.shape import cat
from . import functional as F
from ..ops.pair import pair
from ._utils import _empty_parameter, _reset_weight_and_bias
from .module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _circular_pad(x: Tensor, pad: list) -> Tensor:
    """Wrap-around padding of the last two dims; ``pad = [left, right, top, bottom]``.

    Built from slicing and ``cat`` so that it is differentiable to any order.
    """
    left, right, top, bottom = pad
    w, h = x.shape[-1], x.shape[-2]
    if max(left, right) > w or max(top, bottom) > h:
        raise ValueError(f"circular padding {pad} is larger than the input {tuple(x.shape[-2:])}")
    parts = ([x[..., w - left:]] if left else []) + [x] + ([x[..., :right]] if right else [])
    x = cat(parts, dim=-1) if len(parts) > 1 else x
    parts = ([x[..., h - top:, :]] if top else []) + [x] + ([x[..., :bottom, :]] if bottom else [])
    return cat(parts, dim=-2) if len(parts) > 1 else x


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: argument checks, weights, init, repr."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding, dilation,
                 transposed: bool, output_padding, groups: int, bias: bool, padding_mode: str,
                 device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, "
                             f"but got padding_mode='{padding_mode}'")
        layer = type(self).__name__
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", layer, at_least=1)
        self.stride = pair(stride, "stride", layer, at_least=1)
        self.dilation = pair(dilation, "dilation", layer, at_least=1)
        self.transposed = transposed
        self.output_padding = pair(output_padding, "output_padding", layer, at_least=0)
        self.groups = groups
        self.padding_mode = padding_mode
        if isinstance(padding, str) and not transposed:
            if padding not in ("same", "valid"):
                raise ValueError(f"{layer}: padding must be 'valid', 'same', an int or a pair of "
                                 f"ints, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
            if padding == "same":
                # Total padding d*(k-1) per dim; when odd, the extra row/column goes at the end.
                totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
                pads = [(t // 2, t - t // 2) for t in totals]
            else:
                pads = [(0, 0), (0, 0)]
        else:
            self.padding = pair(padding, "padding", layer, at_least=0)
            pads = [(p, p) for p in self.padding]
        # F.pad order: (left, right, top, bottom) = last dim first.
        self._reversed_padding_repeated_twice = [pads[1][0], pads[1][1], pads[0][0], pads[0][1]]
        # PyTorch's layouts: (out, in/groups, kh, kw) and, transposed, (in, out/groups, kh, kw).
        if transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = _empty_parameter(*shape, device=device, dtype=dtype)
        if bias:
            self.bias = _empty_parameter(out_channels, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D cross-correlation over NCHW images (what deep learning calls convolution).

    Args:
        in_channels, out_channels: C_in and C_out.
        kernel_size, stride, padding, dilation: ints or (h, w) pairs; ``padding`` may also be
            ``'valid'`` (none) or ``'same'`` (output size = input size, stride 1 only).
        groups: split the channels into ``groups`` independent convolutions.
        bias: whether to learn a per-channel bias.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Shapes: input ``(N, C_in, H, W)`` -> output ``(N, C_out, H_out, W_out)`` (see the module
    docstring); ``weight`` ``(C_out, C_in/groups, kh, kw)``, ``bias`` ``(C_out,)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device=device, dtype=dtype)

    def forward(self, input: Tensor) -> Tensor:
        pad = self._reversed_padding_repeated_twice
        symmetric = pad[0] == pad[1] and pad[2] == pad[3]
        if self.padding_mode == "zeros" and symmetric:
            return F.conv2d(input, self.weight, self.bias, self.stride, (pad[2], pad[0]),
                            self.dilation, self.groups)
        # Pad explicitly first: another padding mode, or 'same' with an even kernel
        # (one more row/column at the end than at the start).
        if self.padding_mode == "circular":
            input = _circular_pad(input, pad)
        else:
            mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
            input = F.pad(input, pad, mode=mode)
        return F.conv2d(input, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution ("fractionally strided", sometimes miscalled deconvolution).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias: as Conv2d;
            here ``padding`` crops that many rows/columns from each side of the full output.
        output_padding: extra size added to one side of the output, to pick among the several
            output sizes that a strided conv maps to the same input size.

    Shapes: input ``(N, C_in, H, W)`` -> output ``(N, C_out, H_out, W_out)``;
    ``weight`` ``(C_in, C_out/groups, kh, kw)`` (PyTorch's layout), ``bias`` ``(C_out,)``.
    ``forward(input, output_size=(H_out, W_out))`` chooses ``output_padding`` itself.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device=device, dtype=dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        """The output_padding that gives ``output_size`` (PyTorch's ``_output_padding``)."""
        if output_size is None:
            return self.output_padding
        output_size = tuple(int(s) for s in output_size)
        if len(output_size) == input.ndim:
            output_size = output_size[-2:]
        if len(output_size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must have 2 or {input.ndim} elements "
                             f"(got {len(output_size)})")
        result = []
        for d in range(2):
            min_size = ((input.shape[d - 2] - 1) * self.stride[d] - 2 * self.padding[d]
                        + self.dilation[d] * (self.kernel_size[d] - 1) + 1)
            max_size = min_size + self.stride[d] - 1
            if not min_size <= output_size[d] <= max_size:
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range from "
                    f"({min_size}) to ({max_size}) in dim {d} "
                    f"(for an input of {tuple(input.shape[-2:])})"
                )
            result.append(output_size[d] - min_size)
        return tuple(result)

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  output_padding, self.groups, self.dilation)
