"""Tests of tinygan.nn.utils.spectral_norm (Miyato et al. 2018) and remove_spectral_norm.

sigma after many power-iteration steps against the largest singular value from
``numpy.linalg.svd``; u and v updated in training mode only; u and v held constant in the
gradient (the layer's gradient against central differences of an independent NumPy function
with the same fixed u and v, then gradcheck and gradgradcheck in float64); the state_dict round
trip and a bit-exact save / load / continue; the same numbers as
``torch.nn.utils.spectral_norm`` where torch is installed (an optional test dependency); and
the error messages.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

import tinygan
from tinygan import checkpoint, nn
from tinygan.nn.utils import SpectralNorm, remove_spectral_norm, spectral_norm
from tinygan.testing import gradcheck, gradgradcheck

from tolerances import assert_within, eps, sum_tolerance

F64 = np.float64

# name -> (factory of a float64 layer, input maker, the weight's dim that indexes the rows)
LAYERS = {
    "Linear": (lambda: nn.Linear(5, 4, dtype=F64), lambda r: r.standard_normal((3, 5)), 0),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1, dtype=F64),
               lambda r: r.standard_normal((2, 3, 4, 4)), 0),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, dtype=F64),
                        lambda r: r.standard_normal((2, 3, 3, 3)), 1),
    "Embedding": (lambda: nn.Embedding(6, 4, dtype=F64), lambda r: r.integers(0, 6, (5,)), 0),
}


def _t(a, requires_grad=False):
    return tinygan.tensor(np.asarray(a), requires_grad=requires_grad)


def _input(rng, make_input):
    x = make_input(rng)
    return tinygan.tensor(x) if x.dtype.kind == "i" else tinygan.tensor(x, dtype=F64)


def _matrix(w: np.ndarray, dim: int) -> np.ndarray:
    """The paper's W, written independently: dim ``dim`` first, the rest flattened."""
    return np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)


def _np(t) -> np.ndarray:
    return t.detach().numpy().copy()


def _sn_layer(name, seed=0, **kwargs):
    tinygan.manual_seed(seed)
    make_layer, make_input, dim = LAYERS[name]
    return spectral_norm(make_layer(), **kwargs), make_input, dim


# ---------------------------------------------------------------------------------------------
# sigma against the SVD
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(LAYERS))
def test_sigma_converges_to_largest_singular_value(name, rng):
    layer, make_input, dim = _sn_layer(name)
    # A weight with random singular vectors and a clear gap between s1 and s2 (the initial
    # weights of a small layer often have s2/s1 > 0.95, which power iteration needs thousands
    # of steps to resolve).
    shape = tuple(layer.weight_orig.shape)
    rows, cols = _matrix(np.zeros(shape), dim).shape
    k = min(rows, cols)
    q1, _ = np.linalg.qr(rng.standard_normal((rows, k)))
    q2, _ = np.linalg.qr(rng.standard_normal((cols, k)))
    w = (q1 * np.linspace(1.5, 0.2, k)) @ q2.T
    moved = [shape[dim]] + [n for d, n in enumerate(shape) if d != dim]
    layer.weight_orig.data[...] = np.moveaxis(w.reshape(moved), 0, dim)
    assert np.array_equal(_matrix(_np(layer.weight_orig), dim), w)   # exact: a reshape
    s = np.linalg.svd(w, compute_uv=False)
    steps = 200
    # Power iteration's error in sigma shrinks like (s2/s1)^(2k): make sure k steps are enough
    # for this weight, so that a failure below is the code's and not the seed's.
    assert (s[1] / s[0]) ** (2 * steps) < 1e-16, f"singular values {s[:2]} too close to test"
    x = _input(rng, make_input)
    for _ in range(steps):
        layer(x)
    u, v = _np(layer.weight_u), _np(layer.weight_v)
    assert u.shape == (w.shape[0],) and v.shape == (w.shape[1],)
    sigma = u @ w @ v
    # A converged sigma is off from the exact s1 by rounding only: a few dot products of
    # w.size terms each.
    tol = sum_tolerance(np.abs(u) @ np.abs(w) @ np.abs(v), w.size, F64, factor=8)
    assert_within(sigma, s[0], tol, f"{name}: u^T W v against the SVD's s1")
    # ... and the weight the layer uses has spectral norm 1.
    w_sn = _matrix(_np(layer.weight), dim)
    assert_within(np.linalg.svd(w_sn, compute_uv=False)[0], 1.0, 64 * w.size * eps(F64),
                  f"{name}: largest singular value of weight_orig / sigma")


