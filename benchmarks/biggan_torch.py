"""tinygan's BigGAN-lite (tinygan/models/biggan.py) and its training step in plain PyTorch.

The twin the BigGAN benchmark compares against: the same networks, layer for layer and with the
same parameter and buffer names, so that ``copy_from_tinygan`` can load a tinygan BigGAN
family's state into it and both start from the same initialization -- spectral norm's ``u`` and
``v`` vectors included; and the same step as tinygan/train/biggan.py's BigGANStepper (Brock et
al. 2019, "Large Scale GAN Training for High Fidelity Natural Image Synthesis"):

    D step   hinge: mean relu(1 - D(x, y)) + mean relu(1 + D(G(z, y), y)), reals and fakes
             through D as one batch (one power-iteration step per D step)      every real batch
    G step   hinge: -mean D(G(z, y), y), D's weights constants                 every 2nd D step

with Adam G 1e-4, D 4e-4, betas (0, 0.999).  The parts, as tinygan builds them:

- spectral normalization (Miyato et al. 2018, eq. 8, Algorithm 1) by
  ``torch.nn.utils.spectral_norm``, the forward pre-hook whose state tinygan copies by name:
  the Parameter ``weight_orig`` and the buffers ``weight_u``, ``weight_v``; one power-iteration
  step per training-mode forward, none in eval mode;
- hierarchical z and the shared class embedding: z split into one chunk for the linear layer
  and one per G block, each block's condition [z_i | shared(y)];
- conditional BatchNorm (BigGAN sec. 3): BatchNorm without affine, then x_hat (1 + gain(c)) +
  bias(c), gain and bias spectrally normalized Linear layers without bias;
- self-attention (SAGAN, Zhang et al. 2019, eq. 1-3, BigGAN's variant): theta, phi to C/8, g
  to C/2, 2x2 max pooling of phi and g, o back to C, y = x + gamma o;
- the projection discriminator (Miyato & Koyama 2018, eq. 3): Linear(h) + <embed(y), h>.

    build(torch, preset="cpu", image_channels=1, device="cpu") -> (G, D)
    copy_from_tinygan(family, G, D)        the tinygan family's parameters and buffers, into G, D
    Stepper(torch, G, D, ...)              .step(x, labels) -> dict: 2 D steps + 1 G step
"""
from __future__ import annotations

from side_by_side import copy_into_twin   # benchmarks/ is on the path of every user of a twin

# The networks' sizes, as tinygan.models.biggan.PRESETS (kept here so that the twin runs
# without tinygan; the cross-check test compares the two tables).
PRESETS = {
    "cpu": dict(z_dim=64, shared_dim=64, g_channels=(64, 64, 32, 32), d_channels=(32, 64, 64, 64)),
    "gpu": dict(z_dim=128, shared_dim=128, g_channels=(256, 256, 128, 64),
                d_channels=(64, 128, 256, 256)),
}
NUM_CLASSES = 10
LR_G, LR_D, BETAS, N_CRITIC = 1e-4, 4e-4, (0.0, 0.999), 2


