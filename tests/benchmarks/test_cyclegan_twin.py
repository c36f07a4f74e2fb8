"""benchmarks/cyclegan_torch.py, the PyTorch twin of CycleGAN-lite, takes the step tinygan takes.

With tinygan's weights copied into it (copy_from_tinygan), one training step of the twin's
Stepper and of tinygan's CycleGANStepper (fresh fakes: ``no_pool``) on the same batches agree
in float64: the G loss and both D losses, every gradient (after the step each generator
parameter holds its G-step gradient and each discriminator parameter its D-step one: the
discriminators are constants in the G step, and each optimizer clears only its own), and the
weights Adam leaves.  That is what makes benchmarks/cyclegan_step.py a comparison of the same
work.  Skipped where PyTorch is not installed (it is never a dependency of tinygan).

The bounds.  Every value is a composition of sums: the convolutions (at most 4 ngf x 3 x 3 =
576 products a term on the cpu preset), instance norm's means and variances over 7 x 7 to
28 x 28 pixels, the losses' means over 784 pixels; about 25 layers forward and as many
backward.  A sum of n terms is off by at most n eps times the sum of its terms' magnitudes
(tests/tolerances.py); with unit-scale activations that is under 25 x 2 x 1,000 x eps ~ 1e-11
of the output's scale, so 1e-9 of it (as test_networks_match_torch) holds with room.  Adam's
first step moves a weight by lr g / (|g| + eps_adam), about lr sign(g): where a gradient is
0 up to rounding (the bias of every conv before an instance norm, which the norm cancels) the
two sides may move it apart by up to 2 lr, so the weights are compared where |g| is well above
its rounding bound (there the move is lr (1 - O(delta / |g|))), and within 2 lr everywhere.
A twin that differs (no identity loss, a D whose weights the G step trains) fails the same
comparison, which the last test checks.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")      # the twin needs it (a benchmark's, never tinygan's)

import tinygan  # noqa: E402
from tinygan import backend  # noqa: E402
from tinygan.models.cyclegan import PRESETS, CycleGAN  # noqa: E402
from tinygan.train.cyclegan import CycleGANStepper  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
import cyclegan_torch as twin  # noqa: E402

BATCH = 2
NETS = ("G_AB", "G_BA", "D_A", "D_B")
REL = 1e-9                       # of each quantity's scale (module docstring)


def one_step(lambda_id=twin.LAMBDA_ID, break_twin=None):
    """(tinygan's losses, grads, weights; the twin's) after one step from the same start."""
    tinygan.manual_seed(0)
    family = CycleGAN("cpu").to(dtype=tinygan.float64)
    nets = tuple(n.double() for n in twin.build(torch, "cpu"))
    twin.copy_from_tinygan(family, *nets)
    rng = np.random.default_rng(1)
    a, b = (np.tanh(rng.standard_normal((BATCH, 1, 28, 28))) for _ in range(2))
    d = family.defaults
    stepper = CycleGANStepper(family, dict(lr=d["lr"], epochs=1, batch_size=BATCH, seed=0,
                                           device="cpu", no_pool=True, lambda_cyc=d["lambda_cyc"],
                                           lambda_id=d["lambda_id"]),
                              backend.to_device(b, "cpu"), steps_per_epoch=10)
    logged, _ = stepper.step(tinygan.tensor(a), None, lambda value, which=None: None)
    # the stepper draws B in its own order: give the twin the b tinygan's step saw
    b_seen = np.asarray(b)[np.random.default_rng([0, 1, 0]).permutation(BATCH)]
    t_stepper = twin.Stepper(torch, *nets, lambda_id=lambda_id)
    if break_twin:
        break_twin(t_stepper)
    theirs = t_stepper.step(torch.tensor(a), torch.tensor(b_seen))
    ours = {k: float(logged[k]) for k in ("g_loss", "d_a", "d_b")}
    theirs = {k: float(v) for k, v in theirs.items()}
    state = {}
    for name, net in zip(NETS, nets):
        src = dict(getattr(family, name).named_parameters())
        for k, p in net.named_parameters():
            state[f"{name}.{k}"] = (src[k].grad.data, p.grad.numpy(), src[k].data,
                                    p.detach().numpy())
    return ours, theirs, state


def check(ours, theirs, state, lr=twin.LR):
    for k in ours:
        assert abs(ours[k] - theirs[k]) <= REL * max(abs(ours[k]), 1.0), (k, ours[k], theirs[k])
    # a gradient's rounding is set by its terms, not its value (a bias before an instance
    # norm has a gradient of 0 up to rounding): the scale is its network's largest gradient
    net_scale = {n: max(np.abs(g).max() for k, (g, *_) in state.items() if k.startswith(n + "."))
                 for n in NETS}
    for k, (g1, g2, w1, w2) in state.items():
        scale = net_scale[k.split(".")[0]]
        np.testing.assert_allclose(g1, g2, rtol=0, atol=REL * scale, err_msg=k)
        assert np.abs(w1 - w2).max() <= 2 * lr * (1 + 1e-6), k
        clear = np.abs(g1) > 1e3 * REL * scale         # far above the gradient's rounding
        np.testing.assert_allclose(w1[clear], w2[clear], rtol=0, atol=1e-6 * lr, err_msg=k)


def test_one_training_step_matches():
    ours, theirs, state = one_step()
    check(ours, theirs, state)
    # the comparison covers every weight of the four networks, and most moved for a reason
    assert len(state) == sum(len(list(getattr(CycleGAN("cpu"), n).parameters())) for n in NETS)


@pytest.mark.parametrize("broken", ["no identity loss", "D trained by the G step"])
def test_a_step_that_differs_is_caught(broken):
    if broken == "no identity loss":
        ours, theirs, state = one_step(lambda_id=0.0)
    else:
        def leak(s):          # the discriminators' gradients of the G step left in place
            s.opt_d.zero_grad = lambda set_to_none=True: None
            s.D_A.requires_grad_ = s.D_B.requires_grad_ = lambda flag=True: None
        ours, theirs, state = one_step(break_twin=leak)
    with pytest.raises(AssertionError):
        check(ours, theirs, state)


def test_twin_presets_match_tinygans():
    assert twin.PRESETS == PRESETS
    d = CycleGAN.defaults
    assert (twin.LR, twin.BETAS) == (d["lr"], tuple(d["betas"]))
    assert (twin.LAMBDA_CYC, twin.LAMBDA_ID) == (d["lambda_cyc"], d["lambda_id"])


def test_twin_has_tinygan_names_and_shapes():
    tinygan.manual_seed(0)
    family = CycleGAN("cpu")
    for name, net in zip(NETS, twin.build(torch, "cpu")):
        ours = {k: tuple(v.shape) for k, v in getattr(family, name).state_dict().items()}
        assert ours == {k: tuple(v.shape) for k, v in net.state_dict().items()}, name


def test_twin_copy_rejects_a_different_network():
    tinygan.manual_seed(0)
    family = CycleGAN("cpu")
    with pytest.raises(ValueError, match=r"copy_from_tinygan: 'model.1.weight' is \(16, 1, 7, 7\) "
                                         r"in tinygan, \(8, 1, 7, 7\) in the twin"):
        twin.copy_module(family.G_AB, twin.generator(torch, 1, 1, ngf=8, n_blocks=3))
    with pytest.raises(KeyError, match="tinygan has no"):
        twin.copy_module(family.G_AB, twin.generator(torch, 1, 1, ngf=16, n_blocks=4))
