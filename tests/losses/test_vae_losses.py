"""tinygan.losses: the VAE objectives (reparameterization, KL, likelihoods, ELBO, capacity, IWAE).

Every function against an independent NumPy formula; first and second derivatives
by central differences in float64; the analytic KL against a Monte-Carlo estimate;
the reparameterized gradient against finite differences of the Monte-Carlo
expectation with the noise held fixed (and against the exact gradient of the
expectation); IWAE with k = 1 against the one-sample ELBO, and the IWAE bound on a
linear-Gaussian model, whose log p(x) is known in closed form, tightening towards
it as k grows; every bad input refused with a message that names the function.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygan
from tinygan import losses
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, sum_tolerance

LOG_2PI = math.log(2 * math.pi)


def T(a, requires_grad=False):
    return tinygan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# -- independent NumPy references ------------------------------------------------------------
def np_kl(mu, lv):
    """KL(N(mu, s^2) || N(0, 1)) = log(1/s) + (s^2 + mu^2)/2 - 1/2, written from the densities."""
    s2 = np.exp(lv)
    kl = -0.5 * np.log(s2) + 0.5 * (s2 + mu ** 2) - 0.5
    return kl.reshape(len(mu), -1).sum(1)


def np_log_normal(z, mu=0.0, lv=0.0):
    var = np.exp(np.broadcast_to(lv, z.shape))
    dens = np.exp(-(z - mu) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)
    return np.log(dens).reshape(len(z), -1).sum(1)


def np_bernoulli(logits, x):
    # x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), with log sigmoid(l) = -logaddexp(0, -l)
    ll = -x * np.logaddexp(0.0, -logits) - (1 - x) * np.logaddexp(0.0, logits)
    return ll.reshape(len(x), -1).sum(1)


def np_gaussian(mean, x, lv):
    return np_log_normal(x, mean, lv)


# -- forward values -----------------------------------------------------------------------------
SHAPES = [(5, 3), (4, 2, 3, 3), (6,)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gaussian_kl_matches_numpy(shape, rng):
    mu, lv = rng.standard_normal(shape), rng.standard_normal(shape)
    out = losses.gaussian_kl(T(mu), T(lv))
    assert out.shape == (shape[0],)
    np.testing.assert_allclose(out.numpy(), np_kl(mu, lv), rtol=1e-12, atol=1e-12)
    # zero exactly at the prior, positive elsewhere
    assert (losses.gaussian_kl(T(np.zeros(shape)), T(np.zeros(shape))).numpy() == 0).all()
    assert (out.numpy() > 0).all()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_log_normal_matches_numpy(shape, rng):
    z, mu, lv = (rng.standard_normal(shape) for _ in range(3))
    np.testing.assert_allclose(losses.log_normal(T(z)).numpy(), np_log_normal(z), rtol=1e-12)
    np.testing.assert_allclose(losses.log_normal(T(z), T(mu)).numpy(), np_log_normal(z, mu),
                               rtol=1e-12)
    np.testing.assert_allclose(losses.log_normal(T(z), T(mu), T(lv)).numpy(),
                               np_log_normal(z, mu, lv), rtol=1e-12)
    np.testing.assert_allclose(losses.log_normal(T(z), 0.5, -0.3).numpy(),
                               np_log_normal(z, 0.5, -0.3), rtol=1e-12)
    # a log-variance broadcast over the batch
    lv1 = rng.standard_normal((1,) + shape[1:])
    np.testing.assert_allclose(losses.log_normal(T(z), T(mu), T(lv1)).numpy(),
                               np_log_normal(z, mu, lv1), rtol=1e-12)


def test_bernoulli_log_likelihood_matches_numpy(rng):
    logits = rng.standard_normal((4, 1, 3, 3)) * 3
    for x in (rng.random((4, 1, 3, 3)) < 0.5).astype(np.float64), rng.random((4, 1, 3, 3)):
        out = losses.bernoulli_log_likelihood(T(logits), T(x))
        assert out.shape == (4,)
        np.testing.assert_allclose(out.numpy(), np_bernoulli(logits, x), rtol=1e-12)
    # binarized data: the log-probability of the observed bits under sigmoid(l)
    x = (rng.random((4, 6)) < 0.5).astype(np.float64)
    lg = rng.standard_normal((4, 6))
    p = 1 / (1 + np.exp(-lg))
    expected = np.log(np.where(x == 1, p, 1 - p)).sum(1)
    np.testing.assert_allclose(losses.bernoulli_log_likelihood(T(lg), T(x)).numpy(), expected,
                               rtol=1e-12)
    # integer (e.g. uint8) binarized data is taken as floats
    np.testing.assert_allclose(
        losses.bernoulli_log_likelihood(T(lg), tinygan.tensor(x.astype(np.uint8))).numpy(),
        expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bernoulli_log_likelihood_is_exact_and_finite_at_extreme_logits(dtype):
    lg = np.array([[1e4, -1e4, 50.0, -50.0, 0.0, 1e3], [-1e4, 1e4, -1e3, 1e3, 20.0, -20.0]],
                  dtype=dtype)
    x = np.array([[1, 1, 0, 1, 0, 1], [1, 0, 0, 1, 1, 1]], dtype=dtype)
    logits = tinygan.tensor(lg, requires_grad=True)
    out = losses.bernoulli_log_likelihood(logits, tinygan.tensor(x))
    assert np.isfinite(out.detach().numpy()).all()
    lg64, x64 = lg.astype(np.float64), x.astype(np.float64)
    # sum_j x_j l_j - softplus(l_j): 6 terms, each the difference of parts as large as |l_j|
    parts = (np.abs(x64 * lg64) + np.logaddexp(0.0, lg64)).sum(1)
    assert_within(out.detach().numpy(), np_bernoulli(lg64, x64), sum_tolerance(parts, 6 + 3, dtype))
    (g,) = tinygan.grad(out.sum(), logits, create_graph=True)
    assert np.isfinite(g.detach().numpy()).all()
    sigmoid = 0.5 * (1 + np.tanh(lg64 / 2))                  # exact and overflow-free
    # elementwise x - sigmoid(l) in [-1, 1]: a few roundings, absolute (8 float32 eps)
    np.testing.assert_allclose(g.detach().numpy(), x64 - sigmoid, rtol=0, atol=1e-6)
    (gg,) = tinygan.grad(g.sum(), logits)
    assert np.isfinite(gg.numpy()).all()


def test_gaussian_log_likelihood_matches_numpy(rng):
    mean, x = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    np.testing.assert_allclose(losses.gaussian_log_likelihood(T(mean), T(x)).numpy(),
                               np_gaussian(mean, x, 0.0), rtol=1e-12)
    np.testing.assert_allclose(losses.gaussian_log_likelihood(T(mean), T(x), -1.5).numpy(),
                               np_gaussian(mean, x, -1.5), rtol=1e-12)
    for lv_shape in [(3, 2, 4), (1, 2, 1), (1,), (), (3, 1, 1)]:
        lv = rng.standard_normal(lv_shape)
        out = losses.gaussian_log_likelihood(T(mean), T(x), T(lv))
        assert out.shape == (3,)
        np.testing.assert_allclose(out.numpy(), np_gaussian(mean, x, lv), rtol=1e-12)
    # a fixed unit variance is -1/2 (squared error + d log 2 pi)
    np.testing.assert_allclose(losses.gaussian_log_likelihood(T(mean), T(x)).numpy(),
                               -0.5 * (((x - mean) ** 2).reshape(3, -1).sum(1) + 8 * LOG_2PI))


def test_reparameterize_is_mu_plus_sigma_eps(rng):
    mu, lv, eps = (rng.standard_normal((4, 3)) for _ in range(3))
    z = losses.reparameterize(T(mu), T(lv), T(eps))
    np.testing.assert_allclose(z.numpy(), mu + np.sqrt(np.exp(lv)) * eps, rtol=1e-12)
    # eps None: drawn as randn_like(mu) from tinygan's seeded generator, mu's dtype
    tinygan.manual_seed(7)
    e = tinygan.randn_like(T(mu)).numpy()
    tinygan.manual_seed(7)
    z = losses.reparameterize(T(mu), T(lv))
    np.testing.assert_allclose(z.numpy(), mu + np.exp(lv / 2) * e, rtol=1e-12)
    z32 = losses.reparameterize(tinygan.zeros(2, 3), tinygan.zeros(2, 3))
    assert z32.dtype == np.float32 and z32.shape == (2, 3)


def test_reparameterize_uses_one_draw_for_forward_and_backward(rng):
    """dz/dmu = 1 and dz/dlogvar = (z - mu)/2 at the same eps as the forward value."""
    mu0 = rng.standard_normal((5, 2))
    mu, lv = T(mu0, True), T(rng.standard_normal((5, 2)), True)
    tinygan.manual_seed(3)
    z = losses.reparameterize(mu, lv)
    g_mu, g_lv = tinygan.grad(z.sum(), [mu, lv])
    np.testing.assert_allclose(g_mu.numpy(), np.ones((5, 2)))
    np.testing.assert_allclose(g_lv.numpy(), (z.detach().numpy() - mu0) / 2, rtol=1e-12)
    # a given eps is a constant of the graph: no gradient reaches it
    eps = T(rng.standard_normal((5, 2)), True)
    z = losses.reparameterize(mu, lv, eps)
    g = tinygan.grad(z.sum(), [mu, eps], allow_unused=True)
    assert g[1] is None


def _model_batch(rng, likelihood, n=4, shape=(2, 3)):
    x = (rng.random((n,) + shape) < 0.4).astype(np.float64) if likelihood == "bernoulli" \
        else rng.standard_normal((n,) + shape)
    out = rng.standard_normal((n,) + shape)
    mu, lv = rng.standard_normal((n, 2)), rng.standard_normal((n, 2)) * 0.5
    return x, out, mu, lv


def _np_log_px(likelihood, x, out, dlv):
    return np_bernoulli(out, x) if likelihood == "bernoulli" else np_gaussian(out, x, dlv)


@pytest.mark.parametrize("beta", [1.0, 4.0, 0.0])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_matches_numpy(likelihood, beta, rng):
    x, out, mu, lv = _model_batch(rng, likelihood)
    dlv = -0.7
    got = losses.elbo(T(x), T(out), T(mu), T(lv), likelihood, decoder_logvar=dlv, beta=beta)
    assert got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), _np_log_px(likelihood, x, out, dlv) - beta * np_kl(mu, lv),
                               rtol=1e-12)


def test_elbo_with_a_learned_decoder_variance(rng):
    x, out, mu, lv = _model_batch(rng, "gaussian")
    dlv = rng.standard_normal((1, 2, 3))
    got = losses.elbo(T(x), T(out), T(mu), T(lv), "gaussian", T(dlv))
    np.testing.assert_allclose(got.numpy(), np_gaussian(out, x, dlv) - np_kl(mu, lv), rtol=1e-12)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_vae_loss_is_the_mean_negative_beta_elbo_and_logs_arrays(likelihood, rng):
    x, out, mu, lv = _model_batch(rng, likelihood)
    recon, kl = -_np_log_px(likelihood, x, out, 0.3), np_kl(mu, lv)
    loss, stats = losses.vae_loss(T(x), T(out), T(mu), T(lv), likelihood, 0.3, beta=2.5)
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), np.mean(recon + 2.5 * kl), rtol=1e-12)
    assert set(stats) == {"loss", "neg_elbo", "recon", "kl"}
    # 0-d arrays of x's module, left on its device for the training loop to read in bulk
    assert all(isinstance(v, (np.ndarray, np.generic)) and np.ndim(v) == 0 for v in stats.values())
    # exact: neg_elbo is recon + kl summed in float64, as the two values read as Python floats
    assert float(stats["neg_elbo"]) == float(stats["recon"]) + float(stats["kl"])
    np.testing.assert_allclose([stats["loss"], stats["neg_elbo"], stats["recon"], stats["kl"]],
                               [loss.item(), np.mean(recon + kl), recon.mean(), kl.mean()], rtol=1e-12)
    # beta = 1: the loss is the negative ELBO
    loss, stats = losses.vae_loss(T(x), T(out), T(mu), T(lv), likelihood, 0.3)
    np.testing.assert_allclose(loss.item(), -losses.elbo(T(x), T(out), T(mu), T(lv), likelihood,
                                                         0.3).numpy().mean(), rtol=1e-12)
    assert stats["neg_elbo"] == pytest.approx(stats["loss"], rel=1e-12)


@pytest.mark.parametrize("capacity", [0.5, 25.0])
def test_vae_loss_capacity_form(capacity, rng):
    """Burgess et al. eq. 8: mean recon + gamma |mean KL - C|; beta is not used there."""
    x, out, mu, lv = _model_batch(rng, "bernoulli")
    recon, kl = -np_bernoulli(out, x), np_kl(mu, lv)
    for beta in (1.0, 3.0):
        loss, stats = losses.vae_loss(T(x), T(out), T(mu), T(lv), beta=beta, capacity=capacity,
                                      gamma=100.0)
        np.testing.assert_allclose(loss.item(), recon.mean() + 100.0 * abs(kl.mean() - capacity),
                                   rtol=1e-12)
        np.testing.assert_allclose(stats["neg_elbo"], np.mean(recon + kl), rtol=1e-12)
        assert stats["loss"] == loss.item()


def test_capacity_schedule_ramps_linearly_then_holds():
    assert losses.capacity_schedule(0) == 0.0
    assert losses.capacity_schedule(50_000) == pytest.approx(12.5)
    assert losses.capacity_schedule(100_000) == 25.0
    assert losses.capacity_schedule(10 ** 7) == 25.0
    assert losses.capacity_schedule(3, c_max=5.0, ramp_steps=10) == pytest.approx(1.5)
    assert losses.capacity_schedule(0, c_max=5.0, ramp_steps=0) == 5.0
    assert type(losses.capacity_schedule(7)) is float


# -- gradients, first and second order -----------------------------------------------------------
def _check(fn, *inputs, second=True):
    assert gradcheck(fn, inputs)
    if second:
        assert gradgradcheck(fn, inputs)


def test_gaussian_kl_and_log_normal_gradients(rng):
    mu, lv, z = (T(rng.standard_normal((3, 2)), True) for _ in range(3))
    _check(losses.gaussian_kl, mu, lv)
    _check(losses.log_normal, z, mu, lv)
    _check(lambda z: losses.log_normal(z), z)
    lv1 = T(rng.standard_normal((1, 2)), True)
    _check(losses.log_normal, z, mu, lv1)


def test_bernoulli_log_likelihood_gradients(rng):
    logits = T(rng.standard_normal((3, 4)) * 2, True)
    x = T(rng.random((3, 4)))
    _check(lambda l: losses.bernoulli_log_likelihood(l, x), logits)


def test_gaussian_log_likelihood_gradients_fixed_and_learned_variance(rng):
    mean, x = T(rng.standard_normal((3, 4)), True), T(rng.standard_normal((3, 4)), True)
    _check(lambda m, x: losses.gaussian_log_likelihood(m, x, -0.4), mean, x)
    for lv_shape in [(3, 4), (1, 4), ()]:
        lv = T(rng.standard_normal(lv_shape) * 0.5, True)
        _check(losses.gaussian_log_likelihood, mean, x, lv)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_elbo_gradients(likelihood, rng):
    x, out, mu, lv = _model_batch(rng, likelihood, n=3, shape=(3,))
    out, mu, lv = T(out, True), T(mu, True), T(lv, True)
    dlv = T(rng.standard_normal((1, 3)) * 0.3, True)
    if likelihood == "bernoulli":
        _check(lambda o, m, l: losses.elbo(T(x), o, m, l, beta=2.0), out, mu, lv)
    else:
        _check(lambda o, m, l, d: losses.elbo(T(x), o, m, l, "gaussian", d, beta=0.5), out, mu, lv, dlv)


@pytest.mark.parametrize("capacity", [None, 1.5])
def test_vae_loss_gradients(capacity, rng):
    x, out, mu, lv = _model_batch(rng, "gaussian", n=3, shape=(3,))
    out, mu, lv = T(out, True), T(mu, True), T(lv, True)
    # keep |mean KL - C| away from the kink of |.| at 0
    assert abs(np_kl(mu.detach().numpy(), lv.detach().numpy()).mean() - 1.5) > 0.2

    def fn(o, m, l, d):
        return losses.vae_loss(T(x), o, m, l, "gaussian", d, beta=3.0, capacity=capacity, gamma=7.0)[0]

    _check(fn, out, mu, lv, T(0.2, True))


# -- the KL formula and the reparameterized gradient, by Monte Carlo ------------------------------
def test_gaussian_kl_agrees_with_a_monte_carlo_estimate():
    """KL = E_q[log q(z) - log p(z)]: the mean of M samples, within 4 standard errors."""
    gen = np.random.default_rng(0)
    mu = np.array([[0.0, 0.0, 0.0], [1.5, -0.5, 0.2], [-0.3, 2.0, 0.0]])
    lv = np.array([[0.0, 0.0, 0.0], [-1.0, 0.5, 0.3], [1.2, -2.0, 0.0]])
    M = 200_000
    eps = gen.standard_normal((M,) + mu.shape)
    z = mu + np.exp(lv / 2) * eps
    log_q = (-0.5 * (LOG_2PI + lv + eps ** 2)).sum(-1)          # (M, N)
    log_p = (-0.5 * (LOG_2PI + z ** 2)).sum(-1)
    samples = log_q - log_p
    mc, se = samples.mean(0), samples.std(0) / math.sqrt(M)
    kl = losses.gaussian_kl(T(mu), T(lv)).numpy()
    assert kl[0] == 0.0 and np.all(se[1:] > 0)
    assert np.all(np.abs(kl - mc) <= 4 * se + 1e-12), (kl, mc, se)
    # and the estimate is precise enough for that to mean something
    assert np.all(se[1:] < 0.01 * kl[1:])


def test_reparameterized_gradient_of_an_expectation(rng):
    """d/dmu, d/dlogvar of F = 1/M sum_m f(mu + exp(logvar/2) eps_m), f = sin, with eps fixed:
    (a) autograd equals central differences of F (same eps in every evaluation);
    (b) it estimates the exact gradient of E f(z) = sin(mu) exp(-s^2/2) within 4 standard errors."""
    M = 20_000
    mu0, lv0 = np.array([0.4, -1.1, 2.0]), np.array([-0.5, 0.3, -1.5])
    eps = T(np.random.default_rng(1).standard_normal((M, 3)))

    def F(mu, lv):
        z = losses.reparameterize(mu.reshape(1, 3).expand(M, 3), lv.reshape(1, 3).expand(M, 3), eps)
        return z.sin().mean(0)                                     # (3,): one expectation per dim

    mu, lv = T(mu0, True), T(lv0, True)
    out = F(mu, lv)
    for j in range(3):
        g_mu, g_lv = tinygan.grad(out[j], [mu, lv], retain_graph=True)
        # (a) central differences with the fixed eps
        h = 1e-5
        for g, base, which in ((g_mu, mu0, 0), (g_lv, lv0, 1)):
            plus, minus = base.copy(), base.copy()
            plus[j] += h
            minus[j] -= h
            with tinygan.no_grad():
                args_p = (T(plus), T(lv0)) if which == 0 else (T(mu0), T(plus))
                args_m = (T(minus), T(lv0)) if which == 0 else (T(mu0), T(minus))
                fd = (F(*args_p)[j].item() - F(*args_m)[j].item()) / (2 * h)
            assert g.numpy()[j] == pytest.approx(fd, rel=1e-6, abs=1e-9)
            others = np.delete(g.numpy(), j)
            assert np.all(others == 0)                            # dims do not mix
        # (b) the exact gradient of the expectation, from per-sample gradients' spread
        s2 = math.exp(lv0[j])
        e = eps.numpy()[:, j]
        z = mu0[j] + math.sqrt(s2) * e
        per_mu, per_lv = np.cos(z), np.cos(z) * math.sqrt(s2) * e / 2
        exact_mu = math.cos(mu0[j]) * math.exp(-s2 / 2)
        exact_lv = -math.sin(mu0[j]) * math.exp(-s2 / 2) * s2 / 2
        assert abs(g_mu.numpy()[j] - exact_mu) < 4 * per_mu.std() / math.sqrt(M)
        assert abs(g_lv.numpy()[j] - exact_lv) < 4 * per_lv.std() / math.sqrt(M)


# -- IWAE ------------------------------------------------------------------------------------------
class LinearGaussian:
    """p(z) = N(0, I_2), p(x|z) = N(W z + b, s2 I_3): log p(x) = log N(x; b, W W^T + s2 I).

    The encoder is the exact posterior mean with a diagonal variance ``widen`` times the
    posterior's diagonal: a deliberately imperfect q, so that the ELBO has a gap to close.
    """

    def __init__(self, widen=3.0, shift=0.3):
        self.W = np.array([[1.0, 0.5], [-0.7, 1.2], [0.3, -0.8]])
        self.b = np.array([0.2, -0.1, 0.5])
        self.s2 = 0.3
        post_cov = np.linalg.inv(np.eye(2) + self.W.T @ self.W / self.s2)
        self.A = post_cov @ self.W.T / self.s2                   # posterior mean = A (x - b)
        self.q_lv = np.log(widen * np.diag(post_cov))
        self.shift = shift
        self.Wt, self.bt, self.At, self.lvt = T(self.W), T(self.b), T(self.A), T(self.q_lv)

    def encode(self, x):
        mu = (x - self.bt) @ self.At.T + self.shift
        return mu, self.lvt.reshape(1, 2).expand(*mu.shape)

    def decode(self, z):
        return z @ self.Wt.T + self.bt

    @property
    def decoder_logvar(self):
        return math.log(self.s2)

    def log_px(self, x):
        cov = self.W @ self.W.T + self.s2 * np.eye(3)
        d = x - self.b
        _, logdet = np.linalg.slogdet(cov)
        return -0.5 * (3 * LOG_2PI + logdet + np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d))

    def iwae(self, x, k, chunk=None):
        return losses.iwae_bound(self.encode, self.decode, T(x), k, "gaussian", self.decoder_logvar,
                                 chunk=chunk)


def test_iwae_with_k_1_is_the_one_sample_elbo_exactly(rng):
    """L_1 = log p(x|z) + log p(z) - log q(z|x) at the z drawn with the same seed; elbo() has the
    analytic KL in place of the one-sample log q - log p, and is L_1's expectation."""
    model = LinearGaussian()
    x = rng.standard_normal((5, 3))
    tinygan.manual_seed(11)
    l1 = model.iwae(x, 1)
    tinygan.manual_seed(11)
    mu, lv = model.encode(T(x))
    z = losses.reparameterize(mu, lv)
    out = model.decode(z)
    log_px = losses.gaussian_log_likelihood(out, T(x), model.decoder_logvar)
    one_sample = log_px + losses.log_normal(z) - losses.log_normal(z, mu, lv)
    np.testing.assert_allclose(l1.numpy(), one_sample.numpy(), rtol=1e-13, atol=1e-13)
    # elbo() differs exactly by (analytic KL) - (one-sample KL)
    e = losses.elbo(T(x), out, mu, lv, "gaussian", model.decoder_logvar)
    one_kl = (losses.log_normal(z, mu, lv) - losses.log_normal(z)).numpy()
    np.testing.assert_allclose(e.numpy() + losses.gaussian_kl(mu, lv).numpy() - one_kl, l1.numpy(),
                               rtol=1e-12)
    # and on average over R draws (the batch repeated R times), L_1 is elbo() (whose own
    # one-sample noise, in log p(x|z) only, is averaged over the same number of draws)
    R = 4000
    xr = T(np.tile(x, (R, 1)))
    tinygan.manual_seed(12)
    with tinygan.no_grad():
        draws = model.iwae(xr.numpy(), 1).numpy().reshape(R, 5)
        mur, lvr = model.encode(xr)
        e = losses.elbo(xr, model.decode(losses.reparameterize(mur, lvr)), mur, lvr, "gaussian",
                        model.decoder_logvar).numpy().reshape(R, 5)
    se = np.hypot(draws.std(0), e.std(0)) / math.sqrt(R)
    assert np.all(np.abs(draws.mean(0) - e.mean(0)) < 4 * se), (draws.mean(0), e.mean(0), se)
    # (which is not a vacuous check: the two differ draw by draw)
    assert np.abs(draws - e).max() > 0.1


