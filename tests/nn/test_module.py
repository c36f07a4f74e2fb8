"""Tests of tinygan.nn.Module, Parameter and the containers (tinygan/nn/module.py,
parameter.py, container.py): registration, tree walking, train/eval, state_dict round trips and
load_state_dict's errors, dtype moves, zero_grad, hooks and repr.

The models here compute with plain tinygan ops (matmul, tanh), not with nn.functional, so these
tests check Module alone; tests/nn/test_layers.py checks the layers.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

import tinygan
from tinygan import nn

from tolerances import assert_within, eps, sum_tolerance


class Affine(nn.Module):
    """y = tanh(x W^T + b) * scale, with a persistent and a non-persistent buffer."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(tinygan.randn(n_out, n_in))
        self.bias = nn.Parameter(tinygan.randn(n_out))
        self.register_buffer("scale", tinygan.full((n_out,), 2.0))
        self.register_buffer("scratch", tinygan.zeros(n_out), persistent=False)
        self.register_buffer("count", tinygan.tensor(0))          # an int64 buffer

    def forward(self, x):
        return (x @ self.weight.T + self.bias).tanh() * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(Affine(3, 4), Affine(4, 5))
        self.head = Affine(5, 2)

    def forward(self, x):
        return self.head(self.body(x))


def arrays(module):
    return {k: v.data.copy() for k, v in module.state_dict().items()}


def _affine_chain_tolerance(net, x, dtype=np.float32):
    """Bound on |net(x) in float32 - net(x) exactly| for a Net (Affine layers, float64 weights
    now): each layer's x W^T + b is a sum of fan_in + 1 terms (sum_tolerance of their |.|),
    the error coming in passes through |W|, tanh is 1-Lipschitz and rounds to an ulp of its
    output (at most 1), and the scale multiplies both."""
    h, err = np.asarray(x, np.float64), 0.0
    for layer in (*net.body, net.head):
        w, b, scale = (np.asarray(t.data, np.float64) for t in (layer.weight, layer.bias, layer.scale))
        z = h @ w.T + b
        err = (err @ np.abs(w).T if np.ndim(err) else 0.0) + sum_tolerance(
            np.abs(h) @ np.abs(w).T + np.abs(b), w.shape[1] + 1, dtype)
        h = np.tanh(z) * scale
        err = np.abs(scale) * (err + 2 * eps(dtype))
    return err


