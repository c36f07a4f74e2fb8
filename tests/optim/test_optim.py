"""Tests of tinygan.optim: SGD, Adam, AdamW, RMSprop, the LR schedulers and EMA.

* The first steps of each optimizer are checked against updates written out here in NumPy
  from the papers' equations (Adam in the form of Kingma & Ba's Algorithm 1, with m-hat and
  v-hat, not the implementation's arrangement), and a few against numbers worked out by hand.
* When torch is installed, 10 steps of each configuration are compared with torch.optim.
* ``state_dict`` goes through an ``.npz`` file (``allow_pickle=False``) plus JSON, and the
  resumed optimizer must then match the original bit for bit.
* Schedulers are checked against their closed forms, EMA against its formula.
"""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import tinygan
from tinygan import optim
from tinygan.optim import EMA, SGD, Adam, AdamW, LambdaLR, LinearLR, RMSprop, StepLR

from tolerances import assert_within, sum_tolerance

HAS_GPU = tinygan.cuda_is_available()


def param(data, dtype=np.float64) -> tinygan.Tensor:
    return tinygan.tensor(np.array(data, dtype=dtype), requires_grad=True)


def set_grad(p: tinygan.Tensor, g) -> None:
    p.grad = tinygan.Tensor(np.array(g, dtype=p.dtype))


def run(opt_cls, p0, grads, **kw) -> list:
    """Parameter values after each step of ``opt_cls`` fed the gradients ``grads`` in turn."""
    p = param(p0)
    opt = opt_cls([p], **kw)
    out = []
    for g in grads:
        set_grad(p, g)
        opt.step()
        out.append(p.data.copy())
    return out


P0 = np.array([0.5, -1.5, 2.0, -0.25])
GRADS = [np.array([0.3, -1.2, 0.8, 0.05]),
         np.array([-0.4, -0.9, 1.1, 0.2]),
         np.array([0.1, 0.7, -0.6, -0.3])]


# ----------------------------------------------------------------------------
# update rules, written out from the equations
# ----------------------------------------------------------------------------
def sgd_reference(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                  maximize=False):
    out, buf = [], None
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        out.append(p)
    return out


def adam_reference(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   maximize=False, decoupled=False):
    """Kingma & Ba (2015) Algorithm 1; AMSGrad keeps max v; AdamW (Loshchilov & Hutter 2019 Alg. 2)."""
    b1, b2 = betas
    m = v = vmax = np.zeros_like(p)
    out = []
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1 ** t)
        v_hat = (vmax if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def rmsprop_reference(p, grads, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                      centered=False, maximize=False):
    v = c = b = np.zeros_like(p)
    out = []
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g ** 2
        c = alpha * c + (1 - alpha) * g
        s = np.sqrt(v - c ** 2) if centered else np.sqrt(v)
        if momentum:
            b = momentum * b + g / (s + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (s + eps)
        out.append(p)
    return out


SGD_OPTIONS = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9, dampening=0.3),
               dict(lr=0.1, momentum=0.9, nesterov=True), dict(lr=0.1, weight_decay=0.2),
               dict(lr=0.1, momentum=0.5, weight_decay=0.2, nesterov=True, maximize=True),
               dict(lr=0.1, maximize=True)]
ADAM_OPTIONS = [dict(lr=0.1), dict(lr=0.1, betas=(0.5, 0.99)), dict(lr=0.1, weight_decay=0.3),
                dict(lr=0.1, amsgrad=True), dict(lr=0.1, maximize=True),
                dict(lr=0.05, betas=(0.0, 0.99), eps=1e-3, weight_decay=0.1, amsgrad=True),
                dict(lr=0.1, betas=(0.9, 0.5), amsgrad=True)]      # v shrinks at step 3: max matters
RMSPROP_OPTIONS = [dict(lr=0.01), dict(lr=0.01, alpha=0.9), dict(lr=0.01, centered=True),
                   dict(lr=0.01, momentum=0.9), dict(lr=0.01, weight_decay=0.5),
                   dict(lr=0.01, alpha=0.8, eps=1e-2, momentum=0.5, centered=True, weight_decay=0.1),
                   dict(lr=0.01, maximize=True)]