def test_iwae_with_k_1_is_the_one_sample_elbo_for_a_bernoulli_decoder(rng):
    Wt = T(rng.standard_normal((6, 2)))
    x = T((rng.random((4, 6)) < 0.5).astype(np.float64))
    mu, lv = T(rng.standard_normal((4, 2))), T(rng.standard_normal((4, 2)) * 0.3)
    tinygan.manual_seed(5)
    l1 = losses.iwae_bound(lambda x: (mu, lv), lambda z: z @ Wt.T, x, 1)
    tinygan.manual_seed(5)
    z = losses.reparameterize(mu, lv)
    expected = (losses.bernoulli_log_likelihood(z @ Wt.T, x) + losses.log_normal(z)
                - losses.log_normal(z, mu, lv))
    np.testing.assert_allclose(l1.numpy(), expected.numpy(), rtol=1e-13)


def test_iwae_bound_tightens_with_k_towards_the_true_log_likelihood(rng):
    """Burda et al. Theorem 1: E L_1 <= E L_10 <= E L_100 <= log p(x), and L_k -> log p(x).
    Averages over 32 data points and R repeated draws; margins are 4 standard errors."""
    model = LinearGaussian()
    x = model.b + rng.standard_normal((32, 3)) * 1.2
    true = model.log_px(x).mean()
    tinygan.manual_seed(0)

    def estimate(k, repeats):
        # `repeats` independent estimates in one call: the batch repeated `repeats` times
        with tinygan.no_grad():
            vals = model.iwae(np.tile(x, (repeats, 1)), k, chunk=1000).numpy()
        vals = vals.reshape(repeats, len(x)).mean(1)
        return vals.mean(), vals.std(ddof=1) / math.sqrt(repeats)

    (l1, se1), (l10, se10), (l100, se100) = estimate(1, 200), estimate(10, 200), estimate(100, 60)
    assert l1 + 4 * math.hypot(se1, se10) < l10
    assert l10 + 4 * math.hypot(se10, se100) < l100
    assert l100 <= true + 4 * se100
    # The gap log p(x) - E L_k shrinks like Var(w / p(x)) / (2k) for large k (a delta-method
    # expansion of E log of a mean of k weights), so at k = 5000 it is a small fraction of L_1's.
    assert true - l1 > 0.5                             # the imperfect q leaves a real gap ...
    l5000, se5000 = estimate(5000, 4)
    assert abs(l5000 - true) < 0.01 * (true - l1) + 4 * se5000     # ... that k = 5000 closes


