"""StyleGAN-lite: StyleGAN2's networks (Karras et al. 2020, "Analyzing and Improving the Image
Quality of StyleGAN") at 32x32, for digits padded from 28x28, one or three channels.

Generator = mapping network + synthesis network (the reference code's MappingNetwork and
SynthesisNetwork)::

    z (N, z_dim) ~ N(0, I) --normalize_2nd_moment--+
    [labels -> one-hot -> EqualizedLinear -> normalize_2nd_moment]   (conditional only; concat)
        -> num_layers x EqualizedLinear + lrelu (lr multiplier 0.01)  -> w (N, w_dim)
        -> broadcast to num_ws copies, truncated towards w_avg        -> ws (N, num_ws, w_dim)

    const (C4, 4, 4) --[conv 3x3]--> ToRGB --------------------------------------------> img 4x4
    8x8:   [conv 3x3 up 2] [conv 3x3] -> ToRGB, img = upsample2d(img) + ToRGB(x)          img 8x8
    16x16, 32x32 likewise                                              -> tanh -> (N, C, 32, 32)

Every conv is a modulated convolution (eqs. 1-3, F.modulated_conv2d) whose style comes from
its own w through an affine EqualizedLinear (bias 1 at init, so the styles start near 1),
followed by per-pixel noise (NoiseInjection, StyleGAN sec. 3.2), a bias and lrelu x sqrt(2)
(F.bias_act).  ToRGB is a modulated 1x1 conv without demodulation (StyleGAN2 sec. 2.2 keeps
the output's scale free) and the skip architecture sums the upsampled images of every
resolution (StyleGAN2 sec. 4.1, Fig. 7b).  Upsampling uses the FIR filter [1, 3, 3, 1].
num_ws = one w per conv plus one for the last ToRGB: 8 at 32x32; the ToRGB of a block shares
the w of the next block's first conv, as in the reference code.

Discriminator: residual (StyleGAN2 Fig. 7c): FromRGB 1x1 at 32x32; per block 32, 16, 8 a
3x3 conv, a 3x3 conv downsampling by 2 (conv, then the [1, 3, 3, 1] blur and decimation), a
1x1 skip without bias downsampling too, the sum times sqrt(0.5) (so the variance stays
put); at 4x4 the epilogue: minibatch stddev (group 4, 1 channel; Karras et al. 2018 sec. 3),
a 3x3 conv, two fully connected layers.  Conditional: the projection (Miyato & Koyama 2018,
eq. 3, the reference's cmap): the last layer gives cmap_dim features, and the logit is their
inner product with an embedding of the label, divided by sqrt(cmap_dim).

Truncation (StyleGAN App. B, "truncation trick in W"): w' = w_avg + psi (w - w_avg) for the first
``truncation_cutoff`` ws (all when None); w_avg is the running mean of the mapping's output,
tracked in training with decay ``w_avg_beta``.

Losses: the non-saturating logistic loss (StyleGAN2's, from Goodfellow et al. 2014 Sec. 3)
in its plain form here (``d_loss`` / ``g_loss``); the training step -- lazy R1, lazy path
length regularization, style mixing -- is the kind "stylegan"'s Stepper,
tinygan/train/stylegan.py.  Optimizer: Adam lr 0.0025, betas (0, 0.99),
batch 32 (the reference's settings for small images).

The one departure from the reference networks: the summed image goes through tanh, so that
it lies in (-1, 1) like the data.  The reference code leaves it unbounded (``linear_output=True``
here, ``--linear-output`` on the command line), which suits photographs.  MNIST padded to 32x32
is exactly -1 at 85% of its pixels (at least 70% in every image), and an unbounded skip
generator has to cancel four ToRGB sums to that value at every one of them -- every residue is
a tell for D; tanh reaches it by saturating.  On the cpu preset the linear output gave
noisy-backgrounded blobs and collapse where tanh gives diverse digits (benchmarks/README.md,
"StyleGAN-lite on a CPU: the recipe").
"""
from __future__ import annotations

import math

