"""Per-pixel noise injection: StyleGAN's stochastic variation (Karras et al. 2019, sec. 3.2).

After each convolution of the synthesis network StyleGAN adds a single-channel image of
Gaussian noise, the same for every channel, times a learned strength (per channel in StyleGAN;
one scalar per layer in the StyleGAN2 reference code, as here):

    y = x + strength * noise,   noise ~ N(0, 1) of shape (N, 1, H, W)

so that details that do not matter to identity (hair strands, freckles; pen jitter for
digits) have their own source of randomness instead of eating capacity from the styles.
The strength starts at 0: a fresh layer is the identity and learns how much noise it wants.

noise_mode (the reference code's name): 'random' draws fresh noise at every call from
tinygan's seeded generator; 'const' uses one image drawn once at construction (a buffer,
saved in the state_dict) -- the same picture on every call, as for the figures that vary
one thing at a time; 'none' adds nothing.
"""
from __future__ import annotations

from ..autograd import Tensor
from ..creation import randn, zeros
from ..ops.pair import pair
from ._utils import _float_dtype
from .module import Module
from .parameter import Parameter

NOISE_MODES = ("random", "const", "none")


def _check_mode(mode) -> None:
    if mode not in NOISE_MODES:
        raise ValueError(f"NoiseInjection: unknown noise_mode {mode!r}; known: "
                         f"{', '.join(NOISE_MODES)}")


class NoiseInjection(Module):
    """x + noise_strength * noise, the noise one channel broadcast over all channels.

    Args:
        resolution: (H, W) or an int, the size of the constant noise image; needed only for
            noise_mode 'const' (None: no constant buffer).
        noise_mode: the default mode, 'random', 'const' or 'none'.
    Shapes: input (N, C, H, W) -> output (N, C, H, W); ``noise_strength`` is a scalar
    Parameter initialized to 0; the buffer ``noise_const`` is (H, W).
    """

    def __init__(self, resolution=None, noise_mode: str = "random", device=None, dtype=None):
        super().__init__()
        _check_mode(noise_mode)
        dtype = _float_dtype(dtype)
        self.noise_mode = noise_mode
        self.noise_strength = Parameter(zeros((), dtype=dtype, device=device))
        if resolution is not None:
            h, w = pair(resolution, "resolution", "NoiseInjection", at_least=1)
            self.register_buffer("noise_const", randn(h, w, dtype=dtype, device=device))
        else:
            if noise_mode == "const":
                raise ValueError("NoiseInjection: noise_mode 'const' needs a resolution")
            self.register_buffer("noise_const", None)

    def forward(self, x: Tensor, noise: Tensor | None = None,
                noise_mode: str | None = None) -> Tensor:
        """``noise``: an explicit (N or 1, 1, H, W) image to use instead of the mode's;
        ``noise_mode``: overrides the layer's default for this call."""
        mode = self.noise_mode if noise_mode is None else noise_mode
        _check_mode(mode)
        if not isinstance(x, Tensor) or x.ndim != 4:
            raise ValueError(f"NoiseInjection: expected x of shape (N, C, H, W), got "
                             f"{tuple(x.shape) if hasattr(x, 'shape') else type(x).__name__}")
        n, _, h, w = x.shape
        if noise is None:
            if mode == "none":
                return x
            if mode == "random":
                noise = randn(n, 1, h, w, dtype=x.dtype, device=x.device)
            else:
                if self.noise_const is None:
                    raise ValueError("NoiseInjection: noise_mode 'const' needs a resolution")
                if tuple(self.noise_const.shape) != (h, w):
                    raise ValueError(f"NoiseInjection: the constant noise is "
                                     f"{tuple(self.noise_const.shape)} but x {tuple(x.shape)} is "
                                     f"{h}x{w}")
                noise = self.noise_const.reshape(1, 1, h, w)
        elif (not isinstance(noise, Tensor) or noise.ndim != 4 or noise.shape[1] != 1
              or noise.shape[0] not in (1, n) or tuple(noise.shape[2:]) != (h, w)):
            raise ValueError(f"NoiseInjection: expected noise of shape ({n} or 1, 1, {h}, {w}) "
                             f"for x {tuple(x.shape)}, got "
                             f"{tuple(noise.shape) if hasattr(noise, 'shape') else type(noise).__name__}")
        return x + noise * self.noise_strength

    def extra_repr(self) -> str:
        res = None if self.noise_const is None else tuple(self.noise_const.shape)
        return f"resolution={res}, noise_mode={self.noise_mode}"