def test_iwae_chunked_equals_unchunked_for_the_same_seed(rng):
    """The noise is drawn chunk by chunk in row order (sample i of point n is row i*N + n), and
    NumPy's generator yields the same stream however the draws are split."""
    model = LinearGaussian()
    x = rng.standard_normal((3, 3))
    results = []
    for chunk in (None, 1, 2, 3, 7, 100):
        tinygan.manual_seed(21)
        results.append(model.iwae(x, 7, chunk=chunk).numpy())
    for r in results[1:]:
        np.testing.assert_allclose(r, results[0], rtol=1e-12, atol=1e-12)
    # and a different seed gives a different estimate
    tinygan.manual_seed(22)
    assert not np.allclose(model.iwae(x, 7).numpy(), results[0])


def test_iwae_is_differentiable_for_training(rng):
    """The IWAE objective: gradcheck (first and second order) in the encoder's and decoder's
    parameters, with the noise fixed by reseeding before every evaluation."""
    x = T(rng.standard_normal((3, 3)))
    params = [T(rng.standard_normal((3, 2)), True), T(rng.standard_normal((3, 2)) * 0.3, True),
              T(rng.standard_normal(2) * 0.3, True), T(-0.5, True)]

    def fn(W, A, lv, dlv):
        tinygan.manual_seed(4)
        return losses.iwae_bound(lambda x: (x @ A, lv.reshape(1, 2).expand(3, 2)),
                                 lambda z: z @ W.T, x, 4, "gaussian", dlv, chunk=3)

    _check(fn, *params)
    with tinygan.no_grad():
        assert not fn(*params).requires_grad