from .. import nn
from ..autograd import Tensor, no_grad
from ..creation import randn, zeros
from ..nn import functional as F
from ..nn.equalized import EqualizedConv2d, EqualizedLinear
from ..nn.noise import NoiseInjection
from ..nn.parameter import Parameter
from ..ops.shape import cat
from ..ops.upfirdn2d import setup_filter
from .base import cycling_labels
from .cgan import one_hot
from .gan import GAN

RESOLUTION = 32
RESAMPLE_FILTER = (1, 3, 3, 1)
NUM_CLASSES = 10

# The two sizes: channels per resolution, z and w sizes, mapping depth, D's minibatch stddev
# (group size, channels) -- and each size's training recipe, which ``tinygan train stylegan``
# uses where the command line gives nothing (tinygan/train/stylegan.py).  The gpu preset keeps
# the reference code's recipe.  The cpu preset's keeps the reference's learning rates but has
# no path length or style mixing (as the reference's own 32x32 configuration), R1 gamma 0.1,
# minibatch-stddev groups of 8 and the EMA's half-life ramped up (0.05 x the images seen);
# benchmarks/README.md, "StyleGAN-lite on a CPU: the recipe", records every variant tried.
# With the tanh output (module docstring) it gives diverse digits of every class in about 8
# minutes on one core; its three epochs take about 30 minutes on a 2-core CPU.
PRESETS = {
    "cpu": dict(z_dim=64, w_dim=128, mapping_layers=2,
                g_channels={4: 64, 8: 64, 16: 32, 32: 32},
                d_channels={32: 32, 16: 32, 8: 64, 4: 64},
                mbstd_group_size=8, mbstd_num_channels=1,
                recipe=dict(lr_g=0.0025, lr_d=0.0025, r1_gamma=0.1, pl_weight=0.0,
                            mixing=0.0, ema_kimg=10.0, ema_rampup=0.05, epochs=3)),
    "gpu": dict(z_dim=256, w_dim=256, mapping_layers=4,
                g_channels={4: 256, 8: 256, 16: 128, 32: 128},
                d_channels={32: 128, 16: 128, 8: 256, 4: 256},
                mbstd_group_size=4, mbstd_num_channels=1,
                recipe=dict(lr_g=0.0025, lr_d=0.0025, r1_gamma=0.0064, pl_weight=2.0,
                            mixing=0.9, ema_kimg=10.0, ema_rampup=None, epochs=5)),
}


def _shape(t) -> tuple:
    return tuple(t.shape) if hasattr(t, "shape") else type(t).__name__


def normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    """x / sqrt(mean(x^2) + eps) over dim 1 (StyleGAN's pixel norm of z): (N, D) -> (N, D)."""
    return x * ((x * x).mean(dim=1, keepdim=True) + eps) ** -0.5


def _use_fused(fused_modconv, x: Tensor) -> bool:
    """None: the faster path on x's device -- fused on a GPU (one grouped conv instead of two
    scalings around a big one), non-fused on a CPU (1.2-4.7x faster there,
    benchmarks/modulated_conv.py)."""
    if fused_modconv is None:
        return x.device.type != "cpu"
    return bool(fused_modconv)


