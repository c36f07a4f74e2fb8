"""benchmarks/biggan_torch.py, the PyTorch twin of BigGAN-lite, computes what tinygan computes.

With tinygan's state copied into it (copy_from_tinygan: the weights, spectral norm's u and v,
BatchNorm's running statistics), the twin's G images, D logits and hinge losses agree with
tinygan's in float64 and in float32, training mode (batch statistics, one power-iteration step
per forward); so do spectral norm's u and sigma of every layer after that forward, and one
training iteration (2 D steps + 1 G step, Adam) from the same z's.  The attention gammas are
set to non-zero draws (they start at 0, which would hide the attention blocks).  These are what
make the side-by-side benchmark (benchmarks/biggan_step.py) a comparison of the same network.
Skipped where PyTorch is not installed (it is never a dependency of tinygan).

The bound.  Each output is a composition of sums: every convolution and linear layer (fan_in =
in * k * k products), every BatchNorm's mean and variance (N * H * W terms), the attention's
two products (C/8 and H*W/4 terms), the sum pooling and the projection.  A sum of n terms is
off by at most n eps times the sum of its terms' magnitudes (tests/tolerances.py); spectral
norm keeps every layer's gain near 1 and BatchNorm the activations at unit scale, so to first
order the rounding of the whole is bounded by FACTOR * eps * (the sum of all those n) times
the output's scale.  The n are counted on the twin itself while it runs (forward hooks), and
summing them over branches that are not in series (skips, the attention) only widens the
bound.  A gradient runs the layers forward and backward: twice the terms, the loss's mean once
more.  An Adam step moves a weight by lr m / (sqrt(v) + eps_adam) (with beta1 = 0 the first
step is lr g / (|g| + eps_adam)): a gradient off by delta moves it off by at most about
lr delta / (|g| - delta + eps_adam), so after the iteration's two steps of D (one of G) a
weight may differ by 2 lr delta / (max(|g| - delta, 0) + eps_adam), and never by more than the
4 lr two steps can move it apart; delta is the gradient's bound with the net's largest gradient
as the scale of its terms (a bias before a BatchNorm has a gradient of 0 up to rounding, which
is set by the terms, not the value).  This is first order: the second D step's and the G
step's gradients also see the first step's rounded weights, a second-order effect in float64
that the bound's factor 2 covers with room (the worst element uses under 1/100 of it).  Any
layer that differs (no projection term, a gamma off by 1e-3, a CBN gain without its 1 +, a u
not carried over) moves the outputs by far more, which the broken-twin test checks.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from tolerances import FACTOR, assert_within, eps

torch = pytest.importorskip("torch")      # the twin needs it (a benchmark's, never tinygan's)

import tinygan  # noqa: E402
from tinygan.models.base import cycling_labels  # noqa: E402
from tinygan.models.biggan import PRESETS, BigGAN  # noqa: E402
from tinygan.train.biggan import BigGANStepper  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import biggan_torch as twin  # noqa: E402

BATCH = 8
ADAM_EPS = 1e-8                 # torch.optim.Adam's and tinygan.optim.Adam's default


def make_pair(dtype, seed: int = 0):
    """A tinygan BigGAN (cpu preset) and the twin with its state, in ``dtype``; the attention
    gammas set to N(0, 1) draws."""
    tinygan.manual_seed(seed)
    family = BigGAN("cpu").to(dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    for net in (family.G, family.D):
        net.attention.gamma.data[...] = rng.standard_normal()
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    G, D = twin.build(torch, "cpu")
    G, D = G.to(tdtype), D.to(tdtype)
    twin.copy_from_tinygan(family, G, D)
    return family, G, D


def inputs(dtype, seed: int = 2):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((BATCH, PRESETS["cpu"]["z_dim"])).astype(dtype)
    x = rng.uniform(-1, 1, (BATCH, 1, 32, 32)).astype(dtype)
    return z, x, np.arange(BATCH) % 10


class TermCounter:
    """Counts, while the twin runs, the terms of every sum its forward makes (module doc)."""

    def __init__(self, *nets):
        self.terms, self.handles = 0, []
        for net in nets:
            for m in net.modules():
                self.handles.append(m.register_forward_hook(self.hook))

    def hook(self, module, args, out):
        x = args[0]
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            self.terms += int(np.prod(module.weight.shape[1:]))
        elif isinstance(module, torch.nn.BatchNorm2d):
            self.terms += x.shape[0] * x.shape[2] * x.shape[3]
        elif type(module).__name__ == "SelfAttention2d":
            self.terms += x.shape[1] // 8 + x.shape[2] * x.shape[3] // 4
        elif type(module).__name__ == "Discriminator":
            self.terms += 16 + module.linear.weight.shape[1]     # 4x4 sum pooling, projection

    def close(self) -> int:
        for h in self.handles:
            h.remove()
        return self.terms


def bound(dtype, terms: int, scale) -> float:
    return FACTOR * eps(dtype) * terms * float(np.max(np.abs(scale)))


def tg(a):
    return tinygan.tensor(a)


def th(a):
    return torch.from_numpy(np.asarray(a))


def sn_layers(net, prefix=""):
    """{name: (weight_orig, u, v)} of every spectrally normalized layer of a tinygan or twin net."""
    out = {}
    state = net.state_dict()
    for k in state:
        if k.endswith("weight_u"):
            base = k[:-len("weight_u")]
            out[base] = tuple(np.asarray(state[base + s].detach().numpy(), dtype=np.float64)
                              for s in ("weight_orig", "weight_u", "weight_v"))
    return out


def sigma(w, u, v) -> float:
    return float(u @ (w.reshape(w.shape[0], -1) @ v))


def outputs_tinygan(family, z, x, y):
    G, D = family.G, family.D
    family.train()
    img = G(tg(z), tg(y))
    out = D(tinygan.cat([tg(x), img.detach()]), tg(np.concatenate([y, y])))
    n = len(x)
    d_loss = tinygan.losses.hinge_d_loss(out[:n], out[n:])
    g_loss = tinygan.losses.hinge_g_loss(out[n:])
    return {k: v.detach().numpy() for k, v in dict(img=img, logits=out, d_loss=d_loss,
                                                    g_loss=g_loss).items()}


def outputs_twin(G, D, z, x, y):
    G.train(), D.train()
    count_g = TermCounter(G)
    img = G(th(z), th(y))
    g_terms = count_g.close()
    count_d = TermCounter(D)
    out = D(torch.cat([th(x), img.detach()]), th(np.concatenate([y, y])))
    d_terms = count_d.close()
    n = len(x)
    d_loss = twin.hinge_d_loss(torch, out[:n], out[n:])
    g_loss = twin.hinge_g_loss(out[n:])
    got = {k: v.detach().numpy() for k, v in dict(img=img, logits=out, d_loss=d_loss,
                                                   g_loss=g_loss).items()}
    # The logits go through G first (the fakes' half): G's terms and D's.
    terms = dict(img=g_terms, logits=g_terms + d_terms, d_loss=g_terms + d_terms + 2 * n,
                 g_loss=g_terms + d_terms + 2 * n)
    return got, terms


def compare(family, G, D, dtype):
    """[(what, got, want, tol)] for the outputs and every layer's u and sigma after them."""
    z, x, y = inputs(dtype)
    want = outputs_tinygan(family, z, x, y)
    got, terms = outputs_twin(G, D, z, x, y)
    # The logits' scale: D's output on 16 images may sum hundreds of unit activations.
    scale = {k: np.abs(want[k]).max() for k in want}
    scale["d_loss"] = scale["g_loss"] = scale["logits"] + 1
    rows = [(k, got[k], want[k], bound(dtype, terms[k], scale[k])) for k in want]
    for net, tnet, name in ((family.G, G, "G"), (family.D, D, "D")):
        mine, theirs = sn_layers(net), sn_layers(tnet)
        assert mine.keys() == theirs.keys()
        for layer, (w, u, v) in mine.items():
            tw, tu, tv = theirs[layer]
            # u = W v / ||W v|| after one step from the same start: a sum of in*k*k terms
            # per entry and the norm's out terms, of unit vectors.
            n_terms = w.shape[0] + int(np.prod(w.shape[1:]))
            rows.append((f"{name}.{layer}weight_u", tu, u, bound(dtype, 2 * n_terms, 1.0)))
            s = sigma(w, u, v)
            rows.append((f"{name}.{layer}sigma", sigma(tw, tu, tv), s,
                         bound(dtype, 3 * n_terms, s)))
    return rows


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_twin_matches_tinygan(dtype):
    family, G, D = make_pair(dtype)
    for what, got, want, tol in compare(family, G, D, dtype):
        assert np.all(np.isfinite(want)), what
        assert_within(got, want, tol, f"{what} ({np.dtype(dtype).name})")


