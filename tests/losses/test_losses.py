"""tinygan.losses: the GAN objectives and the gradient penalties.

Every objective against its closed form written here in NumPy; values and
gradients finite at logits of +-1e4; first (and, for the smooth ones, second)
derivatives by central differences.  The penalties: against NumPy for a linear
critic (whose input gradient is its weight vector) and a tanh MLP (input
gradient written out by hand), their seeded interpolation, and a gradcheck of
the penalty as a function of D's parameters -- a second derivative, since the
penalty is built from a gradient.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import losses
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, sum_tolerance


def _sp(x):
    return np.logaddexp(0.0, x)          # softplus, exact for any x


# name -> (loss function, NumPy closed form of the same arguments, smooth?)
D_LOSSES = {
    "minimax_d": (losses.minimax_d_loss, lambda r, f: _sp(-r).mean() + _sp(f).mean(), True),
    "nonsaturating_d": (losses.nonsaturating_d_loss,
                        lambda r, f: -np.log(1 / (1 + np.exp(-r))).mean()
                        - np.log(1 - 1 / (1 + np.exp(-f))).mean(), True),
    "lsgan_d": (losses.lsgan_d_loss,
                lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(), True),
    "hinge_d": (losses.hinge_d_loss,
                lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(), False),
    "wasserstein_d": (losses.wasserstein_d_loss, lambda r, f: f.mean() - r.mean(), True),
}
G_LOSSES = {
    "minimax_g": (losses.minimax_g_loss, lambda f: np.log(1 - 1 / (1 + np.exp(-f))).mean(), True),
    "nonsaturating_g": (losses.nonsaturating_g_loss,
                        lambda f: -np.log(1 / (1 + np.exp(-f))).mean(), True),
    "lsgan_g": (losses.lsgan_g_loss, lambda f: 0.5 * ((f - 1) ** 2).mean(), True),
    "hinge_g": (losses.hinge_g_loss, lambda f: -f.mean(), True),
    "wasserstein_g": (losses.wasserstein_g_loss, lambda f: -f.mean(), True),
}


# The sigmoid forms above overflow at large logits; these softplus forms of the same
# functions are exact everywhere (np.logaddexp), and are the reference at +-1e4.
EXACT = {
    "minimax_d": lambda r, f: _sp(-r).mean() + _sp(f).mean(),
    "nonsaturating_d": lambda r, f: _sp(-r).mean() + _sp(f).mean(),
    "minimax_g": lambda f: -_sp(f).mean(),
    "nonsaturating_g": lambda f: _sp(-f).mean(),
}


def _logits(rng, shape, kink_free=False):
    """Moderate logits; ``kink_free`` keeps them >= 0.1 away from the hinge's kinks at +-1."""
    x = rng.standard_normal(shape) * 2.0
    if kink_free:
        near = np.abs(np.abs(x) - 1.0) < 0.1
        x = np.where(near, x + 0.3 * np.sign(x), x)
    return x


# -- the objectives --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(7,), (7, 1)], ids=str)
@pytest.mark.parametrize("name", list(D_LOSSES))
def test_d_loss_closed_form(name, shape, rng):
    fn, ref, _ = D_LOSSES[name]
    r, f = _logits(rng, shape), _logits(rng, (5,) + shape[1:])      # batch sizes may differ
    out = fn(tinygan.tensor(r), tinygan.tensor(f))
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), ref(r, f), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(7,), (7, 1)], ids=str)
@pytest.mark.parametrize("name", list(G_LOSSES))
def test_g_loss_closed_form(name, shape, rng):
    fn, ref, _ = G_LOSSES[name]
    f = _logits(rng, shape)
    out = fn(tinygan.tensor(f))
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), ref(f), rtol=1e-12, atol=1e-12)


def test_the_two_generator_losses_share_a_fixed_point_but_not_their_gradients():
    """Goodfellow et al. Sec. 3: where D rejects the fakes (logit << 0), the minimax G loss's
    gradient vanishes and the non-saturating one's does not."""
    f = tinygan.tensor([-10.0], requires_grad=True)
    (g_mm,) = tinygan.grad(losses.minimax_g_loss(f), f)
    (g_ns,) = tinygan.grad(losses.nonsaturating_g_loss(f), f)
    assert abs(g_mm.item()) < 1e-4                 # -sigmoid(-10) ~ -4.5e-5
    assert g_ns.item() < -0.99                     # sigmoid(-10) - 1