def test_one_step_per_forward_as_algorithm_1(rng):
    # One training forward = one step of Algorithm 1 from the stored u, written in NumPy.
    layer, make_input, dim = _sn_layer("Conv2d")
    w = _matrix(_np(layer.weight_orig), dim)
    u0 = _np(layer.weight_u)
    x = _input(rng, make_input)
    y = layer(x)
    v1 = w.T @ u0
    v1 /= np.linalg.norm(v1)
    u1 = w @ v1
    u1 /= np.linalg.norm(u1)
    n = w.shape[0] + w.shape[1]
    assert_within(_np(layer.weight_v), v1, sum_tolerance(np.ones_like(v1), 4 * n, F64), "v")
    assert_within(_np(layer.weight_u), u1, sum_tolerance(np.ones_like(u1), 4 * n, F64), "u")
    ref = _np(layer.weight_orig) / (u1 @ w @ v1)
    assert_within(_np(layer.weight), ref, sum_tolerance(np.abs(ref), 4 * w.size, F64), "weight")
    assert y.shape == (2, 4, 4, 4)


# ---------------------------------------------------------------------------------------------
# u and v: updated in training mode only
# ---------------------------------------------------------------------------------------------
def test_u_and_v_change_in_training_mode_only(rng):
    layer, make_input, _ = _sn_layer("Linear")
    x = _input(rng, make_input)
    u0, v0 = _np(layer.weight_u), _np(layer.weight_v)
    layer.train()
    layer(x)
    u1, v1 = _np(layer.weight_u), _np(layer.weight_v)
    assert not np.array_equal(u0, u1) and not np.array_equal(v0, v1)
    with tinygan.no_grad():          # no_grad does not stop the update (as in PyTorch)
        layer(x)
    u2 = _np(layer.weight_u)
    assert not np.array_equal(u1, u2)
    layer.eval()
    y_a = layer(x)
    y_b = layer(x)
    # exact: eval mode only reads u and v, so nothing changes between calls.
    assert np.array_equal(_np(layer.weight_u), u2)
    assert np.array_equal(y_a.detach().numpy(), y_b.detach().numpy())
    # The eval weight uses the stored u and v: weight_orig / (u^T W v).
    w = _np(layer.weight_orig)
    ref = w / (u2 @ w @ _np(layer.weight_v))
    assert_within(_np(layer.weight), ref, sum_tolerance(np.abs(ref), 2 * w.size, F64), "eval weight")


def test_buffers_updated_in_place():
    # The Tensor objects stay the same: a state_dict taken with keep_vars, or an EMA holding
    # them, sees the new values.
    layer, make_input, _ = _sn_layer("Linear")
    u_obj, u_array = layer.weight_u, layer.weight_u.data
    layer(_input(np.random.default_rng(0), make_input))
    assert layer.weight_u is u_obj and layer.weight_u.data is u_array


# ---------------------------------------------------------------------------------------------
# u and v constant in the gradient
# ---------------------------------------------------------------------------------------------
def _linear_fixed_uv(w, b, x, u, v):
    """NumPy: the Linear layer with weight w / (u^T w v), u and v given (independent of w)."""
    return x @ (w / (u @ w @ v)).T + b


def _numeric_grad(f, w, h=1e-6):
    g = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[i] += h
        wm[i] -= h
        g[i] = (f(wp) - f(wm)) / (2 * h)
    return g


