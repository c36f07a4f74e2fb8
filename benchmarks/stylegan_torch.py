"""tinygan's StyleGAN-lite (tinygan/models/stylegan.py) and its training step in plain PyTorch.

The twin the StyleGAN benchmarks compare against: the same networks, layer for layer and with
the same parameter and buffer names, so that ``copy_from_tinygan`` can load a tinygan StyleGAN
family's weights into it and both start from the same initialization; and the same step as
tinygan/train/stylegan.py's StyleGANStepper (StyleGAN2, Karras et al. 2020):

    Dmain  softplus(D(G(z))) + softplus(-D(x))                       every step
    Dreg   lazy R1 on the reals, gamma/2 ||grad_x D(x)||^2 x 16      every 16th D step (App. B)
    Gmain  softplus(-D(G(z))), D's weights constants                 every step
    Gpl    path length (sec. 3.2, eq. 4) on half the batch x 2 x 4   every 4th G step

with Adam (0, 0.99) whose lr and betas are rescaled by c = k / (k + 1) for the lazy regularizer
(App. B), and style mixing with probability 0.9 (one crossover per batch).

Written with torch ops only: FIR resampling is a depthwise ``F.conv2d`` with the 2-D
[1, 3, 3, 1] filter (zero insertion, then the filter, for upsampling; the filter with stride 2
for downsampling), with the same order as tinygan's conv2d_resample (upsample before the conv,
downsample after it).  The modulated convolution takes the path tinygan takes on the same
device: the non-fused one on a CPU (x * s, the shared conv, * d), one grouped convolution with
per-sample weights on CUDA.

    build(torch, preset="cpu", conditional=False, device="cpu") -> (G, D)
    copy_from_tinygan(family, G, D)         the tinygan family's weights and buffers, into G, D
    Stepper(G, D, ...)                      .step(x, labels) -> dict of losses
"""
from __future__ import annotations

import math

import numpy as np

from side_by_side import twin_array   # benchmarks/ is on the path of every user of a twin

# The networks' sizes, as tinygan.models.stylegan.PRESETS without the recipes (kept here so
# that the twin runs without tinygan; the cross-check test compares the two tables).
PRESETS = {
    "cpu": dict(z_dim=64, w_dim=128, mapping_layers=2,
                g_channels={4: 64, 8: 64, 16: 32, 32: 32},
                d_channels={32: 32, 16: 32, 8: 64, 4: 64},
                mbstd_group_size=8, mbstd_num_channels=1),
    "gpu": dict(z_dim=256, w_dim=256, mapping_layers=4,
                g_channels={4: 256, 8: 256, 16: 128, 32: 128},
                d_channels={32: 128, 16: 128, 8: 256, 4: 256},
                mbstd_group_size=4, mbstd_num_channels=1),
}
NUM_CLASSES = 10
LRELU_ALPHA, LRELU_GAIN = 0.2, math.sqrt(2)