EXTREME = [1e4, -1e4, 0.0, 50.0, -50.0, 1e3, -1e3]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(D_LOSSES) + list(G_LOSSES))
def test_finite_and_exact_at_extreme_logits(name, dtype):
    x = np.array(EXTREME, dtype=dtype)
    r = tinygan.tensor(x, requires_grad=True)
    f = tinygan.tensor(x[::-1].copy(), requires_grad=True)
    x64, x64r = x.astype(np.float64), x[::-1].astype(np.float64)
    if name in D_LOSSES:
        fn, ref, _ = D_LOSSES[name]
        out, wrt, expected = fn(r, f), (r, f), EXACT.get(name, ref)(x64, x64r)
    else:
        fn, ref, _ = G_LOSSES[name]
        out, wrt, expected = fn(f), (f,), EXACT.get(name, ref)(x64r)
    grads = tinygan.grad(out, wrt)
    assert np.isfinite(out.item())
    for g in grads:
        assert np.isfinite(g.numpy()).all(), g
    # Means of len(EXTREME) terms (two means for D), each term within a few ulps: terms of one
    # sign (softplus, squares, hinges) average to at most |expected| in magnitude, logits (the
    # Wasserstein losses) to mean |x|, which may cancel to 0.
    magnitude = abs(expected) + np.abs(x64).mean() * len(wrt)
    assert_within(out.item(), expected, sum_tolerance(magnitude, len(EXTREME) + 5, dtype), name)


def test_extreme_logits_give_the_exact_softplus_values():
    big = tinygan.tensor([1e4], dtype=tinygan.float32)
    # D sure that a real sample is fake: -log sigmoid(-1e4) = 1e4 exactly (not inf).
    assert losses.minimax_d_loss(-big, -big).item() == pytest.approx(1e4)
    assert losses.nonsaturating_g_loss(-big).item() == pytest.approx(1e4)
    assert losses.minimax_g_loss(big).item() == pytest.approx(-1e4)
    # exact: exp(-1e4) underflows to 0, and log1p(0) is 0, on every IEEE machine
    assert losses.nonsaturating_g_loss(big).item() == 0.0


@pytest.mark.parametrize("name", list(D_LOSSES))
def test_d_loss_gradients(name, rng):
    fn, _, smooth = D_LOSSES[name]
    r = tinygan.tensor(_logits(rng, (4, 1), kink_free=True), requires_grad=True)
    f = tinygan.tensor(_logits(rng, (3,), kink_free=True), requires_grad=True)
    assert gradcheck(fn, (r, f))
    if smooth:
        assert gradgradcheck(fn, (r, f))


@pytest.mark.parametrize("name", list(G_LOSSES))
def test_g_loss_gradients(name, rng):
    fn, _, smooth = G_LOSSES[name]
    f = tinygan.tensor(_logits(rng, (5,), kink_free=True), requires_grad=True)
    assert gradcheck(fn, (f,))
    if smooth:
        assert gradgradcheck(fn, (f,))


def test_hinge_gradients_are_the_margin_indicators():
    """Lim & Ye 2017 (as SAGAN and BigGAN use it): dL_D/dD(x_i) = -1/N where D(x_i) < 1 (a real
    sample inside the margin) and 0 beyond it; dL_D/dD(G(z_j)) = 1/M where D(G(z_j)) > -1;
    dL_G/dD(G(z_j)) = -1/M everywhere."""
    r = tinygan.tensor([2.0, 0.5, -3.0, 1.5], dtype=tinygan.float64, requires_grad=True)
    f = tinygan.tensor([-2.0, -0.5, 0.25], dtype=tinygan.float64, requires_grad=True)
    gr, gf = tinygan.grad(losses.hinge_d_loss(r, f), (r, f))
    # exact: the gradients are +-1/N times 0 or 1 (1/3 rounded once, by the mean)
    np.testing.assert_array_equal(gr.numpy(), [0.0, -0.25, -0.25, 0.0])
    np.testing.assert_array_equal(gf.numpy(), [0.0, 1 / 3, 1 / 3])
    (gg,) = tinygan.grad(losses.hinge_g_loss(f), f)
    np.testing.assert_array_equal(gg.numpy(), [-1 / 3] * 3)        # exact: as above


