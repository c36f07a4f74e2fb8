"""What every GAN family gives the shared trainer: ``GANFamily``.

A family (gan.py, dcgan.py, cgan.py, infogan.py, wgan.py) is a Module holding a
generator ``G`` and a discriminator (or critic) ``D``, plus the two objectives of
its paper.  The trainer (tinygan/train/gan.py) knows nothing else about it: it
calls ``d_loss`` ``n_critic`` times, then ``g_loss`` once, steps two optimizers
built from ``defaults``, and draws samples with ``sample_noise`` + ``generate``.

Shapes: images are (N, *image_shape) float32 in [-1, 1] -- (N, 1, 28, 28) unless a family
says otherwise; labels (N,) int64.

The dicts that ``d_loss`` and ``g_loss`` return hold the values to log as 0-d arrays on
the model's device, never read to the host there (on a GPU a read waits for the device;
the training loop reads them in bulk, tinygan/train/loss_buffer.py; ``float(v)`` gives
the number):
``d_loss`` / ``g_loss`` (the value of the returned loss) and, where they apply,
``d_real`` / ``d_fake`` (the mean of D's sigmoid on the real and fake batch; for a
critic, its mean raw output), ``wasserstein`` (the critic's estimate of
W(P_r, P_g)), ``gp`` (the gradient penalty), ``info_cat`` / ``info_cont`` (InfoGAN's
code likelihood terms).
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import nn
from ..autograd import Tensor, int64, tensor


def cycling_labels(n: int, num_classes: int = 10, device=None) -> Tensor:
    """Labels 0, 1, ..., num_classes-1, 0, 1, ... of shape (n,), int64: a class-balanced batch."""
    return tensor(np.arange(n) % num_classes, dtype=int64, device=device)


def parameter_device(module: nn.Module, device=None):
    """``device``, or else the device ``module``'s parameters live on (None if it has none)."""
    if device is not None:
        return device
    for p in module.parameters():
        return p.device
    return None


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """Record the ops inside without gradients for ``modules``' parameters.

    The G step only updates G, yet its loss runs through D: inside
    ``with frozen(self.D):`` D's weights are constants of the graph, so the
    backward pass skips their gradients (the weight-gradient convolutions are
    about half of D's backward).  Gradients still flow *through* D to G.  The flags
    are restored on exit, before ``backward`` runs -- the graph keeps what it
    recorded.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p in params:
            p.requires_grad = True


class GANFamily(nn.Module):
    """Base class: set ``G`` and ``D`` in ``__init__`` and implement the four methods below."""

    name = "gan"
    conditional = False          # True: G and D take class labels (cgan)
    latent_dim = 100             # z's size: sample_noise(n) gives z of shape (n, latent_dim)
    # (C, H, W) its networks take and make.  Its registry entry's data_shape is this (the
    # registry reads it), so the trainer serves the data in the shape the model checks for.
    image_shape = (1, 28, 28)
    sampler = "G"                # the network that draws samples (an --ema averages it; export ships it)
    # What ``tinygan sample --truncation T`` does (tinygan.train.loop.truncation_kind): None,
    # no truncation; "psi", StyleGAN's w_avg + T (w - w_avg) (generate's truncation_psi);
    # "threshold", BigGAN's resampling of |z_i| > T (generate's truncation).
    truncation = None
    # Training settings of the paper; the CLI may override lr_g, lr_d, batch_size.
    defaults = dict(optimizer="adam", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    batch_size=64)

    def sample_noise(self, n: int, device=None) -> tuple:
        """``(z, labels)``: the generator's input for n samples (labels None if unconditional).

        Draws from tinygan's seeded generator, so a seeded run is reproducible.
        """
        raise NotImplementedError

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """``G(z)`` -> images (N, *image_shape) in [-1, 1]."""
        raise NotImplementedError

    def d_loss(self, real: Tensor, labels: Tensor | None) -> tuple:
        """The discriminator's loss on a real batch and fresh fakes: ``(loss, {name: 0-d array})``.

        Fakes are made under ``no_grad`` (or detached): this step must not reach G's weights.
        """
        raise NotImplementedError

    def g_loss(self, n: int, labels: Tensor | None) -> tuple:
        """The generator's loss on n fresh fakes: ``(loss, {name: 0-d array})``."""
        raise NotImplementedError

    def d_parameters(self) -> list:
        """What the D optimizer updates (InfoGAN adds its Q head's own layers here)."""
        return list(self.D.parameters())

    def g_parameters(self) -> list:
        """What the G optimizer updates."""
        return list(self.G.parameters())

    def after_d_step(self) -> None:
        """Called after every D update (WGAN clips the critic's weights here)."""

    # -- optional helpers (not called by the trainer) ------------------------------------------
    def discriminate(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        """D's outputs (logits, or critic values) for images x: (N, *image_shape) -> (N, 1)."""
        return self.D(x, labels) if self.conditional else self.D(x)

    def _check_real(self, real: Tensor, labels: Tensor | None, op: str = "d_loss") -> None:
        """A clear error for a batch that is not (N, *image_shape) (with (N,) labels if conditional)."""
        where = f"{type(self).__name__}.{op}"
        if not isinstance(real, Tensor) or real.ndim != 4 or real.shape[0] == 0 \
                or tuple(real.shape[1:]) != self.image_shape:
            got = tuple(real.shape) if isinstance(real, Tensor) else type(real).__name__
            expected = ", ".join(map(str, self.image_shape))
            raise ValueError(f"{where}: expected real images of shape (N, {expected}) with N >= 1, "
                             f"got {got}")
        if self.conditional and labels is None:
            raise ValueError(f"{where}: {self.name} is conditional: pass the real batch's labels")
        n = real.shape[0]
        if labels is not None and (not isinstance(labels, Tensor) or tuple(labels.shape) != (n,)):
            got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
            raise ValueError(f"{where}: labels must be a Tensor of shape ({n},), got {got}")

    def _device(self, device=None):
        return parameter_device(self, device)
