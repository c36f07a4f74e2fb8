"""CycleGAN-lite's networks and objective (tinygan/models/cyclegan.py): the shapes of both
presets, the generator's reflection padding and instance norm to second order, the PatchGAN's
output size and receptive field (checked by perturbing one pixel), the losses against their
formulas (Zhu et al. 2017, eq. 1-3 and the identity loss), the registry entry and the errors."""
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygan
from tinygan import nn
from tinygan.models import registry
from tinygan.models.cyclegan import (LAMBDA_CYC, LAMBDA_ID, PRESETS, CycleGAN, PatchDiscriminator,
                                     ResnetGenerator, parameter_count)
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import FACTOR, eps


def test_shapes():
    tinygan.manual_seed(0)
    model = CycleGAN("cpu")
    x = tinygan.randn(2, 1, 28, 28)
    with tinygan.no_grad():
        for G in (model.G_AB, model.G_BA):
            y = G(x)
            assert y.shape == (2, 1, 28, 28)
            assert np.abs(y.data).max() < 1            # tanh
        for D in (model.D_A, model.D_B):
            # n_layers 2: 28 -> 14 -> 7 -> 6 -> 5, each score over a 34x34 field
            assert D.n_layers == 2 and D.receptive_field == 34
            assert D(x).shape == (2, 1, 5, 5)


def test_presets_set_the_widths():
    tinygan.manual_seed(0)
    model = CycleGAN("cpu")
    p = PRESETS["cpu"]
    assert model.G_AB.ngf == p["ngf"] and model.G_AB.n_blocks == p["n_blocks"]
    assert model.G_AB.model[1].weight.shape == (p["ngf"], 1, 7, 7)
    blocks = [m for m in model.G_BA.modules() if type(m).__name__ == "ResnetBlock"]
    assert len(blocks) == p["n_blocks"]
    assert blocks[0].block[1].weight.shape == (4 * p["ngf"], 4 * p["ngf"], 3, 3)
    assert model.D_A.ndf == p["ndf"] and model.D_B.model[0].weight.shape == (p["ndf"], 1, 4, 4)
    # the gpu preset (24 million weights: too slow to build in a quick test) is the reference's
    # generator as it is and its D's width
    assert PRESETS["gpu"] == dict(ngf=64, n_blocks=9, ndf=64, n_layers=2)