def test_gradient_holds_u_and_v_constant(rng):
    layer, make_input, _ = _sn_layer("Linear")
    x = _input(rng, make_input)
    gy = rng.standard_normal((3, 4))
    w0, b = _np(layer.weight_orig), _np(layer.bias)
    u_prev = _np(layer.weight_u)
    layer.train()
    y = layer(x)                                # one power-iteration step, then W / sigma
    (g,) = tinygan.grad(y, layer.weight_orig, _t(gy))
    u, v = _np(layer.weight_u), _np(layer.weight_v)     # the u and v this forward used
    xs = x.numpy()
    fixed = _numeric_grad(lambda w: (gy * _linear_fixed_uv(w, b, xs, u, v)).sum(), w0)
    # Central differences in float64 with h = 1e-6: truncation O(h^2) and rounding
    # O(eps * |f| / h); 1e-7 absolute covers both for values of order 1.
    assert_within(g.numpy(), fixed, 1e-7 + 1e-6 * np.abs(fixed), "grad vs fixed-u,v differences")

    # The test can tell: differentiating through the power iteration as well (u and v as
    # functions of W, from the previous u) gives another gradient, away from convergence.
    def through_uv(w):
        v_ = w.T @ u_prev
        v_ /= np.linalg.norm(v_)
        u_ = w @ v_
        u_ /= np.linalg.norm(u_)
        return (gy * _linear_fixed_uv(w, b, xs, u_, v_)).sum()
    assert np.abs(_numeric_grad(through_uv, w0) - fixed).max() > 1e-3

    # The eval-mode layer with these u and v is the same function, and has the same gradient.
    layer.eval()
    (g_eval,) = tinygan.grad(layer(x), layer.weight_orig, _t(gy))
    # exact: the same arrays through the same ops (eval reads copies of the buffers that the
    # training forward wrote).
    assert np.array_equal(g.numpy(), g_eval.numpy())


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradcheck_and_gradgradcheck_with_fixed_u_v(name, rng):
    # In eval mode the layer is the fixed-(u, v) function W -> layer(x; W / (u^T W v)); its
    # first and second derivatives, in weight_orig and (but for Embedding) in x.
    layer, make_input, _ = _sn_layer(name)
    x = _input(rng, make_input)
    layer(x)                       # one training step, so that u and v are not the initial draws
    layer.eval()
    u = _np(layer.weight_u)
    x.requires_grad = x.dtype == F64
    inputs = (layer.weight_orig, x) if x.requires_grad else (layer.weight_orig,)
    fn = (lambda w, x: layer(x)) if x.requires_grad else (lambda w: layer(x))
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)
    assert np.array_equal(_np(layer.weight_u), u)     # exact: eval mode never writes u


def test_two_forwards_before_one_backward(rng):
    # D on real and then on fake data, one backward: each graph must keep the u and v it was
    # built with, although the second forward rewrote the buffers.
    layer, make_input, _ = _sn_layer("Linear")
    x1, x2 = _input(rng, make_input), _input(rng, make_input)
    gy1, gy2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y1 = layer(x1)
    uv1 = (_np(layer.weight_u), _np(layer.weight_v))
    y2 = layer(x2)
    uv2 = (_np(layer.weight_u), _np(layer.weight_v))
    (g,) = tinygan.grad([y1, y2], layer.weight_orig, [_t(gy1), _t(gy2)])
    layer.eval()
    parts = []
    for x, gy, (u, v) in ((x1, gy1, uv1), (x2, gy2, uv2)):
        layer.weight_u.data[...] = u
        layer.weight_v.data[...] = v
        parts.append(tinygan.grad(layer(x), layer.weight_orig, _t(gy))[0].numpy())
    assert_within(g.numpy(), parts[0] + parts[1],
                  sum_tolerance(np.abs(parts[0]) + np.abs(parts[1]), 2, F64), "summed gradient")


