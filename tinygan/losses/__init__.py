"""The objectives a generative model minimizes, by subject, each next to its paper's equation.

``gan.py``: the GAN objectives on D's logits -- minimax and non-saturating
(Goodfellow et al. 2014), LSGAN (Mao et al. 2017), hinge (Lim & Ye 2017),
Wasserstein (Arjovsky et al. 2017) -- and ``GAN_LOSSES``, their names.
``penalties.py``: regularizers on D's input gradient, differentiated once more by
``backward()`` -- ``gradient_penalty`` (WGAN-GP, Gulrajani et al. 2017) and
``r1_penalty`` (R1, Mescheder et al. 2018).
``path_length.py``: StyleGAN2's path length penalty (Karras et al. 2020, eq. 4).
``lazy_regularization.py``: StyleGAN2's lazy regularization (App. B): the penalty's
gain and Adam's corrected learning rate and betas for a penalty applied every k steps.
``vae.py``: the ELBO and its parts (Kingma & Welling 2014), beta and capacity
weighting (Higgins et al. 2017; Burgess et al. 2018), the IWAE bound (Burda et al. 2016).
``orthogonal.py``: BigGAN's orthogonal regularization of G's weights (Brock et al. 2019,
eq. 3, off-diagonal only).
``checks.py``: the argument checks they share.

Every name is importable from here: ``tinygan.losses.elbo``, ``losses.hinge_d_loss``.
"""
from .gan import (GAN_LOSSES, hinge_d_loss, hinge_g_loss, lsgan_d_loss, lsgan_g_loss,
                  minimax_d_loss, minimax_g_loss, nonsaturating_d_loss, nonsaturating_g_loss,
                  wasserstein_d_loss, wasserstein_g_loss)
from .orthogonal import orthogonal_regularization
from .lazy_regularization import lazy_adam_settings, lazy_due, lazy_gain, lazy_ratio
from .path_length import path_length_penalty
from .penalties import gradient_penalty, r1_penalty
from .vae import (bernoulli_log_likelihood, capacity_schedule, elbo, gaussian_kl,
                  gaussian_log_likelihood, iwae_bound, log_normal, reparameterize, vae_loss)

__all__ = [
    "minimax_d_loss", "minimax_g_loss", "nonsaturating_d_loss", "nonsaturating_g_loss",
    "lsgan_d_loss", "lsgan_g_loss", "hinge_d_loss", "hinge_g_loss", "wasserstein_d_loss",
    "wasserstein_g_loss", "gradient_penalty", "r1_penalty", "GAN_LOSSES",
    "orthogonal_regularization", "path_length_penalty", "lazy_adam_settings", "lazy_ratio",
    "lazy_gain", "lazy_due",
    "reparameterize", "gaussian_kl", "log_normal", "bernoulli_log_likelihood",
    "gaussian_log_likelihood", "elbo", "vae_loss", "capacity_schedule", "iwae_bound",
]