@pytest.mark.parametrize("kw", SGD_OPTIONS, ids=str)
def test_sgd_matches_the_update_equations(kw):
    for got, want in zip(run(SGD, P0, GRADS, **kw), sgd_reference(P0, GRADS, **kw)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("kw", ADAM_OPTIONS, ids=str)
def test_adam_matches_algorithm_1(kw):
    for got, want in zip(run(Adam, P0, GRADS, **kw), adam_reference(P0, GRADS, **kw)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", ADAM_OPTIONS, ids=str)
def test_adamw_matches_decoupled_decay(kw):
    kw = {**kw, "weight_decay": kw.get("weight_decay", 0.0) + 0.1}
    for got, want in zip(run(AdamW, P0, GRADS, **kw), adam_reference(P0, GRADS, decoupled=True, **kw)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", RMSPROP_OPTIONS, ids=str)
def test_rmsprop_matches_the_update_equations(kw):
    for got, want in zip(run(RMSprop, P0, GRADS, **kw), rmsprop_reference(P0, GRADS, **kw)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# Numbers worked out by hand (comments show the arithmetic).
def test_sgd_momentum_by_hand():
    # lr 0.1, momentum 0.9, p0 = 1, g = 1 each step:
    # b = 1, 1.9, 2.71 (the buffer starts at the first gradient) -> p = 0.9, 0.71, 0.439
    got = run(SGD, [1.0], [[1.0]] * 3, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(np.concatenate(got), [0.9, 0.71, 0.439], rtol=1e-14)
    # Nesterov: d = g + 0.9 b = 1.9, 2.71, 3.439 -> p = 0.81, 0.539, 0.1951
    got = run(SGD, [1.0], [[1.0]] * 3, lr=0.1, momentum=0.9, nesterov=True)
    np.testing.assert_allclose(np.concatenate(got), [0.81, 0.539, 0.1951], rtol=1e-13)


def test_adam_steps_by_lr_for_a_constant_gradient():
    # With g constant, m-hat = g and v-hat = g^2 at every step, so each step is
    # lr * g / (|g| + eps) = lr * sign(g) (to 1e-8 relative).
    got = run(Adam, [1.0, -2.0], [[0.5, -3.0]] * 3, lr=0.1)
    np.testing.assert_allclose(np.stack(got), [[0.9, -1.9], [0.8, -1.8], [0.7, -1.7]], rtol=1e-7)
    # AdamW with weight_decay 0.1: first p *= 1 - 0.1 * 0.1 = 0.99, then the same lr step.
    (got,) = run(AdamW, [1.0, -2.0], [[0.5, -3.0]], lr=0.1, weight_decay=0.1)
    np.testing.assert_allclose(got, [0.99 - 0.1, -1.98 + 0.1], rtol=1e-7)
    # Adam's weight_decay goes into the gradient instead: g = 0.5 + 0.1 * 1 = 0.6 > 0 still,
    # so the first step is again lr * sign(g).
    (got,) = run(Adam, [1.0, -2.0], [[0.5, -3.0]], lr=0.1, weight_decay=0.1)
    np.testing.assert_allclose(got, [0.9, -1.9], rtol=1e-7)


def test_amsgrad_keeps_the_largest_second_moment():
    # betas (0.9, 0.5), g = 10, then 0.01: v1 = 50, v2 = 25.00005 -- AMSGrad normalizes step 2
    # by max(v) = 50, Adam by 25.00005.  Step 2 (t = 2): m2 = 0.9 + 0.001 = 0.901, m-hat = 0.901 / 0.19,
    # v-hat = v / 0.75, and the step is lr * m-hat / (sqrt(v-hat) + eps).
    grads = [[10.0], [0.01]]
    adam, ams = run(Adam, [0.0], grads, lr=0.1, betas=(0.9, 0.5)), run(Adam, [0.0], grads, lr=0.1,
                                                                      betas=(0.9, 0.5), amsgrad=True)
    m_hat = 0.901 / 0.19
    np.testing.assert_allclose(adam[0], [-0.1], rtol=1e-7)
    np.testing.assert_allclose(ams[0], [-0.1], rtol=1e-7)
    np.testing.assert_allclose(adam[1] - adam[0], [-0.1 * m_hat / (math.sqrt(25.00005 / 0.75) + 1e-8)],
                               rtol=1e-9)
    np.testing.assert_allclose(ams[1] - ams[0], [-0.1 * m_hat / (math.sqrt(50 / 0.75) + 1e-8)], rtol=1e-9)


def test_rmsprop_first_step_by_hand():
    # alpha 0.99: v1 = 0.01 g^2, sqrt(v1) = 0.1 |g|, so the step is lr * g / (0.1 |g|) = 10 lr sign(g).
    (got,) = run(RMSprop, [1.0, -2.0], [[0.5, -3.0]], lr=0.01)
    np.testing.assert_allclose(got, [0.9, -1.9], rtol=1e-7)
    # centered: c1 = 0.01 g, v1 - c1^2 = (0.01 - 0.0001) g^2, so the step is lr / sqrt(0.0099) sign(g).
    (got,) = run(RMSprop, [1.0, -2.0], [[0.5, -3.0]], lr=0.01, centered=True)
    step = 0.01 / math.sqrt(0.0099)
    np.testing.assert_allclose(got, [1.0 - step, -2.0 + step], rtol=1e-7)
    # eps sits outside the square root: with g tiny, sqrt(v) = 0.1 |g| is comparable to eps.
    (got,) = run(RMSprop, [0.0], [[1e-7]], lr=0.01, eps=1e-8)
    np.testing.assert_allclose(got, [-0.01 * 1e-7 / (1e-8 + 1e-8)], rtol=1e-9)


# ----------------------------------------------------------------------------
# the optimizer machinery
# ----------------------------------------------------------------------------
ALL = [(SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
       (Adam, dict(lr=0.1, amsgrad=True, weight_decay=0.01)),
       (AdamW, dict(lr=0.1, amsgrad=True)),
       (RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01))]
ALL_IDS = [cls.__name__ for cls, _ in ALL]


@pytest.mark.parametrize("cls,kw", ALL, ids=ALL_IDS)
def test_float32_parameters_stay_float32(cls, kw):
    p = param(P0, np.float32)
    opt = cls([p], **kw)
    for g in GRADS:
        p.grad = tinygan.Tensor(g)                   # a float64 gradient on a float32 parameter
        opt.step()
        assert p.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))
    want = run(cls, P0, GRADS, **kw)[-1]              # the same run in float64
    # elementwise, no sums: a few dozen float32 roundings over three steps (~30 eps relative),
    # and a few eps of the parameters' size where an entry ends near zero
    np.testing.assert_allclose(p.data, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,kw", ALL, ids=ALL_IDS)
def test_updates_in_place_and_skips_parameters_without_grad(cls, kw):
    a, b = param(P0), param([1.0, 2.0])
    data_a = a.data
    opt = cls([a, b], **kw)
    set_grad(a, GRADS[0])
    opt.step()
    assert a.data is data_a and not np.array_equal(a.data, P0)     # the same array, changed
    # exact: a parameter without a gradient is not touched
    np.testing.assert_array_equal(b.data, [1.0, 2.0])
    assert b not in opt.state and len(opt.state_dict()["state"]) == 1


def test_zero_grad():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = SGD([a, b], lr=0.1)
    set_grad(a, [1.0, 1.0])
    opt.zero_grad(set_to_none=False)
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(a.grad.data, [0.0, 0.0])
    assert b.grad is None
    opt.zero_grad()
    assert a.grad is None


def test_step_with_gradients_from_backward_and_a_closure():
    target = np.array([1.0, -2.0, 3.0])
    p = param(np.zeros(3))
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = ((p - tinygan.tensor(target, dtype=np.float64)) ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(14.0)
    # g = 2 (p - target) = -2 target, so p = 0 - 0.25 * (-2 target) = target / 2
    np.testing.assert_allclose(p.data, target / 2, rtol=1e-14)
    for _ in range(20):
        opt.step(closure)
    np.testing.assert_allclose(p.data, target, atol=1e-5)


def test_param_groups_with_their_own_hyperparameters():
    a, b = param([1.0]), param([1.0])
    opt = SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[0]["momentum"] == 0.0 and opt.param_groups[1]["momentum"] == 0.9
    for _ in range(2):
        set_grad(a, [1.0])
        set_grad(b, [1.0])
        opt.step()
    np.testing.assert_allclose(a.data, [0.8], rtol=1e-14)              # 1 - 0.1 - 0.1
    np.testing.assert_allclose(b.data, [1.0 - 0.5 - 0.5 * 1.9], rtol=1e-14)
    c = param([0.0])
    opt.add_param_group({"params": [c], "lr": 1.0})
    assert opt.param_groups[2]["momentum"] == 0.0 and opt.param_groups[2]["nesterov"] is False


def test_bad_arguments_are_clear_errors():
    p = param([1.0])
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match="single Tensor"):
        Adam(p)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        Adam([np.zeros(3)])
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="twice"):
        SGD([p, p], lr=0.1)
    with pytest.raises(TypeError, match="ordered"):
        SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="learning rate"):
        RMSprop([p], lr=-1.0)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW([p], weight_decay=-0.1)
    set_grad(p, [1.0])
    p.grad = tinygan.Tensor(np.ones(2))
    with pytest.raises(RuntimeError, match="gradient of shape"):
        SGD([p], lr=0.1).step()


# ----------------------------------------------------------------------------
# state_dict: through an .npz file and back, then a bit-exact resume
# ----------------------------------------------------------------------------
def save_npz(sd, path, numbers_as_arrays: bool) -> None:
    """Arrays into the .npz; the structure (and, unless numbers_as_arrays, the numbers) as JSON.

    Fails on anything that is not a dict, list/tuple, ndarray, number, bool, str or None --
    i.e. it proves the state dict holds no Tensors or other objects.
    """
    arrays: dict = {}

    def strip(obj):
        if isinstance(obj, dict):
            return {str(k): strip(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [strip(v) for v in obj]
        if isinstance(obj, np.ndarray) or (numbers_as_arrays and isinstance(obj, (bool, int, float))):
            name = f"a{len(arrays)}"
            arrays[name] = np.asarray(obj)
            return {"__array__": name}
        assert obj is None or isinstance(obj, (bool, int, float, str)), type(obj)
        return obj

    meta = json.dumps(strip(sd))
    np.savez(path, __meta__=np.array(meta), **arrays)


def load_npz(path):
    with np.load(path, allow_pickle=False) as f:
        def fill(obj):
            if isinstance(obj, dict):
                if set(obj) == {"__array__"}:
                    return f[obj["__array__"]]
                return {k: fill(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [fill(v) for v in obj]
            return obj
        return fill(json.loads(str(f["__meta__"])))


def quadratic_grad(x: np.ndarray, seed: int) -> np.ndarray:
    """Gradient of 0.5 x'Hx - b'x (H symmetric positive definite), x flattened."""
    rng = np.random.default_rng(seed)
    n = x.size
    a = rng.standard_normal((n, n))
    h = a @ a.T / n + 0.5 * np.eye(n)
    b = rng.standard_normal(n)
    return (h @ x.reshape(-1) - b).reshape(x.shape)


def feed_quadratic(params) -> None:
    for i, p in enumerate(params):
        set_grad(p, quadratic_grad(p.data.astype(np.float64), seed=i))


ROUND_TRIP = ALL + [(SGD, dict(lr=0.05)), (Adam, dict(lr=0.1, betas=(0.5, 0.99), maximize=True)),
                    (RMSprop, dict(lr=0.01))]


@pytest.mark.parametrize("numbers_as_arrays", [False, True], ids=["json-numbers", "0d-arrays"])
@pytest.mark.parametrize("cls,kw", ROUND_TRIP, ids=[c.__name__ for c, _ in ROUND_TRIP])
def test_state_dict_round_trip_resumes_bit_for_bit(cls, kw, numbers_as_arrays, tmp_path):
    rng = np.random.default_rng(0)
    a = [param(rng.standard_normal(4), np.float32), param(rng.standard_normal((2, 3)), np.float32),
         param(rng.standard_normal(2), np.float32)]
    opt_a = cls([{"params": a[:2]}, {"params": a[2:], "lr": kw["lr"] / 2}], **kw)
    for _ in range(3):
        feed_quadratic(a)
        opt_a.step()

    sd = opt_a.state_dict()
    assert all(not isinstance(v, tinygan.Tensor) for s in sd["state"].values() for v in s.values())
    save_npz(sd, tmp_path / "opt.npz", numbers_as_arrays)
    b = [param(p.data.copy(), np.float32) for p in a]
    opt_b = cls([{"params": b[:2]}, {"params": b[2:]}], **kw)
    opt_b.load_state_dict(load_npz(tmp_path / "opt.npz"))

    assert opt_b.param_groups[1]["lr"] == kw["lr"] / 2
    assert type(opt_b.param_groups[0]["lr"]) is float
    assert opt_b.state_dict()["param_groups"] == sd["param_groups"]
    for _ in range(3):
        feed_quadratic(a)
        feed_quadratic(b)
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        assert pb.dtype == np.float32
        # exact: tinygan promises bit-identical results for the same seed, thread count and machine
        np.testing.assert_array_equal(pa.data, pb.data)
    for sa, sb in zip(opt_a.state_dict()["state"].values(), opt_b.state_dict()["state"].values()):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


def test_state_dict_is_a_snapshot_indexed_like_pytorch():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    set_grad(b, [1.0])
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert list(sd["state"]) == [1] and sd["state"][1]["step"] == 1    # a had no grad yet
    saved = sd["state"][1]["exp_avg"].copy()
    set_grad(b, [1.0])
    opt.step()
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(sd["state"][1]["exp_avg"], saved)   # later steps don't leak in
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["betas"] == (0.9, 0.999)


def test_load_state_dict_mismatches_are_clear_errors():
    a, b, c = param([1.0, 2.0]), param([3.0]), param([4.0, 5.0, 6.0])
    opt = Adam([a, b], lr=0.1)
    feed_quadratic([a, b])
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="1 parameter group.*but the optimizer has 2"):
        Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 2 parameter.*but 3 in the optimizer"):
        Adam([a, b, c]).load_state_dict(sd)
    with pytest.raises(ValueError, match=r"shape \(1,\), but the parameter has shape \(3,\)"):
        Adam([a, c]).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        Adam([a, b]).load_state_dict({"state": {}})
    bad = opt.state_dict()
    bad["state"][7] = bad["state"][0]
    with pytest.raises(ValueError, match="parameter 7"):
        Adam([a, b]).load_state_dict(bad)
    fresh = Adam([a, b])
    fresh.load_state_dict(sd)                                 # the matching case works
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.state[b]["step"] == 1


# ----------------------------------------------------------------------------
# torch cross-check: 10 steps of every configuration on the same quadratic
# ----------------------------------------------------------------------------
TORCH_CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.5, 0.99), weight_decay=0.1)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, betas=(0.9, 0.5), amsgrad=True)),
    ("Adam", dict(lr=0.05, betas=(0.0, 0.99), eps=1e-4, maximize=True)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kw", TORCH_CONFIGS, ids=[f"{n}-{kw}" for n, kw in TORCH_CONFIGS])
def test_matches_torch_over_10_steps(name, kw, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    inits = [rng.standard_normal(5).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)]
    ours = [param(x, dtype) for x in inits]
    theirs = [torch.tensor(x, requires_grad=True) for x in inits]
    # Two groups, the second at half the rate, to cover per-group hyperparameters too.
    opt = getattr(optim, name)([{"params": ours[:1]}, {"params": ours[1:], "lr": kw["lr"] / 2}], **kw)
    topt = getattr(torch.optim, name)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": kw["lr"] / 2}],
                                      **kw)
    for _ in range(10):
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            set_grad(p, quadratic_grad(p.data, seed=i))
            tp.grad = torch.from_numpy(quadratic_grad(tp.detach().numpy(), seed=i).astype(dtype))
        opt.step()
        topt.step()
    for p, tp, x0 in zip(ours, theirs, inits):
        assert p.dtype == dtype
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-6, atol=1e-6)
        assert not np.allclose(p.data, x0)                                  # it did move


