"""StyleGAN-lite's networks (tinygan/models/stylegan.py): shapes of both presets, truncation,
w_avg, the mapping's learning-rate multiplier, the skip architecture, second-order gradients
through D and G's synthesis, and a CLI smoke run (train, sample, eval)."""
import json
import math

import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.cli import main
from tinygan.models import registry
from tinygan.models.cgan import one_hot
from tinygan.models.stylegan import (Discriminator, MappingNetwork, StyleGAN, SynthesisNetwork,
                                     normalize_2nd_moment)
from tinygan.nn import functional as F
from tinygan.testing import gradcheck, gradgradcheck

needs_mnist = pytest.mark.usefixtures("mnist")
TINY = {4: 2, 8: 2, 16: 2, 32: 2}


def close(a, b, scale=1.0, dtype=np.float32):
    # A few roundings per element of sums of at most a few hundred terms of size ~scale.
    tol = 1000 * np.finfo(dtype).eps * scale
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=tol, rtol=0)


@pytest.mark.parametrize("conditional,channels", [(False, 1), (True, 1), (True, 3)])
def test_cpu_preset_shapes(conditional, channels):
    tinygan.manual_seed(0)
    m = StyleGAN("cpu", conditional=conditional, image_channels=channels)
    assert m.G.num_ws == 8 and m.image_shape == (channels, 32, 32)
    z, labels = m.sample_noise(4)
    assert z.shape == (4, 64) and (labels is None) != conditional
    c = one_hot(labels, 10, z.dtype) if conditional else None
    ws = m.G.mapping(z, c)
    assert ws.shape == (4, 8, 128)
    img = m.G.synthesis(ws)
    assert img.shape == (4, channels, 32, 32)
    assert m.generate(z, labels).shape == (4, channels, 32, 32)
    assert m.discriminate(img, labels).shape == (4, 1)
    assert np.isfinite(img.detach().numpy()).all()


def test_gpu_preset_shapes():
    tinygan.manual_seed(0)
    m = StyleGAN("gpu")
    z, _ = m.sample_noise(2)
    ws = m.G.mapping(z)
    assert ws.shape == (2, 8, 256)
    assert len(m.G.mapping.layers) == 4
    img = m.G.synthesis(ws)
    assert img.shape == (2, 1, 32, 32)
    assert m.discriminate(img).shape == (2, 1)


def test_conditional_needs_labels_and_labels_change_the_output():
    tinygan.manual_seed(0)
    m = StyleGAN("cpu", conditional=True)
    z, _ = m.sample_noise(2)
    with pytest.raises(ValueError, match="labels"):
        m.discriminate(tinygan.zeros(2, 1, 32, 32))
    a = m.generate(z, tinygan.tensor([1, 1], dtype=tinygan.int64), noise_mode="none").detach().numpy()
    b = m.generate(z, tinygan.tensor([2, 2], dtype=tinygan.int64), noise_mode="none").detach().numpy()
    assert np.abs(a - b).max() > 1e-4


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="preset"):
        StyleGAN("tpu")
    with pytest.raises(ValueError, match="image_channels"):
        StyleGAN(image_channels=2)
    m = StyleGAN()
    with pytest.raises(ValueError, match=r"MappingNetwork: expected z of shape \(N, 64\)"):
        m.G.mapping(tinygan.zeros(2, 3))
    with pytest.raises(ValueError, match="SynthesisNetwork"):
        m.G.synthesis(tinygan.zeros(2, 7, 128))
    with pytest.raises(ValueError, match="Discriminator"):
        m.D(tinygan.zeros(2, 1, 28, 28))


def test_normalize_2nd_moment_against_numpy():
    x = np.random.default_rng(0).standard_normal((3, 5))
    ref = x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)
    close(normalize_2nd_moment(tinygan.tensor(x)).detach().numpy(), ref, dtype=np.float64)


def _mapping_with_avg():
    tinygan.manual_seed(1)
    m = MappingNetwork(z_dim=6, c_dim=0, w_dim=5, num_ws=4, num_layers=2)
    m.eval()
    m.w_avg = tinygan.tensor(np.random.default_rng(2).standard_normal(5).astype(np.float32))
    return m, tinygan.randn(3, 6)