def test_twin_batchnorm_statistics_match():
    """The running statistics every (conditional) BatchNorm of G updates in that forward."""
    family, G, D = make_pair(np.float64)
    z, x, y = inputs(np.float64)
    outputs_tinygan(family, z, x, y)
    outputs_twin(G, D, z, x, y)
    mine, theirs = family.G.state_dict(), G.state_dict()
    names = [k for k in mine if k.endswith(("running_mean", "running_var"))]
    assert len(names) == 2 * 7           # 2 CBNs per block x 3 blocks, and the output BN
    for k in names:
        want = np.asarray(mine[k].numpy())
        # A mean of N*H*W <= 8192 terms of unit-scale activations.
        assert_within(theirs[k].numpy(), want, bound(np.float64, 8192, 1 + np.abs(want)), k)
    # exact: the counters are integers
    assert all(int(mine[k].numpy()) == int(theirs[k]) for k in mine
               if k.endswith("num_batches_tracked"))


def iteration_rows(**twin_settings):
    """[(what, got, want, tol)]: two D steps and a G step (BigGANStepper against twin.Stepper
    built with ``twin_settings``), from the same state and z's, in float64 -- the three losses
    and every parameter and spectral-norm vector after the iteration (bounds: module doc)."""
    family, G, D = make_pair(np.float64)
    z, x, y = inputs(np.float64)
    zs = [np.random.default_rng(10 + i).standard_normal(z.shape) for i in range(4)]
    draws = iter(zs)
    family.sample_noise = lambda n, device=None, truncation=None: (
        tg(next(draws)), cycling_labels(n, 10, device))
    d = family.defaults
    stepper = BigGANStepper(family, dict(optimizer="adam", lr_g=d["lr_g"], lr_d=d["lr_d"],
                                         betas=list(d["betas"]), n_critic=d["n_critic"],
                                         ortho_reg=0.0, seed=0))
    family.train()
    logs = [stepper.step(tg(x), tg(y), lambda *a: None)[0] for _ in range(2)]
    mine = [float(logs[0]["d_loss"]), float(logs[1]["d_loss"]), float(logs[1]["g_loss"])]

    tstep = twin.Stepper(torch, G, D, **twin_settings)
    tdraws = iter(zs)
    tstep.noise = lambda n: th(next(tdraws))
    G.train(), D.train()
    counter = TermCounter(G, D)
    touts = [tstep.step(th(x), th(y)) for _ in range(2)]
    terms = counter.close() // 3          # G and D each ran three times: one run's terms
    theirs = [float(touts[0]["d_loss"]), float(touts[1]["d_loss"]), float(touts[1]["g_loss"])]
    rows = [(what, a, b, bound(np.float64, 3 * terms, abs(b) + 1))
            for a, b, what in zip(theirs, mine, ("d_loss 1", "d_loss 2", "g_loss"))]

    for net, tnet, opt in ((family.G, G, stepper.opt_g), (family.D, D, stepper.opt_d)):
        lr = opt.param_groups[0]["lr"]
        tparams = dict(tnet.named_parameters())
        # The gradient's rounding is set by the magnitude of its terms, not by its value (a
        # bias before a BatchNorm has a gradient of 0 up to rounding): the net's largest
        # gradient stands for that magnitude.
        g_scale = max(float(np.abs(p.grad.numpy()).max()) for p in tparams.values()
                      if p.grad is not None)
        delta = bound(np.float64, 3 * terms, g_scale)
        for name, p in net.named_parameters():
            want = p.data.astype(np.float64)
            got = tparams[name].detach().numpy()
            g = np.asarray(tparams[name].grad.numpy()) if tparams[name].grad is not None \
                else np.zeros_like(got)
            step_tol = 2 * lr * delta / (np.maximum(np.abs(g) - delta, 0) + ADAM_EPS)
            tol = np.minimum(step_tol, 4 * lr) + FACTOR * eps(np.float64) * (np.abs(want) + lr)
            rows.append((f"{name} after the iteration", got, want, tol))
        tstate = tnet.state_dict()
        for name, b in net.state_dict().items():
            if name.endswith(("weight_u", "weight_v")):
                rows.append((f"{name} after the iteration", tstate[name].numpy(), b.numpy(),
                             bound(np.float64, 10 * terms, 1)))
    return rows


