"""benchmarks/stylegan_torch.py, the PyTorch twin of StyleGAN-lite, computes what tinygan computes.

With tinygan's weights and buffers copied into it (copy_from_tinygan), the twin's mapping ws,
G(z) images (noise_mode 'const', with non-zero noise strengths so that the noise is seen), D's
logits, R1 and the path length penalty agree with tinygan's, unconditional and conditional, in
float64 and in float32, within the bound below.  The comparisons are what make the side-by-side
benchmark (benchmarks/stylegan_step.py) a comparison of the same network.  Skipped where PyTorch
is not installed (it is never a dependency of tinygan).

The bound.  Each output is a composition of sums -- every linear layer and convolution on the
way, each of fan_in = in * k * k products.  A sum of n terms is off by at most n eps times the
sum of the magnitudes of its terms (tests/tolerances.py), and with the equalized learning rate
and demodulation every layer keeps its activations at about unit scale, so the rounding of the
whole is bounded, to first order, by FACTOR * eps * (sum of the fan-ins of every layer) times
the output's scale.  Summing every layer's fan-in -- also those of branches that are not in
series (ToRGB, the residual skips) -- only widens the bound.  A gradient (R1, path length)
runs the layers forward, backward and, for the penalty's value, once more in the product with
the gradient: three times the terms.  In float64 that is some 1e-12 of the scale; any layer
that differs (a missing demodulation, a filter on the wrong side, a wrong gain) changes the
outputs by a sizeable fraction of their scale, which the last test checks.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from tolerances import FACTOR, assert_within, eps

torch = pytest.importorskip("torch")      # the twin needs it (a benchmark's, never tinygan's)

import tinygan  # noqa: E402
from tinygan.losses.lazy_regularization import lazy_adam_settings  # noqa: E402
from tinygan.losses.path_length import path_length_penalty  # noqa: E402
from tinygan.losses.penalties import r1_penalty  # noqa: E402
from tinygan.models.stylegan import PRESETS, StyleGAN  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import stylegan_torch as twin  # noqa: E402

BATCH = 8
R1_GAMMA = 0.0064


def fan_in_terms(net) -> int:
    """The sum over every weight of the twin's network of its fan-in (in * kh * kw)."""
    return sum(int(np.prod(p.shape[1:])) for name, p in net.named_parameters()
               if name.endswith("weight") and p.ndim >= 2)


def bound(dtype, terms: int, scale) -> float:
    return FACTOR * eps(dtype) * terms * float(np.max(np.abs(scale)))


