"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``InstanceNorm2d``, ``LayerNorm``.

All of them compute ``y = (x - mean) / sqrt(var + eps) * weight + bias``; they
differ in *which* elements share a mean and variance (Ioffe & Szegedy 2015;
Ulyanov et al. 2016; Ba et al. 2016):

* BatchNorm: per channel, over the batch and the spatial dims -- so in training
  one sample's output depends on the others in its batch.  It keeps running
  averages of the statistics for evaluation:
  ``running = (1 - momentum) * running + momentum * batch_stat``, with the
  *unbiased* batch variance going into ``running_var``.
* InstanceNorm: per sample and channel, over the spatial dims (style transfer,
  CycleGAN).
* LayerNorm: per sample, over the last dims given by ``normalized_shape``.

The arithmetic (and its gradients of any order) is in ``F.batch_norm``,
``F.instance_norm`` and ``F.layer_norm``; these classes own the parameters,
the running-statistics buffers and the train/eval switch.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor, int64, tensor
from . import functional as F
from . import init
from ._utils import _empty_parameter, _float_dtype
from .module import Module


class _NormBase(Module):
    """Parameters ``weight``/``bias`` (C,) and buffers ``running_mean``/``running_var`` (C,),
    ``num_batches_tracked`` () -- shared by BatchNorm and InstanceNorm."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = _empty_parameter(num_features, device=device, dtype=dtype)
            if bias:
                self.bias = _empty_parameter(num_features, device=device, dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            dt = _float_dtype(dtype)
            self.register_buffer("running_mean", tensor(np.zeros(num_features, dt), device=device))
            self.register_buffer("running_var", tensor(np.ones(num_features, dt), device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels in dim 1, "
                             f"got input of shape {tuple(input.shape)}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:
                # momentum=None: a cumulative (equal-weight) average over all batches so far.
                factor = 1.0 / float(self.num_batches_tracked.item())
        # Batch statistics in training, and in eval too when there are no running stats.
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalization of ``(N, C)`` or ``(N, C, L)`` inputs, per channel C.

    Args:
        num_features: C.
        eps: added to the variance for stability.
        momentum: weight of the new batch in the running averages (None: cumulative average).
        affine: learn ``weight`` (init 1) and, unless ``bias=False``, ``bias`` (init 0), shape (C,).
        track_running_stats: keep ``running_mean``, ``running_var``, ``num_batches_tracked``
            buffers and use them in eval mode.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {input.ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalization of ``(N, C, H, W)`` inputs, per channel C (arguments as BatchNorm1d)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None,
                 *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise ValueError(f"expected 4D input (got {input.ndim}D input)")


class InstanceNorm2d(_NormBase):
    """Instance normalization of ``(N, C, H, W)`` (or unbatched ``(C, H, W)``) inputs.

    Each sample's channel is normalized over its H*W values.  Defaults as PyTorch:
    no affine parameters, no running statistics.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None, dtype=None,
                 *, bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ValueError(f"expected 3D or 4D input (got {input.ndim}D input)")
        if input.shape[-3] != self.num_features and self.affine:
            raise ValueError(f"expected input's size at dim={input.ndim - 3} to match num_features "
                             f"({self.num_features}), but got: {input.shape[-3]}.")
        if input.ndim == 3:
            return self._instance_norm(input.unsqueeze(0)).squeeze(0)
        return self._instance_norm(input)

    def _instance_norm(self, input: Tensor) -> Tensor:
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               self.momentum if self.momentum is not None else 0.0, self.eps)


class LayerNorm(Module):
    """Layer normalization over the last ``len(normalized_shape)`` dims.

    Args:
        normalized_shape: int or tuple: the trailing shape normalized together.
        eps: added to the variance.
        elementwise_affine: learn ``weight`` (init 1) and, if ``bias``, ``bias`` (init 0),
            both of shape ``normalized_shape``.

    Shapes: input ``(*, *normalized_shape)`` -> output of the same shape.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _empty_parameter(*self.normalized_shape, device=device, dtype=dtype)
            if bias:
                self.bias = _empty_parameter(*self.normalized_shape, device=device, dtype=dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