def test_schedulers_match_torch():
    torch = pytest.importorskip("torch")
    makers = [
        (lambda o: StepLR(o, step_size=3, gamma=0.5),
         lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
        (lambda o: LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=4),
         lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=4)),
        (lambda o: LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1.0 / (e + 1)]),
         lambda o: torch.optim.lr_scheduler.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: 1.0 / (e + 1)])),
    ]
    for ours_maker, theirs_maker in makers:
        opt = SGD([{"params": [param([1.0])]}, {"params": [param([1.0])], "lr": 0.3}], lr=0.1)
        topt = torch.optim.SGD([{"params": [torch.zeros(1)]}, {"params": [torch.zeros(1)], "lr": 0.3}], lr=0.1)
        sched, tsched = ours_maker(opt), theirs_maker(topt)
        assert sched.get_last_lr() == tsched.get_last_lr()
        for _ in range(12):
            opt.step()
            topt.step()
            sched.step()
            tsched.step()
            np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-15)


# ----------------------------------------------------------------------------
# learning-rate schedulers
# ----------------------------------------------------------------------------
def lrs_over(sched, n: int) -> list:
    """The lr of each group at epochs 0..n-1 (epoch 0 is right after construction)."""
    out = [sched.get_last_lr()]
    for _ in range(n - 1):
        sched.optimizer.step()
        sched.step()
        out.append(sched.get_last_lr())
    return out


