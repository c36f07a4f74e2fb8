"""The CuPy backend against the NumPy one: every op, layer, optimizer and family on a GPU.

Each op case runs twice from the same float64 inputs -- once on the CPU, once on
``cuda`` -- and must give the same forward value, the same first derivatives and the
same second derivatives (a Hessian-vector product through ``create_graph=True``).  The
CPU path is itself checked against NumPy references and finite differences by the
rest of the suite, so agreement here carries those checks over to the GPU.

All tests carry ``@pytest.mark.gpu`` and skip where CuPy or a GPU is missing
(``make test-gpu`` runs them on a GPU machine).
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import backend, nn
from tinygan.nn import functional as F

from gpu_helpers import host

HAS_GPU = tinygan.cuda_is_available()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")]


# ----------------------------------------------------------------------------
# op cases: name -> (function of tensors, [(shape, kind)], extra non-differentiable args)
# ----------------------------------------------------------------------------
def _arr(rng, shape, kind):
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "positive":
        return 0.5 + np.abs(rng.standard_normal(shape))
    if kind == "away":                        # no entry near a kink at 0 (relu, abs, max pool ties)
        return np.where(rng.random(shape) < 0.5, -1.0, 1.0) * (0.2 + np.abs(rng.standard_normal(shape)))
    if kind == "prob":
        return rng.uniform(0.1, 0.9, shape)
    raise ValueError(kind)


LABELS = np.array([0, 2, 1, 3, 2])

OPS = {
    # elementwise and broadcasting, with numbers (the number -> array promotion path)
    "add_mul_number": (lambda a, b: (a + 1.0) * b - 2 * a / (b * b + 1.0), [((4, 3), "normal"), ((3,), "normal")]),
    "pow_exp_log": (lambda a: (a ** 1.5).log() + (-a).exp() + a.sqrt(), [((3, 4), "positive")]),
    "trig_tanh_sigmoid": (lambda a: a.sin() * a.cos() + a.tanh() + a.sigmoid(), [((5, 2), "normal")]),
    "abs_relu_leaky": (lambda a: a.abs() + F.relu(a) * a + F.leaky_relu(a, 0.2) ** 2, [((4, 4), "away")]),
    "clamp_maximum_where": (lambda a, b: tinygan.maximum(a, b) * tinygan.where(a > 0, a, b * 2.0)
                            + a.clamp(-0.5, 0.5) * b, [((3, 4), "away"), ((3, 4), "away")]),
    "softplus_softmax": (lambda a: F.softplus(a) * F.softmax(a, 1) + F.log_softmax(a, 0), [((3, 5), "normal")]),
    # reductions and shapes
    "sum_mean_var": (lambda a: a.sum(1, keepdim=True) * a.mean(0) + a.var(1, keepdim=True) * a, [((4, 3), "normal")]),
    "max_min_dim": (lambda a: a.max(1)[0] * a.min(0)[0].sum() + a.amax((0, 1)), [((4, 5), "away")]),
    "logsumexp": (lambda a: tinygan.logsumexp(a, 1) * a.sum(1), [((3, 6), "normal")]),
    "reshape_permute_cat": (lambda a, b: tinygan.cat([a.permute(1, 0), b.reshape(3, 2)], 1).transpose(0, 1) ** 2,
                            [((2, 3), "normal"), ((6,), "normal")]),
    "index_and_stack": (lambda a: tinygan.stack([a[1, :3], a[:, 2], a[[0, 2, 2], [1, 0, 3]]]) ** 2, [((3, 4), "normal")]),
    "pad_modes": (lambda a: F.pad(a, (1, 2, 2, 1), mode="reflect") ** 2 + F.pad(a, (1, 2, 2, 1), mode="replicate")
                  * F.pad(a, (1, 2, 2, 1), value=0.5), [((2, 1, 4, 5), "normal")]),
    "matmul_linear": (lambda a, w, b: F.linear(a, w, b).tanh() @ w, [((5, 3), "normal"), ((4, 3), "normal"), ((4,), "normal")]),
    # convolutions: 1 channel (channels-first im2col) and >= 8 channels (channels-last)
    "conv2d_small": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1) ** 2,
                     [((2, 1, 7, 6), "normal"), ((3, 1, 4, 4), "normal"), ((3,), "normal")]),
    "conv2d_channels_last": (lambda x, w: F.conv2d(x, w, None, stride=1, padding=1, dilation=1) ** 2,
                             [((2, 8, 5, 5), "normal"), ((4, 8, 3, 3), "normal")]),
    "conv2d_groups_dilation": (lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=2, dilation=2, groups=2) ** 2,
                               [((2, 4, 7, 6), "normal"), ((4, 2, 3, 2), "normal")]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1) ** 2,
                         [((2, 8, 3, 4), "normal"), ((8, 3, 4, 4), "normal"), ((3,), "normal")]),
    # normalization (BatchNorm's exact second derivative), pooling, resampling
    "batch_norm_train": (lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True) ** 3,
                         [((5, 3, 2, 2), "normal"), ((3,), "positive"), ((3,), "normal")]),
    "instance_layer_norm": (lambda x: F.instance_norm(x) ** 3 + F.layer_norm(x, (2, 3)) ** 2,
                            [((2, 3, 2, 3), "normal")]),
    "pools": (lambda x: F.max_pool2d(x, 2) * F.avg_pool2d(x, 2) + F.max_pool2d(x, 3, 1, 1)[..., :2, :2],
              [((2, 2, 4, 4), "away")]),
    "interpolate": (lambda x: F.interpolate(x, scale_factor=2, mode="nearest") ** 2
                    * F.interpolate(x, size=(6, 8), mode="bilinear", align_corners=False)
                    + F.interpolate(x, size=(6, 8), mode="bilinear", align_corners=True) ** 2,
                    [((1, 2, 3, 4), "normal")]),
    # losses
    "cross_entropy": (lambda x: F.cross_entropy(x, tinygan.tensor(LABELS, device=x.device), label_smoothing=0.1),
                      [((5, 4), "normal")]),
    "nll_and_bce": (lambda x, p: F.nll_loss(F.log_softmax(x, 1), tinygan.tensor(LABELS, device=x.device))
                    + F.binary_cross_entropy(p, p.detach() * 0.5) + F.binary_cross_entropy_with_logits(x, p.detach() * 0.5 + 0.25),
                    [((5, 4), "normal"), ((5, 4), "prob")]),
    "mse_l1": (lambda a, b: F.mse_loss(a, b) + F.l1_loss(a, b) * F.mse_loss(a, b.detach()), [((3, 4), "away"), ((3, 4), "normal")]),
    "embedding": (lambda w: F.embedding(tinygan.tensor(LABELS, device=w.device), w) ** 2, [((4, 3), "normal")]),
}


def _run(fn, arrays, device):
    """Forward value, first derivatives and a Hessian-vector product of sum(v * fn(...))."""
    xs = [tinygan.tensor(a, device=device, requires_grad=True) for a in arrays]
    y = fn(*xs)
    v = tinygan.tensor(np.linspace(-1.0, 1.0, y.numel()).reshape(y.shape), device=device)
    gs = tinygan.grad((y * v).sum(), xs, create_graph=True, allow_unused=True)
    live = [(x, g) for x, g in zip(xs, gs) if g is not None]
    # d/dx sum_i u_i * g_i(x) with fixed u: a Hessian-vector product of the scalar above.
    s = sum(((g * g.detach().cos()).sum() for _, g in live), tinygan.tensor(0.0, device=device))
    hs = tinygan.grad(s, [x for x, _ in live], allow_unused=True)
    assert all(x.device == device for x in xs)
    return host(y), [host(g) for _, g in live], [None if h is None else host(h) for h in hs]


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_forward_and_two_derivatives_match_the_cpu(name):
    fn, specs = OPS[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    arrays = [_arr(rng, shape, kind) for shape, kind in specs]
    y_c, g_c, h_c = _run(fn, arrays, "cpu")
    y_g, g_g, h_g = _run(fn, arrays, "cuda")
    np.testing.assert_allclose(y_g, y_c, rtol=1e-9, atol=1e-11, err_msg=f"{name}: forward")
    assert len(g_c) == len(g_g)
    for i, (a, b) in enumerate(zip(g_c, g_g)):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11, err_msg=f"{name}: gradient of input {i}")
    for i, (a, b) in enumerate(zip(h_c, h_g)):
        assert (a is None) == (b is None), f"{name}: second derivative of input {i}"
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10, err_msg=f"{name}: second derivative {i}")


def test_float32_conv_stays_float32_on_the_gpu():
    x = tinygan.randn(4, 16, 9, 9, device="cuda", requires_grad=True)
    conv = nn.Conv2d(16, 8, 3, padding=1).to("cuda")
    y = conv(x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and conv.weight.grad.is_cuda
    assert backend.get_array_module(y) is not np


# ----------------------------------------------------------------------------
# layers, optimizers, RNG, data, checkpoints
# ----------------------------------------------------------------------------
def test_module_forward_backward_and_optimizer_step_match_the_cpu():
    def build():
        tinygan.manual_seed(0)
        # (No bias before the BatchNorm: its gradient is 0 up to rounding, which Adam would
        # blow up to full-size steps of random sign -- different on each device.)
        return nn.Sequential(nn.Conv2d(1, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
                             nn.Conv2d(8, 4, 3, 1, 1), nn.Flatten(), nn.Linear(4 * 7 * 7, 3))
    x_np = np.random.default_rng(1).standard_normal((6, 1, 14, 14)).astype(np.float32)
    out = {}
    for device in ("cpu", "cuda"):
        net = build().to(device)
        opt = tinygan.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            loss = (net(tinygan.tensor(x_np, device=device)) ** 2).mean()
            loss.backward()
            opt.step()
        out[device] = {k: host(v) for k, v in net.state_dict().items()}
    for k in out["cpu"]:
        np.testing.assert_allclose(out["cuda"][k], out["cpu"][k], rtol=2e-4, atol=2e-5, err_msg=k)


def test_rng_state_round_trip_on_the_gpu_and_the_same_draws_as_the_cpu():
    tinygan.manual_seed(5)
    state = tinygan.get_rng_state()
    a = [host(tinygan.randn(7, device="cuda")), host(tinygan.rand(3, 2, device="cuda")),
         host(tinygan.randint(0, 9, (4,), device="cuda")), host(tinygan.randperm(6, device="cuda"))]
    tinygan.set_rng_state(state)
    b = [host(tinygan.randn(7, device="cuda")), host(tinygan.rand(3, 2, device="cuda")),
         host(tinygan.randint(0, 9, (4,), device="cuda")), host(tinygan.randperm(6, device="cuda"))]
    tinygan.manual_seed(5)
    c = [tinygan.randn(7).numpy(), tinygan.rand(3, 2).numpy(), tinygan.randint(0, 9, (4,)).numpy(),
         tinygan.randperm(6).numpy()]
    for x, y in zip(a, b):
        # exact: the same kernel on the same counters
        np.testing.assert_array_equal(x, y)
    # One generator: a GPU run draws the CPU run's noise.  Uniforms, integers and permutations
    # are integer arithmetic (exact); normals go through log/cos/sin, whose last bit differs
    # between CUDA's math library and NumPy's (float32 here: a few ulp of values below 6).
    np.testing.assert_allclose(a[0], c[0], rtol=0, atol=2e-6)
    for x, z in zip(a[1:], c[1:]):
        # exact: integer arithmetic, an exact conversion and a power-of-two scaling on both devices
        np.testing.assert_array_equal(x, z)


def test_checkpoint_of_a_gpu_module_loads_on_the_cpu(tmp_path):
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).to("cuda")
    tinygan.checkpoint.save(tmp_path / "m.npz", model=net.state_dict())
    cpu = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    cpu.load_state_dict(tinygan.checkpoint.load(tmp_path / "m.npz")["model"])
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(host(cpu.state_dict()[k]), host(v))


def test_fid_and_classifier_score_agree_between_devices():
    from tinygan import metrics
    rng = np.random.default_rng(0)
    a = np.tanh(rng.standard_normal((300, 1, 28, 28))).astype(np.float32)
    b = np.tanh(rng.standard_normal((300, 1, 28, 28)) + 0.5).astype(np.float32)
    clf_c = metrics.load_classifier("mnist", device="cpu")
    clf_g = metrics.load_classifier("mnist", device="cuda")
    np.testing.assert_allclose(metrics.classifier_score(a, clf_g), metrics.classifier_score(a, clf_c), rtol=1e-3)
    # Too few samples for a full-rank covariance is refused alike; compare the features instead.
    pc, fc = metrics.classifier_outputs(a, clf_c)
    pg, fg = metrics.classifier_outputs(a, clf_g)
    np.testing.assert_allclose(host(fg), host(fc), rtol=1e-3, atol=1e-4)
    assert np.isfinite(metrics.classifier_score(b, clf_g))


# ----------------------------------------------------------------------------
# every family: one training step on the GPU, and the trainer end to end
# ----------------------------------------------------------------------------
FAMILY_NAMES = sorted(tinygan.models.FAMILIES)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_trains_on_the_gpu(name, tmp_path):
    from tinygan.models import registry
    from tinygan.train import kinds
    train = kinds.kind_of(registry.get(name)).train          # a GAN's trainer, or StyleGAN's
    steps = 2 if tinygan.models.FAMILIES[name].defaults.get("n_critic", 1) == 1 else 1
    result = train(name, out=tmp_path / name, batch_size=16, max_steps=steps, progress=False,
                       device="cuda", log_every=1)
    assert result["step"] == steps
    losses = [v for k, v in result.items() if k.endswith("_loss") or k == "loss"]
    assert losses and all(np.isfinite(v) for v in losses), result
    assert (tmp_path / name / "samples.png").is_file()


def test_resume_on_the_gpu_is_bit_exact(tmp_path):
    """One (seed, offset) generator for every device (tinygan/random.py): a GPU run resumes bit for bit."""
    from gan_helpers import compare_runs
    from tinygan.train.gan import train_gan
    kw = dict(batch_size=16, progress=False, ema=0.99, device="cuda", log_every=1)
    train_gan("dcgan", out=tmp_path / "straight", max_steps=2, **kw)
    train_gan("dcgan", out=tmp_path / "split", max_steps=1, **kw)
    train_gan("dcgan", out=tmp_path / "split", max_steps=2, resume=True, **kw)
    compare_runs(tmp_path / "straight", tmp_path / "split")


@pytest.mark.parametrize("name", sorted(tinygan.models.VAE_FAMILIES))
def test_vae_family_trains_and_evaluates_on_the_gpu(name, tmp_path):
    from tinygan.train import evaluate_vae_run, train_vae
    result = train_vae(name, out=tmp_path / name, batch_size=16, max_steps=2, progress=False,
                       device="cuda", log_every=1)
    assert result["step"] == 2
    assert (tmp_path / name / "samples.png").is_file()
    scores = evaluate_vae_run(tmp_path / name, n=200, iwae_k=3, device="cuda", log=False)
    for key in ("neg_elbo_nats", "iwae_nats"):
        assert np.isfinite(scores[key]) and scores[key] > 0, scores
    # The IWAE bound is at least as tight as the ELBO (as -log p estimates: not larger, up to noise).
    assert scores["iwae_nats"] <= scores["neg_elbo_nats"] + 1.0, scores


def test_iwae_bound_matches_the_cpu():
    """iwae_bound draws its noise from the one generator: the same numbers on both devices (float64
    normals: to the last bit of log/cos/sin)."""
    from tinygan import losses
    rng = np.random.default_rng(0)
    x_np = (rng.random((6, 5)) < 0.5).astype(np.float64)
    w_np, b_np = rng.standard_normal((5, 3)) * 0.3, rng.standard_normal((3, 5)) * 0.3
    out = {}
    for device in ("cpu", "cuda"):
        x = tinygan.tensor(x_np, device=device)
        w, b = tinygan.tensor(w_np, device=device), tinygan.tensor(b_np, device=device)
        encode = lambda x: (x @ w, (x @ w) * 0.0 - 1.0)
        decode = lambda z: z @ b
        tinygan.manual_seed(3)
        out[device] = host(losses.iwae_bound(encode, decode, x, k=7))
    np.testing.assert_allclose(out["cuda"], out["cpu"], rtol=1e-9)