def test_hinge_second_order_away_from_the_kinks(rng):
    """Piecewise linear: its second derivative is 0 off the kinks at +-1, and the derivative of
    the recorded backward with respect to its incoming gradient is the first derivative again;
    gradgradcheck checks both."""
    r = tinygan.tensor(_logits(rng, (4, 1), kink_free=True), requires_grad=True)
    f = tinygan.tensor(_logits(rng, (3,), kink_free=True), requires_grad=True)
    assert gradgradcheck(losses.hinge_d_loss, (r, f))
    assert gradgradcheck(losses.hinge_g_loss, (f,))


def test_registry_pairs_each_d_loss_with_its_g_loss():
    assert set(losses.GAN_LOSSES) == {"minimax", "nonsaturating", "lsgan", "hinge", "wasserstein"}
    assert losses.GAN_LOSSES["nonsaturating"] == (losses.minimax_d_loss, losses.nonsaturating_g_loss)


@pytest.mark.parametrize("bad", [(4, 2), (4, 1, 28, 28), (), (0,), (0, 1)], ids=str)
def test_wrong_logit_shapes_are_refused(bad):
    x = tinygan.zeros(*bad)
    ok = tinygan.zeros(4)
    with pytest.raises(ValueError, match=r"one per sample.*\(N,\) or \(N, 1\)"):
        losses.minimax_d_loss(x, ok)
    with pytest.raises(ValueError, match="fake_logits"):
        losses.nonsaturating_g_loss(x)
    with pytest.raises(ValueError, match="fake_out"):
        losses.wasserstein_d_loss(ok, x)


def test_non_tensor_and_integer_logits_are_refused():
    with pytest.raises(TypeError, match="must be a Tensor"):
        losses.hinge_g_loss(np.zeros(3))
    with pytest.raises(TypeError, match="floating point"):
        losses.lsgan_g_loss(tinygan.tensor([1, 2, 3]))


# -- the penalties -----------------------------------------------------------------------------
N, SHAPE = 5, (5, 1, 3, 2)           # a tiny batch of 1x3x2 "images"
DIM = 6


def _linear_critic(w, b):
    """D(x) = <w, flatten(x)> + b: its input gradient is w for every x."""
    return lambda x: x.reshape(x.shape[0], -1) @ w + b


def _mlp_critic(W1, b1, w2, b2):
    """D(x) = w2 . tanh(W1 flatten(x) + b1) + b2, shape (N,)."""
    return lambda x: (x.reshape(x.shape[0], -1) @ W1.T + b1).tanh() @ w2 + b2


def _np_mlp_input_grad(x, W1, b1, w2):
    """grad_x of the MLP critic, by hand: W1^T (w2 * (1 - tanh^2(W1 x + b1))), per sample."""
    a = np.tanh(x.reshape(len(x), -1) @ W1.T + b1)
    return ((1 - a * a) * w2) @ W1                                  # (N, DIM)


def _mlp_params(rng, hidden=4, requires_grad=False):
    arrs = (rng.standard_normal((hidden, DIM)), rng.standard_normal(hidden) * 0.5,
            rng.standard_normal(hidden), np.array(0.3))
    return [tinygan.tensor(a, requires_grad=requires_grad) for a in arrs]