def build(torch, preset: str = "cpu", conditional: bool = False, image_channels: int = 1,
          device="cpu", fused_modconv: bool | None = None, linear_output: bool = False):
    """(G, D) of a preset on ``device``.  fused_modconv None: non-fused on a CPU, fused on CUDA
    (tinygan's choice).  G's image is the tanh of the ToRGB sum, or the sum itself with
    linear_output (tinygan's StyleGAN option of that name).  G(z, c, truncation_psi,
    noise_mode) -> (N, C, 32, 32) truncates every w (no cutoff layer: the benchmarks sample
    with psi 1); D(img, c) -> (N, 1) logits; c is the one-hot label (N, 10) of the
    conditional model, else None."""
    nn, F = torch.nn, torch.nn.functional
    p = PRESETS[preset]
    c_dim = NUM_CLASSES if conditional else 0
    fused = (torch.device(device).type != "cpu") if fused_modconv is None else bool(fused_modconv)

    def fir():
        """The 2-D [1, 3, 3, 1] filter normalized to sum 1, flipped (a true convolution, as
        upfirdn2d's; symmetric anyway), as one depthwise conv weight (1, 1, 4, 4)."""
        f = torch.tensor([1.0, 3.0, 3.0, 1.0])
        f = torch.outer(f, f)
        return (f / f.sum()).flip([0, 1]).reshape(1, 1, 4, 4)

    def upsample2d(x, f):
        """Zero insertion (x at even positions), pads 2 before and 1 after, the filter times
        4 (the energy the three zeros took): (N, C, H, W) -> (N, C, 2H, 2W)."""
        n, c, h, w = x.shape
        z = x.new_zeros(n, c, h, 2, w, 2)
        z[:, :, :, 0, :, 0] = x
        z = F.pad(z.reshape(n, c, 2 * h, 2 * w), (2, 1, 2, 1))
        return F.conv2d(z, f.to(x.dtype).expand(c, 1, 4, 4) * 4, groups=c)

    def downsample2d(x, f):
        """Pads 1 on each side, the filter, every second pixel: (N, C, H, W) -> (N, C, H/2, W/2)."""
        c = x.shape[1]
        return F.conv2d(F.pad(x, (1, 1, 1, 1)), f.to(x.dtype).expand(c, 1, 4, 4), stride=2, groups=c)

    def bias_act(x, b, act):
        if b is not None:
            x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
        if act == "lrelu":
            return F.leaky_relu(x, LRELU_ALPHA) * LRELU_GAIN
        return x

    def normalize_2nd_moment(x):
        return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()

    class EqualizedLinear(nn.Module):
        def __init__(self, i, o, bias=True, lr_multiplier=1.0, activation="linear", bias_init=0.0):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(o, i) / lr_multiplier)
            self.bias = nn.Parameter(torch.full((o,), bias_init / lr_multiplier)) if bias else None
            self.weight_gain, self.bias_gain = lr_multiplier / math.sqrt(i), lr_multiplier
            self.activation = activation

        def forward(self, x):
            b = None if self.bias is None else self.bias * self.bias_gain
            return bias_act(F.linear(x, self.weight * self.weight_gain), b, self.activation)

    class EqualizedConv2d(nn.Module):
        def __init__(self, i, o, k, bias=True, activation="linear", down=1):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(o, i, k, k))
            self.bias = nn.Parameter(torch.zeros(o)) if bias else None
            self.weight_gain, self.padding = 1 / math.sqrt(i * k * k), k // 2
            self.activation, self.down = activation, down
            self.register_buffer("resample_filter", fir(), persistent=False)

        def forward(self, x):
            w = self.weight * self.weight_gain
            if self.down == 2 and w.shape[-1] == 1:
                y = F.conv2d(downsample2d(x, self.resample_filter), w)
            elif self.down == 2:
                c = x.shape[1]
                xf = F.conv2d(F.pad(x, (2, 2, 2, 2)), self.resample_filter.to(x.dtype).expand(c, 1, 4, 4), groups=c)
                y = F.conv2d(xf, w, stride=2)
            else:
                y = F.conv2d(x, w, padding=self.padding)
            return bias_act(y, self.bias, self.activation)

    def modulated_conv2d(x, weight, styles, demodulate=True, up=1, f=None):
        """StyleGAN2 eqs. 1-3: w' = s w, d = (sum w'^2 + 1e-8)^-1/2, on the device's path."""
        n, i, h, w = x.shape
        o, _, kh, kw = weight.shape
        d = None
        if demodulate:
            wmod = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)
            d = (wmod.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt()                 # (N, O)
        if fused:
            wmod = weight.unsqueeze(0) * styles.reshape(n, 1, i, 1, 1)
            if d is not None:
                wmod = wmod * d.reshape(n, o, 1, 1, 1)
            x = x.reshape(1, n * i, h, w)
            if up == 2:
                wt = wmod.flip([3, 4]).transpose(1, 2).reshape(n * i, o, kh, kw)
                y = F.conv_transpose2d(x, wt, stride=2, groups=n)
                y = F.conv2d(F.pad(y, (1, 1, 1, 1)), f.to(x.dtype).expand(n * o, 1, 4, 4) * 4,
                             groups=n * o)
            else:
                y = F.conv2d(x, wmod.reshape(n * o, i, kh, kw), padding=kh // 2, groups=n)
            return y.reshape(n, o, y.shape[2], y.shape[3])
        x = x * styles.reshape(n, i, 1, 1)
        if up == 2:
            y = F.conv_transpose2d(x, weight.flip([2, 3]).transpose(0, 1), stride=2)
            y = F.conv2d(F.pad(y, (1, 1, 1, 1)), f.to(x.dtype).expand(o, 1, 4, 4) * 4, groups=o)
        else:
            y = F.conv2d(x, weight, padding=kh // 2)
        return y if d is None else y * d.reshape(n, o, 1, 1)

    class NoiseInjection(nn.Module):
        def __init__(self, resolution):
            super().__init__()
            self.noise_strength = nn.Parameter(torch.zeros(()))
            self.register_buffer("noise_const", torch.randn(resolution, resolution))

        def forward(self, x, noise_mode="random"):
            n, _, h, w = x.shape
            if noise_mode == "none":
                return x
            noise = (torch.randn(n, 1, h, w, device=x.device, dtype=x.dtype)
                     if noise_mode == "random" else self.noise_const.reshape(1, 1, h, w))
            return x + noise * self.noise_strength

    class MappingNetwork(nn.Module):
        def __init__(self, num_ws):
            super().__init__()
            w_dim, self.num_ws, self.w_dim = p["w_dim"], num_ws, p["w_dim"]
            self.w_avg_beta = 0.995
            self.embed = EqualizedLinear(c_dim, w_dim) if c_dim else None
            features = [p["z_dim"] + (w_dim if c_dim else 0)] + [w_dim] * p["mapping_layers"]
            self.layers = nn.ModuleList(EqualizedLinear(a, b, activation="lrelu", lr_multiplier=0.01)
                                        for a, b in zip(features[:-1], features[1:]))
            self.register_buffer("w_avg", torch.zeros(w_dim))

        def forward(self, z, c=None, truncation_psi=1.0, update_w_avg=True):
            x = normalize_2nd_moment(z)
            if self.embed is not None:
                x = torch.cat([x, normalize_2nd_moment(self.embed(c))], dim=1)
            for layer in self.layers:
                x = layer(x)
            if update_w_avg and self.training:          # the centre of truncation (sec. 4.1)
                with torch.no_grad():
                    mean = x.detach().mean(dim=0)
                    self.w_avg.copy_(mean + (self.w_avg - mean) * self.w_avg_beta)
            ws = x.unsqueeze(1).expand(-1, self.num_ws, -1)
            if truncation_psi != 1:
                ws = self.w_avg + (ws - self.w_avg) * truncation_psi
            return ws

    class SynthesisLayer(nn.Module):
        def __init__(self, i, o, resolution, up=1):
            super().__init__()
            self.up = up
            self.affine = EqualizedLinear(p["w_dim"], i, bias_init=1.0)
            self.weight = nn.Parameter(torch.randn(o, i, 3, 3))
            self.noise = NoiseInjection(resolution)
            self.bias = nn.Parameter(torch.zeros(o))
            self.register_buffer("resample_filter", fir(), persistent=False)

        def forward(self, x, w, noise_mode):
            x = modulated_conv2d(x, self.weight, self.affine(w), up=self.up,
                                 f=self.resample_filter)
            return bias_act(self.noise(x, noise_mode), self.bias, "lrelu")

    class ToRGBLayer(nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.affine = EqualizedLinear(p["w_dim"], i, bias_init=1.0)
            self.weight = nn.Parameter(torch.randn(o, i, 1, 1))
            self.bias = nn.Parameter(torch.zeros(o))
            self.weight_gain = 1 / math.sqrt(i)

        def forward(self, x, w):
            x = modulated_conv2d(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
            return bias_act(x, self.bias, "linear")

    class SynthesisBlock(nn.Module):
        def __init__(self, i, o, resolution):
            super().__init__()
            self.is_first = i == 0
            if self.is_first:
                self.const = nn.Parameter(torch.randn(o, resolution, resolution))
                self.conv0 = None
            else:
                self.conv0 = SynthesisLayer(i, o, resolution, up=2)
            self.conv1 = SynthesisLayer(o, o, resolution)
            self.torgb = ToRGBLayer(o, image_channels)
            self.num_conv = 1 if self.is_first else 2
            self.register_buffer("resample_filter", fir(), persistent=False)

        def forward(self, x, img, ws, noise_mode):
            if self.is_first:
                x = self.const.unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
                i = 0
            else:
                x, i = self.conv0(x, ws[:, 0], noise_mode), 1
            x = self.conv1(x, ws[:, i], noise_mode)
            y = self.torgb(x, ws[:, i + 1])
            return x, (y if img is None else upsample2d(img, self.resample_filter) + y)

    class SynthesisNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            blocks, prev = [], 0
            for r in (4, 8, 16, 32):
                blocks.append(SynthesisBlock(prev, p["g_channels"][r], r))
                prev = p["g_channels"][r]
            self.blocks = nn.ModuleList(blocks)
            self.num_ws = sum(b.num_conv for b in blocks) + 1

        def forward(self, ws, noise_mode="random"):
            x = img = None
            i = 0
            for b in self.blocks:           # each block's convs' ws and its ToRGB's (shared)
                x, img = b(x, img, ws[:, i:i + b.num_conv + 1], noise_mode)
                i += b.num_conv
            return img if linear_output else torch.tanh(img)

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.z_dim, self.c_dim, self.w_dim = p["z_dim"], c_dim, p["w_dim"]
            self.synthesis = SynthesisNetwork()
            self.num_ws = self.synthesis.num_ws
            self.mapping = MappingNetwork(self.num_ws)

        def forward(self, z, c=None, truncation_psi=1.0, noise_mode="random"):
            return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)

    class DiscriminatorBlock(nn.Module):
        def __init__(self, i, tmp, o):
            super().__init__()
            self.fromrgb = EqualizedConv2d(image_channels, tmp, 1, activation="lrelu") if i == 0 else None
            self.conv0 = EqualizedConv2d(tmp, tmp, 3, activation="lrelu")
            self.conv1 = EqualizedConv2d(tmp, o, 3, activation="lrelu", down=2)
            self.skip = EqualizedConv2d(tmp, o, 1, bias=False, down=2)

        def forward(self, x):
            if self.fromrgb is not None:
                x = self.fromrgb(x)
            return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)   # Fig. 7c

    class DiscriminatorEpilogue(nn.Module):
        def __init__(self, ch, cmap_dim):
            super().__init__()
            self.cmap_dim = cmap_dim
            self.group, self.f = p["mbstd_group_size"], p["mbstd_num_channels"]
            self.conv = EqualizedConv2d(ch + self.f, ch, 3, activation="lrelu")
            self.fc = EqualizedLinear(ch * 16, ch, activation="lrelu")
            self.out = EqualizedLinear(ch, cmap_dim if cmap_dim else 1)

        def group_for(self, n):
            return max(d for d in range(1, min(self.group, n) + 1) if n % d == 0)

        def forward(self, x, cmap=None):
            n, c, h, w = x.shape
            g = self.group_for(n)
            f = self.f
            # Minibatch stddev (Karras et al. 2018, sec. 3): sample g*m + j is member g of group
            # j; the channels split into f parts, one std feature each.
            y = x.reshape(g, n // g, f, c // f, h, w)
            y = ((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8).sqrt().mean(dim=(2, 3, 4))
            y = y.reshape(1, n // g, f, 1, 1).expand(g, -1, -1, h, w).reshape(n, f, h, w)
            x = self.conv(torch.cat([x, y], dim=1))
            x = self.out(self.fc(x.reshape(n, -1)))
            if self.cmap_dim:                      # projection (Miyato & Koyama 2018, eq. 3)
                x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
            return x

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            ch = p["d_channels"]
            self.blocks = nn.ModuleList(
                DiscriminatorBlock(0 if r == 32 else ch[r], ch[r], ch[r // 2]) for r in (32, 16, 8))
            cmap_dim = ch[4] if c_dim else 0
            self.embed = EqualizedLinear(c_dim, cmap_dim) if c_dim else None
            self.b4 = DiscriminatorEpilogue(ch[4], cmap_dim)

        def forward(self, img, c=None):
            x = img
            for b in self.blocks:
                x = b(x)
            return self.b4(x, None if self.embed is None else self.embed(c))

    return Generator().to(device), Discriminator().to(device)


def copy_from_tinygan(family, G, D) -> None:
    """Load a tinygan StyleGAN family's weights and persistent buffers (w_avg, every layer's
    noise_const) into the twin's G and D: the same names, strictly (a missing or extra name is
    an error), the twin's dtype and device kept."""
    import torch
    for src, dst in ((family.G, G), (family.D, D)):
        ref = dst.state_dict()
        state = {}
        for k, v in src.state_dict().items():
            a = twin_array(k, v, ref)
            state[k] = torch.from_numpy(np.ascontiguousarray(a)).to(ref[k].device, ref[k].dtype)
        dst.load_state_dict(state, strict=True)


def r1_penalty(torch, D, x, gamma, c=None):
    """gamma/2 E ||grad_x D(x)||^2 (Mescheder et al. 2018, eq. 9), with the graph kept."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x, c).sum(), x, create_graph=True)
    return gamma / 2 * g.square().reshape(len(x), -1).sum(1).mean()


def path_length_penalty(torch, img, ws, pl_mean, decay=0.01, noise=None):
    """StyleGAN2 eq. 4 against the updated running mean: (penalty, new mean detached)."""
    n, c, h, w = img.shape
    if noise is None:
        noise = torch.randn_like(img)
    y = noise / math.sqrt(h * w)
    (g,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    lengths = g.square().sum(2).mean(1).sqrt()
    new_mean = pl_mean + decay * (lengths.mean() - pl_mean)
    return (lengths - new_mean).square().mean(), new_mean.detach()


def lazy_adam(torch, params, lr, betas, interval):
    """Adam with lr c lr and betas beta^c, c = k / (k + 1) (StyleGAN2 App. B); None: as given."""
    c = 1.0 if interval is None else interval / (interval + 1)
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c))


class Stepper:
    """StyleGANStepper's schedule in PyTorch (module docstring).  ``step(x, labels)``; the phase
    times of the last step are in ``times`` when ``timed`` (synchronized on CUDA)."""

    def __init__(self, torch, G, D, lr_g=0.0025, lr_d=0.0025, betas=(0.0, 0.99), r1_gamma=0.0064,
                 r1_interval=16,
                 pl_weight=2.0, pl_interval=4, pl_decay=0.01, mixing=0.9, timed=False,
                 one_pass_d=False):
        self.torch, self.G, self.D = torch, G, D
        # one_pass_d: D's main step sees reals and fakes in one pass, interleaved as tinygan's
        # StyleGAN.discriminate_both does (the reference's is two passes, the default here)
        self.one_pass_d = one_pass_d
        self.r1_gamma, self.r1_interval = r1_gamma, r1_interval
        self.pl_weight, self.pl_interval, self.pl_decay = pl_weight, pl_interval, pl_decay
        self.mixing, self.timed, self.times = mixing, timed, {}
        self.opt_d = lazy_adam(torch, D.parameters(), lr_d, betas, r1_interval if r1_gamma > 0 else None)
        self.opt_g = lazy_adam(torch, G.parameters(), lr_g, betas, pl_interval if pl_weight > 0 else None)
        self.d_steps = self.g_steps = 0
        self.pl_mean = torch.zeros((), device=next(G.parameters()).device)
        self.conditional = G.c_dim > 0

    def _onehot(self, labels):
        if not self.conditional:
            return None
        return self.torch.nn.functional.one_hot(labels, NUM_CLASSES).to(self.pl_mean.dtype)

    def styles(self, n, c):
        """ws (n, num_ws, w_dim), mixed with probability ``mixing`` from a crossover in [1, num_ws)."""
        torch, G = self.torch, self.G
        dev = self.pl_mean.device
        ws = G.mapping(torch.randn(n, G.z_dim, device=dev), c)
        if self.mixing > 0:
            cut = int(torch.randint(1, G.num_ws, ()))
            if float(torch.rand(())) < self.mixing:
                ws2 = G.mapping(torch.randn(n, G.z_dim, device=dev), c, update_w_avg=False)
                ws = torch.cat([ws[:, :cut], ws2[:, cut:]], dim=1)
        return ws

    def _d_both(self, x, fake, c):
        """(D(x), D(fake)) from one pass over both, in blocks of n = N / g so that the
        minibatch stddev's groups are each batch's own (tinygan's discriminate_both)."""
        torch, n_all = self.torch, x.shape[0]
        g = self.D.b4.group_for(n_all)
        if g != self.D.b4.group_for(2 * n_all):
            return self.D(x, c), self.D(fake, c)
        n = n_all // g

        def interleave(a, b):
            return torch.stack([a.reshape(g, n, *a.shape[1:]), b.reshape(g, n, *b.shape[1:])],
                               dim=1).reshape(2 * n_all, *a.shape[1:])
        both = self.D(interleave(x, fake), None if c is None else interleave(c, c))
        logits = both.reshape(g, 2, n, -1)
        return logits[:, 0].reshape(n_all, -1), logits[:, 1].reshape(n_all, -1)

    def _mark(self, name, t0):
        if not self.timed:
            return t0
        import time
        if self.pl_mean.is_cuda:
            self.torch.cuda.synchronize()
        t = time.perf_counter()
        self.times[name] = self.times.get(name, 0.0) + t - t0
        return t

    def step(self, x, labels=None) -> dict:
        import time
        torch, F, G, D = self.torch, self.torch.nn.functional, self.G, self.D
        n, c = x.shape[0], self._onehot(labels)
        out, self.times = {}, {}
        t = time.perf_counter()

        with torch.no_grad():                                                    # Dmain
            fake = G.synthesis(self.styles(n, c))
        if self.one_pass_d:
            logits_real, logits_fake = self._d_both(x, fake, c)
            loss_d = F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()
        else:
            loss_d = F.softplus(D(fake, c)).mean() + F.softplus(-D(x, c)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        out["d_loss"] = loss_d.detach()
        t = self._mark("Dmain", t)

        if self.r1_gamma > 0 and self.d_steps % self.r1_interval == 0:          # Dreg
            r1 = r1_penalty(torch, D, x, self.r1_gamma, c)
            self.opt_d.zero_grad(set_to_none=True)
            (r1 * self.r1_interval).backward()
            self.opt_d.step()
            out["r1_penalty"] = r1.detach()
            t = self._mark("Dreg", t)
        self.d_steps += 1

        D.requires_grad_(False)                                                  # Gmain
        loss_g = F.softplus(-D(G.synthesis(self.styles(n, c)), c)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        D.requires_grad_(True)
        out["g_loss"] = loss_g.detach()
        t = self._mark("Gmain", t)

        if self.pl_weight > 0 and self.g_steps % self.pl_interval == 0:         # Gpl
            m = max(1, n // 2)
            ws = self.styles(m, None if c is None else c[:m])
            penalty, self.pl_mean = path_length_penalty(torch, G.synthesis(ws), ws, self.pl_mean,
                                                        self.pl_decay)
            self.opt_g.zero_grad(set_to_none=True)
            (penalty * (self.pl_weight * self.pl_interval)).backward()
            self.opt_g.step()
            out["pl_penalty"] = penalty.detach()
            self._mark("Gpl", t)
        self.g_steps += 1
        return out