def test_iwae_repeats_a_per_sample_decoder_logvar(rng):
    model = LinearGaussian()
    x = rng.standard_normal((4, 3))
    dlv = T(rng.standard_normal((4, 3)) * 0.3)
    tinygan.manual_seed(8)
    lk = losses.iwae_bound(model.encode, model.decode, T(x), 3, "gaussian", dlv)
    # by hand: the three samples of point n are rows n, n+4, n+8 of one (12, 2) draw
    tinygan.manual_seed(8)
    mu, lv = model.encode(T(x))
    mu3, lv3 = (np.tile(a.numpy(), (3, 1)) for a in (mu, lv))
    eps = tinygan.randn(12, 2, dtype=tinygan.float64).numpy()
    z = mu3 + np.exp(lv3 / 2) * eps
    log_w = (np_gaussian(z @ model.W.T + model.b, np.tile(x, (3, 1)), np.tile(dlv.numpy(), (3, 1)))
             + np_log_normal(z) - np_log_normal(z, mu3, lv3)).reshape(3, 4)
    expected = np.logaddexp.reduce(log_w, axis=0) - math.log(3)
    np.testing.assert_allclose(lk.numpy(), expected, rtol=1e-12)


def test_iwae_stays_finite_where_the_weights_underflow(rng):
    """log-weights near -1.5e4 nats (every bit predicted wrong with logit -300): exp(log w) would
    underflow to 0 and give log 0 = -inf; logsumexp keeps the value and its gradient."""
    Wt = T(rng.standard_normal((50, 2)), True)
    x = T(np.ones((2, 50)))
    mu, lv = T(np.zeros((2, 2))), T(np.zeros((2, 2)))
    lk = losses.iwae_bound(lambda x: (mu, lv), lambda z: z @ Wt.T - 300.0, x, 16)
    assert np.isfinite(lk.detach().numpy()).all() and lk.detach().numpy().max() < -1e4
    (g,) = tinygan.grad(lk.sum(), Wt)
    assert np.isfinite(g.numpy()).all() and np.abs(g.numpy()).sum() > 0