# ---------------------------------------------------------------------------------------------
# state: parameters, buffers, state_dict, checkpoints
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, shapes", [
    ("Linear", {"bias": (4,), "weight_orig": (4, 5), "weight_u": (4,), "weight_v": (5,)}),
    ("Conv2d", {"bias": (4,), "weight_orig": (4, 3, 3, 3), "weight_u": (4,), "weight_v": (27,)}),
    ("ConvTranspose2d", {"bias": (4,), "weight_orig": (3, 4, 3, 3), "weight_u": (4,),
                         "weight_v": (27,)}),
    ("Embedding", {"weight_orig": (6, 4), "weight_u": (6,), "weight_v": (4,)}),
])
def test_state_dict_names_and_round_trip(name, shapes, rng):
    layer, make_input, _ = _sn_layer(name, seed=1)
    weight = layer.weight_orig
    assert {k: tuple(v.shape) for k, v in layer.state_dict().items()} == shapes
    assert [n for n, _ in layer.named_buffers()] == ["weight_u", "weight_v"]
    assert "weight" not in dict(layer.named_parameters())
    x = _input(rng, make_input)
    for _ in range(3):
        layer(x)
    assert layer.weight_orig is weight               # the same Parameter object, still trained
    other, _, _ = _sn_layer(name, seed=2)             # other weights, other u and v
    other.load_state_dict({k: v.numpy().copy() for k, v in layer.state_dict().items()})
    for k, v in layer.state_dict().items():
        assert np.array_equal(other.state_dict()[k].numpy(), v.numpy()), k   # exact: a copy
    layer.eval()
    other.eval()
    # exact: the same numbers through the same ops.
    assert np.array_equal(layer(x).detach().numpy(), other(x).detach().numpy())


def _model():
    return nn.Sequential(spectral_norm(nn.Linear(6, 8)), nn.ReLU(), spectral_norm(nn.Linear(8, 1)))


