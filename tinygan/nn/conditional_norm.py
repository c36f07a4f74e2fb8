"""Conditional batch normalization: a BatchNorm whose scale and shift depend on a condition.

Plain BatchNorm ends with one learned affine map per channel, the same for every sample.
Conditional BatchNorm (de Vries et al. 2017; Dumoulin et al. 2017 for styles; used by
SN-GAN's and BigGAN's generators for the class) computes that affine map from a condition
vector c of each sample instead (BigGAN, Brock et al. 2019, sec. 3 and App. B)::

    x_hat = (x - E[x]) / sqrt(Var[x] + eps)        per channel, over the batch (no affine)
    y     = x_hat * (1 + gain(c)) + bias(c)        gain, bias: Linear(cond_features -> C)

so two samples of one batch, with different classes (or, in BigGAN, different chunks of z),
get different per-channel scales and shifts.  The ``1 +`` centres the gain on 1: the layer
starts near a plain BatchNorm (scale about 1, shift about 0) whatever the linear layers'
initialization, and a gain of 0 (the whole channel switched off) is something to learn, not
the default.

Initialization: the gain and bias Linear layers keep PyTorch's default initialization
(U(-1/sqrt(cond_features), 1/sqrt(cond_features)), as ``nn.Linear``) and, as BigGAN's
reference code, have no bias of their own.  Not zeros: BigGAN puts spectral normalization on
these layers too, and a zero weight has no largest singular value to divide by (0/0); the
``1 +`` already keeps the random start close to a plain BatchNorm.
"""
from __future__ import annotations

from ..autograd import Tensor
from .linear import Linear
from .module import Module
from .norm import BatchNorm2d


class ConditionalBatchNorm2d(Module):
    """BatchNorm2d without affine, then ``y = x_hat * (1 + gain(cond)) + bias(cond)`` per sample.

    Args:
        num_features: C, the channels of x.
        cond_features: the length of each sample's condition vector.
        eps, momentum: as BatchNorm2d (running statistics kept in ``bn``, used in eval mode).

    Children: ``bn`` (BatchNorm2d(C, affine=False), holding ``running_mean``, ``running_var``,
    ``num_batches_tracked``), ``gain`` and ``bias`` (Linear(cond_features, C, bias=False);
    weights ``(C, cond_features)``).

    Shapes: forward(x ``(N, C, H, W)``, cond ``(N, cond_features)``) -> ``(N, C, H, W)``.
    """

    def __init__(self, num_features: int, cond_features: int, eps: float = 1e-5,
                 momentum: float | None = 0.1, device=None, dtype=None):
        super().__init__()
        for name, value in (("num_features", num_features), ("cond_features", cond_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ConditionalBatchNorm2d: {name} must be a positive int, "
                                 f"got {value!r}")
        self.num_features = num_features
        self.cond_features = cond_features
        self.bn = BatchNorm2d(num_features, eps, momentum, affine=False, device=device, dtype=dtype)
        self.gain = Linear(cond_features, num_features, bias=False, device=device, dtype=dtype)
        self.bias = Linear(cond_features, num_features, bias=False, device=device, dtype=dtype)

    @property
    def eps(self) -> float:
        return self.bn.eps

    @property
    def momentum(self) -> float | None:
        return self.bn.momentum

    def _check_input(self, x, cond) -> None:
        for name, t in (("x", x), ("cond", cond)):
            if not isinstance(t, Tensor):
                raise TypeError(f"ConditionalBatchNorm2d: expected a Tensor {name}, got "
                                f"{type(t).__name__}")
        if x.ndim != 4 or x.shape[1] != self.num_features:
            raise ValueError(f"ConditionalBatchNorm2d: expected x of shape "
                             f"(N, {self.num_features}, H, W), got {tuple(x.shape)}")
        if cond.ndim != 2 or cond.shape[0] != x.shape[0] or cond.shape[1] != self.cond_features:
            raise ValueError(f"ConditionalBatchNorm2d: expected cond of shape "
                             f"({x.shape[0]}, {self.cond_features}) for x of shape "
                             f"{tuple(x.shape)}, got {tuple(cond.shape)}")

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """x (N, C, H, W), cond (N, cond_features) -> (N, C, H, W)."""
        self._check_input(x, cond)
        n, c = x.shape[:2]
        gain = (1.0 + self.gain(cond)).reshape(n, c, 1, 1)          # per sample and channel
        bias = self.bias(cond).reshape(n, c, 1, 1)
        return self.bn(x) * gain + bias

    def extra_repr(self) -> str:
        return (f"{self.num_features}, cond_features={self.cond_features}, eps={self.eps}, "
                f"momentum={self.momentum}")