@pytest.mark.parametrize("lam", [10.0, 1.0])
@pytest.mark.parametrize("norm", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic_is_lambda_times_norm_minus_one_squared(lam, norm, rng):
    w = rng.standard_normal(DIM)
    w *= norm / np.linalg.norm(w)
    D = _linear_critic(tinygan.tensor(w), tinygan.tensor(0.7))
    real, fake = tinygan.tensor(rng.standard_normal(SHAPE)), tinygan.tensor(rng.standard_normal(SHAPE))
    gp = losses.gradient_penalty(D, real, fake, lambda_=lam)
    assert gp.shape == ()
    np.testing.assert_allclose(gp.item(), lam * (np.linalg.norm(w) - 1) ** 2, rtol=1e-9, atol=1e-12)


def test_gradient_penalty_passes_labels_to_a_conditional_critic(rng):
    """D(x, y) = <W[y], x>: sample i's gradient is W[y_i], so GP = lambda mean_i (||W[y_i]|| - 1)^2."""
    W = rng.standard_normal((3, DIM))
    y = np.array([0, 2, 2, 1, 0])
    Wt = tinygan.tensor(W)
    D = lambda x, labels: (x.reshape(x.shape[0], -1) * Wt[labels.numpy()]).sum(1)   # noqa: E731
    real, fake = tinygan.tensor(rng.standard_normal(SHAPE)), tinygan.tensor(rng.standard_normal(SHAPE))
    gp = losses.gradient_penalty(D, real, fake, 10.0, labels=tinygan.tensor(y))
    expected = 10.0 * np.mean((np.linalg.norm(W[y], axis=1) - 1) ** 2)
    np.testing.assert_allclose(gp.item(), expected, rtol=1e-9)


def test_gradient_penalty_of_an_mlp_critic_matches_numpy_at_given_interpolates(rng):
    W1, b1, w2, b2 = _mlp_params(rng)
    real, fake = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    eps = rng.random(N)
    gp = losses.gradient_penalty(_mlp_critic(W1, b1, w2, b2), tinygan.tensor(real),
                                 tinygan.tensor(fake), 10.0, eps=tinygan.tensor(eps))
    x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    g = _np_mlp_input_grad(x_hat, W1.numpy(), b1.numpy(), w2.numpy())
    expected = 10.0 * np.mean((np.linalg.norm(g, axis=1) - 1) ** 2)
    np.testing.assert_allclose(gp.item(), expected, rtol=1e-9)


def test_gradient_penalty_draws_one_uniform_eps_per_sample_from_the_seeded_generator(rng):
    """With D(x) = 1/2 ||x||^2 the input gradient is x_hat itself, so the penalty shows the eps used."""
    D = lambda x: 0.5 * (x * x).reshape(x.shape[0], -1).sum(1)          # noqa: E731
    real, fake = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    tinygan.manual_seed(123)
    eps = tinygan.rand(N, 1, 1, 1, dtype=tinygan.float64).numpy()
    tinygan.manual_seed(123)
    gp = losses.gradient_penalty(D, tinygan.tensor(real), tinygan.tensor(fake))
    x_hat = (eps * real + (1 - eps) * fake).reshape(N, -1)
    expected = 10.0 * np.mean((np.linalg.norm(x_hat, axis=1) - 1) ** 2)
    np.testing.assert_allclose(gp.item(), expected, rtol=1e-9)
    assert ((eps >= 0) & (eps < 1)).all() and len(np.unique(eps)) == N
    # and a different seed gives different interpolates
    tinygan.manual_seed(124)
    assert losses.gradient_penalty(D, tinygan.tensor(real), tinygan.tensor(fake)).item() != gp.item()


def test_gradient_penalty_second_order_gradcheck_in_d_parameters(rng):
    """d GP / d theta needs the derivative of grad_x D with respect to theta: second order."""
    params = _mlp_params(rng, requires_grad=True)
    real, fake = tinygan.tensor(rng.standard_normal(SHAPE)), tinygan.tensor(rng.standard_normal(SHAPE))
    eps = tinygan.tensor(rng.random(N))

    def gp(W1, b1, w2, b2):
        return losses.gradient_penalty(_mlp_critic(W1, b1, w2, b2), real, fake, 10.0, eps=eps)

    assert gradcheck(gp, params)
    # the penalty's graph reaches every parameter of D, and nothing of real/fake
    out = gp(*params)
    out.backward()
    for p in params[:3]:          # b2 shifts D without changing its gradient: no gradient
        assert p.grad is not None and np.abs(p.grad.numpy()).sum() > 0


def test_gradient_penalty_through_tinygan_nn_layers():
    """The same second-order check with a float64 critic built from tinygan.nn layers."""
    tinygan.manual_seed(0)
    D = tinygan.nn.Sequential(tinygan.nn.Flatten(), tinygan.nn.Linear(DIM, 3, dtype=tinygan.float64),
                              tinygan.nn.LeakyReLU(0.2), tinygan.nn.Linear(3, 1, dtype=tinygan.float64))
    gen = np.random.default_rng(5)
    real, fake = tinygan.tensor(gen.standard_normal(SHAPE)), tinygan.tensor(gen.standard_normal(SHAPE))
    eps = tinygan.tensor(gen.random(N))
    params = list(D.parameters())

    def gp(W1, b1, W2, b2):
        f = lambda x: tinygan.nn.functional.linear(                          # noqa: E731
            tinygan.nn.functional.leaky_relu(
                tinygan.nn.functional.linear(x.reshape(x.shape[0], -1), W1, b1), 0.2), W2, b2)
        return losses.gradient_penalty(f, real, fake, 10.0, eps=eps)

    # the module and the functional form agree, and the functional form passes gradcheck
    assert losses.gradient_penalty(D, real, fake, 10.0, eps=eps).item() == pytest.approx(
        gp(*params).item(), rel=1e-12)
    inputs = [tinygan.tensor(p.detach().numpy().copy(), requires_grad=True) for p in params]
    assert gradcheck(gp, inputs)


def test_gradient_penalty_is_finite_where_the_critic_is_flat():
    """A zero input gradient (sqrt at 0) must not turn the backward into NaN."""
    w = tinygan.zeros(DIM, dtype=tinygan.float64, requires_grad=True)
    D = _linear_critic(w, tinygan.tensor(0.0))
    gp = losses.gradient_penalty(D, tinygan.ones(*SHAPE, dtype=tinygan.float64),
                                 tinygan.zeros(*SHAPE, dtype=tinygan.float64))
    gp.backward()
    assert gp.item() == pytest.approx(10.0, rel=1e-5)        # sqrt(0 + 1e-12) = 1e-6
    assert np.isfinite(w.grad.numpy()).all()


def test_penalties_work_under_no_grad_and_detach_their_inputs(rng):
    W1, b1, w2, b2 = _mlp_params(rng)
    real = tinygan.tensor(rng.standard_normal(SHAPE), requires_grad=True)
    fake = tinygan.tensor(rng.standard_normal(SHAPE), requires_grad=True)
    D = _mlp_critic(W1, b1, w2, b2)
    with tinygan.no_grad():
        assert np.isfinite(losses.gradient_penalty(D, real, fake).item())
        assert np.isfinite(losses.r1_penalty(D, real, 10.0).item())
    gp = losses.gradient_penalty(D, real, fake) + losses.r1_penalty(D, real, 10.0)
    gp.backward()
    assert real.grad is None and fake.grad is None       # the penalties train D only


@pytest.mark.parametrize("gamma", [10.0, 0.5])
def test_r1_penalty_of_a_linear_critic_is_gamma_half_norm_squared(gamma, rng):
    w = rng.standard_normal(DIM)
    D = _linear_critic(tinygan.tensor(w), tinygan.tensor(-1.0))
    r1 = losses.r1_penalty(D, tinygan.tensor(rng.standard_normal(SHAPE)), gamma)
    np.testing.assert_allclose(r1.item(), gamma / 2 * np.dot(w, w), rtol=1e-12)


def test_r1_penalty_of_an_mlp_critic_matches_numpy(rng):
    W1, b1, w2, b2 = _mlp_params(rng)
    real = rng.standard_normal(SHAPE)
    r1 = losses.r1_penalty(_mlp_critic(W1, b1, w2, b2), tinygan.tensor(real), 10.0)
    g = _np_mlp_input_grad(real, W1.numpy(), b1.numpy(), w2.numpy())
    np.testing.assert_allclose(r1.item(), 5.0 * (g * g).sum(1).mean(), rtol=1e-10)


def test_r1_penalty_matches_finite_differences_of_a_tiny_critic(rng):
    # D's input gradient taken by central differences in NumPy, independently of autograd:
    # R1 = gamma/2 * mean_i ||grad D(x_i)||^2 (Mescheder et al. 2018, eq. 9).
    W1, b1, w2, b2 = (p.numpy() for p in _mlp_params(rng))
    real = rng.standard_normal(SHAPE)

    def d_np(x):                                    # (N, DIM) -> (N,)
        return np.tanh(x @ W1.T + b1) @ w2 + b2

    x, h = real.reshape(N, DIM), 1e-6
    g = np.empty_like(x)
    for k in range(DIM):
        e = np.zeros(DIM)
        e[k] = h
        g[:, k] = (d_np(x + e) - d_np(x - e)) / (2 * h)
    gamma = 0.7
    r1 = losses.r1_penalty(_mlp_critic(*(tinygan.tensor(a) for a in (W1, b1, w2, b2))),
                           tinygan.tensor(real), gamma)
    # central differences are off by O(h^2 D''') + O(eps/h) ~ 1e-10 per component
    np.testing.assert_allclose(r1.item(), gamma / 2 * (g * g).sum(1).mean(), rtol=1e-7)


def test_r1_penalty_second_order_gradcheck_in_d_parameters(rng):
    params = _mlp_params(rng, requires_grad=True)
    real = tinygan.tensor(rng.standard_normal(SHAPE))
    y = tinygan.tensor([0, 1, 1, 0, 1])
    # a conditional critic: a per-class offset (which R1 must not see) and a per-class scale
    scale = tinygan.tensor([1.0, -2.0])

    def r1(W1, b1, w2, b2):
        D = lambda x, labels: _mlp_critic(W1, b1, w2, b2)(x) * scale[labels.numpy()]   # noqa: E731
        return losses.r1_penalty(D, real, 3.0, labels=y)

    assert gradcheck(r1, params[:3] + [tinygan.tensor(0.3)])


def test_penalty_errors():
    D = _linear_critic(tinygan.ones(DIM), tinygan.tensor(0.0))
    x = tinygan.zeros(*SHAPE)
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(D, x, tinygan.zeros(4, 1, 3, 2))
    with pytest.raises(ValueError, match="labels must be a Tensor of shape"):
        losses.gradient_penalty(D, x, x, labels=tinygan.tensor([0, 1]))
    with pytest.raises(ValueError, match="eps must be"):
        losses.gradient_penalty(D, x, x, eps=tinygan.zeros(3))
    with pytest.raises(ValueError, match="one output per sample"):
        losses.gradient_penalty(lambda t: t * 2.0, x, x)
    with pytest.raises(ValueError, match="one output per sample"):
        losses.r1_penalty(lambda t: t.sum(), x, 1.0)
    with pytest.raises(ValueError, match="a batch"):
        losses.r1_penalty(D, tinygan.zeros(DIM), 1.0)
    with pytest.raises(TypeError, match="floating point"):
        losses.r1_penalty(D, tinygan.tensor(np.zeros(SHAPE, dtype=np.int64)), 1.0)


def test_the_losses_package_exports_every_public_name():
    # gan.py, penalties.py, path_length.py, lazy_regularization.py, orthogonal.py and vae.py are
    # re-exported: tinygan.losses.X works for each of them.
    expected = {
        "minimax_d_loss", "minimax_g_loss", "nonsaturating_d_loss", "nonsaturating_g_loss",
        "lsgan_d_loss", "lsgan_g_loss", "hinge_d_loss", "hinge_g_loss", "wasserstein_d_loss",
        "wasserstein_g_loss", "gradient_penalty", "r1_penalty", "GAN_LOSSES",
        "reparameterize", "gaussian_kl", "log_normal", "bernoulli_log_likelihood",
        "gaussian_log_likelihood", "elbo", "vae_loss", "capacity_schedule", "iwae_bound",
        "path_length_penalty", "lazy_adam_settings", "lazy_ratio", "lazy_gain", "lazy_due",
        "orthogonal_regularization",
    }
    assert set(losses.__all__) == expected
    for name in expected:
        assert getattr(losses, name) is not None, name
    from tinygan.losses import gan, orthogonal, penalties, vae
    assert losses.orthogonal_regularization is orthogonal.orthogonal_regularization
    assert losses.elbo is vae.elbo and losses.r1_penalty is penalties.r1_penalty
    assert losses.GAN_LOSSES is gan.GAN_LOSSES