def _steps(model, opt, n, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = tinygan.tensor(rng.standard_normal((4, 6)), dtype=np.float32)
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()


def test_save_load_continue_is_bit_exact(tmp_path):
    tinygan.manual_seed(3)
    model = _model()
    opt = tinygan.optim.Adam(model.parameters(), lr=1e-2)
    _steps(model, opt, 3, seed=10)
    path = checkpoint.save(tmp_path / "ckpt.npz", model=model.state_dict(), optim=opt.state_dict())
    _steps(model, opt, 4, seed=11)                                  # the uninterrupted run

    tinygan.manual_seed(99)                                         # other weights, u and v
    resumed = _model()
    opt2 = tinygan.optim.Adam(resumed.parameters(), lr=1e-2)
    state = checkpoint.load(path)
    resumed.load_state_dict(state["model"])
    opt2.load_state_dict(state["optim"])
    _steps(resumed, opt2, 4, seed=11)
    a, b = model.state_dict(), resumed.state_dict()
    assert list(a) == list(b) and "0.weight_u" in a and "2.weight_v" in a
    for k in a:
        # exact: the same numbers, the same ops in the same order on one machine and thread count.
        assert np.array_equal(a[k].numpy(), b[k].numpy()), k


def test_deepcopy_and_dtype_conversion(rng):
    layer, make_input, _ = _sn_layer("Linear")
    twin = copy.deepcopy(layer)
    x = _input(rng, make_input)
    layer(x)
    # the copy has buffers of its own (an EMA generator must not share them)
    assert not np.array_equal(_np(twin.weight_u), _np(layer.weight_u))
    layer.float()
    assert layer.weight_u.dtype == np.float32 and layer.weight_v.dtype == np.float32
    assert layer(tinygan.tensor(x.numpy(), dtype=np.float32)).dtype == np.float32


def test_remove_spectral_norm(rng):
    layer, make_input, _ = _sn_layer("Conv2d")
    x = _input(rng, make_input)
    layer(x)
    layer.eval()
    y = layer(x).detach().numpy()
    expected = _np(layer.weight)
    assert remove_spectral_norm(layer) is layer
    assert [n for n, _ in layer.named_parameters()] == ["bias", "weight"]
    assert isinstance(layer.weight, nn.Parameter) and list(layer.named_buffers()) == []
    assert not any(isinstance(h, SpectralNorm) for h in layer._forward_pre_hooks.values())
    # exact: the weight is the eval-mode weight itself, and the conv the same conv.
    assert np.array_equal(layer.weight.detach().numpy(), expected)
    assert np.array_equal(layer(x).detach().numpy(), y)
    with pytest.raises(ValueError, match="remove_spectral_norm: spectral_norm of 'weight' not "
                                         "found in Conv2d"):
        remove_spectral_norm(layer)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, kwargs, error, message", [
    (lambda: nn.Linear(3, 2), {"name": "gain"}, ValueError,
     r"spectral_norm: Linear has no parameter 'gain' \(its parameters: 'weight', 'bias'\)"),
    (lambda: nn.ReLU(), {}, ValueError, r"spectral_norm: ReLU has no parameter 'weight' \(its "
                                        r"parameters: none\)"),
    (lambda: nn.Linear(3, 2, bias=False), {"name": "bias"}, ValueError,
     "spectral_norm: Linear has no parameter 'bias'"),
    (lambda: nn.Linear(3, 2), {"n_power_iterations": 0}, ValueError,
     "spectral_norm: expected n_power_iterations to be a positive integer, got "
     "n_power_iterations=0"),
    (lambda: nn.Linear(3, 2), {"n_power_iterations": 1.5}, ValueError, "n_power_iterations=1.5"),
    (lambda: nn.Linear(3, 2), {"eps": 0.0}, ValueError, r"spectral_norm: expected eps > 0"),
    (lambda: nn.Linear(3, 2), {"dim": 2}, ValueError,
     r"spectral_norm: dim=2 is out of range for parameter 'weight' of Linear with shape \(2, 3\)"),
    (lambda: nn.EqualizedLinear(3, 2), {}, TypeError,
     "spectral_norm: EqualizedLinear scales its weight at run time"),
    (lambda: nn.EqualizedConv2d(3, 2, 3), {}, TypeError,
     "spectral_norm: EqualizedConv2d scales its weight at run time"),
])
def test_bad_arguments(make, kwargs, error, message):
    module = make()
    before = list(module.state_dict())
    with pytest.raises(error, match=message):
        spectral_norm(module, **kwargs)
    assert list(module.state_dict()) == before          # unchanged
    assert not module._forward_pre_hooks


def test_applying_twice_and_not_a_module():
    layer = spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="spectral_norm: cannot register two spectral_norm "
                                           "hooks on the same parameter 'weight' of Linear"):
        spectral_norm(layer)
    assert len(layer._forward_pre_hooks) == 1
    with pytest.raises(TypeError, match="spectral_norm: expected a tinygan.nn.Module, got Tensor"):
        spectral_norm(tinygan.zeros(2, 3))


def test_two_parameters_of_one_module():
    # Each parameter gets its own hook and buffers (names from the parameter's name).
    layer = spectral_norm(nn.Linear(3, 2), name="bias")
    assert {"bias_orig", "bias_u", "bias_v"} <= set(layer.state_dict())
    spectral_norm(layer)
    assert len(layer._forward_pre_hooks) == 2
    layer(tinygan.randn(4, 3))
    remove_spectral_norm(layer, "bias")
    assert set(layer.state_dict()) == {"weight_orig", "weight_u", "weight_v", "bias"}


