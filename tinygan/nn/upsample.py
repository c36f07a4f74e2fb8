"""``Upsample``: resize NCHW images by interpolation (the alternative to ConvTranspose2d
that avoids checkerboard artifacts: Odena et al. 2016, "Deconvolution and Checkerboard Artifacts")."""
from __future__ import annotations

import numbers

from ..autograd import Tensor
from ..ops.pair import pair
from . import functional as F
from .module import Module


class Upsample(Module):
    """Resize to ``size`` or by ``scale_factor`` (give exactly one).

    Args:
        size: output spatial size, int or (H_out, W_out).
        scale_factor: multiplier of the spatial size, float or (sh, sw).
        mode: ``'nearest'`` (default), ``'bilinear'``, ... as ``F.interpolate``.
        align_corners: for the linear modes, as ``F.interpolate``.

    Shapes: ``(N, C, H, W)`` -> ``(N, C, H_out, W_out)``.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        self.size = size
        # Stored as float(s), as PyTorch does (it shows in the repr: scale_factor=2.0).
        self.scale_factor = None
        if scale_factor is not None:
            sh, sw = pair(scale_factor, "scale_factor", "Upsample", real=True)
            self.scale_factor = sh if isinstance(scale_factor, numbers.Real) else (sh, sw)
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        extra = {}
        if self.recompute_scale_factor is not None:
            extra["recompute_scale_factor"] = self.recompute_scale_factor
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             **extra)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)
