"""tinygan's CycleGAN-lite (tinygan/models/cyclegan.py) and its training step in plain PyTorch.

The twin the CycleGAN benchmark compares against: the same networks, layer for layer and with
the same parameter names (``model.1.weight``, ``model.10.block.1.weight``, ...), so that
``copy_from_tinygan`` can load a tinygan CycleGAN family's weights into it and both start
from the same initialization; and the same step as tinygan/train/cyclegan.py's
CycleGANStepper (Zhu et al. 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks"):

    G step   G_AB and G_BA together on L_G = LSGAN adversarial (eq. 1, G's side)
             + lambda_cyc (|G_BA(G_AB(a)) - a|_1 + |G_AB(G_BA(b)) - b|_1)       (eq. 2, 3)
             + lambda_id (|G_BA(a) - a|_1 + |G_AB(b) - b|_1)                      (sec. 5.2)
             with D_A's and D_B's weights constants
    D step   D_A on real a against G_BA(b), D_B on real b against G_AB(a), each LSGAN loss
             halved (sec. 7.1), both in one backward (they share no weight)

with one Adam for both generators and one for both discriminators, lr 2e-4, betas (0.5, 0.999).
The trainer shows each D its generated batch through a 50-image pool; a pool changes which
images D sees, not the work of the step, so for timing this twin (and the benchmark's tinygan
side, run with ``no_pool``) shows D the fresh fakes of the same step.  The parts:

- the ResNet generator: reflection pad 3, 7x7 conv, two stride-2 convs down, ``n_blocks``
  residual blocks x + [pad 1, 3x3 conv, IN, ReLU, pad 1, 3x3 conv, IN](x), two transposed
  convs up, pad 3, 7x7 conv, tanh; instance norm without affine or running statistics;
- the PatchGAN: 4x4 convs, stride 2 but the last two, LeakyReLU 0.2, instance norm after
  every conv but the first and the last; one LSGAN score per patch.

    generator(torch, in_channels, out_channels, ngf, n_blocks) -> nn.Module   (.model)
    discriminator(torch, in_channels, ndf, n_layers)           -> nn.Module   (.model)
    build(torch, preset="cpu", image_channels=1, device="cpu") -> (G_AB, G_BA, D_A, D_B)
    copy_module(src, dst)                  one tinygan network's weights into its twin
    copy_from_tinygan(family, G_AB, G_BA, D_A, D_B)
    Stepper(torch, G_AB, G_BA, D_A, D_B, ...)        .step(a, b) -> dict of losses
"""
from __future__ import annotations

from side_by_side import copy_into_twin   # benchmarks/ is on the path of every user of a twin

# The networks' sizes, as tinygan.models.cyclegan.PRESETS (kept here so that the twin runs
# without tinygan; the benchmark's test compares the two tables).
PRESETS = {
    "cpu": dict(ngf=16, n_blocks=3, ndf=32, n_layers=2),
    "gpu": dict(ngf=64, n_blocks=9, ndf=64, n_layers=2),
}
LR, BETAS = 2e-4, (0.5, 0.999)
LAMBDA_CYC, LAMBDA_ID = 10.0, 5.0