class MappingNetwork(nn.Module):
    """z (N, z_dim) [and c (N, c_dim) one-hot] -> ws (N, num_ws, w_dim).

    Args:
        z_dim, c_dim: sizes of z and of the one-hot label (0: unconditional).
        w_dim: size of w (also the label embedding's and the hidden layers' size).
        num_ws: how many copies of w to output (None: return (N, w_dim)).
        num_layers: fully connected layers, each EqualizedLinear + lrelu.
        lr_multiplier: their learning-rate multiplier (StyleGAN App. C: 0.01).
        w_avg_beta: decay of the running mean ``w_avg`` (a buffer, (w_dim,)), updated in
            training only; None: not tracked.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995):
        super().__init__()
        if z_dim + c_dim < 1 or num_layers < 1:
            raise ValueError(f"MappingNetwork: needs z_dim + c_dim >= 1 and num_layers >= 1, got "
                             f"z_dim={z_dim}, c_dim={c_dim}, num_layers={num_layers}")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        embed_features = w_dim if c_dim > 0 else 0
        self.embed = EqualizedLinear(c_dim, embed_features) if c_dim > 0 else None
        features = [z_dim + embed_features] + [w_dim] * num_layers
        self.layers = nn.ModuleList([
            EqualizedLinear(a, b, activation="lrelu", lr_multiplier=lr_multiplier)
            for a, b in zip(features[:-1], features[1:])])
        if w_avg_beta is not None:
            self.register_buffer("w_avg", zeros(w_dim))

    def forward(self, z: Tensor | None, c: Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None) -> Tensor:
        parts = []
        if self.z_dim > 0:
            if not isinstance(z, Tensor) or tuple(z.shape[1:]) != (self.z_dim,) or z.ndim != 2:
                raise ValueError(f"MappingNetwork: expected z of shape (N, {self.z_dim}), "
                                 f"got {_shape(z)}")
            parts.append(normalize_2nd_moment(z))
        if self.c_dim > 0:
            if not isinstance(c, Tensor) or c.ndim != 2 or c.shape[1] != self.c_dim \
                    or (parts and c.shape[0] != parts[0].shape[0]):
                raise ValueError(f"MappingNetwork: expected c of shape (N, {self.c_dim}) "
                                 f"for z {_shape(z)}, got {_shape(c)}")
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = parts[0] if len(parts) == 1 else cat(parts, dim=1)
        for layer in self.layers:
            x = layer(x)

        # The running mean of w, the centre of truncation (StyleGAN App. B).
        if self.w_avg_beta is not None and self.training:
            with no_grad():
                mean = x.detach().mean(dim=0)
                # In place: the buffer stays the same Tensor, so whoever saved and restores
                # buffers (the trainer's sampling, tinygan/train/loop.py) restores this one.
                self.w_avg.data[...] = (mean + (self.w_avg - mean) * self.w_avg_beta).data

        if self.num_ws is None:
            return x
        n = x.shape[0]
        ws = x.reshape(n, 1, self.w_dim).expand(n, self.num_ws, self.w_dim)
        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("MappingNetwork: truncation needs w_avg (w_avg_beta is None)")
            cutoff = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            if not 0 <= cutoff <= self.num_ws:
                raise ValueError(f"MappingNetwork: truncation_cutoff must be in [0, "
                                 f"{self.num_ws}], got {truncation_cutoff!r}")
            avg = self.w_avg.reshape(1, 1, self.w_dim)
            # StyleGAN App. B: w' = w_avg + psi (w - w_avg)
            head = avg + (ws[:, :cutoff] - avg) * truncation_psi
            ws = head if cutoff == self.num_ws else cat([head, ws[:, cutoff:]], dim=1)
        return ws

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, "
                f"num_ws={self.num_ws}, w_avg_beta={self.w_avg_beta}")


class SynthesisLayer(nn.Module):
    """A modulated 3x3 conv (optionally upsampling by 2), noise, bias + lrelu x sqrt(2).

    Shapes: x (N, in_channels, H, W), w (N, w_dim) -> (N, out_channels, H*up, W*up).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, resample_filter=RESAMPLE_FILTER,
                 fused_modconv: bool | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.up = in_channels, out_channels, up
        self.padding, self.fused_modconv = kernel_size // 2, fused_modconv
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1)          # the style s
        # N(0, 1) with no equalizing gain: demodulation (eq. 3) sets the scale.
        self.weight = Parameter(randn(out_channels, in_channels, kernel_size, kernel_size))
        self.noise = NoiseInjection(resolution)
        self.bias = Parameter(zeros(out_channels))
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)),
                             persistent=False)

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = "random") -> Tensor:
        styles = self.affine(w)
        x = F.modulated_conv2d(x, self.weight, styles, up=self.up, padding=self.padding,
                               resample_filter=self.resample_filter,
                               fused_modconv=_use_fused(self.fused_modconv, x))
        x = self.noise(x, noise_mode=noise_mode)
        return F.bias_act(x, self.bias, act="lrelu")          # gain sqrt(2), He's

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, up={self.up}"


