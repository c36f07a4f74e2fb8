"""``Linear`` (the fully connected layer) and ``Identity``."""
from __future__ import annotations


from ..autograd import Tensor
from . import functional as F
from ._utils import _empty_parameter, _reset_weight_and_bias
from .module import Module


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. where a layer is switched off)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """``y = x W^T + b``.

    Args:
        in_features, out_features: sizes of the last dim of input and output.
        bias: whether to learn ``b``.

    Shapes: input ``(*, in_features)`` -> output ``(*, out_features)``;
    ``weight`` is ``(out_features, in_features)`` and ``bias`` ``(out_features,)``,
    PyTorch's layout.

    Initialization (PyTorch's): ``weight`` from ``kaiming_uniform_(a=sqrt(5))``, i.e.
    U(-1/sqrt(in), 1/sqrt(in)), and ``bias`` from U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = _empty_parameter(out_features, in_features, device=device, dtype=dtype)
        if bias:
            self.bias = _empty_parameter(out_features, device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