def test_truncation_psi_0_gives_w_avg_and_psi_1_the_identity():
    m, z = _mapping_with_avg()
    avg = m.w_avg.detach().numpy()
    ws = m(z).detach().numpy()
    assert np.abs(ws - avg).max() > 1e-3          # not already w_avg
    np.testing.assert_array_equal(m(z, truncation_psi=1).detach().numpy(), ws)   # exact: psi 1 is skipped
    close(m(z, truncation_psi=0).detach().numpy(), np.broadcast_to(avg, ws.shape))
    half = m(z, truncation_psi=0.5, truncation_cutoff=2).detach().numpy()
    close(half[:, :2], avg + 0.5 * (ws[:, :2] - avg))
    np.testing.assert_array_equal(half[:, 2:], ws[:, 2:])   # exact: past the cutoff untouched
    with pytest.raises(ValueError, match="truncation_cutoff"):
        m(z, truncation_psi=0.5, truncation_cutoff=9)


def test_w_avg_updates_in_training_only():
    m, z = _mapping_with_avg()
    before = m.w_avg.detach().numpy().copy()
    w = m(z).detach().numpy()[:, 0]
    np.testing.assert_array_equal(m.w_avg.detach().numpy(), before)   # exact: eval leaves it alone
    m.train()
    buffer = m.w_avg
    m(z)
    assert m.w_avg is buffer           # updated in place (the trainer restores buffers by object)
    expected = w.mean(0) + (before - w.mean(0)) * 0.995        # lerp(mean, w_avg, beta)
    close(m.w_avg.detach().numpy(), expected)
    assert "w_avg" in m.state_dict()


def test_mapping_lr_multiplier_gives_100x_smaller_effective_steps():
    tinygan.manual_seed(3)
    m = MappingNetwork(z_dim=4, c_dim=0, w_dim=3, num_ws=None, num_layers=1)
    layer = m.layers[0]
    assert layer.lr_multiplier == 0.01
    # Stored N(0, 1/lambda^2); effective weights w * lambda / sqrt(fan_in): std 1/sqrt(4).
    assert layer.weight_gain == pytest.approx(0.01 / 2)
    z = tinygan.randn(5, 4)
    x = normalize_2nd_moment(z).detach().numpy()
    eff_w = layer.weight.detach().numpy() * 0.01 / 2
    eff_b = layer.bias.detach().numpy() * 0.01
    pre = x @ eff_w.T + eff_b
    ref = np.where(pre > 0, pre, 0.2 * pre) * math.sqrt(2)
    close(m(z).detach().numpy(), ref, scale=float(np.abs(x).max() * np.abs(eff_w).sum(1).max() + 1))
    # d out / d stored weight = gain * d out / d effective weight: an SGD step of size 1 on the
    # stored weight moves the effective weight by gain^2 = (lambda/sqrt(fan_in))^2 times the
    # effective gradient, lambda^2 less than a plain layer of the same fan-in.
    m(z).sum().backward()
    g_stored = layer.weight.grad.detach().numpy()
    d_pre = np.where(pre > 0, 1.0, 0.2) * math.sqrt(2)            # (5, 3)
    g_eff = d_pre.T @ x                                           # d sum / d eff_w
    close(g_stored, g_eff * 0.005, scale=float(np.abs(g_eff).max()) * 0.005 + 1e-6)


@pytest.mark.parametrize("linear_output", [False, True])
def test_skip_output_is_the_sum_of_the_upsampled_torgbs(linear_output):
    """The image is tanh of the skip sum, or (linear_output, the reference's) the sum itself."""
    tinygan.manual_seed(4)
    syn = SynthesisNetwork(w_dim=8, channels={4: 4, 8: 3, 16: 3, 32: 2}, img_channels=1,
                           linear_output=linear_output)
    ws = tinygan.randn(2, syn.num_ws, 8)
    img = syn(ws, noise_mode="none").detach().numpy()
    x, total = None, None
    f = syn.blocks[0].resample_filter
    for block, w in zip(syn.blocks, syn.block_ws(ws)):
        x, _ = block(x, None, w, noise_mode="none")      # features alone, no image passed
        rgb = block.torgb(x, w[:, -1])
        total = rgb if total is None else F.upsample2d(total, f) + rgb
    # total is built from the rgbs alone; upsample2d is linear, so this is the sum of each
    # ToRGB upsampled to 32x32.
    total = total.detach().numpy()
    expected = total if linear_output else np.tanh(total)
    close(img, expected, scale=float(np.abs(total).max()) + 1)
    # And each rgb matters: the last block's alone is not the output.
    last = rgb.detach().numpy()
    assert np.abs(img - (last if linear_output else np.tanh(last))).max() > 1e-4
    if linear_output:
        assert np.abs(img).max() > 1       # unbounded: this draw leaves (-1, 1)
    else:
        assert np.abs(total).max() > 1 and np.abs(img).max() < 1


