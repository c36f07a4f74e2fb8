"""BigGAN-lite: BigGAN's class-conditional networks (Brock et al. 2019, "Large Scale GAN Training
for High Fidelity Natural Image Synthesis") at 32x32, for digits padded from 28x28, one or three
channels; the self-attention of SAGAN (Zhang et al. 2019) and the spectral normalization of
Miyato et al. 2018 on every layer.

Generator (BigGAN App. B, Fig. 15 (a, b); the reference code's names)::

    z (N, z_dim) ~ N(0, I), split into num_blocks + 1 = 4 equal chunks z_0 .. z_3   (hierarchical z)
    shared = Embedding(10, shared_dim)(y)                                    (shared embedding)
    z_0 -> Linear -> (N, C4, 4, 4)
    GBlock i = 1..3, cond_i = [z_i | shared]  (each block's own z chunk, the class for all):
        h = conv3x3( ReLU( CBN(conv3x3( up( ReLU( CBN(x, cond_i) ) ) ), cond_i) ) )
        x = h + conv1x1( up(x) )                      up: nearest 2x;  4 -> 8 -> 16 -> 32
    SelfAttention2d after the block that reaches 16x16
    BN -> ReLU -> conv3x3 -> tanh                                              -> (N, C, 32, 32)

CBN (``nn.ConditionalBatchNorm2d``) is BatchNorm without its own affine map, then a per-sample
gain 1 + Linear(cond) and bias Linear(cond) (BigGAN sec. 3, App. B): the class enters every block
through one embedding shared by all of them (cheaper than one embedding per layer, and the
paper found it trained faster), and so does a fresh chunk of z ("hierarchical latent space",
sec. 3: the latent then acts on every resolution, not only at the input).  The first chunk goes
to the linear layer alone, as in the reference code.

Discriminator (App. B, Fig. 15 (c))::

    DBlock 32 -> 16 (no leading ReLU: the input is an image), SelfAttention2d at 16x16,
    DBlock 16 -> 8, DBlock 8 -> 4, DBlock 4 -> 4 (no pooling)
        h = avgpool2( conv3x3( ReLU( conv3x3( ReLU(x) ) ) ) );  x = h + skip(x)
        skip: conv1x1 then avgpool2 (after the first block: avgpool2 then conv1x1), identity
        when the channels and size stay the same
    h = sum over H, W of ReLU(x)                                  global sum pooling, (N, C_D)
    D(x, y) = Linear(h) + <embed(y), h>           the projection (Miyato & Koyama 2018, eq. 3)

Spectral normalization (Miyato et al. 2018, eq. 8) on every convolution and linear layer of G
and D -- the CBN's gain and bias layers and the attention's 1x1 convolutions included -- and on
D's projection embedding, as the reference code does (its SNConv2d, SNLinear, SNEmbedding);
G's shared embedding is a plain Embedding, as there.  The weights start orthogonal
(``init.orthogonal_``, the reference's default ``G_init = D_init = 'ortho'``).

Losses: the hinge loss (Lim & Ye 2017; BigGAN sec. 3)::

    L_D = E relu(1 - D(x, y)) + E relu(1 + D(G(z, y), y)),     L_G = -E D(G(z, y), y)

Truncation (sec. 3.1, "the truncation trick"): z drawn from N(0, I) with every entry of
magnitude above a threshold t resampled (``tinygan.truncated_normal``); a smaller t trades
variety for the quality of each sample.  ``generate(z, y, truncation=t)`` resamples the
entries of a given z beyond t (the ones inside stay as they are), so one z can be shown at
several thresholds; ``sample_noise(n, truncation=t)`` draws truncated z's directly.

Training settings (``defaults``; the reference's): Adam with lr 1e-4 for G and 4e-4 for D,
betas (0, 0.999), two D steps per G step, batch 64 (the reference's CIFAR-10 script uses 50;
64 keeps the batch of tinygan's other GANs), the generator EMA and orthogonal regularization
as options of the training step (tinygan/train/biggan.py).
"""
from __future__ import annotations