# ---------------------------------------------------------------------------------------------
# PyTorch cross-check (optional: torch is a test-only dependency)
# ---------------------------------------------------------------------------------------------
def _torch_twin(torch, name, layer):
    """torch's layer of the same kind and sizes, with torch.nn.utils.spectral_norm and
    tinygan's weight_orig, bias, u and v copied in."""
    tnn = torch.nn
    twins = {
        "Linear": lambda: tnn.Linear(5, 4),
        "Conv2d": lambda: tnn.Conv2d(3, 4, 3, padding=1),
        "ConvTranspose2d": lambda: tnn.ConvTranspose2d(3, 4, 3, stride=2),
        "Embedding": lambda: tnn.Embedding(6, 4),
    }
    fn = next(h for h in layer._forward_pre_hooks.values() if isinstance(h, SpectralNorm))
    twin = tnn.utils.spectral_norm(twins[name]().double(), n_power_iterations=fn.n_power_iterations)
    with torch.no_grad():
        for key, value in layer.state_dict().items():
            getattr(twin, key).copy_(torch.from_numpy(value.numpy().copy()))
    return twin


@pytest.mark.parametrize("name", list(LAYERS))
def test_matches_torch_spectral_norm(name, rng):
    torch = pytest.importorskip("torch", reason="torch not installed: the cross-check against "
                                                "torch.nn.utils.spectral_norm is optional")
    layer, make_input, dim = _sn_layer(name, n_power_iterations=2)
    twin = _torch_twin(torch, name, layer)
    assert sorted(twin.state_dict()) == sorted(layer.state_dict())      # PyTorch's names
    w = _matrix(_np(layer.weight_orig), dim)
    for step in range(3):
        if step == 2:
            layer.eval()
            twin.eval()
        x = _input(rng, make_input)
        y = layer(x)
        ty = twin(torch.from_numpy(x.numpy().copy()))
        gy = rng.standard_normal(y.shape)
        (g,) = tinygan.grad(y, layer.weight_orig, _t(gy))
        twin.weight_orig.grad = None
        ty.backward(torch.from_numpy(gy))
        # Each output is a sum of fan-in products over sigma, itself a sum of rows*cols terms:
        # bound the rounding by those term counts and magnitudes (u and v are unit vectors).
        n = w.size + w.shape[1]
        for what, mine, theirs in (("u", layer.weight_u, twin.weight_u),
                                   ("v", layer.weight_v, twin.weight_v)):
            assert_within(mine.numpy(), theirs.detach().numpy(),
                          sum_tolerance(1.0, 8 * n, F64), f"{name} step {step}: {what}")
        ref = ty.detach().numpy()
        assert_within(y.detach().numpy(), ref, sum_tolerance(1 + np.abs(ref), 8 * n, F64),
                      f"{name} step {step}: output")
        tg = twin.weight_orig.grad.numpy()
        assert_within(g.numpy(), tg, sum_tolerance(1 + np.abs(tg), 8 * n * gy.size, F64),
                      f"{name} step {step}: gradient in weight_orig")


# ---------------------------------------------------------------------------------------------
# GPU: the same numbers on the device
# ---------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_on_the_gpu_as_on_the_cpu(rng):
    if not tinygan.cuda_is_available():
        pytest.skip("CuPy with a GPU is not available")
    from gpu_helpers import host
    cpu, make_input, dim = _sn_layer("Conv2d")
    gpu = copy.deepcopy(cpu).to("cuda")
    assert gpu.weight_u.is_cuda and gpu.weight_v.is_cuda
    w = _matrix(_np(cpu.weight_orig), dim)
    n = w.size + w.shape[1]
    for _ in range(3):
        x = _input(rng, make_input)
        y_cpu, y_gpu = cpu(x), gpu(x.to("cuda"))
        assert y_gpu.is_cuda
        # cuBLAS and OpenBLAS round differently: the bound of the torch cross-check.
        ref = y_cpu.detach().numpy()
        assert_within(host(y_gpu), ref, sum_tolerance(1 + np.abs(ref), 8 * n, F64), "output")
        assert_within(host(gpu.weight_u), _np(cpu.weight_u), sum_tolerance(1.0, 8 * n, F64), "u")