def test_generator_layout_and_init():
    tinygan.manual_seed(0)
    G = ResnetGenerator(1, 1, ngf=8, n_blocks=2)
    layers = list(G.model)
    assert isinstance(layers[0], nn.ReflectionPad2d) and layers[0].padding == (3,) * 4
    assert layers[1].weight.shape == (8, 1, 7, 7)
    convs = [m for m in G.modules() if isinstance(m, nn.Conv2d)]
    downs = [c for c in convs if c.stride == (2, 2)]
    assert [c.weight.shape for c in downs] == [(16, 8, 3, 3), (32, 16, 3, 3)]
    ups = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(u.weight.shape, u.output_padding) for u in ups] == [((32, 16, 3, 3), (1, 1)),
                                                                  ((16, 8, 3, 3), (1, 1))]
    norms = [m for m in G.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 1 + 2 + 2 * 2 + 2 and not any(n.affine for n in norms)
    w = np.concatenate([m.weight.data.ravel() for m in G.modules()
                        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(w.std() - 0.02) < 0.002 and abs(w.mean()) < 0.002      # N(0, 0.02), 6k draws
    assert all(not np.any(m.bias.data) for m in G.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def test_residual_block_adds_its_input():
    tinygan.manual_seed(0)
    G = ResnetGenerator(1, 1, ngf=2, n_blocks=1)
    block = G.model[10]
    for m in block.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data[...] = 0
            m.bias.data[...] = 0
    x = tinygan.randn(2, 8, 5, 5)
    # exact: the branch is 0 (zero weights, instance norm of a constant map is 0)
    np.testing.assert_array_equal(block(x).data, x.data)


def test_generator_gradients_to_second_order(make):
    """Reflection padding and instance norm inside the whole generator (every kind of layer
    of it: pads 3 and 1, 7x7 and 3x3 convs, strided and transposed convs, IN, ReLU, the
    residual sum, tanh), float64: the gradients of the output with respect to the input,
    first and second order."""
    tinygan.manual_seed(1)
    G = ResnetGenerator(1, 1, ngf=1, n_blocks=1).to(dtype=tinygan.float64)
    for m in G.modules():          # away from 0.02's tiny weights, so that IN's inputs vary
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.weight.data[...] = np.random.default_rng(5).standard_normal(m.weight.shape) * 0.5
    x = make(1, 1, 8, 8)
    probe = make(1, 1, 8, 8, requires_grad=False)
    fn = lambda x: (G(x) * probe).sum()
    assert gradcheck(fn, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)
    assert gradgradcheck(fn, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_patchgan_layout_output_size_and_receptive_field():
    D = PatchDiscriminator(1, ndf=8, n_layers=1)
    layers = list(D.model)
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((4, 4), (2, 2)), ((4, 4), (1, 1)),
                                                          ((4, 4), (1, 1))]
    # IN after every conv but the first and the last; LeakyReLU 0.2 after all but the last
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Conv2d", "LeakyReLU", "Conv2d", "InstanceNorm2d", "LeakyReLU", "Conv2d"]
    assert all(m.negative_slope == 0.2 for m in layers if isinstance(m, nn.LeakyReLU))
    assert D.receptive_field == 16 and D.output_size(28) == 12
    assert PatchDiscriminator(1, 8, n_layers=2).receptive_field == 34
    assert PatchDiscriminator(1, 8, n_layers=3).receptive_field == 70      # pix2pix's 70x70


def _without_norm(D):
    """D with its instance norms taken out: IN's mean and variance are taken over the whole
    map, so with them every score depends (weakly) on every pixel; the patch a score looks at
    through its convolutions is what the receptive field counts."""
    layers = [nn.Identity() if isinstance(m, nn.InstanceNorm2d) else m for m in D.model]
    return nn.Sequential(*layers)


def test_receptive_field_by_perturbing_one_pixel():
    tinygan.manual_seed(0)
    D = PatchDiscriminator(1, ndf=4, n_layers=1).to(dtype=tinygan.float64)
    net = _without_norm(D)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 28, 28))
    base = net(tinygan.tensor(x)).data[0, 0]
    r, p = D.receptive_field, 14
    # Output i sees input rows 2i - 5 .. 2i - 5 + r - 1 (stride 2 overall, 1 + 2 + 2 rows of
    # zero padding in input units); so pixel p reaches the outputs with 2i - 5 <= p <= 2i + 10.
    expected = [i for i in range(D.output_size(28)) if 2 * i - 5 <= p <= 2 * i - 5 + r - 1]
    assert expected == list(range(2, 10))
    x2 = x.copy()
    x2[0, 0, p, p] += 1.0
    changed = net(tinygan.tensor(x2)).data[0, 0] != base
    rows, cols = np.nonzero(changed)
    assert sorted(set(rows)) == expected and sorted(set(cols)) == expected
    # and one output's gradient is non-zero on a window of exactly r x r pixels
    xt = tinygan.tensor(x, requires_grad=True)
    (g,) = tinygan.grad(net(xt)[0, 0, 6, 6], xt)
    rows, cols = np.nonzero(g.data[0, 0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (7, 22, 7, 22)   # 2*6-5 .. +15
    # with instance norm the other outputs move too, but far less than those that see the pixel
    full = D(tinygan.tensor(x2)).data[0, 0] - D(tinygan.tensor(x)).data[0, 0]
    inside = np.zeros_like(changed)
    inside[np.ix_(expected, expected)] = True
    assert np.abs(full[~inside]).max() < np.abs(full[inside]).max() / 5


def _np_l1(x, y):
    return np.abs(x - y).mean()


@pytest.mark.parametrize("lambda_id", [LAMBDA_ID, 0.0])
def test_generator_loss_matches_its_formula(lambda_id):
    tinygan.manual_seed(2)
    model = _tiny_model()
    rng = np.random.default_rng(3)
    a = tinygan.tensor(np.tanh(rng.standard_normal((2, 1, 28, 28))))
    b = tinygan.tensor(np.tanh(rng.standard_normal((2, 1, 28, 28))))
    loss, stats, fake_b, fake_a = model.generator_loss(a, b, LAMBDA_CYC, lambda_id)
    with tinygan.no_grad():
        G_AB = lambda x: model.G_AB(tinygan.tensor(x)).data
        G_BA = lambda x: model.G_BA(tinygan.tensor(x)).data
        D_A = lambda x: model.D_A(tinygan.tensor(x)).data
        D_B = lambda x: model.D_B(tinygan.tensor(x)).data
        fb, fa = G_AB(a.data), G_BA(b.data)
        adv = ((D_B(fb) - 1) ** 2).mean() + ((D_A(fa) - 1) ** 2).mean()          # eq. 1, G's side
        cyc = _np_l1(G_BA(fb), a.data) + _np_l1(G_AB(fa), b.data)                  # eq. 2
        idt = _np_l1(G_BA(a.data), a.data) + _np_l1(G_AB(b.data), b.data)          # sec. 5.2
    expected = adv + LAMBDA_CYC * cyc + lambda_id * idt                            # eq. 3
    tol = FACTOR * 784 * eps(np.float64) * (abs(adv) + LAMBDA_CYC * cyc + lambda_id * idt) * 100
    assert abs(float(loss.item()) - expected) <= tol
    np.testing.assert_allclose(fake_b.data, fb, rtol=0, atol=1e-12)
    assert float(stats["cycle_a"]) == pytest.approx(_np_l1(G_BA(fb), a.data), abs=1e-12)
    assert ("idt_a" in stats) == (lambda_id > 0)
    assert LAMBDA_ID == 0.5 * LAMBDA_CYC == 5.0


def test_generator_loss_gives_no_gradient_to_the_discriminators():
    tinygan.manual_seed(2)
    model = _tiny_model()
    a, b = tinygan.randn(2, 1, 28, 28, dtype=tinygan.float64), tinygan.randn(2, 1, 28, 28, dtype=tinygan.float64)
    loss, *_ = model.generator_loss(a, b)
    loss.backward()
    assert all(p.grad is None for p in model.d_parameters())
    assert all(p.grad is not None for p in model.g_parameters())


def test_discriminator_loss_matches_its_formula():
    tinygan.manual_seed(2)
    model = _tiny_model()
    rng = np.random.default_rng(4)
    real = tinygan.tensor(np.tanh(rng.standard_normal((3, 1, 28, 28))))
    fake = tinygan.tensor(np.tanh(rng.standard_normal((3, 1, 28, 28))), requires_grad=True)
    loss = model.discriminator_loss(model.D_B, real, fake)
    with tinygan.no_grad():
        dr, df = model.D_B(real).data, model.D_B(fake.detach()).data
    expected = 0.5 * (((dr - 1) ** 2).mean() + (df ** 2).mean())     # halved (sec. 7.1)
    assert float(loss.item()) == pytest.approx(expected, rel=1e-12, abs=1e-14)
    loss.backward()
    assert fake.grad is None                    # the fakes are detached: G is not trained by it


def _tiny_model():
    model = CycleGAN("cpu")
    model.G_AB = ResnetGenerator(1, 1, ngf=2, n_blocks=1)
    model.G_BA = ResnetGenerator(1, 1, ngf=2, n_blocks=1)
    model.D_A = PatchDiscriminator(1, ndf=2)
    model.D_B = PatchDiscriminator(1, ndf=2)
    return model.to(dtype=tinygan.float64)


def test_registry_entry_and_translation_api():
    entry = registry.get("cyclegan")
    assert entry.kind == "cyclegan" and entry.cls is CycleGAN
    assert entry.data_shape == (1, 28, 28) and entry.sampler == ""
    assert entry.recipe["lr"] == 2e-4 and tuple(entry.recipe["betas"]) == (0.5, 0.999)
    tinygan.manual_seed(0)
    model = CycleGAN()
    assert model.generator("AB") is model.G_AB and model.generator("BA") is model.G_BA
    assert model.options() == {"preset": "cpu", "image_channels": 1}
    assert parameter_count(model) == sum(parameter_count(m) for m in
                                         (model.G_AB, model.G_BA, model.D_A, model.D_B))


def test_errors():
    with pytest.raises(ValueError, match="CycleGAN: unknown preset 'big'; known: cpu, gpu"):
        CycleGAN("big")
    model = CycleGAN()
    with pytest.raises(ValueError, match="direction must be 'AB' or 'BA', got 'AA'"):
        model.translate(tinygan.zeros(1, 1, 28, 28), "AA")
    with pytest.raises(ValueError, match=r"ResnetGenerator: expected images \(N, 1, H, W\), "
                                         r"got \(1, 3, 28, 28\)"):
        model.G_AB(tinygan.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match=r"multiples of 4 and at least 8.*\(1, 1, 30, 30\)"):
        model.G_AB(tinygan.zeros(1, 1, 30, 30))
    with pytest.raises(ValueError, match="PatchDiscriminator: images of .* too small"):
        model.D_A(tinygan.zeros(1, 1, 6, 6))
    with pytest.raises(ValueError, match="cyclegan draws no noise"):
        model.sample_noise(4)
    with pytest.raises(ValueError, match="ResnetGenerator: n_blocks must be a whole number >= 0"):
        ResnetGenerator(n_blocks=-1)


# -- optional cross-check against PyTorch: the same layers, the same weights ----------------
def _twin():
    """benchmarks/cyclegan_torch.py, the networks built in PyTorch (the benchmark's twin)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import cyclegan_torch
    return cyclegan_torch


def test_networks_match_torch():
    torch = pytest.importorskip("torch")
    twin = _twin()
    tinygan.manual_seed(0)
    G = ResnetGenerator(1, 1, ngf=4, n_blocks=2).to(dtype=tinygan.float64)
    D = PatchDiscriminator(1, ndf=4).to(dtype=tinygan.float64)
    for m in list(G.modules()) + list(D.modules()):      # weights large enough to matter
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.weight.data[...] = np.random.default_rng(7).standard_normal(m.weight.shape) * 0.3
            m.bias.data[...] = np.random.default_rng(8).standard_normal(m.bias.shape) * 0.1
    tG = twin.generator(torch, 1, 1, ngf=4, n_blocks=2).double()
    tD = twin.discriminator(torch, 1, ndf=4, n_layers=1).double()
    twin.copy_module(G, tG)              # strict: every name and shape of the twin matched
    twin.copy_module(D, tD)
    x = np.random.default_rng(9).uniform(-1, 1, (2, 1, 28, 28))
    with tinygan.no_grad():
        ours_g, ours_d = G(tinygan.tensor(x)).data, D(tinygan.tensor(x)).data
    with torch.no_grad():
        theirs_g = tG(torch.tensor(x)).numpy()
        theirs_d = tD(torch.tensor(x)).numpy()
    # float64 through ~20 layers of sums of at most 576 terms of size O(1): 1e-9 is ample
    np.testing.assert_allclose(ours_g, theirs_g, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours_d, theirs_d, rtol=0, atol=1e-9)
