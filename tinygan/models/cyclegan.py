"""CycleGAN-lite: unpaired image-to-image translation between two domains of 28x28 digits
(Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks"), with the reference code's networks made small.

Two generators, G_AB: A -> B and G_BA: B -> A (the paper's G: X -> Y and F: Y -> X), and two
discriminators, D_B judging domain B (real b against G_AB(a); the paper's D_Y) and D_A judging
domain A (real a against G_BA(b); D_X).  Nothing pairs an a with a b: each network sees a
batch of each domain drawn independently.

The objective (Zhu et al. 2017, eq. 1-3, with the least-squares GAN of sec. 4 and the identity
loss of sec. 5.2)::

    L_GAN(G_AB, D_B) = E_b (D_B(b) - 1)^2 + E_a D_B(G_AB(a))^2                      (eq. 1, LSGAN)
    L_cyc = E_a |G_BA(G_AB(a)) - a|_1 + E_b |G_AB(G_BA(b)) - b|_1                   (eq. 2)
    L = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + lambda L_cyc                          (eq. 3)
    L_id = E_b |G_AB(b) - b|_1 + E_a |G_BA(a) - a|_1  (weighted 0.5 lambda)          (sec. 5.2)

The generators minimize (the reference's ``backward_G``)::

    L_G = MSE(D_B(G_AB(a)), 1) + MSE(D_A(G_BA(b)), 1) + lambda L_cyc + 0.5 lambda L_id

and each discriminator its half of eq. 1, halved "to slow down the rate at which D learns
relative to G" (sec. 7.1; the reference's ``backward_D_basic``)::

    L_D_B = 0.5 (MSE(D_B(b), 1) + MSE(D_B(fake_b), 0))

where fake_b comes from the image pool (tinygan/train/image_pool.py).  MSE is the mean over
the batch and over every patch of D's output; |.|_1 the mean absolute error over pixels.
lambda = 10 (sec. 4).  The cycle (eq. 2) is what makes the problem well posed: an adversarial
loss alone only asks that G_AB(a) look like *some* b; G_BA must also be able to give a back.
The identity term asks a generator fed an image already of its target domain to leave it
alone, which keeps the translation from changing what it need not (the paper's colours).

Generator (the reference's ``ResnetGenerator``; Johnson et al. 2016)::

    ReflectionPad2d(3), Conv 7x7 ngf, IN, ReLU              (N, ngf,  28, 28)
    Conv 3x3 stride 2 2ngf, IN, ReLU                        (N, 2ngf, 14, 14)
    Conv 3x3 stride 2 4ngf, IN, ReLU                        (N, 4ngf,  7,  7)
    n_blocks x ResnetBlock: x + [pad 1, 3x3, IN, ReLU, pad 1, 3x3, IN](x)
    ConvTranspose 3x3 stride 2 pad 1 output_padding 1 2ngf, IN, ReLU    (N, 2ngf, 14, 14)
    ConvTranspose 3x3 stride 2 pad 1 output_padding 1 ngf, IN, ReLU     (N, ngf,  28, 28)
    ReflectionPad2d(3), Conv 7x7 -> 1 channel, tanh          (N, 1, 28, 28)

IN is instance norm without affine parameters and without running statistics (the reference's
``norm='instance'``): each image's every channel is normalized on its own, so a translation
does not depend on the other images of the batch, and train and eval mode are the same.  Since
IN removes each channel's mean, the bias of a conv before it cancels; the reference keeps the
biases (``use_bias = True`` for instance norm), and so does this file.

Discriminator (the reference's ``NLayerDiscriminator``, the PatchGAN of Isola et al. 2017)::

    Conv 4x4 stride 2 pad 1 ndf, LeakyReLU 0.2                         (no IN on the first)
    for i in 1 .. n_layers - 1:  Conv 4x4 stride 2 pad 1 ndf * 2^i (at most 8 ndf), IN, LReLU
    Conv 4x4 stride 1 pad 1 ndf * 2^n_layers (at most 8 ndf), IN, LeakyReLU 0.2
    Conv 4x4 stride 1 pad 1 -> 1                                       (no IN on the last)

Its output is a map of scores, one per patch of the input.  The receptive field r of one output
(lesson 03's formula, from the last layer back: r <- (r - 1) * stride + kernel, starting at
r = 1), for the reference's ``n_layers = 3`` on 256 px images: strides 2, 2, 2, 1, 1 give
r = 1 -> 4 -> 7 -> 16 -> 34 -> 70, the "70x70 PatchGAN".  That D on a 28 px digit would shrink
it to 28 -> 14 -> 7 -> 3 -> 2 -> 1 and see the whole image.  Here ``n_layers = 2``:
strides 2, 2, 1, 1::

    r = 1 -> 4 (last conv) -> 7 (the stride-1 conv) -> (7 - 1) * 2 + 4 = 16 -> (16 - 1) * 2 + 4 = 34

Output size (PyTorch's conv formula, floor((in + 2 pad - k) / s) + 1): 28 -> 14 -> 7 -> 6 -> 5,
a 5x5 map of scores, each of which looks at a 34x34 window: the whole 28 px digit and the
padding around it, from a different offset (``PatchDiscriminator.output_size``,
``receptive_field``; tests/models/test_cyclegan.py checks both by perturbing one input pixel).
Why not a true patch here: with ``n_layers = 1`` (r = 16, a 12x12 map; pix2pix's 16x16
PatchGAN) every score sees a bit over half the digit, strokes and background but not the
digit's shape -- and the cycle then finds it easy to hide a's shape in blobs that look like B
patch by patch: G_AB's outputs were scrambled strokes, the cycle rebuilt a from them exactly,
and the frozen classifier read the digit of a in G_AB(a) no better than chance (0.10-0.15
both ways after 1,500-1,800 steps; 0.54 / 0.57 after the whole epoch, with many translations
of the wrong class).  With r = 34 after 1,800 steps the digit was kept 0.987 / 0.971 of the
time (benchmarks/README.md, "CycleGAN-lite: the discriminator's field").  The scores still
come from a map, so the PatchGAN's idea -- many overlapping judgements instead of one -- is kept.
(Instance norm takes its mean and variance over the whole map, so strictly every score
depends a little on every pixel; the receptive field counts what a score's convolutions look
at.)

Sizes (``PRESETS``; every weight and bias counted, ``parameter_count``)::

    cpu: ngf 16, 3 residual blocks, ndf 32, n_layers 2: each G 269,377, each D 166,625; all four 872,004
    gpu: ngf 64, 9 residual blocks, ndf 64, n_layers 2: each G 11,365,633, each D 660,929; all four 24,053,124

(gpu: the reference's ngf 64 and 9 blocks as they are, its ndf 64 with the 28 px PatchGAN
above).  A training step of the cpu preset (both generators, both discriminators, a batch of
8 images of each domain) takes about 0.37 s on one thread of a 2-core CPU shared with other
jobs (``tinygan train cyclegan`` on one thread: 1,800 steps in 666 s), so one epoch of 3,750
steps, the default, fits in about 25 minutes (benchmarks/README.md, "CycleGAN-lite step").

Initialization: every conv weight ~ N(0, 0.02), every bias 0 (the reference's
``init_type='normal'``, ``init_gain=0.02``).  Training settings (``defaults``, sec. 4): Adam
2e-4 with betas (0.5, 0.999), the rate constant for the first half of the epochs, then falling
linearly to 0 (tinygan/train/cyclegan.py); the paper's batch is 1.
"""
from __future__ import annotations

