"""InfoGAN (Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information
Maximizing Generative Adversarial Nets"), with the paper's MNIST networks (Table 1).

G's input is split into incompressible noise z and a *latent code* c; InfoGAN
asks that c stay recoverable from G(z, c), i.e. that the mutual information
I(c; G(z, c)) be high (eq. 3), without ever seeing a label.  Sec. 5 bounds it
with an auxiliary distribution Q(c | x)::

    min_{G,Q} max_D  V(D, G) - lambda * L_I(G, Q)                                  (eq. 6)
    L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)} log Q(c | x) + H(c)  <=  I(c; G(z, c))   (eq. 5)

Q is a small head on D's shared body that guesses the code from an image.  H(c)
is a constant, so maximizing L_I is minimizing the negative log-likelihood of
the code under Q:

* categorical code c_cat (10 values, one-hot in G's input): -log Q(c_cat | x) is the
  cross-entropy of Q's 10 logits (``F.cross_entropy`` on logits: no softmax before it);
* 2 continuous codes c_cont ~ U(-1, 1): Q outputs a mean mu per code and the
  variance is fixed to 1, as in the paper's code (``fix_std=True``), so
  -log Q(c_cont | x) = 1/2 sum_j (c_j - mu_j)^2 + const.

    info = lambda_cat * CE(Q_cat(x), c_cat) + lambda_cont * 1/2 E sum_j (c_j - mu_j)^2

with lambda_cat = 1 and lambda_cont = 0.1 (Sec. 5: lambda 1 for discrete codes,
smaller for continuous ones so the term stays on the GAN loss's scale).  As in
the paper's implementation, ``info`` is added to *both* the D/Q loss (which
trains D's body and Q) and the G loss (which trains G); the adversarial terms
are DCGAN's (cross-entropy for D, non-saturating for G).  Nothing here ever uses
the data set's labels: the categorical code discovers the digit classes by itself.

Networks: the paper's MNIST networks (appendix C.1, Table 1), with DCGAN's convolutions,
BatchNorms and initialization::

    G: [z (62) | c_cont (2) | one-hot c_cat (10)] (N, 74)
       -> Linear(74, 1024), BatchNorm1d, ReLU -> Linear(1024, 128*7*7), BatchNorm1d, ReLU
       -> reshape (N, 128, 7, 7) -> ConvTranspose2d(128, 64, 4, 2, 1), BatchNorm2d, ReLU
       -> ConvTranspose2d(64, 1, 4, 2, 1) -> Tanh                       (N, 1, 28, 28)
    D's shared body phi: Conv2d(1, 64, 4, 2, 1), LeakyReLU(0.2)
       -> Conv2d(64, 128, 4, 2, 1), BatchNorm2d, LeakyReLU(0.2)
       -> Linear(128*7*7, 1024), BatchNorm1d, LeakyReLU(0.2)            (N, 1024)
    D's head: Linear(1024, 1) real/fake logit
    Q: phi(x) -> Linear(1024, 128), BatchNorm1d, LeakyReLU(0.2) -> Linear(128, 12)
       -> 10 categorical logits, 2 continuous means

An earlier version shared DCGAN's networks unchanged (no FC-1024 layers: G began
Linear(74, 128*7*7) and D's head and Q read the 6272 conv features directly).  Q still
read the code back (its cross-entropy fell to about 0.1 nats within 300 steps, as with
these networks), but the 10-way split it settled on was not the digits: code accuracy
0.48 after 5 epochs (seeds 0 and 1), rows mixing 3/5/8 and 4/9.  The InfoGAN objective
is maximized by *any* split that G can draw and Q can tell apart; which one training
finds depends on the networks.  With Table 1's networks, seed 0, same recipe: code
accuracy 0.74 after 1 epoch (DCGAN's networks: 0.26) and 0.91 after 5 epochs, FID 13
(DCGAN's networks: 92).  benchmarks/README.md ("GAN quality") has the figures and
commands; benchmarks/infogan_networks.py trains each variant.  Remaining deviations
from the paper's released MNIST code: tanh output on [-1, 1] images (its G outputs
Bernoulli means), DCGAN's LeakyReLU slope 0.2, and lambda_cont = 0.1 (its code weighs
every code by 1; the paper's Sec. 5 asks for a smaller lambda on continuous codes).

Sampling: ``sample_noise(n)`` returns z of shape (n, 64) = [62 noise | 2 continuous codes],
all U(-1, 1) (the paper code's ``Uniform`` latents), and the categorical code as
``labels`` (n,), cycling 0..9 -- so the trainer's sample grid puts one code per
row.  ``generate(z, labels)`` builds G's input from them.  Optimizer: the
paper code's MNIST settings, Adam with lr 1e-3 for G and 2e-4 for D/Q, beta1 0.5,
batch 128.
"""
from __future__ import annotations