def generator(torch, in_channels: int = 1, out_channels: int = 1, ngf: int = 16,
              n_blocks: int = 3):
    """The ResNet generator: (N, in_channels, H, W) -> (N, out_channels, H, W) in (-1, 1), H and
    W multiples of 4.  Its layers are ``.model`` (an nn.Sequential), as tinygan's."""
    nn = torch.nn

    class ResnetBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.block = nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(),
                nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

        def forward(self, x):
            return x + self.block(x)

    class ResnetGenerator(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7),
                      nn.InstanceNorm2d(ngf), nn.ReLU()]
            for i in range(2):                                   # H -> H/2 -> H/4
                c = ngf * 2 ** i
                layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c),
                           nn.ReLU()]
            layers += [ResnetBlock(4 * ngf) for _ in range(n_blocks)]
            for i in range(2):                                   # H/4 -> H/2 -> H
                c = ngf * 2 ** (2 - i)
                layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1,
                                              output_padding=1),
                           nn.InstanceNorm2d(c // 2), nn.ReLU()]
            layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
            self.model = nn.Sequential(*layers)

        def forward(self, x):
            return self.model(x)

    return ResnetGenerator()


def discriminator(torch, in_channels: int = 1, ndf: int = 32, n_layers: int = 2):
    """The PatchGAN: (N, in_channels, H, W) -> (N, 1, H', W') scores (5 x 5 for 28 px and
    n_layers 2).  Its layers are ``.model``, as tinygan's."""
    nn = torch.nn
    layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
    c = ndf
    for i in range(1, n_layers + 1):
        out = ndf * min(2 ** i, 8)
        layers += [nn.Conv2d(c, out, 4, stride=2 if i < n_layers else 1, padding=1),
                   nn.InstanceNorm2d(out), nn.LeakyReLU(0.2)]
        c = out
    layers += [nn.Conv2d(c, 1, 4, stride=1, padding=1)]

    class PatchDiscriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(*layers)

        def forward(self, x):
            return self.model(x)

    return PatchDiscriminator()


def build(torch, preset: str = "cpu", image_channels: int = 1, device="cpu"):
    """(G_AB, G_BA, D_A, D_B) of a preset on ``device``.  The initialization is PyTorch's;
    copy_from_tinygan replaces all of it."""
    p = PRESETS[preset]
    c = image_channels
    nets = (generator(torch, c, c, p["ngf"], p["n_blocks"]),
            generator(torch, c, c, p["ngf"], p["n_blocks"]),
            discriminator(torch, c, p["ndf"], p["n_layers"]),
            discriminator(torch, c, p["ndf"], p["n_layers"]))
    return tuple(net.to(device) for net in nets)


def copy_module(src, dst) -> None:
    """Copy one tinygan network's parameters (and buffers, if any) into its twin ``dst``, by
    name and strictly (a missing or extra name, or another shape, is an error), the twin's
    dtype and device kept (``side_by_side.copy_into_twin``)."""
    copy_into_twin(src, dst)


def copy_from_tinygan(family, G_AB, G_BA, D_A, D_B) -> None:
    """A tinygan CycleGAN family's four networks into their twins."""
    for name, dst in (("G_AB", G_AB), ("G_BA", G_BA), ("D_A", D_A), ("D_B", D_B)):
        copy_module(getattr(family, name), dst)


def mse_to(out, target: float):
    """LSGAN's mean squared distance of every patch score to ``target`` (1 real, 0 fake)."""
    return ((out - target) ** 2).mean()


class Stepper:
    """CycleGANStepper's step in PyTorch (module docstring), fresh fakes instead of a pool:
    ``step(a, b)`` is the G step on both generators, then the D step on both discriminators;
    it returns the losses (0-d tensors, not read to the host)."""

    def __init__(self, torch, G_AB, G_BA, D_A, D_B, lr=LR, betas=BETAS,
                 lambda_cyc=LAMBDA_CYC, lambda_id=LAMBDA_ID):
        self.torch = torch
        self.G_AB, self.G_BA, self.D_A, self.D_B = G_AB, G_BA, D_A, D_B
        self.lambda_cyc, self.lambda_id = lambda_cyc, lambda_id
        self.opt_g = torch.optim.Adam(list(G_AB.parameters()) + list(G_BA.parameters()),
                                      lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()),
                                      lr=lr, betas=betas)

    def generator_loss(self, a, b):
        """(L_G, G_AB(a), G_BA(b)), the discriminators' weights constants."""
        F = self.torch.nn.functional
        G_AB, G_BA, D_A, D_B = self.G_AB, self.G_BA, self.D_A, self.D_B
        fake_b, fake_a = G_AB(a), G_BA(b)
        D_A.requires_grad_(False)
        D_B.requires_grad_(False)
        adv = mse_to(D_B(fake_b), 1.0) + mse_to(D_A(fake_a), 1.0)            # eq. 1, G's side
        D_A.requires_grad_(True)
        D_B.requires_grad_(True)
        loss = adv + self.lambda_cyc * (F.l1_loss(G_BA(fake_b), a)          # eq. 2, 3
                                        + F.l1_loss(G_AB(fake_a), b))
        if self.lambda_id > 0:                                               # sec. 5.2
            loss = loss + self.lambda_id * (F.l1_loss(G_BA(a), a) + F.l1_loss(G_AB(b), b))
        return loss, fake_b, fake_a

    def discriminator_loss(self, D, real, fake):
        """0.5 (MSE(D(real), 1) + MSE(D(fake), 0)), ``fake`` detached."""
        return 0.5 * (mse_to(D(real), 1.0) + mse_to(D(fake.detach()), 0.0))

    def step(self, a, b) -> dict:
        loss_g, fake_b, fake_a = self.generator_loss(a, b)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        loss_da = self.discriminator_loss(self.D_A, a, fake_a)
        loss_db = self.discriminator_loss(self.D_B, b, fake_b)
        self.opt_d.zero_grad(set_to_none=True)
        (loss_da + loss_db).backward()
        self.opt_d.step()
        return {"g_loss": loss_g.detach(), "d_a": loss_da.detach(), "d_b": loss_db.detach()}