class ToRGBLayer(nn.Module):
    """A modulated 1x1 conv without demodulation, plus a bias: (N, C, H, W) -> (N, img, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int,
                 fused_modconv: bool | None = None):
        super().__init__()
        self.fused_modconv = fused_modconv
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1)
        self.weight = Parameter(randn(out_channels, in_channels, 1, 1))
        self.bias = Parameter(zeros(out_channels))
        # No demodulation to undo the scale of N(0, 1) weights: equalize them (He, fan-in).
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        styles = self.affine(w) * self.weight_gain
        x = F.modulated_conv2d(x, self.weight, styles, demodulate=False,
                               fused_modconv=_use_fused(self.fused_modconv, x))
        return F.bias_act(x, self.bias)


class SynthesisBlock(nn.Module):
    """One resolution: (the 4x4 constant, or x upsampled by a conv) -> convs -> ToRGB, and the
    skip image img = upsample2d(img) + ToRGB(x).

    Shapes: x (N, in_channels, R/2, R/2) or None (the first block), img (N, img_channels,
    R/2, R/2) or None, ws (N, num_conv + 1, w_dim) -> x (N, out_channels, R, R),
    img (N, img_channels, R, R).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, fused_modconv: bool | None = None):
        super().__init__()
        self.resolution, self.is_first = resolution, in_channels == 0
        if self.is_first:
            self.const = Parameter(randn(out_channels, resolution, resolution))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        fused_modconv=fused_modconv)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution,
                                    fused_modconv=fused_modconv)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, fused_modconv=fused_modconv)
        self.num_conv = 1 if self.is_first else 2
        self.register_buffer("resample_filter", setup_filter(list(RESAMPLE_FILTER)),
                             persistent=False)

    def forward(self, x: Tensor | None, img: Tensor | None, ws: Tensor,
                noise_mode: str = "random") -> tuple:
        i = 0
        if self.is_first:
            n = ws.shape[0]
            x = self.const.reshape(1, *self.const.shape).expand(n, *self.const.shape)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode)
            i = 1
        x = self.conv1(x, ws[:, i], noise_mode)
        y = self.torgb(x, ws[:, i + 1])
        img = y if img is None else F.upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, img_channels, 32, 32) through blocks 4, 8, 16, 32.

    Args:
        w_dim: size of w.
        channels: {resolution: channels} for 4, 8, 16, 32.
        img_channels: 1 or 3.
        fused_modconv: True / False, or None for the faster path on the device.
        linear_output: the reference's unbounded image (the sum of the ToRGBs) instead of
            its tanh.
    """

    def __init__(self, w_dim: int, channels: dict, img_channels: int = 1,
                 fused_modconv: bool | None = None, linear_output: bool = False):
        super().__init__()
        self.linear_output = bool(linear_output)
        self.resolutions = sorted(channels)
        if self.resolutions != [4, 8, 16, 32]:
            raise ValueError(f"SynthesisNetwork: expected channels for resolutions 4, 8, 16, 32, "
                             f"got {self.resolutions}")
        self.w_dim, self.img_channels = w_dim, img_channels
        blocks, prev = [], 0
        for r in self.resolutions:
            blocks.append(SynthesisBlock(prev, channels[r], w_dim, r, img_channels, fused_modconv))
            prev = channels[r]
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(b.num_conv for b in blocks) + 1

    def block_ws(self, ws: Tensor) -> list:
        """Each block's slice of ws: its convs' and its ToRGB's (which the next block's first
        conv shares)."""
        out, i = [], 0
        for b in self.blocks:
            out.append(ws[:, i:i + b.num_conv + 1])
            i += b.num_conv
        return out

    def forward(self, ws: Tensor, noise_mode: str = "random") -> Tensor:
        if not isinstance(ws, Tensor) or ws.ndim != 3 or tuple(ws.shape[1:]) != (self.num_ws,
                                                                                 self.w_dim):
            raise ValueError(f"SynthesisNetwork: expected ws of shape (N, {self.num_ws}, "
                             f"{self.w_dim}), got {_shape(ws)}")
        x = img = None
        for block, w in zip(self.blocks, self.block_ws(ws)):
            x, img = block(x, img, w, noise_mode)
        # tanh maps the skip sum into the data's (-1, 1) (module docstring: why, and the
        # reference's unbounded output kept as linear_output).
        return img if self.linear_output else img.tanh()

    def extra_repr(self) -> str:
        return f"num_ws={self.num_ws}, output={'linear' if self.linear_output else 'tanh'}"


class Generator(nn.Module):
    """G(z, c) = synthesis(mapping(z, c)): z (N, z_dim), c (N, c_dim) or None -> (N, C, 32, 32)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, channels: dict, img_channels: int = 1,
                 mapping_layers: int = 2, fused_modconv: bool | None = None,
                 linear_output: bool = False):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.synthesis = SynthesisNetwork(w_dim, channels, img_channels, fused_modconv,
                                          linear_output)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, mapping_layers)

    def forward(self, z: Tensor, c: Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "random") -> Tensor:
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise_mode)