def test_one_training_iteration_matches():
    """Two D steps and a G step agree: the losses, the weights, u and v afterwards."""
    for what, got, want, tol in iteration_rows():
        assert_within(got, want, tol, what)


@pytest.mark.parametrize("settings", [dict(lr_d=4.4e-4), dict(betas=(0.5, 0.999)),
                                      dict(n_critic=1)], ids=["lr_d", "beta1", "n_critic"])
def test_a_step_that_differs_is_caught(settings):
    """A twin stepping with another D learning rate, Adam's beta1 or a G step after every D
    step leaves the bound somewhere (so the iteration's comparison can fail)."""
    rows = iteration_rows(**settings)
    worst = max(float(np.max(np.abs(np.asarray(got) - want) / tol)) for _, got, want, tol in rows)
    assert worst > 1.0, f"the twin's {settings} went unnoticed (worst ratio {worst:.3g})"


def _perturb(layer, G, D, monkeypatch):
    if layer == "no projection":          # D without <embed(y), h>
        monkeypatch.setattr(D, "forward", lambda x, labels: D.linear(D.features(x)))
    elif layer == "attention gamma":      # G's gamma off by 1e-3
        with torch.no_grad():
            G.attention.gamma += 1e-3
    elif layer == "CBN gain without 1+":  # one CBN's gain centred on 0, not 1
        cbn = G.blocks[1].bn2

        def no_one(x, cond):
            n, c = x.shape[:2]
            return (cbn.bn(x) * cbn.gain(cond).reshape(n, c, 1, 1)
                    + cbn.bias(cond).reshape(n, c, 1, 1))
        monkeypatch.setattr(cbn, "forward", no_one)
    else:                                 # one layer's u not carried over (a fresh random u)
        with torch.no_grad():
            u = D.blocks[2].conv1.weight_u
            u.copy_(torch.nn.functional.normalize(torch.randn_like(u), dim=0))