def test_fused_and_non_fused_synthesis_agree():
    tinygan.manual_seed(5)
    syn = SynthesisNetwork(w_dim=8, channels=TINY, fused_modconv=True)
    ws = tinygan.randn(2, syn.num_ws, 8)
    a = syn(ws, noise_mode="none").detach().numpy()
    for layer in syn.modules():
        if hasattr(layer, "fused_modconv"):
            layer.fused_modconv = False
    b = syn(ws, noise_mode="none").detach().numpy()
    close(a, b, scale=float(np.abs(a).max()) + 1)


def _images_along(a, basis, base):
    """base + sum_k a_k basis_k: a few coordinates a (K,) spanning (N, C, 32, 32) images, so that
    finite differences need K evaluations, not one per pixel."""
    k = a.shape[0]
    return base + (a.reshape(k, 1, 1, 1, 1) * basis).sum(dim=0)


def _d_setup(seed, c_dim=0):
    tinygan.manual_seed(seed)
    D = Discriminator(TINY, img_channels=1, c_dim=c_dim).to(np.float64)
    rng = np.random.default_rng(seed)
    base = tinygan.tensor(rng.standard_normal((2, 1, 32, 32)))
    basis = tinygan.tensor(rng.standard_normal((5, 2, 1, 32, 32)))
    a = tinygan.tensor(rng.standard_normal(5) * 0.1, requires_grad=True)
    return D, base, basis, a


def test_d_gradient_penalty_second_order():
    """R1-like: the penalty ||grad_x D(x)||^2 differentiated again, against central differences."""
    D, base, basis, a = _d_setup(6)

    def penalty(a):
        with tinygan.enable_grad():          # gradcheck evaluates under no_grad
            x = _images_along(a, basis, base)
            if not x.requires_grad:
                x = x.detach().requires_grad_()
            (g,) = tinygan.grad(D(x).sum(), x, create_graph=True)
            return (g * g).sum(dim=(1, 2, 3))          # (N,), one penalty per image

    assert gradcheck(penalty, (a,), atol=1e-10, rtol=1e-4)
    # and the penalty's gradient reaches D's weights (what R1 trains)
    x = _images_along(a, basis, base).detach().requires_grad_()
    (g,) = tinygan.grad(D(x).sum(), x, create_graph=True)
    (gw,) = tinygan.grad((g * g).sum(), D.blocks[0].conv0.weight)
    assert np.abs(gw.detach().numpy()).max() > 0


def test_conditional_d_second_order():
    D, base, basis, a = _d_setup(7, c_dim=3)
    c = tinygan.tensor(np.eye(3)[[0, 2]])
    assert gradgradcheck(lambda a: D(_images_along(a, basis, base), c), (a,),
                         atol=1e-10, rtol=1e-4)


@pytest.mark.parametrize("fused", [False, True])
def test_synthesis_second_order(fused):
    tinygan.manual_seed(8)
    syn = SynthesisNetwork(w_dim=3, channels=TINY, fused_modconv=fused).to(np.float64)
    for m in syn.modules():
        if isinstance(m, nn.NoiseInjection):
            m.noise_strength.data[...] = 0.3          # exercise the noise path
    rng = np.random.default_rng(2)
    ws = tinygan.tensor(rng.standard_normal((2, syn.num_ws, 3)), requires_grad=True)
    # A few random projections of the image keep the outputs (and gradgradcheck's v) small.
    proj = tinygan.tensor(rng.standard_normal((3, 1, 32, 32)))

    def fn(ws):
        img = syn(ws, noise_mode="const")          # deterministic noise
        return (img.reshape(2, 1, 1, 32, 32) * proj).sum(dim=(2, 3, 4))     # (2, 3)

    assert gradcheck(fn, (ws,), atol=1e-10, rtol=1e-4)
    assert gradgradcheck(fn, (ws,), atol=1e-10, rtol=1e-4)


def test_registered_with_32x32_data():
    entry = registry.get("stylegan")
    assert entry.kind == "stylegan" and entry.data_shape == (1, 32, 32)
    assert entry.recipe["lr_g"] == 0.0025 and entry.recipe["betas"] == (0.0, 0.99)
    assert entry.recipe["batch_size"] == 32