import numpy as np

from .. import losses, nn
from ..autograd import Tensor, no_grad
from ..creation import eye, rand
from ..nn import functional as F
from ..ops.shape import cat
from .base import cycling_labels, frozen
from .dcgan import FEATURES, DCGAN, discriminator_body, init_weights_
from .gan import _mean_prob


HIDDEN = 1024      # the FC layer of Table 1 in both networks


def info_generator(in_dim: int = 74) -> nn.Sequential:
    """Table 1's G: [z | c] (N, in_dim) -> images (N, 1, 28, 28) in [-1, 1]."""
    return nn.Sequential(
        nn.Linear(in_dim, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.ReLU(),
        nn.Linear(HIDDEN, FEATURES), nn.BatchNorm1d(FEATURES), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(),
    )


class InfoDiscriminator(nn.Module):
    """D = head(body(x)): x (N, 1, 28, 28) -> logits (N, 1); ``body`` (N, 1024) is shared with Q."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(                           # phi: (N, 1024), Table 1
            *discriminator_body(batchnorm=True),             # DCGAN's convolutions: (N, 128*7*7)
            nn.Linear(FEATURES, HIDDEN), nn.BatchNorm1d(HIDDEN), nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(HIDDEN, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class QHead(nn.Module):
    """Q(c | x) from D's features: (N, 1024) -> (categorical logits (N, n_cat), means (N, n_cont))."""

    def __init__(self, n_cat: int = 10, n_cont: int = 2, hidden: int = 128):
        super().__init__()
        self.n_cat = n_cat
        self.net = nn.Sequential(
            nn.Linear(HIDDEN, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, n_cat + n_cont),
        )

    def forward(self, h: Tensor) -> tuple:
        out = self.net(h)
        return out[:, :self.n_cat], out[:, self.n_cat:]


class InfoGAN(DCGAN):
    """Chen et al. 2016, eq. 5-6, with a 10-way categorical and 2 continuous codes."""

    name = "infogan"
    noise_dim = 62
    n_cat = 10
    n_cont = 2
    latent_dim = noise_dim + n_cont        # z from sample_noise: [noise | continuous codes]
    lambda_cat = 1.0
    lambda_cont = 0.1
    defaults = dict(optimizer="adam", lr_g=1e-3, lr_d=2e-4, betas=(0.5, 0.999), n_critic=1,
                    batch_size=128)

    def __init__(self):
        super().__init__(info_generator(self.latent_dim + self.n_cat), InfoDiscriminator())
        self.Q = init_weights_(QHead(self.n_cat, self.n_cont))

    # -- the latent code -----------------------------------------------------------------------
    def sample_noise(self, n: int, device=None) -> tuple:
        """z (n, 64) ~ U(-1, 1) ([62 noise | 2 continuous codes]) and the categorical code
        (n,) int64 cycling 0..9."""
        device = self._device(device)
        z = rand(n, self.latent_dim, device=device) * 2.0 - 1.0
        return z, cycling_labels(n, self.n_cat, device)

    def generate(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        """G([z | one_hot(labels)]): z (N, 64), labels (N,) the categorical code (cycling 0..9
        if None) -> images (N, 1, 28, 28)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"InfoGAN.generate: z must be (N, {self.latent_dim}) = [{self.noise_dim} "
                             f"noise | {self.n_cont} continuous codes], got {tuple(z.shape)}")
        if labels is None:
            labels = cycling_labels(z.shape[0], self.n_cat, z.device)
        if tuple(labels.shape) != (z.shape[0],):
            raise ValueError(f"InfoGAN.generate: labels (the categorical code) must have shape "
                             f"({z.shape[0]},), got {tuple(labels.shape)}")
        one_hot = F.embedding(labels, eye(self.n_cat, dtype=z.dtype, device=z.device))
        return self.G(cat([z, one_hot], dim=1))

    def info_loss(self, h: Tensor, z: Tensor, code: Tensor) -> tuple:
        """-L_I up to the constant H(c): the code's negative log-likelihood under Q (eq. 5).

        h: D's features of the fakes (N, 1024); z: their (N, 64) input, whose last
        ``n_cont`` columns are the continuous codes; code: the categorical code (N,).
        Returns (lambda_cat * CE + lambda_cont * NLL_cont, CE, NLL_cont).
        """
        cat_logits, mu = self.Q(h)
        ce = F.cross_entropy(cat_logits, code)                   # -E log Q(c_cat | x), on logits
        d = z[:, self.noise_dim:].detach() - mu
        nll_cont = 0.5 * (d * d).sum(1).mean()                   # -E log N(c_cont; mu, I) + const
        return self.lambda_cat * ce + self.lambda_cont * nll_cont, ce, nll_cont

    # -- the two losses ------------------------------------------------------------------------
    def d_loss(self, real: Tensor, labels: Tensor | None = None) -> tuple:
        """L_{D,Q} = cross-entropy of D on real and fake (eq. 1) + info (eq. 6).

        ``labels`` (the data set's) are ignored: InfoGAN is unsupervised.  The fakes
        are made under ``no_grad``, so the info term trains D's body and Q only.
        """
        self._check_real(real, labels)          # (checked, then ignored)
        n = real.shape[0]
        with no_grad():
            z, code = self.sample_noise(n, real.device)
            fake = self.generate(z, code)
        real_logits = self.D(real)
        h = self.D.body(fake)                                     # shared by D's head and Q
        fake_logits = self.D.head(h)
        adv = losses.nonsaturating_d_loss(real_logits, fake_logits)
        info, ce, nll_cont = self.info_loss(h, z, code)
        loss = adv + info
        return loss, {"d_loss": loss.data, "d_real": _mean_prob(real_logits),
                      "d_fake": _mean_prob(fake_logits), "info_cat": ce.data,
                      "info_cont": nll_cont.data}

    def g_loss(self, n: int, labels: Tensor | None = None) -> tuple:
        """L_G = -E log D(G(z, c)) (Sec. 3 of Goodfellow et al.) + info (eq. 6).

        ``labels``, if given, are used as the categorical code (any labels are a fine
        code: they only have to be spread over the classes); otherwise codes cycle 0..9.
        D and Q are constants here: the G step updates G only.
        """
        z, code = self.sample_noise(n)
        if labels is not None:
            if tuple(labels.shape) != (n,):
                raise ValueError(f"InfoGAN.g_loss: labels must have shape ({n},), got {tuple(labels.shape)}")
            code = labels
        with frozen(self.D, self.Q):
            fake = self.generate(z, code)
            h = self.D.body(fake)
            adv = losses.nonsaturating_g_loss(self.D.head(h))
            info, ce, nll_cont = self.info_loss(h, z, code)
            loss = adv + info
        return loss, {"g_loss": loss.data, "info_cat": ce.data, "info_cont": nll_cont.data}

    def d_parameters(self) -> list:
        """D's body and head, and the Q head: the D/Q optimizer trains all of them."""
        return list(self.D.parameters()) + list(self.Q.parameters())

    @no_grad()
    def predict_code(self, x: Tensor) -> Tensor:
        """Q's guess of the categorical code of images x (N, 1, 28, 28) -> (N,) int64.

        In train mode the BatchNorms use (and update) batch statistics: call ``eval()`` first
        to classify with the running ones.
        """
        cat_logits, _ = self.Q(self.D.body(x))
        return Tensor(cat_logits.data.argmax(1).astype(np.int64))
