"""BigGAN-lite's networks (tinygan/models/biggan.py): shapes of both presets, spectral norm on
every layer, conditional BatchNorm per sample, the projection term computed by hand, second-order
gradients through D, truncation, the hinge losses and the registry entry."""
import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.models import registry
from tinygan.models.biggan import PRESETS, BigGAN, Discriminator
from tinygan.models.base import cycling_labels
from tinygan.nn.utils import SpectralNorm
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import sum_tolerance

TINY_D = (8, 8, 8, 8)


def _labels(values):
    return tinygan.tensor(np.asarray(values), dtype=tinygan.int64)


@pytest.mark.parametrize("preset,channels", [("cpu", 1), ("cpu", 3), ("gpu", 1), ("gpu", 3)])
def test_shapes_of_both_presets(preset, channels):
    tinygan.manual_seed(0)
    model = BigGAN(preset, image_channels=channels)
    assert model.latent_dim == PRESETS[preset]["z_dim"]
    assert model.image_shape == (channels, 32, 32)
    z, y = model.sample_noise(3)
    assert tuple(z.shape) == (3, model.latent_dim)
    np.testing.assert_array_equal(y.detach().numpy(), [0, 1, 2])          # exact: integer labels
    x = model.generate(z, y)
    assert tuple(x.shape) == (3, channels, 32, 32)
    assert np.abs(x.detach().numpy()).max() <= 1.0                        # tanh
    assert tuple(model.discriminate(x, y).shape) == (3, 1)
    # The attention blocks sit at 16x16 in both networks.
    _, beta = model.G.attention(tinygan.randn(1, PRESETS[preset]["g_channels"][2], 16, 16),
                                return_attention=True)
    assert tuple(beta.shape) == (1, 256, 64)


def test_hierarchical_z_gives_each_block_its_own_chunk_and_the_shared_class():
    tinygan.manual_seed(1)
    model = BigGAN("cpu")
    G = model.G
    z = tinygan.randn(2, model.latent_dim)
    z0, conds = G.conditions(z, _labels([3, 7]))
    chunk = model.latent_dim // 4
    assert G.num_chunks == 4 and len(conds) == len(G.blocks) == 3
    zz, shared = z.detach().numpy(), G.shared.weight.detach().numpy()[[3, 7]]
    # exact: slicing and concatenation move the numbers without arithmetic
    np.testing.assert_array_equal(z0.detach().numpy(), zz[:, :chunk])
    for i, cond in enumerate(conds, 1):
        np.testing.assert_array_equal(cond.detach().numpy(), np.concatenate(
            [zz[:, i * chunk:(i + 1) * chunk], shared], axis=1))


def test_g_from_the_shared_embedding_and_its_attention_map(monkeypatch):
    """G(z, y) is G.from_embedding(z, shared(y)) (what class interpolation feeds a point
    between two embeddings), and return_attention hands out the 16x16 attention block's map."""
    tinygan.manual_seed(2)
    model = BigGAN("cpu").eval()          # eval: no power iteration, so repeated calls agree
    G = model.G
    z, y = tinygan.randn(3, model.latent_dim), _labels([3, 7, 3])
    seen = []
    attention_forward = nn.SelfAttention2d.forward

    def spy(self, x, return_attention=False):
        out = attention_forward(self, x, return_attention)
        seen.append(out)
        return out

    monkeypatch.setattr(nn.SelfAttention2d, "forward", spy)
    with tinygan.no_grad():
        by_label = G(z, y).numpy()
        shared = tinygan.tensor(G.shared.weight.detach().numpy()[[3, 7, 3]])
        images, beta = G.from_embedding(z, shared, return_attention=True)
    # exact: the same layers on the same numbers (the embedding lookup is a copy)
    np.testing.assert_array_equal(images.numpy(), by_label)
    assert tuple(beta.shape) == (3, 256, 64)
    assert beta is seen[-1][1]               # the attention block's own map, handed out
    with pytest.raises(ValueError, match=r"shared must have shape \(3, 64\) for z of shape "
                                         r"\(3, 64\), got \(3, 32\)"):
        G.from_embedding(z, tinygan.randn(3, 32))


