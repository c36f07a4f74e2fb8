"""tinygan.models: the GAN families behind the shared trainer (GANFamily).

For every family: the registry, the shapes of z, labels, G(z) and D(x), finite
losses with float logs, and one D step then one G step with the optimizers of
its ``defaults`` -- each step must move its own network and leave the other
exactly as it was.  Then what is special to each paper: DCGAN's exact layers
and initialization, WGAN's clipping, InfoGAN's Q head and code, the
conditional GAN's dependence on the label, WGAN-GP's penalty.  Batches of 4-8.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import nn, optim
from tinygan.models import (DCGAN, FAMILIES, WGAN, WGANGP, Classifier, ConditionalGAN, GANFamily,
                            InfoGAN, pretrained_classifier)
from tinygan.models.base import frozen

from tolerances import assert_within, sum_tolerance

NAMES = ["gan", "dcgan", "cgan", "infogan", "wgan", "wgan_gp"]
# Families of 32x32 images, tested in their own files (tests/models/test_stylegan.py,
# tests/models/test_biggan.py).
NAMES_32 = ["stylegan", "biggan"]
B = 6


@pytest.fixture(scope="module")
def models():
    """One of each family, built once (seeded): tests that train copy it first."""
    tinygan.manual_seed(0)
    return {name: FAMILIES[name]() for name in NAMES}


def _fresh(name: str, seed: int = 0) -> GANFamily:
    tinygan.manual_seed(seed)
    return FAMILIES[name]()


def _batch(n: int = B, seed: int = 1):
    g = np.random.default_rng(seed)
    real = tinygan.tensor(np.tanh(g.standard_normal((n, 1, 28, 28))).astype(np.float32))
    labels = tinygan.tensor(g.integers(0, 10, n))
    return real, labels


def _optimizer(params, model: GANFamily, lr: float):
    d = model.defaults
    if d["optimizer"] == "adam":
        return optim.Adam(params, lr=lr, betas=d["betas"])
    assert d["optimizer"] == "rmsprop"
    return optim.RMSprop(params, lr=lr)


def _snapshot(params) -> list:
    return [p.data.copy() for p in params]


def _changed(before, params) -> list:
    # exact: a network that was not stepped keeps its weights bit for bit
    return [not np.array_equal(b, p.data) for b, p in zip(before, params)]


# -- the registry and the interface ---------------------------------------------------------
def test_registry_names_every_family_and_keeps_the_old_exports():
    assert sorted(FAMILIES) == sorted(NAMES + NAMES_32)
    for name, cls in FAMILIES.items():
        assert issubclass(cls, GANFamily) and cls.name == name
    assert Classifier is not None and callable(pretrained_classifier)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_hold_the_papers_optimizer_settings(name):
    cls = FAMILIES[name]
    d = cls.defaults
    assert set(d) >= {"optimizer", "lr_g", "lr_d", "betas", "n_critic", "batch_size"}
    expected = {
        "gan": ("adam", 2e-4, 2e-4, (0.5, 0.999), 1),
        "dcgan": ("adam", 2e-4, 2e-4, (0.5, 0.999), 1),
        "cgan": ("adam", 2e-4, 2e-4, (0.5, 0.999), 1),
        "infogan": ("adam", 1e-3, 2e-4, (0.5, 0.999), 1),
        "wgan": ("rmsprop", 5e-5, 5e-5, None, 5),
        "wgan_gp": ("adam", 1e-4, 1e-4, (0.5, 0.9), 5),
    }[name]
    assert (d["optimizer"], d["lr_g"], d["lr_d"], d["betas"], d["n_critic"]) == expected
    assert d["batch_size"] == (128 if name == "infogan" else 64)
    doc = cls.__doc__ + (__import__(cls.__module__, fromlist=["x"]).__doc__ or "")
    assert "et al. 20" in doc and "eq." in doc              # names the paper and its equations


@pytest.mark.parametrize("name", NAMES)
def test_sample_noise_and_generate_shapes(name, models):
    m = models[name]
    z, labels = m.sample_noise(B)
    assert z.shape == (B, m.latent_dim) and z.dtype == np.float32
    if name in ("cgan", "infogan"):
        assert labels.shape == (B,) and labels.dtype == np.int64
        # exact: integer results
        np.testing.assert_array_equal(labels.numpy(), np.arange(B) % 10)
    else:
        assert labels is None
    with tinygan.no_grad():
        x = m.generate(z, labels)
    assert x.shape == (B, 1, 28, 28) and x.dtype == np.float32
    assert np.abs(x.numpy()).max() <= 1.0
    with tinygan.no_grad():
        out = m.discriminate(x, labels if m.conditional else None)
    assert out.shape == (B, 1)


@pytest.mark.parametrize("name", NAMES)
def test_sample_noise_is_reproducible_from_the_seed(name, models):
    m = models[name]
    tinygan.manual_seed(7)
    a, _ = m.sample_noise(3)
    tinygan.manual_seed(7)
    b, _ = m.sample_noise(3)
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("name", NAMES)
def test_losses_are_finite_scalars_with_0d_array_logs(name, models):
    m = models[name]
    real, labels = _batch()
    for loss, log in (m.d_loss(real, labels), m.g_loss(B, labels if m.conditional else None)):
        assert loss.shape == () and np.isfinite(loss.item()) and loss.requires_grad
        # 0-d arrays of the model's array module: left on its device for the loop to read in bulk
        assert log and all(isinstance(v, (np.ndarray, np.generic)) and np.ndim(v) == 0
                           and np.isfinite(v) for v in log.values()), log
        key = "d_loss" if "d_loss" in log else "g_loss"
        assert float(log[key]) == loss.item()     # exact: the logged loss is the loss's own array
    d_log, g_log = m.d_loss(real, labels)[1], m.g_loss(B, None if not m.conditional else labels)[1]
    assert "d_loss" in d_log and "g_loss" in g_log


@pytest.mark.parametrize("name", NAMES)
def test_d_step_moves_d_only_and_g_step_moves_g_only(name):
    m = _fresh(name)
    d_params, g_params = m.d_parameters(), m.g_parameters()
    assert not {id(p) for p in d_params} & {id(p) for p in g_params}
    assert len({id(p) for p in d_params + g_params}) == len(list(m.parameters()))
    opt_d = _optimizer(d_params, m, m.defaults["lr_d"])
    opt_g = _optimizer(g_params, m, m.defaults["lr_g"])
    real, labels = _batch()

    d_before, g_before = _snapshot(d_params), _snapshot(g_params)
    opt_d.zero_grad()
    loss, _ = m.d_loss(real, labels)
    loss.backward()
    assert all(p.grad is None for p in g_params)            # the fakes were made without a graph
    assert all(p.grad is not None for p in d_params)
    opt_d.step()
    m.after_d_step()
    assert not any(_changed(g_before, g_params))
    changed = _changed(d_before, d_params)
    assert sum(changed) >= len(d_params) - 1, changed       # (WGAN: a clipped weight may stay put)

    d_before, g_before = _snapshot(d_params), _snapshot(g_params)
    opt_g.zero_grad()
    opt_d.zero_grad()
    loss, _ = m.g_loss(B, labels if m.conditional else None)
    loss.backward()
    assert all(p.grad is None for p in d_params)            # D (and Q) were frozen in the G loss
    assert all(p.requires_grad for p in d_params)           # ... and unfrozen afterwards
    grads = [p for p in g_params if p.grad is not None]
    assert len(grads) == len(g_params)
    opt_g.step()
    assert not any(_changed(d_before, d_params))
    assert sum(_changed(g_before, g_params)) == len(g_params)


def test_frozen_restores_flags_even_on_error():
    lin = nn.Linear(2, 2)
    lin.bias.requires_grad = False
    with pytest.raises(RuntimeError):
        with frozen(lin):
            assert not lin.weight.requires_grad
            raise RuntimeError("boom")
    assert lin.weight.requires_grad and not lin.bias.requires_grad


@pytest.mark.parametrize("name", NAMES)
def test_d_loss_refuses_batches_of_the_wrong_shape(name, models):
    m = models[name]
    with pytest.raises(ValueError, match=r"expected real images of shape \(N, 1, 28, 28\)"):
        m.d_loss(tinygan.zeros(4, 784), None)
    with pytest.raises(ValueError, match="labels must be a Tensor of shape"):
        m.d_loss(tinygan.zeros(4, 1, 28, 28), tinygan.tensor([0, 1]))


# -- DCGAN -------------------------------------------------------------------------------------
def _layers(seq):
    out = []
    for m in seq:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            out.append((type(m).__name__, m.in_channels, m.out_channels, m.kernel_size, m.stride,
                        m.padding))
        elif isinstance(m, nn.Linear):
            out.append(("Linear", m.in_features, m.out_features))
        elif isinstance(m, nn.BatchNorm2d):
            out.append(("BatchNorm2d", m.num_features))
        elif isinstance(m, nn.LeakyReLU):
            out.append(("LeakyReLU", m.negative_slope))
        elif isinstance(m, nn.Unflatten):
            out.append(("Unflatten", m.unflattened_size))
        else:
            out.append(type(m).__name__)
    return out


def test_dcgan_is_exactly_the_specified_network(models):
    m = models["dcgan"]
    assert _layers(m.G) == [
        ("Linear", 100, 128 * 7 * 7), ("Unflatten", (128, 7, 7)), ("BatchNorm2d", 128), "ReLU",
        ("ConvTranspose2d", 128, 64, (4, 4), (2, 2), (1, 1)), ("BatchNorm2d", 64), "ReLU",
        ("ConvTranspose2d", 64, 1, (4, 4), (2, 2), (1, 1)), "Tanh",
    ]
    assert _layers(m.D) == [
        ("Conv2d", 1, 64, (4, 4), (2, 2), (1, 1)), ("LeakyReLU", 0.2),
        ("Conv2d", 64, 128, (4, 4), (2, 2), (1, 1)), ("BatchNorm2d", 128), ("LeakyReLU", 0.2),
        "Flatten", ("Linear", 128 * 7 * 7, 1),
    ]
    assert len(list(m.children())) == 2                      # nothing but G and D


def test_dcgan_initialization_statistics():
    m = _fresh("dcgan", seed=3)
    for net in (m.G, m.D):
        for layer in net:
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                w = layer.weight.detach().numpy()
                tol = 4 * 0.02 / np.sqrt(2 * w.size) + 1e-4     # 4 standard errors of the std
                assert abs(w.std() - 0.02) < tol, (layer, w.std())
                assert abs(w.mean()) < 4 * 0.02 / np.sqrt(w.size) + 1e-4
                assert not layer.bias.detach().numpy().any()
            elif isinstance(layer, nn.BatchNorm2d):
                g = layer.weight.detach().numpy()
                assert abs(g.mean() - 1.0) < 4 * 0.02 / np.sqrt(g.size)
                assert abs(g.std() - 0.02) < 0.3 * 0.02
                assert not layer.bias.detach().numpy().any()
    # the default PyTorch init of a 1->64 4x4 conv is U(-1/4, 1/4): std 0.144, far from 0.02
    assert nn.Conv2d(1, 64, 4, 2, 1).weight.detach().numpy().std() > 0.1


# -- WGAN and WGAN-GP ---------------------------------------------------------------------------
def test_wgan_critic_has_no_sigmoid_and_no_batchnorm(models):
    for name in ("wgan", "wgan_gp"):
        layers = _layers(models[name].D)
        assert layers[-1] == ("Linear", 128 * 7 * 7, 1)
        assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Sigmoid))
                       for m in models[name].D.modules())


def test_wgan_clipping_keeps_every_critic_weight_in_range():
    m = _fresh("wgan")
    c = WGAN.clip_value
    assert c == 0.01
    # DCGAN's N(0, 0.02) init puts many weights outside [-c, c]: the clip has work to do
    assert any(np.abs(p.data).max() > c for p in m.D.parameters())
    opt = _optimizer(m.d_parameters(), m, 0.5)              # a huge step, to push weights out
    real, labels = _batch()
    for _ in range(2):
        opt.zero_grad()
        m.d_loss(real, labels)[0].backward()
        opt.step()
        m.after_d_step()
        for p in m.D.parameters():
            assert np.abs(p.data).max() <= c
    # and some weights sit on the boundary, so the clip really acted
    assert any((np.abs(p.data) == np.float32(c)).any() for p in m.D.parameters())
    # the generator is never clipped
    assert any(np.abs(p.data).max() > c for p in m.G.parameters())


def test_wgan_losses_are_the_critic_means(models):
    m = models["wgan"]
    real, labels = _batch()
    tinygan.manual_seed(11)
    loss, log = m.d_loss(real, labels)
    with tinygan.no_grad():
        tinygan.manual_seed(11)
        fake = m.generate(*m.sample_noise(B))
        d_real, d_fake = m.D(real).numpy(), m.D(fake).numpy()     # the same batches as d_loss's
    r, f = d_real.mean(), d_fake.mean()
    # The same critic outputs, averaged and subtracted in float32, maybe in another order:
    # sums of B terms and a subtraction, bounded by their terms (f - r may be near zero).
    bound = sum_tolerance(np.abs(d_real).mean() + np.abs(d_fake).mean(), B + 1, np.float32)
    assert_within(loss.item(), f - r, bound, "loss")
    assert_within(log["wasserstein"], r - f, bound, "wasserstein")


def test_wgan_gp_adds_the_penalty_and_does_not_clip():
    m = _fresh("wgan_gp")
    real, labels = _batch()
    loss, log = m.d_loss(real, labels)
    assert log["gp"] > 0
    # the logged float32 terms, added in float64 here and in float32 there: two roundings
    terms = abs(log["d_fake"]) + abs(log["d_real"]) + abs(log["gp"])
    assert_within(log["d_loss"], log["d_fake"] - log["d_real"] + log["gp"],
                  sum_tolerance(terms, 2, np.float32), "d_loss")
    assert WGANGP.lambda_gp == 10.0
    before = _snapshot(m.D.parameters())
    m.after_d_step()
    assert not any(_changed(before, list(m.D.parameters())))
    # the penalty alone reaches every critic weight (through the second derivative)
    fake = tinygan.tanh(tinygan.randn(B, 1, 28, 28))
    tinygan.losses.gradient_penalty(m.D, real, fake).backward()
    for p in m.D.parameters():
        if p.ndim > 1:                       # (the last bias shifts f without changing its slope)
            assert np.abs(p.grad.numpy()).sum() > 0


# -- InfoGAN ----------------------------------------------------------------------------------
def test_infogan_q_head_shares_d_body_and_is_trained_by_the_info_loss():
    m = _fresh("infogan")
    assert isinstance(m, InfoGAN) and m.latent_dim == 64
    q_ids = {id(p) for p in m.Q.parameters()}
    assert q_ids <= {id(p) for p in m.d_parameters()}
    assert not q_ids & {id(p) for p in m.D.parameters()}
    assert m.Q.net[-1].out_features == 10 + 2
    z, code = m.sample_noise(B)
    with tinygan.no_grad():
        fake = m.generate(z, code)
    info, ce, nll = m.info_loss(m.D.body(fake), z, code)
    info.backward()
    for p in m.Q.parameters():                                   # the Q head learns from it
        assert p.grad is not None and np.abs(p.grad.numpy()).sum() > 0
    assert m.D.body[0].weight.grad is not None                   # and so does D's shared body
    assert m.D.head.weight.grad is None                          # but not the real/fake logit


def test_infogan_info_loss_is_cross_entropy_on_logits_plus_gaussian_nll():
    m = _fresh("infogan")
    m.eval()
    z, code = m.sample_noise(B)
    with tinygan.no_grad():
        h = m.D.body(m.generate(z, code))
        info, ce, nll = m.info_loss(h, z, code)
        logits, mu = (t.numpy() for t in m.Q(h))
    logits, mu = logits.astype(np.float64), mu.astype(np.float64)      # exact references
    shifted = logits - logits.max(1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(1))
    ce_ref = (lse - shifted[np.arange(B), code.numpy()]).mean()
    nll_ref = 0.5 * ((z.numpy()[:, 62:] - mu) ** 2).sum(1).mean()
    # float32 rounding: each CE term is a logit minus the max minus the log of a sum of 10
    # exps (each a few ulps), averaged over B: n ~ 10 + B + a few; the NLL sums 2 B
    # squares of rounded differences, all of them positive.
    ce_bound = sum_tolerance((np.abs(shifted[np.arange(B), code.numpy()]) + lse + 1).mean(),
                             10 + B + 8, np.float32)
    nll_bound = sum_tolerance(nll_ref, 2 * B + 4, np.float32)
    assert_within(ce.item(), ce_ref, ce_bound, "CE")
    assert_within(nll.item(), nll_ref, nll_bound, "NLL")
    assert_within(info.item(), 1.0 * ce_ref + 0.1 * nll_ref,
                  ce_bound + 0.1 * nll_bound + sum_tolerance(ce_ref + 0.1 * nll_ref, 2, np.float32), "info")


def test_infogan_codes_shape_the_samples_and_real_labels_are_never_used():
    m = _fresh("infogan")
    m.eval()
    z, _ = m.sample_noise(2)
    z = tinygan.cat([z[:1], z[:1]], 0)
    with tinygan.no_grad():
        x = m.generate(z, tinygan.tensor([3, 7])).numpy()
    assert np.abs(x[0] - x[1]).max() > 1e-4                      # the categorical code matters
    m.train()
    real, labels = _batch()
    tinygan.manual_seed(5)
    a = m.d_loss(real, labels)[0].item()
    tinygan.manual_seed(5)
    b = m.d_loss(real, (labels + 1).clamp(0, 9))[0].item()
    assert a == b                                                # unsupervised: labels ignored
    with pytest.raises(ValueError, match="z must be"):
        m.generate(tinygan.zeros(2, 74))


def test_infogan_g_loss_contains_the_info_term():
    m = _fresh("infogan")
    tinygan.manual_seed(9)
    loss, log = m.g_loss(B, None)
    assert log["info_cat"] > 0 and log["info_cont"] > 0
    assert loss.item() > 1.0 * log["info_cat"]                  # adversarial term >= 0 on top


# -- the conditional GAN -------------------------------------------------------------------
def test_cgan_generator_and_discriminator_depend_on_the_label():
    m = _fresh("cgan")
    assert isinstance(m, ConditionalGAN) and m.conditional
    m.eval()
    z, _ = m.sample_noise(1)
    z = tinygan.cat([z] * 10, 0)
    with tinygan.no_grad():
        x = m.generate(z, tinygan.arange(10)).numpy()
        d = m.D(tinygan.tensor(np.repeat(x[:1], 10, 0)), tinygan.arange(10)).numpy()
    diffs = [np.abs(x[i] - x[0]).max() for i in range(1, 10)]
    assert min(diffs) > 1e-3, diffs                              # every label changes the image
    assert np.unique(d.round(7)).size == 10                       # and D's verdict on one image


def test_cgan_d_loss_needs_labels_and_fakes_use_them():
    m = _fresh("cgan")
    real, labels = _batch()
    with pytest.raises(ValueError, match="conditional"):
        m.d_loss(real, None)
    loss, _ = m.d_loss(real, labels)
    loss.backward()
    # the projection rows of the classes in the batch get gradients, the others none
    g = m.D.embed.weight.grad.numpy()
    used = set(labels.numpy().tolist())
    for k in range(10):
        assert (np.abs(g[k]).sum() > 0) == (k in used)


def test_discriminator_body_is_shared_by_the_dcgan_variants(models):
    assert _layers(models["cgan"].D.body) == _layers(models["dcgan"].D)[:-1]
    # InfoGAN's body is DCGAN's convolutions and then the FC-1024 layer of the paper's Table 1
    # that D's head and Q share; its G starts with FC-1024 and FC-7*7*128 (Table 1)
    info = models["infogan"]
    assert _layers(info.D.body) == _layers(models["dcgan"].D)[:-1] + [
        ("Linear", 128 * 7 * 7, 1024), "BatchNorm1d", ("LeakyReLU", 0.2)]
    assert _layers([info.D.head]) == [("Linear", 1024, 1)]
    assert _layers(info.Q.net)[0] == ("Linear", 1024, 128)
    assert _layers(info.G)[:6] == [("Linear", 74, 1024), "BatchNorm1d", "ReLU",
                                   ("Linear", 1024, 128 * 7 * 7), "BatchNorm1d", "ReLU"]
    assert _layers(info.G)[6:] == _layers(models["dcgan"].G)[1:2] + _layers(models["dcgan"].G)[4:]
    assert _layers(models["wgan"].D)[:4] == [
        ("Conv2d", 1, 64, (4, 4), (2, 2), (1, 1)), ("LeakyReLU", 0.2),
        ("Conv2d", 64, 128, (4, 4), (2, 2), (1, 1)), ("LeakyReLU", 0.2)]
    assert isinstance(models["wgan_gp"], WGAN) and isinstance(models["dcgan"], DCGAN)