@pytest.mark.parametrize("layer", ["no projection", "attention gamma", "CBN gain without 1+",
                                   "u not copied"])
def test_a_layer_that_differs_is_caught(layer, monkeypatch):
    """Each change to one part of the twin makes some output leave the bound (float64)."""
    family, G, D = make_pair(np.float64)
    _perturb(layer, G, D, monkeypatch)
    rows = compare(family, G, D, np.float64)
    worst = max(float(np.max(np.abs(np.asarray(got) - want) / tol)) for _, got, want, tol in rows)
    assert worst > 1.0, f"changing the twin's {layer} went unnoticed (worst ratio {worst:.3g})"


def test_twin_tables_and_recipe_match():
    """The twin's presets are tinygan's, its step's settings BigGAN's recipe."""
    assert twin.PRESETS == PRESETS
    d = BigGAN.defaults
    # exact: the same literal numbers on both sides
    assert (twin.LR_G, twin.LR_D, twin.BETAS, twin.N_CRITIC) == \
        (d["lr_g"], d["lr_d"], tuple(d["betas"]), d["n_critic"])


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_twin_has_tinygan_state_names_and_shapes(preset):
    """Every parameter and buffer of both presets, by name and shape, 1 and 3 channels."""
    for channels in (1, 3):
        tinygan.manual_seed(0)
        family = BigGAN(preset, image_channels=channels)
        G, D = twin.build(torch, preset, image_channels=channels)
        for net, tnet in ((family.G, G), (family.D, D)):
            mine = {k: tuple(v.shape) for k, v in net.state_dict().items()}
            theirs = {k: tuple(v.shape) for k, v in tnet.state_dict().items()}
            assert mine == theirs


def test_twin_copy_rejects_a_different_network():
    family = BigGAN("cpu", image_channels=3)
    G, D = twin.build(torch, "cpu", image_channels=1)
    with pytest.raises(ValueError, match="copy_from_tinygan"):
        twin.copy_from_tinygan(family, G, D)
    G, D = twin.build(torch, "gpu")
    with pytest.raises(ValueError, match="copy_from_tinygan"):
        twin.copy_from_tinygan(BigGAN("cpu"), G, D)


def test_twin_stepper_schedule():
    """A G step after every second D step; the weights and spectral norm's u change."""
    torch.manual_seed(0)
    G, D = twin.build(torch, "cpu")
    step = twin.Stepper(torch, G, D)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    labels = torch.arange(4) % 10
    w, u = G.blocks[0].conv1.weight_orig.detach().clone(), D.blocks[1].conv1.weight_u.clone()
    seen = ["g_loss" in step.step(x, labels) for _ in range(4)]
    assert seen == [False, True, False, True] and step.d_steps == 4
    assert not torch.equal(w, G.blocks[0].conv1.weight_orig)
    assert not torch.equal(u, D.blocks[1].conv1.weight_u)