def test_every_conv_and_linear_carries_spectral_norm():
    model = BigGAN("cpu")
    state = model.state_dict()
    layers = [(name, m) for name, m in model.named_modules()
              if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) > 30
    for name, m in layers:
        hooks = [h for h in m._forward_pre_hooks.values() if isinstance(h, SpectralNorm)]
        assert len(hooks) == 1, name
        rows = m.weight_orig.shape[0]
        assert tuple(state[f"{name}.weight_u"].shape) == (rows,), name
        assert f"{name}.weight_v" in state and f"{name}.weight" not in state, name
    # D's projection embedding too, G's shared embedding not (the reference code's choice).
    assert "D.embed.weight_u" in state and "D.embed.weight_orig" in state
    assert "G.shared.weight" in state and "G.shared.weight_u" not in state


def test_the_ablations_drop_spectral_norm_or_attention_and_nothing_else():
    full = BigGAN("cpu").state_dict()
    plain = BigGAN("cpu", spectral_norm=False)
    for name, m in plain.named_modules():
        hooks = [h for h in m._forward_pre_hooks.values() if isinstance(h, SpectralNorm)]
        assert not hooks, name
    state = plain.state_dict()
    # The same weights under their plain names: weight_orig -> weight, no u and v buffers.
    renamed = {k.replace("weight_orig", "weight") for k in full
               if not k.endswith(("weight_u", "weight_v"))}
    assert set(state) == renamed
    # The orthogonal start is kept: a conv's flattened weight has orthonormal rows.
    w = np.asarray(plain.D.blocks[1].conv1.weight.data).reshape(64, -1)
    np.testing.assert_allclose(w @ w.T, np.eye(64), atol=1e-5)     # float32 rounding of a QR

    bare = BigGAN("cpu", attention=False)
    assert bare.G.attention is None and bare.D.attention is None
    assert not any(k.startswith(("G.attention.", "D.attention.")) for k in bare.state_dict())
    assert {k for k in full if not k.startswith(("G.attention.", "D.attention."))} == \
        set(bare.state_dict())
    z, y = tinygan.randn(3, bare.latent_dim), _labels([0, 1, 2])
    images, beta = bare.G(z, y, return_attention=True)
    assert tuple(images.shape) == (3, 1, 32, 32) and beta is None
    assert tuple(bare.discriminate(images, y).shape) == (3, 1)
    assert bare.options() == dict(preset="cpu", image_channels=1, spectral_norm=True,
                                  attention=False)
    with pytest.raises(ValueError, match="BigGAN: attention must be True or False, got 0"):
        BigGAN("cpu", attention=0)


def test_power_iteration_runs_in_training_mode_only():
    tinygan.manual_seed(2)
    model = BigGAN("cpu")
    x, y = model.generate(*model.sample_noise(2)), cycling_labels(2)
    layer = model.D.blocks[1].conv1
    u0 = layer.weight_u.detach().numpy().copy()
    model.eval()
    model.discriminate(x, y)
    np.testing.assert_array_equal(layer.weight_u.detach().numpy(), u0)     # exact: untouched
    model.train()
    model.discriminate(x, y)
    assert not np.array_equal(layer.weight_u.detach().numpy(), u0)


def test_cbn_conditions_per_sample_in_eval_mode():
    """Changing one sample's label changes that sample's image and no other (eval mode: the
    BatchNorms use their running statistics, so the samples do not meet in the batch)."""
    tinygan.manual_seed(3)
    model = BigGAN("cpu")
    model.generate(*model.sample_noise(8))        # one training forward: u and running stats move
    model.eval()
    z = tinygan.randn(4, model.latent_dim)
    a = model.generate(z, _labels([0, 1, 2, 3])).detach().numpy()
    b = model.generate(z, _labels([0, 5, 2, 3])).detach().numpy()
    assert np.abs(a[1] - b[1]).max() > 1e-3
    # exact: the other samples' computations are the same, row by row
    np.testing.assert_array_equal(np.delete(a, 1, axis=0), np.delete(b, 1, axis=0))
    # And one sample's z chunk reaches its own image only.
    z2 = z.detach().numpy().copy()
    z2[2, -1] += 1.0
    c = model.generate(tinygan.tensor(z2), _labels([0, 1, 2, 3])).detach().numpy()
    assert np.abs(c[2] - a[2]).max() > 1e-4
    # exact: as above
    np.testing.assert_array_equal(np.delete(c, 2, axis=0), np.delete(a, 2, axis=0))


def _sn_matrix(layer):
    """layer.weight_orig / (u^T W v) from its buffers, in float64 (what eval mode uses)."""
    w = layer.weight_orig.detach().numpy().astype(np.float64)
    m = w.reshape(w.shape[0], -1)
    sigma = layer.weight_u.detach().numpy() @ m @ layer.weight_v.detach().numpy()
    return w / sigma


