"""tinygan.models.vae: the VAE families behind the shared trainer (VAEFamily).

For every family: the registry, the shapes of q(z|x), the decoder's output and the samples,
a finite loss with float logs, one Adam step that moves encoder and decoder.  Then what is
special to each: the MLP's exact sizes, the conv layers, beta and the capacity objective,
the CVAE's dependence on the label, the Gaussian decoder's learned variance; and the clear
errors for bad input (a decoder of the wrong shape, a negative beta, k < 1, data in [-1, 1]).
Batches of 4-6 random binary images; no data set needed.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import losses, nn, optim
from tinygan.models import (CVAE, FAMILIES, VAE, VAE_FAMILIES, BetaVAE, ConvVAE, GANFamily,
                            VAEFamily)
from tinygan.train.loop import family_registry, is_vae

from tolerances import assert_within, eps, network_tolerance, sum_tolerance

NAMES = ["vae", "conv_vae", "beta_vae", "cvae"]
B = 5


def _fresh(name: str, seed: int = 0, **options) -> VAEFamily:
    tinygan.manual_seed(seed)
    return VAE_FAMILIES[name](**options)


def _batch(n: int = B, seed: int = 1, binary: bool = True):
    g = np.random.default_rng(seed)
    x = g.random((n, 1, 28, 28)).astype(np.float32)
    if binary:
        x = (x < 0.3).astype(np.float32)
    return tinygan.tensor(x), tinygan.tensor(g.integers(0, 10, n))


# -- the registry and the interface ---------------------------------------------------------
def test_registry_holds_the_four_vaes_apart_from_the_gans():
    assert sorted(VAE_FAMILIES) == sorted(NAMES)
    for name, cls in VAE_FAMILIES.items():
        assert issubclass(cls, VAEFamily) and not issubclass(cls, GANFamily) and cls.name == name
        assert is_vae(cls) and cls.kind == "vae"
    assert not set(VAE_FAMILIES) & set(FAMILIES)
    assert not any(is_vae(cls) for cls in FAMILIES.values())
    registry = family_registry()
    from tinygan.models import classes_of
    assert set(registry) == set(FAMILIES) | set(VAE_FAMILIES) | set(classes_of("cyclegan"))


@pytest.mark.parametrize("name", NAMES)
def test_defaults_and_docstrings(name):
    cls = VAE_FAMILIES[name]
    d = cls.defaults
    assert (d["optimizer"], d["lr"], d["batch_size"]) == ("adam", 1e-3, 128)
    # cvae: 10 latents and 20 epochs (see its class body for the measurements behind them).
    assert (d["epochs"], cls.latent_dim) == ((20, 10) if name == "cvae" else (10, 20))
    doc = cls.__doc__ + (__import__(cls.__module__, fromlist=["x"]).__doc__ or "")
    assert "et al. 20" in doc or "Kingma & Welling 2014" in doc
    assert "eq." in doc
    paper = {"vae": "Kingma & Welling 2014", "conv_vae": "Kingma & Welling 2014",
             "beta_vae": "Higgins et al. 2017", "cvae": "Sohn et al. 2015"}[name]
    assert paper in cls.__doc__
    m = _fresh(name)
    assert m.likelihood == "bernoulli" and m.decoder_logvar is None
    assert m.beta == (4.0 if name == "beta_vae" else 1.0) and m.capacity is None
    assert m.conditional == (name == "cvae")


@pytest.mark.parametrize("name", NAMES)
def test_shapes_loss_and_one_step_moves_encoder_and_decoder(name):
    m = _fresh(name)
    x, y = _batch()
    lab = y if m.conditional else None
    mu, logvar = m.encode(x, lab)
    assert mu.shape == logvar.shape == (B, m.latent_dim)
    out = m.decode(mu, lab)
    assert out.shape == (B, 1, 28, 28) and out.dtype == np.float32
    loss, stats = m.loss(x, lab)
    assert loss.shape == () and np.isfinite(loss.item())
    assert set(stats) == {"loss", "neg_elbo", "recon", "kl"}
    assert all(np.ndim(v) == 0 and np.isfinite(float(v)) for v in stats.values())
    assert stats["neg_elbo"] == pytest.approx(stats["recon"] + stats["kl"], rel=1e-5)
    # Binary data and a fresh Bernoulli decoder: about 784 log 2 = 543 nats per image.
    assert 300 < stats["recon"] < 900 and stats["kl"] >= 0
    enc = [p.data.copy() for p in m.encoder.parameters()]
    dec = [p.data.copy() for p in m.decoder.parameters()]
    opt = optim.Adam(m.parameters(), lr=1e-3)
    opt.zero_grad()
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    opt.step()
    assert all(not np.array_equal(a, p.data) for a, p in zip(enc, m.encoder.parameters()))
    assert all(not np.array_equal(a, p.data) for a, p in zip(dec, m.decoder.parameters()))


@pytest.mark.parametrize("name", NAMES)
def test_sampling_shapes_and_range(name):
    m = _fresh(name)
    tinygan.manual_seed(3)
    z, labels = m.sample_noise(12)
    assert z.shape == (12, m.latent_dim) and z.dtype == np.float32
    if m.conditional:
        assert labels.dtype == np.int64 and labels.tolist() == [i % 10 for i in range(12)]
    else:
        assert labels is None
    with tinygan.no_grad():
        images = m.generate(z, labels)
        mean = m.mean(m.decode(z, labels))
    assert images.shape == (12, 1, 28, 28) and images.dtype == np.float32
    assert -1 <= images.data.min() and images.data.max() <= 1 and images.data.std() > 0
    # generate is the decoder's mean in [0, 1] mapped to [-1, 1].
    np.testing.assert_allclose(images.data, mean.data * 2 - 1, rtol=1e-6, atol=1e-6)
    assert 0 <= mean.data.min() and mean.data.max() <= 1


def test_the_mlp_is_784_400_20_with_relu():
    m = _fresh("vae")
    linears = [mod for mod in m.modules() if isinstance(mod, nn.Linear)]
    sizes = [tuple(mod.weight.shape) for mod in linears]
    assert sizes == [(400, 784), (40, 400), (400, 20), (784, 400)]
    assert sum(isinstance(mod, nn.ReLU) for mod in m.modules()) == 2
    # beta_vae is the same network: the two differ only in the objective.
    assert [tuple(p.shape) for p in _fresh("beta_vae").parameters()] == \
        [tuple(p.shape) for p in m.parameters()]


def test_conv_vae_layers():
    m = _fresh("conv_vae")
    convs = [tuple(mod.weight.shape) for mod in m.encoder.modules() if isinstance(mod, nn.Conv2d)]
    deconvs = [tuple(mod.weight.shape) for mod in m.decoder.modules() if isinstance(mod, nn.ConvTranspose2d)]
    assert convs == [(32, 1, 4, 4), (64, 32, 4, 4)]
    assert deconvs == [(64, 32, 4, 4), (32, 1, 4, 4)]
    assert not any(isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)) for mod in m.modules())


def test_latent_dim_option():
    for name in NAMES:
        m = _fresh(name, latent_dim=2)
        x, y = _batch()
        mu, _ = m.encode(x, y if m.conditional else None)
        assert mu.shape == (B, 2) and m.options()["latent_dim"] == 2


def test_beta_and_capacity_objectives():
    x, _ = _batch()
    m = _fresh("beta_vae")
    tinygan.manual_seed(5)
    loss, stats = m.loss(x)
    # a float32 mean of B positive terms recon + 4 KL, against float32 means of their parts
    assert_within(loss.item(), stats["recon"] + 4.0 * stats["kl"],
                  sum_tolerance(stats["recon"] + 4.0 * stats["kl"], B + 3, np.float32), "loss")
    # neg_elbo (evaluation) is the beta = 1 bound whatever the family's beta.
    eps = tinygan.randn(B, 20)
    with tinygan.no_grad():
        out, mu, logvar = m(x, None, eps)
        expected = -losses.elbo(x, out, mu, logvar).data
        # exact: the same computation on the same inputs twice (same thread count and machine)
        np.testing.assert_array_equal(m.neg_elbo(x, None, eps).data, expected)
    # Burgess et al. 2018: recon + gamma |KL - C|, C ramped with the step.
    c = _fresh("beta_vae", capacity=25.0, capacity_steps=100, gamma=10.0)
    tinygan.manual_seed(5)
    loss, stats = c.loss(x, step=40)
    assert stats["capacity"] == pytest.approx(10.0)
    # the same float32 means, then a subtraction, an abs, a scale and an addition: 4 roundings
    assert_within(loss.item(), stats["recon"] + 10.0 * abs(stats["kl"] - 10.0),
                  sum_tolerance(stats["recon"] + 10.0 * (abs(stats["kl"]) + 10.0), 4, np.float32), "loss")
    assert c.loss(x, step=1000)[1]["capacity"] == pytest.approx(25.0)


def test_cvae_decoder_and_encoder_depend_on_the_label():
    m = _fresh("cvae")
    x, _ = _batch(4)
    z = tinygan.randn(4, 10)
    with tinygan.no_grad():
        a = m.decode(z, tinygan.tensor(np.array([0, 1, 2, 3])))
        b = m.decode(z, tinygan.tensor(np.array([5, 1, 7, 3])))
        mu_a, _ = m.encode(x, tinygan.tensor(np.array([0, 1, 2, 3])))
        mu_b, _ = m.encode(x, tinygan.tensor(np.array([5, 1, 7, 3])))
        # A one-hot row given as floats is the same label; a mix of two is allowed.
        onehot = tinygan.tensor(np.eye(10, dtype=np.float32)[[0, 1, 2, 3]])
        # exact: int labels become these very one-hot rows, then the same computation
        np.testing.assert_array_equal(m.decode(z, onehot).data, a.data)
    for u, v in ((a, b), (mu_a, mu_b)):
        diff = np.abs(u.data - v.data).reshape(4, -1).max(1)
        assert diff[0] > 0 and diff[2] > 0 and diff[1] == 0 and diff[3] == 0


def test_cvae_learned_prior_is_eq_4s_kl():
    """The loss's KL is KL(q(z|x,y) || p(z|y)) with p(z|y) = N(m_y, diag exp(l_y)) (Sohn et al.
    2015, eq. 4), computed in the standardized coordinates u = (z - m_y) exp(-l_y / 2)."""
    m = _fresh("cvae")
    assert tuple(m.prior.shape) == (10, 20) and not np.abs(m.prior.data).any()   # N(0, I) at first
    g = np.random.default_rng(0)
    m.prior.data[...] = g.normal(0, 0.5, (10, 20)).astype(np.float32)
    x, y = _batch(4)
    with tinygan.no_grad():
        mu, logvar = (t.data.astype(np.float64) for t in VAEFamily.encode(m, x, y))   # q(z|x,y)
        pm, plv = m.prior.data[y.data, :10].astype(np.float64), m.prior.data[y.data, 10:].astype(np.float64)
        kl = 0.5 * (plv - logvar + (np.exp(logvar) + (mu - pm) ** 2) / np.exp(plv) - 1).sum(1)
        _, stats = m.loss(x, y)
        # float32, in standardized coordinates: each of the 4 x 10 terms is a few roundings of
        # parts as large as |l_y| + |logvar| + the ratio + 1, then summed and averaged.
        parts = 0.5 * (np.abs(plv) + np.abs(logvar) + (np.exp(logvar) + (mu - pm) ** 2) / np.exp(plv) + 1)
        assert_within(stats["kl"], kl.mean(), sum_tolerance(parts.sum(1).mean(), 10 + 4 + 8, np.float32), "KL")
        # decode(u) is the decoder at z = m_y + exp(l_y / 2) u: z rounded to float32 here and
        # computed in float32 there (a few ulps of its parts), then the decoder's own rounding.
        u = tinygan.randn(4, 10)
        z64 = pm + np.exp(plv / 2) * u.data
        z = tinygan.tensor(z64.astype(np.float32))
        z_error = 4 * eps(np.float32) * (np.abs(pm) + np.abs(np.exp(plv / 2) * u.data))
        bound = network_tolerance(m.decoder.net, np.concatenate([z64, np.eye(10)[y.data]], 1),
                                  x_error=np.concatenate([z_error, np.zeros((4, 10))], 1))
        assert_within(m.decode(u, y).data, VAEFamily.decode(m, z, y).data, bound, "decode")
    loss, _ = m.loss(x, y)
    loss.backward()
    assert np.abs(m.prior.grad.data[np.unique(y.data)]).max() > 0


def test_cvae_iwae_pairs_each_sample_with_its_own_label():
    """The k samples of x[m] are rows i*N + m: the label repeats the same way, so the bound
    does not depend on how the k samples are chunked (on the CPU's single random stream)."""
    # float64: the chunks' decoder GEMMs have other shapes, so BLAS may round them otherwise,
    # and a log-weight sums 784 Bernoulli terms whose logits each carry the decoder's rounding
    # (network_tolerance: ~4e-4 per logit in float32, 0.3 nats in all); in float64 that is
    # ~1e-12 of the ~550 nats, so rtol 1e-9 holds on any BLAS and still sees a wrong pairing.
    m = _fresh("cvae").to(dtype=tinygan.float64)
    x, y = _batch(4)
    x = tinygan.tensor(x.data.astype(np.float64))
    with tinygan.no_grad():
        tinygan.manual_seed(7)
        whole = m.iwae(x, y, k=6)
        tinygan.manual_seed(7)
        chunked = m.iwae(x, y, k=6, chunk=4)
        tinygan.manual_seed(7)
        one = m.iwae(x, y, k=1)
    assert whole.shape == (4,) and np.isfinite(whole.data).all()
    np.testing.assert_allclose(whole.data, chunked.data, rtol=1e-9)
    # k = 1 is a one-sample ELBO: the same noise as the first of the k samples.
    assert np.isfinite(one.data).all()


def test_gaussian_decoder_learns_its_variance():
    m = _fresh("vae", likelihood="gaussian")
    x, _ = _batch(binary=False)
    assert isinstance(m.decoder_logvar, nn.Parameter) and m.decoder_logvar.shape == (1,)
    assert m.decoder_logvar.item() == pytest.approx(2 * np.log(0.1))          # sigma = 0.1 at first
    assert "decoder_logvar" in dict(m.named_parameters())
    with tinygan.no_grad():
        mean = m.decode(tinygan.randn(B, 20))
    assert 0 <= mean.data.min() and mean.data.max() <= 1          # a sigmoid mean
    loss, stats = m.loss(x)
    loss.backward()
    assert m.decoder_logvar.grad is not None and np.abs(m.decoder_logvar.grad.data).max() > 0
    # -log p(x|z) = sum 1/2 (log 2 pi + logvar + (x - mean)^2 / sigma^2) >= 784/2 (log 2 pi + logvar).
    assert stats["recon"] > 784 / 2 * (np.log(2 * np.pi) + 2 * np.log(0.1))


# -- bad input: clear errors ----------------------------------------------------------------------
def test_decoder_output_of_the_wrong_shape():
    tinygan.manual_seed(0)
    m = VAE(decoder=nn.Sequential(nn.Linear(20, 400), nn.ReLU(), nn.Linear(400, 784)))   # no Unflatten
    x, _ = _batch(4)
    with pytest.raises(ValueError, match=r"VAE\.decode: the decoder's output has shape \(4, 784\) but "
                                         r"the data have shape \(4, 1, 28, 28\)"):
        m.loss(x)
    tinygan.manual_seed(0)
    m = ConvVAE(encoder=nn.Sequential(nn.Flatten(), nn.Linear(784, 20)))
    with pytest.raises(ValueError, match=r"ConvVAE\.encode: the encoder's output has shape \(4, 20\), "
                                         r"expected \(4, 40\)"):
        m.loss(x)


@pytest.mark.parametrize("cls,kwargs,message", [
    (BetaVAE, dict(beta=-1.0), r"BetaVAE: beta must be a number >= 0, got -1\.0"),
    (VAE, dict(beta=float("nan")), r"VAE: beta must be a number >= 0, got nan"),
    (BetaVAE, dict(capacity=-5), r"BetaVAE: capacity must be a number >= 0, got -5"),
    (BetaVAE, dict(gamma=-1), r"BetaVAE: gamma must be a number >= 0, got -1"),
    (ConvVAE, dict(latent_dim=0), r"ConvVAE: latent_dim must be an integer >= 1, got 0"),
    (CVAE, dict(latent_dim=2.5), r"CVAE: latent_dim must be an integer >= 1, got 2\.5"),
    (VAE, dict(likelihood="poisson"), r"VAE: unknown likelihood 'poisson'; expected one of "
                                      r"'bernoulli', 'gaussian'"),
])
def test_bad_options(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_bad_batches_and_k():
    m = _fresh("vae")
    x, y = _batch(3)
    with pytest.raises(ValueError, match=r"VAE\.loss: a VAE models pixels in \[0, 1\], got values in "
                                         r"\[-1, 1\]"):
        m.loss(x * 2 - 1)
    with pytest.raises(ValueError, match=r"VAE\.loss: expected images of shape \(N, 1, 28, 28\)"):
        m.loss(x.reshape(3, 784))
    with pytest.raises(ValueError, match=r"iwae_bound: k must be an integer >= 1, got 0"):
        with tinygan.no_grad():
            m.iwae(x, k=0)
    c = _fresh("cvae")
    with pytest.raises(ValueError, match=r"CVAE\.loss: cvae is conditional: pass the images' labels"):
        c.loss(x)
    with pytest.raises(ValueError, match=r"CVAE: labels must be int64 of shape \(3,\)"):
        c.loss(x, tinygan.tensor(np.arange(4)))
