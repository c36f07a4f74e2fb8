"""Shape layers: ``Flatten`` and ``Unflatten`` (e.g. between a conv stack and a Linear)."""
from __future__ import annotations

from ..autograd import Tensor
from .module import Module


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one.

    Shapes: ``(N, C, H, W)`` -> ``(N, C*H*W)`` with the defaults (the batch dim is kept).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size`` (which may hold one -1).

    Shapes: ``Unflatten(1, (C, H, W))``: ``(N, C*H*W)`` -> ``(N, C, H, W)`` -- how a
    generator turns the output of a Linear into a small image.
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim
        if not -input.ndim <= dim < input.ndim:
            raise IndexError(f"Unflatten: dim {dim} is out of range for a {input.ndim}-D input")
        dim %= input.ndim
        shape = tuple(input.shape)
        sizes = self.unflattened_size
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        if (-1 not in sizes and known != shape[dim]) or (-1 in sizes and shape[dim] % known):
            raise ValueError(f"Unflatten: can't split dim {self.dim} of size {shape[dim]} "
                             f"into {sizes} (input shape {shape})")
        return input.reshape(shape[:dim] + sizes + shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