def test_projection_term_is_the_inner_product_of_embed_y_and_h():
    tinygan.manual_seed(4)
    D = Discriminator(PRESETS["cpu"]["d_channels"])
    x = tinygan.randn(5, 1, 32, 32)
    y = _labels([0, 3, 3, 9, 4])
    D(x, y)                                          # a training forward: u, v converge a step
    D.eval()
    h = D.features(x).detach().numpy().astype(np.float64)     # (5, C)
    out = D(x, y).detach().numpy()
    w, e = _sn_matrix(D.linear), _sn_matrix(D.embed)
    b = D.linear.bias.detach().numpy().astype(np.float64)
    projection = (e[y.detach().numpy()] * h).sum(1)
    expected = h @ w[0] + b[0] + projection
    terms = np.abs(h) @ np.abs(w[0]) + np.abs(e[y.detach().numpy()] * h).sum(1) + abs(b[0])
    tol = sum_tolerance(terms, 2 * h.shape[1] + 1, np.float32, factor=8)
    err = np.abs(out[:, 0] - expected)
    assert (err <= tol).all(), (err, tol)
    # The class moves D's output by the difference of the projections alone.
    other = D(x, _labels([1, 1, 1, 1, 1])).detach().numpy()[:, 0]
    err = np.abs((out[:, 0] - other) - (projection - (e[1] * h).sum(1)))
    assert (err <= 2 * tol).all(), (err, tol)
    assert np.abs(projection).max() > 1e-3 * np.abs(expected).max()


def _images_along(a, basis, base):
    # x = base + sum_k a_k basis_k: D's input moves along 5 random directions.
    return base + (a.reshape(5, 1, 1, 1, 1) * basis).sum(0)


def test_second_order_gradients_through_d_in_float64():
    """gradcheck and gradgradcheck of D(x, y) along 5 random directions of its input, on a tiny
    D in float64 with spectral norm in eval mode (u and v fixed) and the attention switched on."""
    tinygan.manual_seed(5)
    D = Discriminator(TINY_D).to(np.float64)
    rng = np.random.default_rng(5)
    base = tinygan.tensor(rng.standard_normal((2, 1, 32, 32)))
    D(base, _labels([2, 6]))                     # one training forward for the u's
    D.eval()
    D.attention.gamma.data[...] = 0.7            # a fresh block is the identity (gamma 0)
    basis = tinygan.tensor(rng.standard_normal((5, 2, 1, 32, 32)))
    a = tinygan.tensor(rng.standard_normal(5) * 0.1, requires_grad=True)
    y = _labels([2, 6])

    def fn(a):
        return D(_images_along(a, basis, base), y)

    assert gradcheck(fn, (a,), atol=1e-9, rtol=1e-4)
    assert gradgradcheck(fn, (a,), atol=1e-9, rtol=1e-4)
    # and the penalty ||grad_x D||^2 (what a gradient penalty trains) reaches D's weights
    x = base.detach().requires_grad_()
    (g,) = tinygan.grad(D(x, y).sum(), x, create_graph=True)
    (gw,) = tinygan.grad((g * g).sum(), D.blocks[1].conv1.weight_orig)
    assert np.abs(gw.detach().numpy()).max() > 0


@pytest.mark.parametrize("t", [2.0, 0.5, 0.1])
def test_truncation_keeps_every_entry_within_t(t):
    tinygan.manual_seed(6)
    model = BigGAN("cpu")
    z, _ = model.sample_noise(50, truncation=t)
    assert np.abs(z.detach().numpy()).max() <= t
    plain = tinygan.randn(50, model.latent_dim)
    cut = model.truncate(plain, t).detach().numpy()
    p = plain.detach().numpy()
    inside = np.abs(p) <= t
    assert np.abs(cut).max() <= t and (~inside).any()
    # exact: the entries already inside are kept as they are
    np.testing.assert_array_equal(cut[inside], p[inside])
    assert not np.array_equal(cut[~inside], p[~inside])


def test_generate_with_truncation_feeds_g_a_truncated_z(monkeypatch):
    tinygan.manual_seed(7)
    model = BigGAN("cpu")
    seen = []
    forward = type(model.G).forward
    def spy(self, z, y):
        seen.append(z.detach().numpy().copy())
        return forward(self, z, y)

    monkeypatch.setattr(type(model.G), "forward", spy)
    z = tinygan.randn(4, model.latent_dim) * 3
    model.generate(z, truncation=0.25)
    assert np.abs(seen[0]).max() <= 0.25
    model.generate(z)
    np.testing.assert_array_equal(seen[1], z.detach().numpy())   # exact: not truncated, z as given