import math

from .. import nn
from ..autograd import Tensor
from ..nn import functional as F
from ..nn import init
from .base import frozen

RESOLUTION = 28
LAMBDA_CYC = 10.0            # lambda of eq. 3 (sec. 4)
LAMBDA_ID = 0.5 * LAMBDA_CYC  # the identity loss's weight, 0.5 lambda (sec. 5.2)

PRESETS = {
    "cpu": dict(ngf=16, n_blocks=3, ndf=32, n_layers=2),
    "gpu": dict(ngf=64, n_blocks=9, ndf=64, n_layers=2),
}


def _init_normal(module: nn.Module) -> nn.Module:
    """Every conv weight of ``module`` ~ N(0, 0.02), every bias 0 (the reference's 'normal')."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                init.zeros_(layer.bias)
    return module


def _check_image(x, channels: int, op: str) -> None:
    """ValueError naming ``op`` unless ``x`` is an (N, channels, H, W) Tensor."""
    if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != channels:
        got = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{op}: expected images (N, {channels}, H, W), got {got}")


class ResnetBlock(nn.Module):
    """x + [reflect pad 1, conv 3x3, IN, ReLU, reflect pad 1, conv 3x3, IN](x).

    Shapes: (N, C, H, W) -> (N, C, H, W), H and W at least 2 (the mirror padding).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """The ResNet generator of the module docstring.

    Args:
        in_channels, out_channels: image channels (1 for the digits).
        ngf: the width of the first layer (doubled by each of the two downsamplings).
        n_blocks: residual blocks at the bottleneck (H/4, W/4).

    Shapes: (N, in_channels, H, W) -> (N, out_channels, H, W) in (-1, 1); H and W multiples
    of 4 and at least 8 (28 -> 14 -> 7 -> 14 -> 28).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ngf: int = 16,
                 n_blocks: int = 4):
        super().__init__()
        for name, value, low in (("ngf", ngf, 1), ("n_blocks", n_blocks, 0),
                                 ("in_channels", in_channels, 1), ("out_channels", out_channels, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"ResnetGenerator: {name} must be a whole number >= {low}, "
                                 f"got {value!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.ngf, self.n_blocks = ngf, n_blocks
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7), nn.InstanceNorm2d(ngf),
                  nn.ReLU()]
        for i in range(2):                                       # downsampling: H -> H/2 -> H/4
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c),
                       nn.ReLU()]
        layers += [ResnetBlock(4 * ngf) for _ in range(n_blocks)]
        for i in range(2):                                       # upsampling: H/4 -> H/2 -> H
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                       nn.InstanceNorm2d(c // 2), nn.ReLU()]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = _init_normal(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x, self.in_channels, "ResnetGenerator")
        h, w = x.shape[-2:]
        if h % 4 or w % 4 or h < 8 or w < 8:
            raise ValueError(f"ResnetGenerator: height and width must be multiples of 4 and at "
                             f"least 8 (two stride-2 downsamplings, then mirror padding), got "
                             f"{tuple(x.shape)}")
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """The PatchGAN discriminator of the module docstring: a map of LSGAN scores, one per
    ``receptive_field`` x ``receptive_field`` patch.

    Args:
        in_channels: image channels.
        ndf: the width of the first conv (doubled by each further conv, at most 8 ndf).
        n_layers: the stride-2 convs (the presets' 2: a 34x34 field over a 28 px digit; 1: a
            16x16 PatchGAN).

    Shapes: (N, in_channels, H, W) -> (N, 1, H', W'), H' = ``output_size(H)`` (5 for 28 with
    n_layers 2, 12 with n_layers 1).
    """

    def __init__(self, in_channels: int = 1, ndf: int = 32, n_layers: int = 1):
        super().__init__()
        for name, value in (("ndf", ndf), ("n_layers", n_layers), ("in_channels", in_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PatchDiscriminator: {name} must be a whole number >= 1, "
                                 f"got {value!r}")
        self.in_channels, self.ndf, self.n_layers = in_channels, ndf, n_layers
        layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c = ndf
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1      # the last of these keeps the size
            out = ndf * min(2 ** i, 8)
            layers += [nn.Conv2d(c, out, 4, stride=stride, padding=1), nn.InstanceNorm2d(out),
                       nn.LeakyReLU(0.2)]
            c = out
        layers += [nn.Conv2d(c, 1, 4, stride=1, padding=1)]
        self.model = _init_normal(nn.Sequential(*layers))

    def strides(self) -> list:
        """The (kernel, stride) of every conv, input to output."""
        return [(4, 2)] * self.n_layers + [(4, 1), (4, 1)]

    @property
    def receptive_field(self) -> int:
        """The side of the input patch one output sees: r <- (r - 1) s + k, last layer first."""
        r = 1
        for k, s in reversed(self.strides()):
            r = (r - 1) * s + k
        return r

    def output_size(self, size: int) -> int:
        """The output's side for an input side ``size``: floor((size + 2 - 4) / s) + 1 per conv."""
        for k, s in self.strides():
            size = (size + 2 - k) // s + 1
        return size

    def forward(self, x: Tensor) -> Tensor:
        _check_image(x, self.in_channels, "PatchDiscriminator")
        if min(x.shape[-2:]) < 2 ** (self.n_layers + 2):
            raise ValueError(f"PatchDiscriminator: images of {tuple(x.shape)} are too small for "
                             f"{self.n_layers} stride-2 conv(s); at least "
                             f"{2 ** (self.n_layers + 2)} pixels a side")
        return self.model(x)