# -- bad input ---------------------------------------------------------------------------------
def test_decoder_output_shape_must_match_the_data():
    x, mu = tinygan.zeros(4, 1, 28, 28), tinygan.zeros(4, 8)
    bad = tinygan.zeros(4, 1, 28, 27)
    msg = r"elbo: decoder output has shape \(4, 1, 28, 27\) but the data x has shape \(4, 1, 28, 28\)"
    with pytest.raises(ValueError, match=msg):
        losses.elbo(x, bad, mu, mu)
    with pytest.raises(ValueError, match=r"vae_loss: decoder output has shape \(4, 1, 28, 27\)"):
        losses.vae_loss(x, bad, mu, mu, "gaussian")
    with pytest.raises(ValueError,
                       match=r"bernoulli_log_likelihood: logits has shape \(4, 1, 28, 27\)"):
        losses.bernoulli_log_likelihood(bad, x)
    with pytest.raises(ValueError, match=r"gaussian_log_likelihood: mean has shape \(4, 1, 28, 27\)"):
        losses.gaussian_log_likelihood(bad, x)
    with pytest.raises(ValueError, match=r"iwae_bound: decoder output has shape \(8, 1, 28, 27\) "
                                         r"but the data x has shape \(8, 1, 28, 28\)"):
        losses.iwae_bound(lambda x: (mu, mu), lambda z: tinygan.zeros(z.shape[0], 1, 28, 27), x, 2)