from .. import losses, nn
from ..autograd import Tensor, no_grad
from ..creation import truncated_normal
from ..nn import init
from ..nn import functional as F
from ..nn.utils import spectral_norm
from ..ops.math import where
from ..ops.shape import cat
from .base import cycling_labels, frozen
from .gan import GAN

RESOLUTION = 32
NUM_CLASSES = 10

# The two sizes.  G's widths at 4, 8, 16, 32 (the input of each block, then the last block's
# output), D's widths after each of its four blocks; z splits into 4 chunks (one for the
# linear layer, one per G block).
PRESETS = {
    "cpu": dict(z_dim=64, shared_dim=64, g_channels=(64, 64, 32, 32), d_channels=(32, 64, 64, 64)),
    "gpu": dict(z_dim=128, shared_dim=128, g_channels=(256, 256, 128, 64),
                d_channels=(64, 128, 256, 256)),
}


def _sn(layer: nn.Module, sn: bool = True) -> nn.Module:
    """``layer`` with an orthogonal start and spectral normalization (Miyato et al. 2018, eq. 8);
    ``sn=False`` (the ablation ``--no-spectral-norm``) keeps the orthogonal start alone."""
    init.orthogonal_(layer.weight)
    return spectral_norm(layer) if sn else layer


def sn_conv(in_channels: int, out_channels: int, kernel_size: int, sn: bool = True) -> nn.Conv2d:
    """A spectrally normalized convolution, 'same' padding."""
    return _sn(nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), sn)


def sn_linear(in_features: int, out_features: int, bias: bool = True,
              sn: bool = True) -> nn.Linear:
    return _sn(nn.Linear(in_features, out_features, bias=bias), sn)


def sn_attention(channels: int, sn: bool = True) -> nn.SelfAttention2d:
    """SAGAN's block (BigGAN's variant) with spectral norm on its four 1x1 convolutions."""
    block = nn.SelfAttention2d(channels)
    for conv in (block.theta, block.phi, block.g, block.o):
        _sn(conv, sn)
    return block


def sn_cbn(channels: int, cond_features: int, sn: bool = True) -> nn.ConditionalBatchNorm2d:
    """Conditional BatchNorm whose gain and bias layers are spectrally normalized (reference)."""
    cbn = nn.ConditionalBatchNorm2d(channels, cond_features)
    _sn(cbn.gain, sn)
    _sn(cbn.bias, sn)
    return cbn


