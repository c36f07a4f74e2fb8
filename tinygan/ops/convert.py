"""Moving tensors between dtypes and devices, differentiably.

``x.to(torch.float64)`` or ``x.to("cuda")`` are ops like any other: the
gradient goes back through them, converted back to the input's dtype or device,
so a float32 model can be checked in float64 and a graph can span devices.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor


class Cast(Function):
    """y = x in another dtype; the gradient is cast back to x's dtype (dy/dx = 1)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return cast(gy, self.inputs[0].dtype)


class ToDevice(Function):
    """y = x on another device; the gradient is moved back to x's device (dy/dx = 1)."""

    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return to_device(gy, self.source)


class Clone(Function):
    """y = a copy of x; dy/dx = 1."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def cast(x: Tensor, dtype) -> Tensor:
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if x.requires_grad and dtype.kind not in "fc":
        # An integer result can't carry a gradient: cut it from the graph, as PyTorch does.
        return Tensor(x.data.astype(dtype))
    return Cast(dtype)(x)


def to_device(x: Tensor, device) -> Tensor:
    device = backend.device(device)
    if x.device == device:      # "cuda" matches whichever GPU x is on
        return x
    return ToDevice(device)(x)


def to(x: Tensor, *args, dtype=None, device=None) -> Tensor:
    """``x.to(dtype)``, ``x.to(device)``, ``x.to(device, dtype)`` or ``x.to(other_tensor)``."""
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, (str, backend.device)):
            device = a
        else:
            dtype = a
    out = x
    if device is not None:
        out = to_device(out, device)
    if dtype is not None:
        out = cast(out, dtype)
    return out


def clone(x: Tensor) -> Tensor:
    """A copy with its own memory that stays in the graph (its gradient passes through)."""
    return Clone()(x)