class DiscriminatorBlock(nn.Module):
    """Residual block: [FromRGB] -> conv 3x3 -> conv 3x3 down 2, plus a 1x1 skip down 2;
    (skip + main) * sqrt(0.5).  (N, C_in, R, R) -> (N, C_out, R/2, R/2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int,
                 img_channels: int):
        super().__init__()
        self.fromrgb = (EqualizedConv2d(img_channels, tmp_channels, 1, activation="lrelu")
                        if in_channels == 0 else None)
        self.conv0 = EqualizedConv2d(tmp_channels, tmp_channels, 3, activation="lrelu")
        self.conv1 = EqualizedConv2d(tmp_channels, out_channels, 3, activation="lrelu", down=2)
        self.skip = EqualizedConv2d(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: Tensor) -> Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        y = self.skip(x)
        x = self.conv1(self.conv0(x))
        # StyleGAN2 Fig. 7c: sum of two unit-variance branches, scaled back to unit variance.
        return (x + y) * math.sqrt(0.5)


class DiscriminatorEpilogue(nn.Module):
    """At 4x4: minibatch stddev, conv 3x3, fc, fc out.  (N, C, 4, 4) [, cmap] -> (N, 1)."""

    def __init__(self, in_channels: int, cmap_dim: int = 0, mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1):
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd_group_size, self.mbstd_num_channels = mbstd_group_size, mbstd_num_channels
        self.conv = EqualizedConv2d(in_channels + mbstd_num_channels, in_channels, 3,
                                    activation="lrelu")
        self.fc = EqualizedLinear(in_channels * 16, in_channels, activation="lrelu")
        self.out = EqualizedLinear(in_channels, cmap_dim if cmap_dim > 0 else 1)

    def group_size(self, n: int) -> int:
        """The minibatch stddev's group for a batch of n: the largest <= mbstd_group_size
        dividing n (a last, short batch gets a smaller one)."""
        return max(d for d in range(1, min(self.mbstd_group_size, n) + 1) if n % d == 0)

    def forward(self, x: Tensor, cmap: Tensor | None = None) -> Tensor:
        n = x.shape[0]
        x = F.minibatch_stddev(x, group_size=self.group_size(n),
                               num_channels=self.mbstd_num_channels)
        x = self.conv(x)
        x = self.out(self.fc(x.reshape(n, -1)))
        if self.cmap_dim > 0:
            # Projection (Miyato & Koyama 2018, eq. 3), normalized by sqrt(cmap_dim).
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """D(x[, c]): images (N, img_channels, 32, 32) [and one-hot c (N, c_dim)] -> logits (N, 1).

    Args:
        channels: {resolution: channels} for 32, 16, 8, 4.
        img_channels: 1 or 3.
        c_dim: size of the one-hot label (0: unconditional).
        cmap_dim: size of the projection's embedding (default: channels[4]).
        mbstd_group_size, mbstd_num_channels: the minibatch stddev's (F.minibatch_stddev).
    """

    def __init__(self, channels: dict, img_channels: int = 1, c_dim: int = 0,
                 cmap_dim: int | None = None, mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1):
        super().__init__()
        if sorted(channels) != [4, 8, 16, 32]:
            raise ValueError(f"Discriminator: expected channels for resolutions 32, 16, 8, 4, "
                             f"got {sorted(channels)}")
        self.img_channels, self.c_dim = img_channels, c_dim
        blocks, prev = [], 0
        for r in (32, 16, 8):
            blocks.append(DiscriminatorBlock(prev, channels[r], channels[r // 2], img_channels))
            prev = channels[r // 2]
        self.blocks = nn.ModuleList(blocks)
        cmap_dim = (channels[4] if cmap_dim is None else cmap_dim) if c_dim > 0 else 0
        self.embed = EqualizedLinear(c_dim, cmap_dim) if c_dim > 0 else None   # the cmap
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, mbstd_group_size,
                                        mbstd_num_channels)

    def forward(self, img: Tensor, c: Tensor | None = None) -> Tensor:
        if not isinstance(img, Tensor) or img.ndim != 4 or tuple(img.shape[1:]) != (
                self.img_channels, RESOLUTION, RESOLUTION):
            raise ValueError(f"Discriminator: expected images of shape (N, {self.img_channels}, "
                             f"32, 32), got {_shape(img)}")
        x = img
        for block in self.blocks:
            x = block(x)
        cmap = None
        if self.embed is not None:
            if not isinstance(c, Tensor) or tuple(c.shape) != (img.shape[0], self.c_dim):
                raise ValueError(f"Discriminator: expected c of shape ({img.shape[0]}, "
                                 f"{self.c_dim}), got {_shape(c)}")
            cmap = self.embed(c)
        return self.b4(x, cmap)


class StyleGAN(GAN):
    """StyleGAN2's networks at 32x32 with the plain non-saturating logistic loss.

    ``d_loss`` / ``g_loss`` are GAN's (softplus of D's logits; StyleGAN2 uses exactly this
    loss) WITHOUT R1, path-length regularization or style mixing: those are the training
    step's, ``tinygan.train.stylegan.StyleGANStepper``.

    Args:
        preset: 'cpu' (G 64-32 channels, D 32-64, z 64, w 128, 2 mapping layers) or 'gpu'
            (G 256-128, D 128-256, z 256, w 256, 4 mapping layers).
        conditional: G and D take class labels (10 classes).
        image_channels: 1 or 3.
        fused_modconv: None picks the faster path per device (non-fused on a CPU).
        linear_output: the reference code's unbounded output instead of tanh (the ablation;
            module docstring).

    Parameter counts (``sum(p.data.size for p in net.parameters())``, 1 channel; counted with
    that code), unconditional / conditional:
        cpu: G 253,227 (mapping 24,832, synthesis 228,395), D 230,497 /
             G 271,019 (mapping 42,624), D 235,296;
        gpu: G 3,335,307 (mapping 263,168, synthesis 3,072,139), D 3,674,497 /
             G 3,403,659 (mapping 331,520), D 3,742,848.
    """

    name = "stylegan"
    PRESETS = PRESETS           # the sizes and their recipes (module level, above)
    num_classes = NUM_CLASSES
    truncation = "psi"           # tinygan sample --truncation T: w = w_avg + T (w - w_avg)
    image_shape = (1, RESOLUTION, RESOLUTION)
    defaults = dict(optimizer="adam", lr_g=0.0025, lr_d=0.0025, betas=(0.0, 0.99), n_critic=1,
                    batch_size=32)

    def __init__(self, preset: str = "cpu", conditional: bool = False, image_channels: int = 1,
                 fused_modconv: bool | None = None, linear_output: bool = False):
        if preset not in PRESETS:
            raise ValueError(f"StyleGAN: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        if image_channels not in (1, 3):
            raise ValueError(f"StyleGAN: image_channels must be 1 or 3, got {image_channels!r}")
        p = PRESETS[preset]
        c_dim = NUM_CLASSES if conditional else 0
        super().__init__(
            Generator(p["z_dim"], c_dim, p["w_dim"], p["g_channels"], image_channels,
                      p["mapping_layers"], fused_modconv, linear_output),
            Discriminator(p["d_channels"], image_channels, c_dim,
                          mbstd_group_size=p["mbstd_group_size"],
                          mbstd_num_channels=p["mbstd_num_channels"]))
        self.preset, self.conditional = preset, bool(conditional)
        self.latent_dim = p["z_dim"]
        self.image_shape = (image_channels, RESOLUTION, RESOLUTION)

    def _onehot(self, labels: Tensor | None, n: int, dtype, op: str):
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError(f"StyleGAN.{op}: the conditional model needs labels of shape ({n},)")
        if not isinstance(labels, Tensor) or tuple(labels.shape) != (n,):
            raise ValueError(f"StyleGAN.{op}: labels must have shape ({n},), got "
                             f"{_shape(labels)}")
        return one_hot(labels, NUM_CLASSES, dtype)

    def sample_noise(self, n: int, device=None) -> tuple:
        """z ~ N(0, I) (n, latent_dim); labels 0, 1, ..., 9, 0, ... when conditional, else None."""
        device = self._device(device)
        z = randn(n, self.latent_dim, device=device)
        return z, (cycling_labels(n, NUM_CLASSES, device) if self.conditional else None)

    def generate(self, z: Tensor, labels: Tensor | None = None, truncation_psi: float = 1,
                 truncation_cutoff: int | None = None, noise_mode: str = "random") -> Tensor:
        """G(z, y) -> (N, C, 32, 32); without labels a conditional model cycles the classes."""
        if self.conditional and labels is None:
            labels = cycling_labels(z.shape[0], NUM_CLASSES, z.device)
        c = self._onehot(labels, z.shape[0], z.dtype, "generate")
        return self.G(z, c, truncation_psi, truncation_cutoff, noise_mode)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D(x, y) -> logits (N, 1)."""
        return self.D(x, self._onehot(labels, x.shape[0], x.dtype, "discriminate"))

    def discriminate_both(self, reals: Tensor, real_labels: Tensor | None, fakes: Tensor,
                          fake_labels: Tensor | None) -> tuple:
        """(D(reals), D(fakes)), each (N, 1), from ONE pass of D over the 2N images.

        The same numbers as two calls of ``discriminate`` (up to float rounding), in half
        the calls: every layer runs once on 2N images instead of twice on N, which halves
        the Python work per image and gives the CPU's threads larger pieces (on 2 cores D's
        forward and backward in a training step took 13% less time).  Gradients reach both
        batches (and D) as through two calls: the interleaving is a reshape and a concatenation.

        The one layer that mixes samples is the minibatch stddev.  With group size g and
        n = N / g it puts sample k*n + j in group j, so on 2N images it would mix reals
        with fakes.  Interleaved in blocks of n -- reals[0:n], fakes[0:n], reals[n:2n],
        fakes[n:2n], ... -- the 2N images' group j is the reals' group j for j < n and
        the fakes' group j - n after: the groups each batch has alone.  That needs the
        same g for 2N as for N (a batch of 2 with group 4 would get one group of 4); where
        it differs, or the batches differ in size, this is two calls after all.
        """
        n_all = reals.shape[0]
        epilogue = self.D.b4
        g = epilogue.group_size(n_all)
        if tuple(fakes.shape) != tuple(reals.shape) or epilogue.group_size(2 * n_all) != g:
            return self.discriminate(reals, real_labels), self.discriminate(fakes, fake_labels)
        n = n_all // g

        def interleave(a, b):
            # (g, n, ...) and (g, n, ...) -> (g, 2, n, ...) -> (2N, ...): block k is a's, b's
            return cat([a.reshape(g, 1, n, *a.shape[1:]), b.reshape(g, 1, n, *b.shape[1:])],
                       dim=1).reshape(2 * n_all, *a.shape[1:])
        labels = None
        if self.conditional:
            c_real = self._onehot(real_labels, n_all, reals.dtype, "discriminate_both")
            c_fake = self._onehot(fake_labels, n_all, reals.dtype, "discriminate_both")
            labels = interleave(c_real, c_fake)
        logits = self.D(interleave(reals, fakes), labels).reshape(g, 2, n, -1)
        return logits[:, 0].reshape(n_all, -1), logits[:, 1].reshape(n_all, -1)