class GBlock(nn.Module):
    """CBN-ReLU-up-conv3x3-CBN-ReLU-conv3x3 plus a 1x1 skip on the upsampled input.

    Shapes: x (N, in, H, W), cond (N, cond_features) -> (N, out, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, cond_features: int, sn: bool = True):
        super().__init__()
        self.bn1 = sn_cbn(in_channels, cond_features, sn)
        self.conv1 = sn_conv(in_channels, out_channels, 3, sn)
        self.bn2 = sn_cbn(out_channels, cond_features, sn)
        self.conv2 = sn_conv(out_channels, out_channels, 3, sn)
        self.conv_sc = sn_conv(in_channels, out_channels, 1, sn)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    """G(z, y): z (N, z_dim), y (N,) int64 -> images (N, C, 32, 32) in [-1, 1] (module doc).

    ``sn=False`` / ``attention=False``: the ablations (no spectral norm; no self-attention
    block -- ``return_attention`` then gives None for the map)."""

    def __init__(self, z_dim: int, shared_dim: int, channels: tuple, img_channels: int = 1,
                 num_classes: int = NUM_CLASSES, sn: bool = True, attention: bool = True):
        super().__init__()
        self.num_blocks = len(channels) - 1                    # 4 -> 8 -> 16 -> 32
        self.num_chunks = self.num_blocks + 1
        if z_dim % self.num_chunks:
            raise ValueError(f"BigGAN Generator: z_dim must split into {self.num_chunks} equal "
                             f"chunks, got z_dim={z_dim}")
        self.z_dim, self.chunk = z_dim, z_dim // self.num_chunks
        self.bottom_channels = channels[0]
        self.shared = nn.Embedding(num_classes, shared_dim)    # plain, as in the reference
        init.orthogonal_(self.shared.weight)
        self.linear = sn_linear(self.chunk, channels[0] * 4 * 4, sn=sn)
        cond = self.chunk + shared_dim
        self.blocks = nn.ModuleList([GBlock(channels[i], channels[i + 1], cond, sn)
                                     for i in range(self.num_blocks)])
        # Attention after the block whose output is 16x16 (the second one).
        self.attention_after = 1
        self.attention = sn_attention(channels[2], sn) if attention else None
        self.output_bn = nn.BatchNorm2d(channels[-1])
        self.output_conv = sn_conv(channels[-1], img_channels, 3, sn)

    def conditions(self, z: Tensor, labels: Tensor) -> tuple:
        """``(z_0, [cond_1, .., cond_B])``: the linear layer's chunk and each block's condition
        [z_i | shared(y)] (N, chunk + shared_dim)."""
        return self.conditions_from_embedding(z, self.shared(labels))

    def conditions_from_embedding(self, z: Tensor, shared: Tensor) -> tuple:
        """``conditions`` with the class embeddings ``shared`` (N, shared_dim) given."""
        chunks = [z[:, i * self.chunk:(i + 1) * self.chunk] for i in range(self.num_chunks)]
        return chunks[0], [cat([c, shared], dim=1) for c in chunks[1:]]

    def forward(self, z: Tensor, labels: Tensor, return_attention: bool = False):
        """z (N, z_dim), labels (N,) int64 -> images (N, C, 32, 32); with ``return_attention``
        also the attention map at 16x16 (N, 256, 64) (``from_embedding``)."""
        return self.from_embedding(z, self.shared(labels), return_attention)

    def from_embedding(self, z: Tensor, shared: Tensor, return_attention: bool = False):
        """G from the shared class embedding itself: z (N, z_dim), shared (N, shared_dim) ->
        images (N, C, 32, 32).  ``forward`` is ``from_embedding(z, self.shared(labels))``; a
        point between two classes' embeddings gives BigGAN's class interpolation (Fig. 8).

        ``return_attention``: (images, beta), beta (N, 16*16, 8*8) the self-attention's map at
        16x16 (``nn.SelfAttention2d``: row h*16 + w is where the position (h, w) reads from,
        over the 2x2-pooled 8x8 grid of keys; each row sums to 1).
        """
        if shared.ndim != 2 or shared.shape[0] != z.shape[0] \
                or shared.shape[1] != self.shared.weight.shape[1]:
            raise ValueError(f"BigGAN Generator: shared must have shape ({z.shape[0]}, "
                             f"{self.shared.weight.shape[1]}) for z of shape {tuple(z.shape)}, "
                             f"got {tuple(shared.shape)}")
        z0, conds = self.conditions_from_embedding(z, shared)
        x = self.linear(z0).reshape(z.shape[0], self.bottom_channels, 4, 4)
        beta = None
        for i, (block, cond) in enumerate(zip(self.blocks, conds)):
            x = block(x, cond)
            if i == self.attention_after and self.attention is not None:
                x, beta = self.attention(x, return_attention=True)
        images = self.output_conv(F.relu(self.output_bn(x))).tanh()
        return (images, beta) if return_attention else images


class DBlock(nn.Module):
    """[ReLU]-conv3x3-ReLU-conv3x3-[avgpool2] plus a skip (1x1 conv where the shape changes).

    ``preactivation=False`` (the first block) starts without the ReLU and pools before its 1x1
    skip, as the reference code.  Shapes: (N, in, H, W) -> (N, out, H/2, W/2), or (N, out, H, W)
    without ``downsample``.
    """

    def __init__(self, in_channels: int, out_channels: int, preactivation: bool = True,
                 downsample: bool = True, sn: bool = True):
        super().__init__()
        self.preactivation, self.downsample = preactivation, downsample
        self.conv1 = sn_conv(in_channels, out_channels, 3, sn)
        self.conv2 = sn_conv(out_channels, out_channels, 3, sn)
        self.learnable_sc = in_channels != out_channels or downsample
        self.conv_sc = sn_conv(in_channels, out_channels, 1, sn) if self.learnable_sc else None

    def _pool(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def shortcut(self, x: Tensor) -> Tensor:
        if self.conv_sc is None:
            return x
        if self.preactivation:
            return self._pool(self.conv_sc(x))
        return self.conv_sc(self._pool(x))

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        return self._pool(h) + self.shortcut(x)


class Discriminator(nn.Module):
    """D(x, y): x (N, C, 32, 32), y (N,) int64 -> (N, 1) (module docstring); ``sn`` and
    ``attention`` as Generator's."""

    def __init__(self, channels: tuple, img_channels: int = 1, num_classes: int = NUM_CLASSES,
                 sn: bool = True, attention: bool = True):
        super().__init__()
        ins = (img_channels,) + tuple(channels[:-1])
        self.blocks = nn.ModuleList([
            DBlock(ins[i], channels[i], preactivation=i > 0, downsample=i < len(channels) - 1,
                   sn=sn)
            for i in range(len(channels))])
        self.attention_after = 0                   # the first block's output is 16x16
        self.attention = sn_attention(channels[0], sn) if attention else None
        self.linear = sn_linear(channels[-1], 1, sn=sn)
        self.embed = _sn(nn.Embedding(num_classes, channels[-1]), sn)  # the projection vectors

    def features(self, x: Tensor) -> Tensor:
        """phi(x): the globally sum-pooled ReLU features (N, C_D)."""
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.attention_after and self.attention is not None:
                x = self.attention(x)
        return F.relu(x).sum(dim=(2, 3))

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        h = self.features(x)
        # psi(h) + <embed(y), h>  (Miyato & Koyama 2018, eq. 3)
        return self.linear(h) + (self.embed(labels) * h).sum(1, keepdim=True)