def test_hinge_losses_and_what_they_reach():
    tinygan.manual_seed(8)
    model = BigGAN("cpu")
    x = tinygan.tensor(np.random.default_rng(8).uniform(-1, 1, (4, 1, 32, 32)).astype(np.float32))
    y = _labels([1, 2, 3, 4])
    loss, stats = model.d_loss(x, y)
    assert set(stats) == {"d_loss", "d_real", "d_fake"}
    loss.backward()
    assert all(p.grad is None for p in model.G.parameters())
    assert any(p.grad is not None for p in model.D.parameters())
    for p in model.parameters():
        p.grad = None
    loss, stats = model.g_loss(4, y)
    loss.backward()
    assert all(p.grad is None for p in model.D.parameters())
    assert any(p.grad is not None and np.abs(p.grad.detach().numpy()).max() > 0
               for p in model.G.parameters())
    # L_G = -E D(G(z)), the negative mean of D's output: recomputed from the same draws.
    tinygan.manual_seed(9)
    model.eval()
    loss, _ = model.g_loss(4, y)
    tinygan.manual_seed(9)
    z, _ = model.sample_noise(4)
    out = model.discriminate(model.generate(z, y), y).detach().numpy()
    np.testing.assert_allclose(float(loss.detach().numpy()), -out.mean(), rtol=1e-6, atol=1e-6)


def test_d_loss_on_one_batch_of_reals_and_fakes_equals_two_passes():
    """D sees reals and fakes as one batch; without BatchNorm in D that is the hinge loss of
    two separate passes (eval mode: the same u's for both)."""
    tinygan.manual_seed(10)
    model = BigGAN("cpu").eval()
    x = tinygan.tensor(np.random.default_rng(10).uniform(-1, 1, (3, 1, 32, 32)).astype(np.float32))
    y = _labels([4, 0, 9])
    tinygan.manual_seed(11)
    loss, stats = model.d_loss(x, y)
    tinygan.manual_seed(11)
    z, _ = model.sample_noise(3)
    with tinygan.no_grad():
        fake = model.generate(z, y)
        real_out = model.discriminate(x, y).numpy().astype(np.float64)
        fake_out = model.discriminate(fake, y).numpy().astype(np.float64)
    expected = np.maximum(0, 1 - real_out).mean() + np.maximum(0, 1 + fake_out).mean()
    # float32 through a dozen layers: a batch of 6 and two of 3 may round each layer's sums
    # differently, a few eps of their terms each; 1e-4 of the outputs' size is far above that
    # and far below a wrong loss (a real and a fake swapped move it by about 1).
    scale = np.abs(real_out).max() + np.abs(fake_out).max() + 2
    np.testing.assert_allclose(float(loss.detach().numpy()), expected, rtol=0,
                               atol=1e-4 * scale)
    np.testing.assert_allclose(float(stats["d_real"]), real_out.mean(), rtol=0, atol=1e-4 * scale)


def test_ortho_parameters_leave_out_the_shared_embedding():
    model = BigGAN("cpu")
    params = model.ortho_parameters()
    assert all(p is not model.G.shared.weight for p in params)
    assert len(params) == len(list(model.G.parameters())) - 1


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="BigGAN: unknown preset 'big'"):
        BigGAN("big")
    with pytest.raises(ValueError, match="BigGAN: image_channels must be 1 or 3, got 2"):
        BigGAN(image_channels=2)
    model = BigGAN("cpu")
    with pytest.raises(ValueError, match=r"BigGAN.generate: labels must be a Tensor of shape "
                                         r"\(2,\)"):
        model.generate(tinygan.randn(2, model.latent_dim), _labels([1, 2, 3]))
    with pytest.raises(ValueError, match=r"BigGAN.generate: z must have shape \(N, 64\)"):
        model.generate(tinygan.randn(2, 10))
    with pytest.raises(ValueError, match="truncated_normal: threshold must be a positive"):
        model.sample_noise(2, truncation=0.0)


def test_registered_with_32x32_data_and_the_papers_recipe():
    entry = registry.get("biggan")
    assert entry.kind == "biggan" and entry.data_shape == (1, 32, 32) and entry.num_classes == 10
    r = entry.recipe
    assert (r["lr_g"], r["lr_d"], tuple(r["betas"]), r["n_critic"], r["batch_size"]) == \
        (1e-4, 4e-4, (0.0, 0.999), 2, 64)
    assert BigGAN.truncation == "threshold"