def test_negative_weights_are_refused():
    x, mu = tinygan.zeros(2, 3), tinygan.zeros(2, 2)
    with pytest.raises(ValueError, match=r"vae_loss: beta must be >= 0, got -1.0"):
        losses.vae_loss(x, x, mu, mu, beta=-1.0)
    with pytest.raises(ValueError, match=r"elbo: beta must be >= 0, got -0.5"):
        losses.elbo(x, x, mu, mu, beta=-0.5)
    with pytest.raises(ValueError, match=r"elbo: beta must be >= 0, got nan"):
        losses.elbo(x, x, mu, mu, beta=float("nan"))
    with pytest.raises(TypeError, match=r"vae_loss: beta must be a number, got str"):
        losses.vae_loss(x, x, mu, mu, beta="4")
    with pytest.raises(ValueError, match=r"vae_loss: gamma must be >= 0, got -2"):
        losses.vae_loss(x, x, mu, mu, capacity=1.0, gamma=-2)
    with pytest.raises(ValueError, match=r"vae_loss: capacity must be >= 0, got -3.0"):
        losses.vae_loss(x, x, mu, mu, capacity=-3.0)
    with pytest.raises(ValueError, match=r"capacity_schedule: step must be >= 0, got -1"):
        losses.capacity_schedule(-1)
    with pytest.raises(ValueError, match=r"capacity_schedule: ramp_steps must be >= 0"):
        losses.capacity_schedule(1, ramp_steps=-5)