class BigGAN(GAN):
    """BigGAN-lite (Brock et al. 2019): hierarchical z, shared class embedding, conditional
    BatchNorm, self-attention, spectral norm everywhere, projection D, hinge loss.

    Args:
        preset: 'cpu' (G 64-64-32-32 channels, D 32-64-64-64, z 64, shared embedding 64) or
            'gpu' (G 256-256-128-64, D 64-128-256-256, z 128, shared embedding 128).
        image_channels: 1 or 3.
        spectral_norm, attention: False for the ablations (``tinygan train biggan
            --no-spectral-norm`` / ``--no-attention``): every layer without spectral norm (the
            orthogonal start kept), or G and D without their self-attention block.

    Parameter counts (``sum(p.data.size for p in net.parameters())``, counted with that code),
    1 channel / 3 channels:
        cpu: G 193,122 / 193,700, D 221,026 / 221,666;
        gpu: G 2,346,242 / 2,347,396, D 2,373,826 / 2,375,106.
    A training iteration (2 D steps + 1 G step, 2 x 64 images) of the cpu preset takes 1.75 to
    2 s on one thread of a busy 2-core CPU, 65 to 73 images/s (benchmarks/biggan_cpu_step.py;
    the convolutions are nearly all of it).
    """

    name = "biggan"
    conditional = True
    num_classes = NUM_CLASSES
    image_shape = (1, RESOLUTION, RESOLUTION)
    truncation = "threshold"         # --truncation T resamples |z_i| > T (sec. 3.1)
    defaults = dict(optimizer="adam", lr_g=1e-4, lr_d=4e-4, betas=(0.0, 0.999), n_critic=2,
                    batch_size=64)

    def __init__(self, preset: str = "cpu", image_channels: int = 1, spectral_norm: bool = True,
                 attention: bool = True):
        if preset not in PRESETS:
            raise ValueError(f"BigGAN: unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        if image_channels not in (1, 3):
            raise ValueError(f"BigGAN: image_channels must be 1 or 3, got {image_channels!r}")
        for name, value in (("spectral_norm", spectral_norm), ("attention", attention)):
            if not isinstance(value, bool):
                raise ValueError(f"BigGAN: {name} must be True or False, got {value!r}")
        p = PRESETS[preset]
        super().__init__(
            Generator(p["z_dim"], p["shared_dim"], p["g_channels"], image_channels,
                      sn=spectral_norm, attention=attention),
            Discriminator(p["d_channels"], image_channels, sn=spectral_norm, attention=attention))
        self.preset, self.image_channels = preset, image_channels
        self.spectral_norm, self.attention = spectral_norm, attention
        self.latent_dim = p["z_dim"]
        self.image_shape = (image_channels, RESOLUTION, RESOLUTION)

    def options(self) -> dict:
        """The constructor's arguments (kept in a run's config.json)."""
        return dict(preset=self.preset, image_channels=self.image_channels,
                    spectral_norm=self.spectral_norm, attention=self.attention)

    def _labels(self, labels: Tensor | None, n: int, device, op: str) -> Tensor:
        if labels is None:
            return cycling_labels(n, NUM_CLASSES, device)
        if not isinstance(labels, Tensor) or tuple(labels.shape) != (n,):
            got = tuple(labels.shape) if hasattr(labels, "shape") else type(labels).__name__
            raise ValueError(f"BigGAN.{op}: labels must be a Tensor of shape ({n},), got {got}")
        return labels

    def sample_noise(self, n: int, device=None, truncation: float | None = None) -> tuple:
        """z (n, latent_dim) ~ N(0, I), every entry with |z_i| > ``truncation`` resampled when it
        is given (``truncated_normal``), and labels 0, 1, ..., 9, 0, ... (n,) int64."""
        device = self._device(device)
        z = truncated_normal(n, self.latent_dim, truncation, device=device)
        return z, cycling_labels(n, NUM_CLASSES, device)

    def truncate(self, z: Tensor, truncation: float) -> Tensor:
        """z with every entry beyond ``truncation`` replaced by a fresh draw of N(0, 1) given
        |z_i| <= truncation (sec. 3.1); the entries inside are kept as they are."""
        fresh = truncated_normal(z.shape[0], z.shape[1], truncation, dtype=z.dtype,
                                 device=z.device)
        return where(z.abs() <= truncation, z.detach(), fresh)

    def generate(self, z: Tensor, labels: Tensor | None = None,
                 truncation: float | None = None) -> Tensor:
        """G(z, y) -> (N, C, 32, 32); without labels y cycles the classes; ``truncation`` t
        resamples the entries of z with |z_i| > t first (``truncate``)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"BigGAN.generate: z must have shape (N, {self.latent_dim}), got "
                             f"{tuple(z.shape)}")
        labels = self._labels(labels, z.shape[0], z.device, "generate")
        if truncation is not None:
            z = self.truncate(z, truncation)
        return self.G(z, labels)

    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D(x, y) -> (N, 1)."""
        return self.D(x, self._labels(labels, x.shape[0], x.device, "discriminate"))

    def d_loss(self, real: Tensor, labels: Tensor | None = None) -> tuple:
        """Hinge: E relu(1 - D(x, y)) + E relu(1 + D(G(z, y), y)), the fakes made (without a
        graph) for the real batch's labels.

        Reals and fakes go through D as one batch, as in the reference code: D has no
        BatchNorm, so this is the same function of each image, and every spectrally normalized
        layer takes one power-iteration step per D step, not two."""
        self._check_real(real, labels)
        n = real.shape[0]
        with no_grad():
            fake, fake_labels = self._fakes(n, labels, real.device)
        out = self.discriminate(cat([real, fake], dim=0), cat([labels, fake_labels], dim=0))
        real_out, fake_out = out[:n], out[n:]
        loss = losses.hinge_d_loss(real_out, fake_out)
        return loss, {"d_loss": loss.data, "d_real": real_out.detach().mean().data,
                      "d_fake": fake_out.detach().mean().data}

    def g_loss(self, n: int, labels: Tensor | None = None) -> tuple:
        """Hinge: -E D(G(z, y), y), D's weights held constant."""
        with frozen(self.D):
            fake, fake_labels = self._fakes(n, labels, None)
            loss = losses.hinge_g_loss(self.discriminate(fake, fake_labels))
        return loss, {"g_loss": loss.data}

    def ortho_parameters(self) -> list:
        """G's weights that orthogonal regularization acts on: every one but the shared class
        embedding (BigGAN's reference code leaves it out); 1-D ones are skipped by the
        regularizer itself."""
        return [p for name, p in self.G.named_parameters() if not name.startswith("shared.")]


__all__ = ["BigGAN", "Generator", "Discriminator", "GBlock", "DBlock", "PRESETS"]