def _mse_to(out: Tensor, target: float) -> Tensor:
    """The mean of (out - target)^2 over every patch score: LSGAN's MSE to 1 (real) or 0 (fake)."""
    d = out - target
    return (d * d).mean()


class CycleGAN(nn.Module):
    """CycleGAN-lite (Zhu et al. 2017): G_AB, G_BA (ResNet generators), D_A, D_B (PatchGANs).

    Args:
        preset: ``"cpu"`` or ``"gpu"`` (``PRESETS``: ngf, n_blocks, ndf, n_layers).
        image_channels: 1 (the digit domains).

    ``generate(a)`` is G_AB(a) (what the loop's sample grid would draw); ``translate(x,
    direction)`` either way.  The losses (module docstring): ``generator_loss(a, b,
    lambda_cyc, lambda_id)``, ``discriminator_loss(D, real, fake)``.
    """

    name = "cyclegan"
    image_shape = (1, RESOLUTION, RESOLUTION)
    latent_dim = 0                  # no noise: a translation's input is an image
    sampler = ""                    # both generators translate: the whole model is what ships
    defaults = dict(optimizer="adam", lr=2e-4, betas=(0.5, 0.999), batch_size=8, epochs=1,
                    lambda_cyc=LAMBDA_CYC, lambda_id=LAMBDA_ID)

    def __init__(self, preset: str = "cpu", image_channels: int = 1):
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"CycleGAN: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        if image_channels not in (1, 3):
            raise ValueError(f"CycleGAN: image_channels must be 1 or 3, got {image_channels!r}")
        p = PRESETS[preset]
        c = image_channels
        self.G_AB = ResnetGenerator(c, c, p["ngf"], p["n_blocks"])
        self.G_BA = ResnetGenerator(c, c, p["ngf"], p["n_blocks"])
        self.D_A = PatchDiscriminator(c, p["ndf"], p["n_layers"])
        self.D_B = PatchDiscriminator(c, p["ndf"], p["n_layers"])
        self.preset, self.image_channels = preset, image_channels
        self.image_shape = (c, RESOLUTION, RESOLUTION)

    def options(self) -> dict:
        """The constructor's arguments (kept in a run's config.json)."""
        return dict(preset=self.preset, image_channels=self.image_channels)

    # -- what the rest of tinygan calls --------------------------------------------------
    def sample_noise(self, n: int, device=None) -> tuple:
        raise ValueError("cyclegan draws no noise: it translates images; use "
                         "`tinygan translate RUN --direction AB|BA --in FILE.npz --out FILE.npz`")

    def generator(self, direction: str) -> ResnetGenerator:
        """G_AB for ``"AB"``, G_BA for ``"BA"``."""
        if direction not in ("AB", "BA"):
            raise ValueError(f"CycleGAN: direction must be 'AB' or 'BA', got {direction!r}")
        return self.G_AB if direction == "AB" else self.G_BA

    def translate(self, x: Tensor, direction: str = "AB") -> Tensor:
        """``x`` (N, C, 28, 28) of the source domain -> (N, C, 28, 28) of the other one."""
        return self.generator(direction)(x)

    def generate(self, z: Tensor, labels=None) -> Tensor:
        """G_AB(z), ``z`` being images of domain A (N, C, 28, 28)."""
        return self.G_AB(z)

    def g_parameters(self) -> list:
        return list(self.G_AB.parameters()) + list(self.G_BA.parameters())

    def d_parameters(self) -> list:
        return list(self.D_A.parameters()) + list(self.D_B.parameters())

    # -- the objective --------------------------------------------------------------------
    def generator_loss(self, a: Tensor, b: Tensor, lambda_cyc: float = LAMBDA_CYC,
                       lambda_id: float = LAMBDA_ID) -> tuple:
        """L_G of the module docstring on unpaired batches ``a`` (N, C, 28, 28) and ``b``.

        Returns ``(loss, stats, fake_b, fake_a)``: the loss (0-d), the terms to log as 0-d
        arrays (``g_adv``, ``cycle_a``, ``cycle_b``, ``idt_a``, ``idt_b``: the unweighted L1
        means, ``idt_*`` only when ``lambda_id`` > 0) and G_AB(a), G_BA(b) for the D step.
        The discriminators' weights get no gradient here (their step is separate).
        """
        _check_image(a, self.image_channels, "CycleGAN.generator_loss (a)")
        _check_image(b, self.image_channels, "CycleGAN.generator_loss (b)")
        fake_b, fake_a = self.G_AB(a), self.G_BA(b)
        with frozen(self.D_A, self.D_B):
            adv = _mse_to(self.D_B(fake_b), 1.0) + _mse_to(self.D_A(fake_a), 1.0)   # eq. 1, G's side
        cycle_a = F.l1_loss(self.G_BA(fake_b), a)                                   # eq. 2
        cycle_b = F.l1_loss(self.G_AB(fake_a), b)
        loss = adv + lambda_cyc * (cycle_a + cycle_b)                               # eq. 3
        stats = {"g_adv": adv.data, "cycle_a": cycle_a.data, "cycle_b": cycle_b.data}
        if lambda_id > 0:                                                           # sec. 5.2
            idt_a = F.l1_loss(self.G_BA(a), a)      # G_BA fed a, already of its target domain
            idt_b = F.l1_loss(self.G_AB(b), b)
            loss = loss + lambda_id * (idt_a + idt_b)
            stats.update(idt_a=idt_a.data, idt_b=idt_b.data)
        return loss, stats, fake_b, fake_a

    @staticmethod
    def discriminator_loss(D: PatchDiscriminator, real: Tensor, fake: Tensor) -> Tensor:
        """0.5 (MSE(D(real), 1) + MSE(D(fake), 0)): LSGAN's D side of eq. 1, halved (sec. 7.1);
        ``fake`` is detached (the generators are not trained by it)."""
        return 0.5 * (_mse_to(D(real), 1.0) + _mse_to(D(fake.detach()), 0.0))


def parameter_count(module: nn.Module) -> int:
    """Every weight and bias of ``module``."""
    return sum(int(math.prod(p.shape)) for p in module.parameters())


__all__ = ["CycleGAN", "ResnetGenerator", "ResnetBlock", "PatchDiscriminator", "PRESETS",
           "LAMBDA_CYC", "LAMBDA_ID", "parameter_count"]