@pytest.mark.parametrize("k", [0, -3, 2.0, True, None])
def test_iwae_k_must_be_a_positive_integer(k):
    x, mu = tinygan.zeros(2, 3), tinygan.zeros(2, 2)
    with pytest.raises(ValueError, match=rf"iwae_bound: k must be an integer >= 1, got {k!r}"):
        losses.iwae_bound(lambda x: (mu, mu), lambda z: z, x, k)


def test_iwae_other_bad_input():
    x, mu = tinygan.zeros(2, 3), tinygan.zeros(2, 2)
    dec = lambda z: tinygan.zeros(z.shape[0], 3)                             # noqa: E731
    with pytest.raises(ValueError, match=r"iwae_bound: chunk must be None or an integer >= 1, got 0"):
        losses.iwae_bound(lambda x: (mu, mu), dec, x, 3, chunk=0)
    with pytest.raises(TypeError, match=r"iwae_bound: encode\(x\) must return \(mu, logvar\)"):
        losses.iwae_bound(lambda x: mu, dec, x, 3)
    with pytest.raises(ValueError,
                       match=r"iwae_bound: mu has shape \(2, 2\) but logvar has shape \(2, 3\)"):
        losses.iwae_bound(lambda x: (mu, tinygan.zeros(2, 3)), dec, x, 3)
    with pytest.raises(ValueError, match=r"iwae_bound: mu and logvar have batch size 5"):
        losses.iwae_bound(lambda x: (tinygan.zeros(5, 2), tinygan.zeros(5, 2)), dec, x, 3)
    with pytest.raises(ValueError, match=r"iwae_bound: unknown likelihood 'poisson'"):
        losses.iwae_bound(lambda x: (mu, mu), dec, x, 3, likelihood="poisson")
    with pytest.raises(ValueError, match=r"iwae_bound: the data x must lie in \[0, 1\]"):
        losses.iwae_bound(lambda x: (mu, mu), dec, x - 1.0, 3)