def two_group_sgd():
    return SGD([{"params": [param([1.0])]}, {"params": [param([1.0])], "lr": 0.4}], lr=0.1)


def test_step_lr_closed_form():
    opt = two_group_sgd()
    got = lrs_over(StepLR(opt, step_size=3, gamma=0.5), 10)
    want = [[base * 0.5 ** (e // 3) for base in (0.1, 0.4)] for e in range(10)]
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.4]
    assert opt.param_groups[1]["lr"] == pytest.approx(0.4 * 0.5 ** 3)


def test_linear_lr_closed_form():
    got = lrs_over(LinearLR(two_group_sgd(), start_factor=0.25, end_factor=1.0, total_iters=4), 8)
    factors = [0.25 + 0.75 * min(e, 4) / 4 for e in range(8)]          # 0.25, 0.4375, ..., 1, 1, 1
    np.testing.assert_allclose(got, [[0.1 * f, 0.4 * f] for f in factors], rtol=1e-14)
    got = lrs_over(LinearLR(two_group_sgd()), 7)                        # defaults: 1/3 -> 1 over 5
    np.testing.assert_allclose([g[0] for g in got], [0.1 * (1 / 3 + (2 / 3) * min(e, 5) / 5)
                                                     for e in range(7)], rtol=1e-14)
    with pytest.raises(ValueError, match="start_factor"):
        LinearLR(two_group_sgd(), start_factor=0.0)
    with pytest.raises(ValueError, match="end_factor"):
        LinearLR(two_group_sgd(), end_factor=1.5)


def test_lambda_lr_closed_form_and_one_lambda_per_group():
    got = lrs_over(LambdaLR(two_group_sgd(), lambda e: 1.0 / (1 + e)), 5)
    np.testing.assert_allclose(got, [[0.1 / (1 + e), 0.4 / (1 + e)] for e in range(5)], rtol=1e-15)
    got = lrs_over(LambdaLR(two_group_sgd(), [lambda e: 1.0, lambda e: 0.5 ** e]), 4)
    np.testing.assert_allclose(got, [[0.1, 0.4 * 0.5 ** e] for e in range(4)], rtol=1e-15)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        LambdaLR(two_group_sgd(), [lambda e: 1.0])


@pytest.mark.parametrize("make", [
    lambda o: StepLR(o, step_size=2, gamma=0.3),
    lambda o: LinearLR(o, start_factor=0.1, total_iters=6),
    lambda o: LambdaLR(o, lambda e: 0.97 ** e),
], ids=["StepLR", "LinearLR", "LambdaLR"])
def test_scheduler_state_dict_resumes_the_sequence(make):
    opt = two_group_sgd()
    sched = make(opt)
    for _ in range(3):
        opt.step()
        sched.step()
    sd = json.loads(json.dumps(sched.state_dict()))          # plain, JSON-able
    assert "optimizer" not in sd and "lr_lambdas" not in sd
    opt_sd = opt.state_dict()
    rest = lrs_over(sched, 6)

    # A resumed run: build both, then load both (the scheduler's constructor rewrites lr).
    opt2 = two_group_sgd()
    sched2 = make(opt2)
    opt2.load_state_dict(opt_sd)                              # lrs and initial_lr as saved
    sched2.load_state_dict(sd)
    assert sched2.last_epoch == 3 and sched2.get_last_lr() == rest[0]
    assert lrs_over(sched2, 6) == rest


def test_scheduler_resume_with_last_epoch_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(two_group_sgd(), step_size=2, last_epoch=4)
    opt = two_group_sgd()
    for g in opt.param_groups:
        g["initial_lr"] = g["lr"]
    sched = StepLR(opt, step_size=2, gamma=0.5, last_epoch=4)
    assert sched.last_epoch == 5 and sched.base_lrs == [0.1, 0.4]
    with pytest.raises(ValueError, match="unexpected key"):
        sched.load_state_dict({"bogus": 1})
    with pytest.raises(TypeError, match="not an Optimizer"):
        StepLR(object(), step_size=1)


# ----------------------------------------------------------------------------
# EMA
# ----------------------------------------------------------------------------
class FakeModule:
    """The interface EMA needs: named_parameters() and named_buffers() of (name, Tensor)."""

    def __init__(self):
        self.params = {"fc.weight": param([[1.0, 2.0], [3.0, 4.0]], np.float32),
                       "fc.bias": param([0.5, -0.5], np.float32),
                       "index": tinygan.tensor(np.array([3, 4], dtype=np.int64))}
        self.buffers = {"bn.running_mean": tinygan.tensor(np.array([0.0, 0.0], dtype=np.float32)),
                        "bn.num_batches_tracked": tinygan.tensor(np.array(0, dtype=np.int64))}

    def named_parameters(self):
        return iter(self.params.items())

    def named_buffers(self):
        return iter(self.buffers.items())


def train_a_bit(m: FakeModule, step: int) -> None:
    """Stand-in for an optimizer step: every parameter and buffer changes."""
    m.params["fc.weight"].data -= 0.5 * step
    m.params["fc.bias"].data += 1.0
    m.params["index"].data += 1
    m.buffers["bn.running_mean"].data += 0.25
    m.buffers["bn.num_batches_tracked"].data += 1


def test_ema_update_math_by_hand():
    m = FakeModule()
    w0, b0 = m.params["fc.weight"].data.copy(), m.params["fc.bias"].data.copy()
    ema = EMA(m, beta=0.9)
    w_avg, b_avg = w0.astype(np.float64), b0.astype(np.float64)     # the average starts at p
    for step in (1, 2, 3):
        train_a_bit(m, step)
        ema.update()
        w_avg = 0.9 * w_avg + 0.1 * m.params["fc.weight"].data
        b_avg = 0.9 * b_avg + 0.1 * m.params["fc.bias"].data
    # In float32, each update rounds ema * beta, (1 - beta) * p and their sum: three roundings
    # of values no larger than |w0| + |p| (the values averaged lie between them), so the
    # float64 averages are matched up to 3 x 3 roundings of that size, not relative to the
    # average, which may be small (the bias's second entry ends near 0.06).
    w_bound = sum_tolerance(np.abs(w0) + np.abs(m.params["fc.weight"].data), 3 * 3, np.float32)
    b_bound = sum_tolerance(np.abs(b0) + np.abs(m.params["fc.bias"].data), 3 * 3, np.float32)
    # weight: -0.5, -1.5, -3.0 cumulative shifts -> average shift 0.1*(0.9^2*0.5 + 0.9*1.5 + 3.0)
    assert_within(ema.shadow_params["fc.weight"], w0 - 0.1 * (0.81 * 0.5 + 0.9 * 1.5 + 3.0), w_bound, "w")
    assert_within(ema.shadow_params["fc.weight"], w_avg, w_bound, "weight")
    assert_within(ema.shadow_params["fc.bias"], b_avg, b_bound, "bias")
    assert ema.shadow_params["fc.weight"].dtype == np.float32
    # exact: integer parameters and all buffers are copies of the latest values, not averages
    np.testing.assert_array_equal(ema.shadow_params["index"], [6, 7])
    np.testing.assert_array_equal(ema.shadow_buffers["bn.running_mean"], [0.75, 0.75])
    assert ema.shadow_buffers["bn.num_batches_tracked"] == 3 and ema.num_updates == 3
    # the module itself is untouched by update()
    # exact: w0 - 0.5 - 1.0 - 1.5 of small dyadic values rounds nothing
    np.testing.assert_array_equal(m.params["fc.weight"].data, w0 - 3.0)
    # a per-call beta (e.g. a ramp-up): beta 0 copies the weights
    ema.update(beta=0.0)
    np.testing.assert_array_equal(ema.shadow_params["fc.weight"], m.params["fc.weight"].data)


def test_ema_swaps_the_average_in_and_restores_the_weights():
    m = FakeModule()
    ema = EMA(m, beta=0.5)
    train_a_bit(m, 1)
    ema.update()
    ema.update()
    buffers_before = {n: b.data.copy() for n, b in m.buffers.items()}
    m.buffers["bn.running_mean"].data += 10.0                 # changed since the last update
    trained = {n: p.data.copy() for n, p in m.params.items()}
    arrays = {n: p.data for n, p in m.params.items()}
    with ema.average_parameters() as swapped:
        assert swapped is m
        for n, p in m.params.items():
            # exact: pure data movement (copies, views, indexing, casts of representable values)
            np.testing.assert_array_equal(p.data, ema.shadow_params[n])
            assert p.data is arrays[n]                        # written in place
        np.testing.assert_array_equal(m.buffers["bn.running_mean"].data,
                                      buffers_before["bn.running_mean"])
        # weight: 0.5 * (0.5 * w0 + 0.5 * w1) + 0.5 * w1 = 0.25 w0 + 0.75 w1, w1 = w0 - 0.5
        # (two updates of three roundings each, of values no larger than |w1| + 0.5)
        assert_within(m.params["fc.weight"].data, trained["fc.weight"] + 0.25 * 0.5,
                      sum_tolerance(np.abs(trained["fc.weight"]) + 0.5, 2 * 3, np.float32), "weight")
    for n, p in m.params.items():
        # exact: pure data movement (copies, views, indexing, casts of representable values)
        np.testing.assert_array_equal(p.data, trained[n])
    np.testing.assert_array_equal(m.buffers["bn.running_mean"].data, buffers_before["bn.running_mean"] + 10)

    with pytest.raises(RuntimeError, match="boom"):          # restored on errors too
        with ema.average_parameters():
            raise RuntimeError("boom")
    for n, p in m.params.items():
        # exact: pure data movement (copies, views, indexing, casts of representable values)
        np.testing.assert_array_equal(p.data, trained[n])

    ema.copy_to(m)                                            # copy_to: no restore
    np.testing.assert_array_equal(m.params["fc.weight"].data, ema.shadow_params["fc.weight"])


def test_ema_state_dict_round_trip_and_mismatches(tmp_path):
    m = FakeModule()
    ema = EMA(m, beta=0.99)
    for step in (1, 2):
        train_a_bit(m, step)
        ema.update()
    sd = ema.state_dict()
    save_npz(sd, tmp_path / "ema.npz", numbers_as_arrays=True)
    other = EMA(FakeModule(), beta=0.5)
    other.load_state_dict(load_npz(tmp_path / "ema.npz"))
    assert other.beta == 0.99 and other.num_updates == 2
    for key in sd["params"]:
        # exact: pure data movement (copies, views, indexing, casts of representable values)
        np.testing.assert_array_equal(other.shadow_params[key], ema.shadow_params[key])
        assert other.shadow_params[key].dtype == ema.shadow_params[key].dtype
    for key in sd["buffers"]:
        np.testing.assert_array_equal(other.shadow_buffers[key], ema.shadow_buffers[key])
    train_a_bit(m, 3)
    other.update(m)
    ema.update()
    np.testing.assert_array_equal(other.shadow_params["fc.weight"], ema.shadow_params["fc.weight"])

    bad = ema.state_dict()
    del bad["params"]["fc.bias"]
    with pytest.raises(KeyError, match="fc.bias"):
        EMA(FakeModule()).load_state_dict(bad)
    bad = ema.state_dict()
    bad["params"]["fc.bias"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="shape"):
        EMA(FakeModule()).load_state_dict(bad)
    m2 = FakeModule()
    del m2.params["fc.bias"]
    with pytest.raises(KeyError, match="fc.bias"):
        ema.update(m2)
    with pytest.raises(ValueError, match="beta"):
        EMA(m, beta=1.5)


def test_ema_with_a_tinygan_module():
    nn = pytest.importorskip("tinygan.nn")
    if not hasattr(nn, "Module") or not hasattr(nn, "Parameter"):
        pytest.skip("tinygan.nn.Module is not there yet")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(tinygan.tensor([1.0, 2.0]))
            self.register_buffer("count", tinygan.tensor(np.array(0, dtype=np.int64)))

    net = Net()
    ema = EMA(net, beta=0.5)
    opt = SGD(net.parameters(), lr=1.0)
    net.weight.grad = tinygan.tensor([1.0, 1.0])
    opt.step()                                               # weight -> [0, 1]
    net.count.data += 1
    ema.update()
    np.testing.assert_allclose(ema.shadow_params["weight"], [0.5, 1.5])
    with ema.average_parameters():
        np.testing.assert_allclose(net.weight.data, [0.5, 1.5])
    np.testing.assert_allclose(net.weight.data, [0.0, 1.0])
    assert ema.shadow_buffers["count"] == 1


# ----------------------------------------------------------------------------
# GPU: the same update on CuPy arrays
# ----------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("cls,kw", ALL, ids=ALL_IDS)
def test_gpu_optimizers_match_the_cpu(cls, kw):
    from tinygan import backend

    def go(device):
        p = tinygan.tensor(P0, dtype=np.float32, device=device, requires_grad=True)
        opt = cls([p], **kw)
        for g in GRADS:
            p.grad = tinygan.tensor(g, dtype=np.float32, device=device)
            opt.step()
        return p, opt

    p_gpu, opt_gpu = go("cuda")
    p_cpu, _ = go("cpu")
    assert p_gpu.is_cuda and p_gpu.dtype == np.float32
    np.testing.assert_allclose(backend.to_device(p_gpu.data, "cpu"), p_cpu.data, rtol=1e-5, atol=1e-6)
    # a GPU state dict loads onto CPU parameters
    q = param(backend.to_device(p_gpu.data, "cpu"), np.float32)
    opt_cpu = cls([q], **kw)
    opt_cpu.load_state_dict(opt_gpu.state_dict())
    assert all(isinstance(v, np.ndarray) for v in opt_cpu.state[q].values() if not isinstance(v, int))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_ema_follows_a_module_moved_to_the_gpu():
    from tinygan import backend
    m = FakeModule()
    ema = EMA(m, beta=0.5)
    for t in list(m.params.values()) + list(m.buffers.values()):
        t.data = backend.to_device(t.data, "cuda")
    ema.update()
    with ema.average_parameters():
        assert m.params["fc.weight"].is_cuda
    assert backend.is_cupy_array(ema.shadow_params["fc.weight"])
