"""Small helpers shared by the layers: parameter creation and initialization.

(Sizes, strides and paddings given as an int or a pair go through ``tinygan.ops.pair.pair``.)
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import get_default_dtype
from ..creation import zeros
from .parameter import Parameter


def _float_dtype(dtype) -> np.dtype:
    """The dtype for new parameters: ``dtype`` or tinygan's default (float32)."""
    dtype = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"parameters must have a floating dtype, got {dtype}")
    return dtype


def _empty_parameter(*shape: int, device=None, dtype=None) -> Parameter:
    """A zero-filled Parameter of ``shape`` (a layer's ``reset_parameters`` then initializes it)."""
    return Parameter(zeros(*shape, dtype=_float_dtype(dtype), device=device))


def _reset_weight_and_bias(weight: Parameter, bias: "Parameter | None") -> None:
    """PyTorch's default initialization of Linear and the convolutions.

    kaiming_uniform_(a=sqrt(5)) gives the weight U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the
    bias gets the same range; fan_in is read off the weight's dims 1.. (for a transposed conv
    that is out/groups*kh*kw -- PyTorch's convention, kept so that initializations match).
    """
    from . import init   # noqa: PLC0415 - init imports this module
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