def test_posterior_shape_mismatch_and_unknown_likelihood_are_refused():
    x, a, b = tinygan.zeros(4, 3), tinygan.zeros(4, 2), tinygan.zeros(4, 5)
    msg = r"mu has shape \(4, 2\) but logvar has shape \(4, 5\)"
    with pytest.raises(ValueError, match="gaussian_kl: " + msg):
        losses.gaussian_kl(a, b)
    with pytest.raises(ValueError, match="reparameterize: " + msg):
        losses.reparameterize(a, b)
    with pytest.raises(ValueError, match="elbo: " + msg):
        losses.elbo(x, x, a, b)
    with pytest.raises(ValueError, match=r"elbo: mu and logvar have batch size 3 \(shape \(3, 2\)\) "
                                         r"but the data x has batch size 4"):
        losses.elbo(x, x, tinygan.zeros(3, 2), tinygan.zeros(3, 2))
    with pytest.raises(ValueError,
                       match=r"reparameterize: eps must be a Tensor of mu's shape \(4, 2\), "
                             r"got \(4, 3\)"):
        losses.reparameterize(a, a, tinygan.zeros(4, 3))
    with pytest.raises(ValueError, match=r"elbo: unknown likelihood 'gauss'; expected one of "
                                         r"'bernoulli', 'gaussian'"):
        losses.elbo(x, x, a, a, likelihood="gauss")
    with pytest.raises(ValueError, match=r"vae_loss: unknown likelihood 'mse'"):
        losses.vae_loss(x, x, a, a, likelihood="mse")


def test_other_bad_arguments_are_refused():
    x = tinygan.zeros(4, 3)
    with pytest.raises(ValueError, match=r"bernoulli_log_likelihood: the data x must lie in \[0, 1\].*"
                                         r"got values in \[-1, 1\]"):
        losses.bernoulli_log_likelihood(x, tinygan.tensor(np.linspace(-1, 1, 12).reshape(4, 3)))
    with pytest.raises(ValueError, match=r"gaussian_log_likelihood: logvar has shape \(4, 2\), which "
                                         r"does not broadcast to the data's shape \(4, 3\)"):
        losses.gaussian_log_likelihood(x, x, tinygan.zeros(4, 2))
    with pytest.raises(ValueError, match=r"elbo: decoder_logvar has shape \(2,\), which does not"):
        losses.elbo(x, x, x, x, "gaussian", tinygan.zeros(2))
    with pytest.raises(ValueError, match=r"log_normal: mu has shape \(3, 3\), which does not "):
        losses.log_normal(x, tinygan.zeros(3, 3))
    with pytest.raises(TypeError, match=r"gaussian_kl: mu must be a Tensor, got ndarray"):
        losses.gaussian_kl(np.zeros((4, 2)), tinygan.zeros(4, 2))
    with pytest.raises(TypeError, match=r"elbo: the data x must be a Tensor, got list"):
        losses.elbo([[0.0]], x, x, x)
    with pytest.raises(TypeError, match=r"log_normal: z must be floating point"):
        losses.log_normal(tinygan.tensor([[1, 2]]))
    with pytest.raises(ValueError, match=r"gaussian_kl: mu must be a batch \(N, ...\) with N >= 1, "
                                         r"got shape \(\)"):
        losses.gaussian_kl(tinygan.tensor(0.0), tinygan.tensor(0.0))