@needs_mnist
def test_cli_train_sample_and_eval(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGAN_FAST", "1")
    run = tmp_path / "run"
    assert main(["train", "stylegan", "--out", str(run), "--max-steps", "2", "--epochs", "1",
                 "--quiet"]) == 0
    assert (run / "samples.png").is_file()
    assert main(["sample", str(run), "--n", "4", "--out", str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (4, 1, 32, 32)
        assert np.isfinite(f["images"]).all()
    capsys.readouterr()
    assert main(["eval", str(run), "--n", "200", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert np.isfinite(out["fid"]) and out["fid"] >= 0


@pytest.mark.parametrize("conditional", [False, True])
def test_d_loss_reaches_d_only_and_g_loss_g_only(conditional):
    tinygan.manual_seed(9)
    m = StyleGAN("cpu", conditional=conditional)
    real = tinygan.randn(4, 1, 32, 32)
    labels = tinygan.tensor([0, 1, 2, 3], dtype=tinygan.int64) if conditional else None
    loss, log = m.d_loss(real, labels)
    assert loss.shape == () and np.isfinite(loss.item())
    assert set(log) >= {"d_loss", "d_real", "d_fake"}
    loss.backward()
    assert all(p.grad is None for p in m.G.parameters())
    assert all(p.grad is not None for p in m.D.parameters())
    m.zero_grad()
    loss, log = m.g_loss(4, labels)
    assert np.isfinite(loss.item()) and "g_loss" in log
    loss.backward()
    assert all(p.grad is None for p in m.D.parameters())
    # every G weight, the noise strengths (0 at init) included
    assert all(p.grad is not None for p in m.G.parameters())
    with pytest.raises(ValueError, match=r"\(N, 1, 32, 32\)"):
        m.d_loss(tinygan.zeros(4, 1, 28, 28), labels)


def test_non_fused_modconv_is_chosen_on_the_cpu():
    from tinygan.models.stylegan import _use_fused
    x = tinygan.zeros(1)
    assert not _use_fused(None, x) and _use_fused(True, x) and not _use_fused(False, x)


def test_sampling_in_the_trainer_leaves_w_avg_alone():
    from tinygan.train.loop import generate
    tinygan.manual_seed(10)
    m = StyleGAN("cpu")
    before = m.G.mapping.w_avg.detach().numpy().copy()
    generate(m, *m.sample_noise(3))
    # exact: the trainer restores the buffers it saved, bit for bit
    np.testing.assert_array_equal(m.G.mapping.w_avg.detach().numpy(), before)


@pytest.mark.parametrize("conditional,n,merged", [(False, 16, True), (True, 16, True), (False, 6, True),
                                                  (False, 2, False), (False, 5, True)])
def test_discriminate_both_is_two_discriminates_in_one_pass(conditional, n, merged):
    """One pass of D over reals and fakes interleaved gives each batch's logits, D's gradient and
    the images' gradients as two passes do: the minibatch stddev (group 8 in the cpu preset)
    keeps each batch's groups.
    A batch of 2 (group 2 alone, 4 together) falls back to two passes."""
    tinygan.manual_seed(3)
    m = StyleGAN("cpu", conditional=conditional).to(np.float64)
    rng = np.random.default_rng(n)
    reals, fakes = (tinygan.tensor(rng.standard_normal((n, 1, 32, 32)), requires_grad=True)
                    for _ in range(2))
    lr = tinygan.tensor(rng.integers(0, 10, n), dtype=tinygan.int64) if conditional else None
    lf = tinygan.tensor(rng.integers(0, 10, n), dtype=tinygan.int64) if conditional else None
    batches = []
    forward = type(m.D.b4).forward
    m.D.b4.forward = lambda x, *a: (batches.append(x.shape[0]), forward(m.D.b4, x, *a))[1]

    def run(both):
        m.zero_grad()
        reals.grad = fakes.grad = None
        if both:
            out_r, out_f = m.discriminate_both(reals, lr, fakes, lf)
        else:
            out_r, out_f = m.discriminate(reals, lr), m.discriminate(fakes, lf)
        (out_r.sum() * 0.3 + (out_f * out_f).sum()).backward()
        grads = [p.grad.numpy().copy() for p in m.D.parameters()] + [reals.grad.numpy(), fakes.grad.numpy()]
        return [o.detach().numpy() for o in (out_r, out_f)], grads
    (two_r, two_f), two_g = run(False)
    assert batches == [n, n]
    batches.clear()
    (one_r, one_f), one_g = run(True)
    assert batches == ([2 * n] if merged else [n, n])
    assert one_r.shape == one_f.shape == (n, 1)
    np.testing.assert_allclose(one_r, two_r, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(one_f, two_f, rtol=1e-12, atol=1e-12)
    for a, b in zip(one_g, two_g):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * max(1.0, np.abs(b).max()))
    # and the logits differ between the batches (a swapped interleave would still pass the above
    # only if both were equal)
    assert np.abs(one_r - one_f).max() > 1e-3