def make_pair(conditional: bool, dtype, seed: int = 0, fused_modconv=None, linear_output=False):
    """A tinygan StyleGAN (cpu preset) and the twin with its weights, in ``dtype``; the noise
    strengths set to N(0, 1) draws (they start at 0, which would hide the noise layers)."""
    tinygan.manual_seed(seed)
    family = StyleGAN("cpu", conditional=conditional, linear_output=linear_output).to(dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for name, p in family.G.named_parameters():
        if name.endswith("noise_strength"):
            p.data[...] = rng.standard_normal()
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    G, D = twin.build(torch, "cpu", conditional, fused_modconv=fused_modconv,
                      linear_output=linear_output)
    G, D = G.to(tdtype), D.to(tdtype)
    twin.copy_from_tinygan(family, G, D)
    return family, G, D


def inputs(conditional: bool, dtype, seed: int = 2):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((BATCH, PRESETS["cpu"]["z_dim"])).astype(dtype)
    x = rng.uniform(-1, 1, (BATCH, 1, 32, 32)).astype(dtype)
    c = np.eye(10, dtype=dtype)[np.arange(BATCH) % 10] if conditional else None
    return z, x, c


def tg(a):
    return None if a is None else tinygan.tensor(a)


def th(a):
    return None if a is None else torch.from_numpy(a)


def outputs_tinygan(family, z, x, c, noise):
    """ws, images, logits, R1, path length penalty (against a running mean of 0.5)."""
    G, D = family.G, family.D
    G.eval()
    ws = G.mapping(tg(z), tg(c))
    img = G.synthesis(ws, noise_mode="const")
    logits = D(tg(x), tg(c))
    r1 = r1_penalty(lambda v, lab=None: D(v, tg(c)), tg(x), R1_GAMMA)
    pl, pl_mean = path_length_penalty(img, ws, 0.5, noise=tg(noise))
    return {k: v.detach().numpy() for k, v in dict(ws=ws, img=img, logits=logits, r1=r1, pl=pl,
                                                    pl_mean=pl_mean).items()}


def outputs_twin(G, D, z, x, c, noise):
    G.eval()
    ws = G.mapping(th(z), th(c))
    img = G.synthesis(ws, noise_mode="const")
    logits = D(th(x), th(c))
    r1 = twin.r1_penalty(torch, D, th(x), R1_GAMMA, th(c))
    pl, pl_mean = twin.path_length_penalty(torch, img, ws, torch.tensor(0.5, dtype=img.dtype),
                                           noise=th(noise))
    return {k: v.detach().numpy() for k, v in dict(ws=ws, img=img, logits=logits, r1=r1, pl=pl,
                                                    pl_mean=pl_mean).items()}


def compare(family, G, D, conditional, dtype):
    z, x, c = inputs(conditional, dtype)
    noise = np.random.default_rng(3).standard_normal((BATCH, 1, 32, 32)).astype(dtype)
    want = outputs_tinygan(family, z, x, c, noise)
    got = outputs_twin(G, D, z, x, c, noise)
    g_terms, d_terms = fan_in_terms(G), fan_in_terms(D)
    mapping_terms = fan_in_terms(G.mapping)
    terms = dict(ws=mapping_terms, img=g_terms, logits=d_terms, r1=3 * d_terms,
                 pl=3 * g_terms, pl_mean=3 * g_terms)
    return {k: (got[k], want[k], bound(dtype, terms[k], want[k])) for k in want}


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_twin_matches_tinygan(conditional, dtype):
    family, G, D = make_pair(conditional, dtype)
    for name, (got, want, tol) in compare(family, G, D, conditional, dtype).items():
        assert np.all(np.isfinite(want)), name
        assert_within(got, want, tol, f"{name} ({'cond' if conditional else 'uncond'}, "
                                      f"{np.dtype(dtype).name})")


def test_twin_linear_output_matches_tinygan():
    """The ablation's unbounded image (no tanh) in both; it leaves [-1, 1], so it is not the
    default's image."""
    family, G, D = make_pair(False, np.float64, linear_output=True)
    results = compare(family, G, D, False, np.float64)
    for name, (got, want, tol) in results.items():
        assert_within(got, want, tol, f"{name} (linear output)")
    img = results["img"][1]
    assert np.abs(img).max() > 1
    np.testing.assert_allclose(np.tanh(img), compare(*make_pair(False, np.float64), False,
                                                     np.float64)["img"][1], rtol=0, atol=1e-12)


def test_twin_fused_path_matches_tinygan():
    """The twin's fused modulated convolution (its CUDA path: one grouped conv with per-sample
    weights), run here on the CPU, against tinygan's default (non-fused) CPU path."""
    family, G, D = make_pair(True, np.float64, fused_modconv=True)
    for name, (got, want, tol) in compare(family, G, D, True, np.float64).items():
        assert_within(got, want, tol, f"{name} (fused twin)")


@pytest.mark.parametrize("layer", ["demodulation", "const noise", "skip gain", "mapping lr"])
def test_a_layer_that_differs_is_caught(layer, monkeypatch):
    """Each change to one layer of the twin makes some output leave the bound (float64)."""
    family, G, D = make_pair(False, np.float64)
    if layer == "demodulation":      # the first conv of the 16x16 block without eq. 3
        conv = G.synthesis.blocks[2].conv1
        original = conv.forward

        def no_demod(x, w, noise_mode):
            styles = conv.affine(w)
            y = torch.nn.functional.conv2d(x * styles[:, :, None, None], conv.weight, padding=1)
            return torch.nn.functional.leaky_relu(
                conv.noise(y, noise_mode) + conv.bias[None, :, None, None], 0.2) * 2 ** 0.5
        monkeypatch.setattr(conv, "forward", no_demod)
        assert original is not None
    elif layer == "const noise":     # one pixel of one layer's constant noise image
        with torch.no_grad():
            G.synthesis.blocks[1].conv0.noise.noise_const[3, 4] += 1.0
    elif layer == "skip gain":       # the residual sum of one D block not scaled back
        blk = D.blocks[1]
        monkeypatch.setattr(blk, "forward", lambda x: blk.skip(x) + blk.conv1(blk.conv0(x)))
    else:                            # the mapping's learning-rate multiplier off in one layer
        G.mapping.layers[1].weight_gain *= 1.01
    results = compare(family, G, D, False, np.float64)
    worst = max(float(np.max(np.abs(got - want) / tol)) for got, want, tol in results.values())
    assert worst > 1.0, f"changing the twin's {layer} went unnoticed (worst ratio {worst:.3g})"


def test_twin_tables_and_recipe_match():
    """The twin's presets are tinygan's; its lazy Adam settings are lazy_adam_settings'."""
    assert twin.PRESETS == {k: {n: v for n, v in p.items() if n != "recipe"}
                            for k, p in PRESETS.items()}
    for interval in (None, 4, 16):
        opt = twin.lazy_adam(torch, [torch.nn.Parameter(torch.zeros(1))], 0.0025, (0.0, 0.99),
                             interval)
        lr, betas = lazy_adam_settings(0.0025, (0.0, 0.99), interval)
        group = opt.param_groups[0]
        # exact: both compute lr * c and beta ** c in Python floats from the same numbers
        assert group["lr"] == lr and tuple(group["betas"]) == betas


def test_twin_copy_rejects_a_different_network():
    family = StyleGAN("cpu", conditional=True)
    G, D = twin.build(torch, "cpu", conditional=False)
    with pytest.raises(KeyError, match="copy_from_tinygan"):
        twin.copy_from_tinygan(family, G, D)


def test_twin_stepper_schedule():
    """R1 on D steps 0 and 16 only, path length on G steps 0, 4, 8 ...; w_avg moves; the
    weights change."""
    torch.manual_seed(0)
    G, D = twin.build(torch, "cpu", conditional=True)
    step = twin.Stepper(torch, G, D)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    labels = torch.arange(4) % 10
    before = G.synthesis.blocks[0].conv1.weight.detach().clone()
    seen = []
    for _ in range(5):
        out = step.step(x, labels)
        seen.append(("r1_penalty" in out, "pl_penalty" in out))
    assert seen == [(True, True), (False, False), (False, False), (False, False), (False, True)]
    assert step.d_steps == step.g_steps == 5
    assert float(G.mapping.w_avg.abs().sum()) > 0
    assert not torch.equal(before, G.synthesis.blocks[0].conv1.weight)


class _NormalStream:
    """N(0, 1) arrays from one seeded NumPy stream, in the order they are asked for, with the
    shapes asked for recorded: two sides given equal streams draw equal z's and noise images
    as long as they ask for the same shapes in the same order (which the test checks)."""

    def __init__(self, seed: int):
        self.rng, self.shapes = np.random.default_rng(seed), []

    def __call__(self, shape) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        self.shapes.append(shape)
        return self.rng.standard_normal(shape)


def _shape_of(args) -> tuple:
    return tuple(args[0]) if len(args) == 1 and not isinstance(args[0], int) else tuple(args)


@pytest.mark.parametrize("broken, batch, twin_one_pass", [
    (None, 4, False),           # group 4 alone, 8 for both batches: tinygan's D takes two passes
    (None, 8, False),           # tinygan's D one pass over reals and fakes, the twin's two
    (None, 8, True),            # both in one pass
    ("r1 gamma", 4, False)])
def test_training_steps_agree_with_tinygan_in_lock_step(broken, batch, twin_one_pass, monkeypatch):
    """Six training steps of tinygan's StyleGANStepper and of the twin's Stepper, in float64 from
    the same weights, on the same batches, with the same z's and noise images (both sides'
    normal draws replaced by equal streams), R1 every 2 D steps and path length every 4 G
    steps (mixing off: its two sides draw their crossover from different generators): every
    weight of G and D agrees after every step.  The bound is 1e-7 of each tensor's largest
    entry (or of the learning rate, for one that started at 0).  Most tensors agree to about
    1e-12.  The worst measured, about 4e-10, is a noise strength: Adam divides a gradient by its
    running RMS, so a gradient that is nearly 0 carries its rounding into a full-size step.  A
    twin with another R1 gamma must leave the bound (it differs by 0.7).  A batch of 8 (group 8
    for 8 and for 16 images) makes tinygan's D see the reals and fakes in one pass, which must
    agree with the twin's two passes and with the twin's own one pass."""
    from tinygan.autograd import Tensor
    from tinygan.losses import path_length as pl_module
    from tinygan.models import stylegan as sg_module
    from tinygan.nn import noise as noise_module
    from tinygan.train.stylegan import StyleGANStepper

    tinygan.manual_seed(0)
    family = StyleGAN("cpu").to(dtype=np.float64)
    G, D = twin.build(torch, "cpu")
    G, D = G.double(), D.double()
    twin.copy_from_tinygan(family, G, D)

    ours, theirs = _NormalStream(7), _NormalStream(7)

    def tg_randn(*shape, dtype=None, device=None):
        return Tensor(ours(_shape_of(shape)))

    for module in (sg_module, noise_module, pl_module):
        monkeypatch.setattr(module, "randn", tg_randn)
    monkeypatch.setattr(torch, "randn", lambda *shape, **kw: torch.from_numpy(theirs(_shape_of(shape))))
    monkeypatch.setattr(torch, "randn_like", lambda t, **kw: torch.from_numpy(theirs(t.shape)))

    settings = dict(r1_interval=2, pl_weight=2.0, pl_interval=4, mixing=0.0)
    stepper = StyleGANStepper(family, dict(lr_g=0.0025, lr_d=0.0025, betas=(0.0, 0.99),
                                           r1_gamma=0.1, seed=0, **settings))
    twin_stepper = twin.Stepper(torch, G, D, r1_gamma=0.2 if broken else 0.1,
                                one_pass_d=twin_one_pass, **settings)
    d_batches = []
    epilogue_forward = type(family.D.b4).forward
    monkeypatch.setattr(family.D.b4, "forward", lambda x, *a: (
        d_batches.append(x.shape[0]), epilogue_forward(family.D.b4, x, *a))[1])
    rng = np.random.default_rng(1)
    worst, where = 0.0, None
    for _ in range(6):
        x = rng.uniform(-1, 1, (batch, 1, 32, 32))
        stepper.step(Tensor(x), None, lambda *a: None)
        twin_stepper.step(torch.from_numpy(x))
        for ours_net, their_net in ((family.G, G), (family.D, D)):
            theirs_state = their_net.state_dict()
            for name, value in ours_net.state_dict().items():
                a, b = np.asarray(value.data), theirs_state[name].numpy()
                # Relative to the tensor's largest entry, or to the learning rate for one
                # that started at 0 (a noise strength, a bias) and has moved a few Adam steps.
                rel = float(np.abs(a - b).max() / max(np.abs(b).max(), 0.0025))
                if rel > worst:
                    worst, where = rel, name
    assert ours.shapes == theirs.shapes and len(ours.shapes) > 40       # the same draws, in order
    # Dmain's D: one pass of 2N images when the groups allow it (then R1's and Gmain's of N)
    assert d_batches[0] == (2 * batch if batch == 8 else batch)
    if broken:
        assert worst > 1e-4, (worst, where)
    else:
        assert worst < 1e-7, (worst, where)