# -- Parameter --------------------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_that_requires_grad():
    t = tinygan.ones(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, nn.Parameter) and isinstance(p, tinygan.Tensor)
    assert p.requires_grad and p.is_leaf and p.shape == (2, 3)
    assert p.data is t.data                             # shares the array, as torch
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([[1., 1., 1.],")
    assert repr(p).endswith("requires_grad=True)")
    # Results of ops on a Parameter are plain tensors, and gradients reach the Parameter.
    y = (p * 3).sum()
    assert type(y) is tinygan.Tensor
    y.backward()
    # exact: 3.0 per element, nothing to round
    np.testing.assert_array_equal(p.grad.data, np.full((2, 3), 3.0))


def test_parameter_from_a_non_leaf_is_cut_from_the_graph():
    x = tinygan.ones(2, requires_grad=True)
    p = nn.Parameter(x * 2)
    assert p.is_leaf and p.grad_fn is None
    # exact: 2.0 per element, nothing to round
    np.testing.assert_array_equal(p.data, [2.0, 2.0])


# -- registration -----------------------------------------------------------------------------
def test_setattr_registers_parameters_buffers_and_modules():
    m = Affine(3, 4)
    assert list(m._parameters) == ["weight", "bias"]
    assert list(m._buffers) == ["scale", "scratch", "count"]
    m.plain = tinygan.zeros(3)                 # a plain Tensor is just an attribute
    m.child = Affine(1, 1)
    assert "plain" not in m._buffers and "plain" not in m._parameters
    assert list(m._modules) == ["child"]
    assert m.child is m._modules["child"] and m.weight is m._parameters["weight"]
    # Re-assigning a buffer keeps it a buffer; deleting unregisters.
    m.scale = tinygan.ones(4)
    assert m._buffers["scale"] is m.scale
    del m.child
    assert "child" not in m._modules and not hasattr(m, "child")
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        m.nope


def test_register_methods_and_their_errors():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(tinygan.zeros(2)))
    m.register_parameter("b", None)                         # declared, absent (bias=False)
    m.register_buffer("buf", tinygan.zeros(1))
    m.add_module("sub", nn.Module())
    assert [n for n, _ in m.named_parameters()] == ["w"]    # None is skipped
    assert m.b is None and list(m.state_dict()) == ["w", "buf"]
    with pytest.raises(TypeError, match="Parameter or None expected"):
        m.w = tinygan.zeros(2)                              # a Tensor can't replace a Parameter
    with pytest.raises(TypeError):
        m.register_parameter("x", tinygan.zeros(2))
    with pytest.raises(TypeError):
        m.register_buffer("x", np.zeros(2))
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", tinygan.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("w", tinygan.zeros(1))
    with pytest.raises(TypeError, match="Module or None expected"):
        m.sub = 3

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tinygan.zeros(1))   # before super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_parameters_in_registration_order_with_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias",
                     "head.weight", "head.bias"]
    assert [p.shape for p in net.parameters()] == [(4, 3), (4,), (5, 4), (5,), (2, 5), (2,)]
    assert [n for n, _ in net.body.named_parameters(prefix="body")][:2] == ["body.0.weight", "body.0.bias"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == []
    assert [n for n, _ in net.named_buffers()] == [
        "body.0.scale", "body.0.scratch", "body.0.count", "body.1.scale", "body.1.scratch",
        "body.1.count", "head.scale", "head.scratch", "head.count"]
    assert len(list(net.buffers())) == 9


def test_sequential_names_are_indices():
    seq = nn.Sequential(Affine(2, 3), nn.Identity(), Affine(3, 1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_tied_parameters_are_listed_once_but_saved_under_each_name():
    a, b = Affine(2, 2), Affine(2, 2)
    b.weight = a.weight
    seq = nn.Sequential(a, b)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert "1.weight" in seq.state_dict()


def test_children_modules_named_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["body", "head"]
    assert list(net.children()) == [net.body, net.head]
    assert [n for n, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert len(list(net.modules())) == 5
    shared = Affine(1, 1)
    seq = nn.Sequential(shared, shared)        # a module reachable twice is listed once
    assert len(list(seq.modules())) == 2
    assert net.get_submodule("body.1") is net.body[1]


def test_train_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.body.train(False)
    assert net.training and net.head.training and not net.body[0].training


def test_apply_and_requires_grad_():
    net = Net()
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Affine", "Affine", "Sequential", "Affine", "Net"]   # children first
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.head.requires_grad_()
    assert [p.requires_grad for p in net.parameters()] == [False] * 4 + [True] * 2


def test_call_runs_forward_and_hooks():
    m = Affine(2, 2)
    x = tinygan.randn(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre"))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    y = m(x)
    assert calls == ["pre"] and np.all(y.data == 0)
    h1.remove()
    h2.remove()
    # exact: the same computation on the same inputs twice (same thread count and machine)
    np.testing.assert_array_equal(m(x).data, m.forward(x).data)
    assert calls == ["pre"]
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(x)


# -- state_dict ---------------------------------------------------------------------------------
def test_state_dict_holds_params_and_persistent_buffers_detached():
    m = Affine(3, 4)
    sd = m.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["weight", "bias", "scale", "count"]         # no "scratch"
    assert all(type(v) is tinygan.Tensor and not v.requires_grad for v in sd.values())
    assert sd["weight"].data is m.weight.data                         # shares storage, as torch
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


def test_state_dict_round_trip_gives_identical_outputs():
    tinygan.manual_seed(1)
    src = Net()
    tinygan.manual_seed(2)
    dst = Net()
    x = tinygan.randn(5, 3)
    assert not np.allclose(src(x).data, dst(x).data)
    params_before = list(dst.parameters())
    result = dst.load_state_dict(src.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    # exact: the same weights and input, the same computation (same thread count and machine)
    np.testing.assert_array_equal(src(x).data, dst(x).data)
    # Copied in place: the same Parameter objects (an optimizer holding them stays valid),
    # and the arrays are not shared with the source.
    assert all(a is b for a, b in zip(params_before, dst.parameters()))
    assert src.head.weight.data is not dst.head.weight.data


def test_load_state_dict_accepts_numpy_arrays_and_casts_to_the_model_dtype():
    src, dst = Affine(3, 2), Affine(3, 2)
    sd = {k: v.data.astype(np.float64) for k, v in src.state_dict().items()}
    sd["count"] = 7                                         # a Python number works too
    dst.load_state_dict(sd)
    assert dst.weight.dtype == np.float32 and dst.count.dtype == np.int64
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(dst.weight.data, src.weight.data)
    assert dst.count.item() == 7


def test_load_state_dict_error_lists_every_problem_and_changes_nothing():
    net = Net()
    before = arrays(net)
    sd = OrderedDict((k, v.data + 1) for k, v in Net().state_dict().items())
    del sd["head.bias"]                                     # missing
    sd["head.extra"] = np.zeros(3)                          # unexpected
    sd["body.1.weight"] = np.zeros((4, 5))                  # wrong shape (the model has (5, 4))
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "head.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "head.extra"' in msg
    assert "body.1.weight: expected shape (5, 4) (the model's), got (4, 5)" in msg
    assert "not changed" in msg
    # Nothing was copied, not even the keys that were fine (body.0.*, listed before the errors).
    after = arrays(net)
    # exact: a refused load changes nothing, bit for bit
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_strict_false_returns_the_key_lists():
    net = Net()
    src = Net()
    sd = src.state_dict()
    del sd["body.0.bias"]
    sd["extra"] = tinygan.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["body.0.bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result                             # a named tuple
    assert missing == ["body.0.bias"]
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(net.head.weight.data, src.head.weight.data)   # the rest loaded
    # A shape mismatch is an error even when not strict, and again nothing is changed.
    before = arrays(net)
    sd = Net().state_dict()
    sd["head.weight"] = tinygan.zeros(3, 3)
    with pytest.raises(RuntimeError, match="size mismatch for head.weight"):
        net.load_state_dict(sd, strict=False)
    assert all(np.array_equal(before[k], v) for k, v in arrays(net).items())


# -- dtype, device, grads -------------------------------------------------------------------------
def test_to_float64_moves_parameters_and_buffers_in_place():
    net = Net()
    x = tinygan.randn(2, 3)
    y32 = net(x).data
    p0 = net.head.weight
    assert net.to(dtype=tinygan.float64) is net
    assert net.head.weight is p0                                      # same object
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.head.scale.dtype == np.float64 and net.head.scratch.dtype == np.float64
    assert net.head.count.dtype == np.int64                           # ints are not cast
    y64 = net(tinygan.tensor(x.data, dtype=np.float64))
    assert y64.dtype == np.float64
    assert_within(y32, y64.data, _affine_chain_tolerance(net, x.data), "float32 vs float64")
    net.float()
    assert net.head.weight.dtype == np.float32
    net.to(np.float64)                                                # positional dtype
    assert net.head.bias.dtype == np.float64
    net.to("cpu")
    assert net.head.bias.device == "cpu"
    with pytest.raises(TypeError, match="floating point"):
        net.to(dtype=np.int32)


def test_to_casts_existing_gradients_too():
    m = Affine(2, 2)
    m(tinygan.randn(1, 2)).sum().backward()
    m.double()
    assert m.weight.grad.dtype == np.float64


def test_zero_grad():
    m = Affine(2, 3)
    m(tinygan.randn(4, 2)).sum().backward()
    assert m.weight.grad is not None and np.any(m.weight.grad.data != 0)
    m.zero_grad(set_to_none=False)
    assert m.weight.grad.shape == (3, 2) and np.all(m.weight.grad.data == 0)
    m(tinygan.randn(4, 2)).sum().backward()
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_deepcopy_gives_independent_parameters():
    net = Net()
    twin = copy.deepcopy(net)
    assert isinstance(twin.head.weight, nn.Parameter)
    assert twin.head.weight.data is not net.head.weight.data
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(twin.head.weight.data, net.head.weight.data)
    twin.head.weight.data += 1
    assert not np.array_equal(twin.head.weight.data, net.head.weight.data)


@pytest.mark.gpu
def test_to_cuda_and_back():
    if not tinygan.cuda_is_available():
        pytest.skip("CuPy with a GPU is not available")
    net = Net()
    sd = arrays(net)
    p0 = net.head.weight
    net.to("cuda")
    assert net.head.weight is p0 and net.head.weight.is_cuda and net.head.count.is_cuda
    net.cpu()
    assert not net.head.weight.is_cuda
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    assert all(np.array_equal(sd[k], v) for k, v in arrays(net).items())


# -- containers ----------------------------------------------------------------------------------
def test_sequential_indexing_len_iteration_append_delete():
    a, b, c = Affine(2, 2), Affine(2, 2), Affine(2, 2)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and seq[0] is a and seq[-1] is b and list(seq) == [a, b]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub) == [b]
    seq.append(c)
    assert seq[2] is c and [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    del seq[0]
    assert list(seq) == [b, c] and list(seq._modules) == ["0", "1"]     # renumbered
    seq[0] = a
    assert seq[0] is a
    with pytest.raises(IndexError):
        seq[5]
    x = tinygan.randn(3, 2)
    # exact: the same computation on the same inputs twice (same thread count and machine)
    np.testing.assert_array_equal(seq(x).data, c(a(x)).data)
    named = nn.Sequential(OrderedDict([("enc", Affine(2, 3)), ("dec", Affine(3, 2))]))
    assert [n for n, _ in named.named_parameters()][:1] == ["enc.weight"]
    assert named.enc is named[0]


def test_module_list_and_dict_register_their_modules():
    layers = nn.ModuleList([Affine(2, 2) for _ in range(3)])
    assert len(layers) == 3 and [n for n, _ in layers.named_parameters()][-1] == "2.bias"
    layers.append(Affine(2, 1))
    layers.extend([Affine(1, 1)])
    assert len(list(layers.parameters())) == 10
    with pytest.raises(NotImplementedError):
        layers(tinygan.zeros(1))
    d = nn.ModuleDict({"g": Affine(2, 3), "d": Affine(3, 1)})
    assert list(d.keys()) == ["g", "d"] and "g" in d and len(d) == 2
    assert [n for n, _ in d.named_parameters()] == ["g.weight", "g.bias", "d.weight", "d.bias"]
    d["e"] = Affine(1, 1)
    assert list(d) == ["g", "d", "e"]
    d.pop("e")
    assert "e" not in d


# -- repr ------------------------------------------------------------------------------------------
def test_repr_is_nested_like_pytorch():
    class WithExtra(nn.Module):
        def extra_repr(self):
            return "k=3"

    net = nn.Sequential(WithExtra(), nn.Sequential(WithExtra(), nn.Identity()))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): WithExtra(k=3)\n"
        "  (1): Sequential(\n"
        "    (0): WithExtra(k=3)\n"
        "    (1): Identity()\n"
        "  )\n"
        ")"
    )
    conv = nn.Conv2d(1, 64, 4, 2, 1)
    assert repr(conv) == "Conv2d(1, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))"