def build(torch, preset: str = "cpu", image_channels: int = 1, device="cpu"):
    """(G, D) of a preset on ``device``.  G(z, y) -> (N, C, 32, 32) in [-1, 1]; D(x, y) -> (N, 1)
    logits; y (N,) int64 class labels.  The initialization is PyTorch's; copy_from_tinygan
    replaces all of it."""
    nn, F = torch.nn, torch.nn.functional
    SN = nn.utils.spectral_norm
    p = PRESETS[preset]

    def conv(i, o, k):
        return SN(nn.Conv2d(i, o, k, padding=k // 2))

    class ConditionalBatchNorm2d(nn.Module):
        def __init__(self, c, cond):
            super().__init__()
            self.bn = nn.BatchNorm2d(c, affine=False)
            self.gain = SN(nn.Linear(cond, c, bias=False))
            self.bias = SN(nn.Linear(cond, c, bias=False))

        def forward(self, x, cond):
            n, c = x.shape[:2]
            return (self.bn(x) * (1 + self.gain(cond)).reshape(n, c, 1, 1)
                    + self.bias(cond).reshape(n, c, 1, 1))

    class SelfAttention2d(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.theta = SN(nn.Conv2d(c, c // 8, 1, bias=False))
            self.phi = SN(nn.Conv2d(c, c // 8, 1, bias=False))
            self.g = SN(nn.Conv2d(c, c // 2, 1, bias=False))
            self.o = SN(nn.Conv2d(c // 2, c, 1, bias=False))
            self.gamma = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            n, c, h, w = x.shape
            theta = self.theta(x).reshape(n, c // 8, h * w)
            phi = F.max_pool2d(self.phi(x), 2).reshape(n, c // 8, h * w // 4)
            g = F.max_pool2d(self.g(x), 2).reshape(n, c // 2, h * w // 4)
            beta = F.softmax(theta.transpose(1, 2) @ phi, dim=-1)           # (N, HW, HW/4)
            read = (g @ beta.transpose(1, 2)).reshape(n, c // 2, h, w)
            return x + self.gamma * self.o(read)

    class GBlock(nn.Module):
        def __init__(self, i, o, cond):
            super().__init__()
            self.bn1 = ConditionalBatchNorm2d(i, cond)
            self.conv1 = conv(i, o, 3)
            self.bn2 = ConditionalBatchNorm2d(o, cond)
            self.conv2 = conv(o, o, 3)
            self.conv_sc = conv(i, o, 1)

        def forward(self, x, cond):
            h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2, mode="nearest")
            h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
            return h + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            ch = p["g_channels"]
            self.num_blocks = len(ch) - 1
            self.z_dim, self.chunk = p["z_dim"], p["z_dim"] // (self.num_blocks + 1)
            self.bottom_channels = ch[0]
            self.shared = nn.Embedding(NUM_CLASSES, p["shared_dim"])
            self.linear = SN(nn.Linear(self.chunk, ch[0] * 16))
            cond = self.chunk + p["shared_dim"]
            self.blocks = nn.ModuleList(GBlock(ch[i], ch[i + 1], cond)
                                        for i in range(self.num_blocks))
            self.attention = SelfAttention2d(ch[2])        # after the block reaching 16x16
            self.output_bn = nn.BatchNorm2d(ch[-1])
            self.output_conv = conv(ch[-1], image_channels, 3)

        def forward(self, z, labels):
            chunks = torch.split(z, self.chunk, dim=1)     # hierarchical z
            shared = self.shared(labels)
            x = self.linear(chunks[0]).reshape(z.shape[0], self.bottom_channels, 4, 4)
            for i, block in enumerate(self.blocks):
                x = block(x, torch.cat([chunks[i + 1], shared], dim=1))
                if i == 1:
                    x = self.attention(x)
            return torch.tanh(self.output_conv(F.relu(self.output_bn(x))))

    class DBlock(nn.Module):
        def __init__(self, i, o, preactivation, downsample):
            super().__init__()
            self.preactivation, self.downsample = preactivation, downsample
            self.conv1 = conv(i, o, 3)
            self.conv2 = conv(o, o, 3)
            self.conv_sc = conv(i, o, 1) if (i != o or downsample) else None

        def pool(self, x):
            return F.avg_pool2d(x, 2) if self.downsample else x

        def forward(self, x):
            h = F.relu(x) if self.preactivation else x
            h = self.pool(self.conv2(F.relu(self.conv1(h))))
            if self.conv_sc is None:
                return h + x
            if self.preactivation:
                return h + self.pool(self.conv_sc(x))
            return h + self.conv_sc(self.pool(x))

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            ch = p["d_channels"]
            ins = (image_channels,) + tuple(ch[:-1])
            self.blocks = nn.ModuleList(DBlock(ins[i], ch[i], i > 0, i < len(ch) - 1)
                                        for i in range(len(ch)))
            self.attention = SelfAttention2d(ch[0])        # after the first block (16x16)
            self.linear = SN(nn.Linear(ch[-1], 1))
            self.embed = SN(nn.Embedding(NUM_CLASSES, ch[-1]))

        def features(self, x):
            for i, block in enumerate(self.blocks):
                x = block(x)
                if i == 0:
                    x = self.attention(x)
            return F.relu(x).sum(dim=(2, 3))

        def forward(self, x, labels):
            h = self.features(x)
            return self.linear(h) + (self.embed(labels) * h).sum(1, keepdim=True)   # eq. 3

    return Generator().to(device), Discriminator().to(device)


def copy_from_tinygan(family, G, D) -> None:
    """Copy a tinygan BigGAN family's parameters and buffers (spectral norm's weight_orig,
    weight_u, weight_v; BatchNorm's running statistics) into the twin's G and D, by name and
    strictly (a missing or extra name, or another shape, is an error), the twin's dtype and
    device kept.

    In place into the twin's tensors rather than through ``load_state_dict``: PyTorch's
    spectral-norm hook reads a state without its version metadata as one of an old format
    (which stored the normalized weight and no ``v``) and would recompute ``v``."""
    for src, dst in ((family.G, G), (family.D, D)):
        copy_into_twin(src, dst)


def hinge_d_loss(torch, real_out, fake_out):
    """E relu(1 - D(x, y)) + E relu(1 + D(G(z, y), y))  (Lim & Ye 2017; BigGAN sec. 3)."""
    return torch.relu(1 - real_out).mean() + torch.relu(1 + fake_out).mean()


def hinge_g_loss(fake_out):
    """-E D(G(z, y), y)."""
    return -fake_out.mean()


class Stepper:
    """BigGANStepper's step in PyTorch (module docstring): ``step(x, labels)`` is one D step,
    and a G step after every ``n_critic``-th; ``iteration(x, labels)`` is n_critic D steps on
    the same batch and the G step.  ``noise(n)`` draws z (N(0, I)); a test replaces it to feed
    the z's tinygan drew."""

    def __init__(self, torch, G, D, lr_g=LR_G, lr_d=LR_D, betas=BETAS, n_critic=N_CRITIC):
        self.torch, self.G, self.D, self.n_critic = torch, G, D, n_critic
        self.opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
        self.d_steps = 0
        self.param = next(G.parameters())

    def noise(self, n):
        return self.torch.randn(n, self.G.z_dim, device=self.param.device, dtype=self.param.dtype)

    def step(self, x, labels) -> dict:
        torch, G, D = self.torch, self.G, self.D
        n = x.shape[0]
        with torch.no_grad():
            fake = G(self.noise(n), labels)
        out = D(torch.cat([x, fake]), torch.cat([labels, labels]))
        loss_d = hinge_d_loss(torch, out[:n], out[n:])
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.d_steps += 1
        result = {"d_loss": loss_d.detach()}
        if self.d_steps % self.n_critic:
            return result
        D.requires_grad_(False)
        loss_g = hinge_g_loss(D(G(self.noise(n), labels), labels))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        result["g_loss"] = loss_g.detach()
        return result

    def iteration(self, x, labels) -> dict:
        """n_critic D steps and one G step on the batch (x, labels)."""
        out = {}
        for _ in range(self.n_critic):
            out = self.step(x, labels)
        return out
