"""Tests of the layers in tinygan.nn: output shapes, parameter and buffer shapes (PyTorch's), the
constructor checks, train/eval behaviour, and -- where torch is installed (an optional test
dependency, never imported by tinygan) -- the same forward outputs and gradients as torch.nn
after copying a torch layer's weights in with ``load_state_dict``.

The torch comparisons run in float64, so any difference beyond rounding is a real one.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygan
from tinygan import nn

from tolerances import assert_within, sum_tolerance


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def randn(*shape, dtype=np.float32, requires_grad=False, seed=0):
    data = np.random.default_rng(seed + 31 * len(shape)).standard_normal(shape)
    return tinygan.tensor(data, dtype=dtype, requires_grad=requires_grad)


# ---------------------------------------------------------------------------------------------
# parameter and buffer shapes: PyTorch's, written out
# ---------------------------------------------------------------------------------------------
# (constructor name, args, kwargs, {param: shape}, {buffer: shape})
BN_BUFFERS = {"running_mean": (5,), "running_var": (5,), "num_batches_tracked": ()}
LAYERS = [
    ("Linear", (5, 3), {}, {"weight": (3, 5), "bias": (3,)}, {}),
    ("Linear", (5, 3), {"bias": False}, {"weight": (3, 5)}, {}),
    ("Conv2d", (4, 6, 3), {"groups": 2}, {"weight": (6, 2, 3, 3), "bias": (6,)}, {}),
    ("Conv2d", (3, 8, (3, 5)), {"stride": 2, "padding": (1, 2), "bias": False},
     {"weight": (8, 3, 3, 5)}, {}),
    ("Conv2d", (3, 8, 3), {"padding": 1, "padding_mode": "reflect"}, {"weight": (8, 3, 3, 3), "bias": (8,)}, {}),
    ("ConvTranspose2d", (4, 6, 4), {"stride": 2, "padding": 1, "groups": 2},
     {"weight": (4, 3, 4, 4), "bias": (6,)}, {}),
    ("ConvTranspose2d", (8, 4, 3), {"stride": 2, "output_padding": 1, "bias": False, "dilation": 2},
     {"weight": (8, 4, 3, 3)}, {}),
    ("BatchNorm1d", (5,), {}, {"weight": (5,), "bias": (5,)}, BN_BUFFERS),
    ("BatchNorm2d", (5,), {}, {"weight": (5,), "bias": (5,)}, BN_BUFFERS),
    ("BatchNorm2d", (5,), {"affine": False}, {}, BN_BUFFERS),
    ("BatchNorm2d", (5,), {"bias": False, "eps": 1e-3}, {"weight": (5,)}, BN_BUFFERS),
    ("BatchNorm2d", (5,), {"track_running_stats": False, "momentum": None}, {"weight": (5,), "bias": (5,)}, {}),
    ("InstanceNorm2d", (5,), {}, {}, {}),
    ("InstanceNorm2d", (5,), {"affine": True, "track_running_stats": True},
     {"weight": (5,), "bias": (5,)}, BN_BUFFERS),
    ("LayerNorm", ((3, 4),), {}, {"weight": (3, 4), "bias": (3, 4)}, {}),
    ("LayerNorm", (4,), {"elementwise_affine": False, "eps": 1e-3}, {}, {}),
    ("LayerNorm", (4,), {"bias": False}, {"weight": (4,)}, {}),
    ("Embedding", (10, 3), {"padding_idx": -1}, {"weight": (10, 3)}, {}),
    ("Dropout", (0.3,), {}, {}, {}),
    ("ReLU", (), {}, {}, {}),
    ("LeakyReLU", (0.2,), {}, {}, {}),
    ("Tanh", (), {}, {}, {}),
    ("Sigmoid", (), {}, {}, {}),
    ("Flatten", (), {}, {}, {}),
    ("Unflatten", (1, (2, 5)), {}, {}, {}),
    ("Upsample", (), {"scale_factor": 2, "mode": "nearest"}, {}, {}),
    ("Upsample", ((6, 8),), {"mode": "bilinear", "align_corners": False}, {}, {}),
    ("AvgPool2d", (2,), {}, {}, {}),
    ("MaxPool2d", (3, 2, 1), {}, {}, {}),
]
LAYER_IDS = [f"{name}{args}{kwargs}" for name, args, kwargs, _, _ in LAYERS]


@pytest.mark.parametrize("name, args, kwargs, params, buffers", LAYERS, ids=LAYER_IDS)
def test_parameter_and_buffer_shapes(name, args, kwargs, params, buffers):
    layer = getattr(nn, name)(*args, **kwargs)
    assert {n: p.shape for n, p in layer.named_parameters()} == params
    assert {n: b.shape for n, b in layer.named_buffers()} == buffers
    assert all(isinstance(p, nn.Parameter) and p.dtype == np.float32 for p in layer.parameters())
    assert sum(p.numel() for p in layer.parameters()) == sum(math.prod(s) for s in params.values())


@pytest.mark.parametrize("name, args, kwargs, params, buffers", LAYERS, ids=LAYER_IDS)
def test_names_shapes_and_repr_match_torch(torch, name, args, kwargs, params, buffers):
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [(n, b.shape) for n, b in ours.named_buffers()] == \
        [(n, tuple(b.shape)) for n, b in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours_r, theirs_r = repr(ours), repr(theirs)
    if "bias=" in ours_r and "bias=" not in theirs_r and name != "Linear":
        # PyTorch before 2.13 leaves the norms' default bias=True out of the repr (we match 2.13).
        ours_r = ours_r.replace(", bias=True", "")
    assert ours_r == theirs_r


def test_dtype_and_default_dtype():
    layer = nn.Conv2d(2, 3, 3, dtype=tinygan.float64)
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    tinygan.set_default_dtype(tinygan.float64)
    try:
        assert nn.Linear(2, 2).weight.dtype == np.float64
        assert nn.LayerNorm(2).bias.dtype == np.float64
    finally:
        tinygan.set_default_dtype(tinygan.float32)
    assert nn.Linear(2, 2, device="cpu").weight.device == "cpu"
    with pytest.raises(TypeError, match="floating"):
        nn.Linear(2, 2, dtype=np.int64)


def test_constructor_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(3, 6, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="Padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)


def test_input_checks_before_any_computation():
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="expected 3 channels"):
        nn.BatchNorm2d(3)(randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="valid sizes range from"):
        nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)(randn(1, 2, 5, 5), output_size=(12, 12))
    with pytest.raises(ValueError, match="can't split"):
        nn.Unflatten(1, (3, 3))(randn(2, 10))


# ---------------------------------------------------------------------------------------------
# output shapes
# ---------------------------------------------------------------------------------------------
SHAPES = [
    (lambda: nn.Linear(5, 3), (2, 5), (2, 3)),
    (lambda: nn.Linear(5, 3, bias=False), (2, 4, 5), (2, 4, 3)),
    (lambda: nn.Conv2d(3, 8, 3), (2, 3, 10, 10), (2, 8, 8, 8)),
    (lambda: nn.Conv2d(3, 8, 4, 2, 1), (2, 3, 16, 16), (2, 8, 8, 8)),
    (lambda: nn.Conv2d(4, 6, 3, dilation=2, groups=2), (1, 4, 9, 9), (1, 6, 5, 5)),
    (lambda: nn.Conv2d(3, 8, 3, padding="same"), (1, 3, 7, 6), (1, 8, 7, 6)),
    (lambda: nn.Conv2d(3, 8, 4, padding="same"), (1, 3, 7, 6), (1, 8, 7, 6)),
    (lambda: nn.Conv2d(3, 8, 3, padding="valid"), (1, 3, 7, 6), (1, 8, 5, 4)),
    (lambda: nn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect"), (1, 3, 6, 6), (1, 8, 6, 6)),
    (lambda: nn.Conv2d(3, 8, 3, padding=1, padding_mode="replicate"), (1, 3, 6, 6), (1, 8, 6, 6)),
    (lambda: nn.Conv2d(3, 8, 3, padding=(2, 1), padding_mode="circular"), (1, 3, 6, 6), (1, 8, 8, 6)),
    (lambda: nn.ConvTranspose2d(8, 4, 4, 2, 1), (2, 8, 7, 7), (2, 4, 14, 14)),
    (lambda: nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1), (1, 8, 5, 5), (1, 4, 10, 10)),
    (lambda: nn.ConvTranspose2d(100, 64, 4, 1, 0), (3, 100, 1, 1), (3, 64, 4, 4)),   # DCGAN's first
    (lambda: nn.BatchNorm1d(5), (4, 5), (4, 5)),
    (lambda: nn.BatchNorm1d(5), (4, 5, 7), (4, 5, 7)),
    (lambda: nn.BatchNorm2d(5), (2, 5, 3, 3), (2, 5, 3, 3)),
    (lambda: nn.InstanceNorm2d(5), (2, 5, 4, 4), (2, 5, 4, 4)),
    (lambda: nn.InstanceNorm2d(5), (5, 4, 4), (5, 4, 4)),
    (lambda: nn.LayerNorm((3, 4)), (2, 5, 3, 4), (2, 5, 3, 4)),
    (lambda: nn.Dropout(0.5), (3, 4), (3, 4)),
    (lambda: nn.ReLU(), (2, 3), (2, 3)),
    (lambda: nn.LeakyReLU(0.2), (2, 3), (2, 3)),
    (lambda: nn.Tanh(), (2, 3), (2, 3)),
    (lambda: nn.Sigmoid(), (2, 3), (2, 3)),
    (lambda: nn.Flatten(), (2, 3, 4, 5), (2, 60)),
    (lambda: nn.Flatten(0, 2), (2, 3, 4, 5), (24, 5)),
    (lambda: nn.Unflatten(1, (3, 4, 5)), (2, 60), (2, 3, 4, 5)),
    (lambda: nn.Unflatten(-1, (3, -1)), (2, 12), (2, 3, 4)),
    (lambda: nn.Upsample(scale_factor=2), (1, 2, 3, 4), (1, 2, 6, 8)),
    (lambda: nn.Upsample(size=(5, 7), mode="bilinear"), (1, 2, 3, 4), (1, 2, 5, 7)),
    (lambda: nn.AvgPool2d(2), (1, 2, 6, 6), (1, 2, 3, 3)),
    (lambda: nn.MaxPool2d(3, 2, 1), (1, 2, 8, 8), (1, 2, 4, 4)),
    (lambda: nn.MaxPool2d(2, 1), (1, 2, 5, 5), (1, 2, 4, 4)),
]


@pytest.mark.parametrize("make, in_shape, out_shape", SHAPES,
                         ids=[f"{i}-{s[1]}->{s[2]}" for i, s in enumerate(SHAPES)])
def test_output_shape(make, in_shape, out_shape):
    layer = make()
    y = layer(randn(*in_shape))
    assert isinstance(y, tinygan.Tensor)
    assert y.shape == out_shape and y.dtype == np.float32


def test_embedding_output_shape_and_lookup():
    emb = nn.Embedding(10, 3)
    idx = tinygan.tensor([[1, 2, 2], [9, 0, 1]])
    y = emb(idx)
    assert y.shape == (2, 3, 3)
    # exact: an embedding is a row lookup
    np.testing.assert_array_equal(y.data[1, 0], emb.weight.data[9])


def test_conv_transpose_output_size_argument():
    layer = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    x = randn(1, 3, 5, 5)
    assert layer(x).shape == (1, 2, 9, 9)
    assert layer(x, output_size=(10, 9)).shape == (1, 2, 10, 9)
    assert layer(x, output_size=(1, 2, 10, 10)).shape == (1, 2, 10, 10)


def test_sequential_dcgan_discriminator_shapes_and_gradients():
    tinygan.manual_seed(0)
    d = nn.Sequential(
        nn.Conv2d(1, 8, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(8, 16, 4, 2, 1, bias=False), nn.BatchNorm2d(16), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 1),
    )
    y = d(randn(4, 1, 28, 28))
    assert y.shape == (4, 1)
    y.sum().backward()
    for name, p in d.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    assert d[3].num_batches_tracked.item() == 1


# ---------------------------------------------------------------------------------------------
# train / eval behaviour
# ---------------------------------------------------------------------------------------------
def test_dropout_train_and_eval():
    tinygan.manual_seed(0)
    layer = nn.Dropout(0.3)
    x = tinygan.ones(200, 500)
    y = layer(x).data
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01                    # about p of them dropped
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)     # the rest scaled by 1/(1-p)
    layer.eval()
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(layer(x).data, x.data)        # identity in eval mode


def test_batchnorm_eval_uses_running_statistics():
    bn = nn.BatchNorm2d(3).eval()
    x = randn(2, 3, 4, 4)
    y = bn(x)
    # a few float32 roundings per element, no sums: relative
    np.testing.assert_allclose(y.data, x.data / np.sqrt(1 + 1e-5), rtol=1e-5)
    assert bn.num_batches_tracked.item() == 0
    bn.train()
    bn(x)
    assert bn.num_batches_tracked.item() == 1
    x64 = x.data.astype(np.float64)
    # 0.1 times a float32 mean of 2 * 4 * 4 values, which may be near zero: bounded by their |x|
    bound = 0.1 * sum_tolerance(np.abs(x64).mean(axis=(0, 2, 3)), 2 * 4 * 4 + 2, np.float32)
    assert_within(bn.running_mean.data, 0.1 * x64.mean(axis=(0, 2, 3)), bound, "running_mean")


# ---------------------------------------------------------------------------------------------
# the same numbers as torch.nn
# ---------------------------------------------------------------------------------------------
def load_from_torch(ours, theirs):
    """Copy a torch layer's state into ours through ``load_state_dict`` (NumPy arrays)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def randomize_torch(torch, layer, seed=0):
    """Give a torch layer random parameters (the norms start at exactly 1 and 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))


def compare(torch, ours, theirs, in_shape, *, seed=1, grads=True, call=None, atol=1e-10):
    """Same float64 input to both; compare outputs, and the gradients of sum(y * w)."""
    x = np.random.default_rng(seed).standard_normal(in_shape)
    xt = torch.tensor(x, requires_grad=grads)
    xo = tinygan.tensor(x, requires_grad=grads)
    call = call or (lambda layer, inp: layer(inp))
    yt, yo = call(theirs, xt), call(ours, xo)
    assert yo.shape == tuple(yt.shape)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=1e-9, atol=atol)
    if grads:
        w = np.random.default_rng(seed + 1).standard_normal(yo.shape)
        (yt * torch.tensor(w)).sum().backward()
        (yo * tinygan.tensor(w)).sum().backward()
        np.testing.assert_allclose(xo.grad.data, xt.grad.numpy(), rtol=1e-9, atol=atol)
        ours_p = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            np.testing.assert_allclose(ours_p[name].grad.data, p.grad.numpy(), rtol=1e-9, atol=atol,
                                       err_msg=name)
    return yo, yt


def pair(torch, name, *args, **kwargs):
    """The same layer in float64 from both libraries, ours loaded with torch's weights."""
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs, dtype=tinygan.float64)
    load_from_torch(ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(torch, bias):
    ours, theirs = pair(torch, "Linear", 6, 4, bias=bias)
    compare(torch, ours, theirs, (3, 6))
    compare(torch, ours, theirs, (2, 5, 6), grads=False)


def test_linear_float32_matches_torch(torch):
    theirs = torch.nn.Linear(6, 4)
    ours = nn.Linear(6, 4)
    load_from_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    y = ours(tinygan.tensor(x))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


CONV_CASES = [
    ((3, 8, 3), {"padding": 1}, (2, 3, 7, 6)),
    ((4, 6, (3, 5)), {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2,
                      "bias": False}, (2, 4, 9, 10)),
    ((3, 4, 3), {"padding": 1, "padding_mode": "reflect"}, (1, 3, 5, 6)),
    ((3, 4, 3), {"padding": (2, 1), "padding_mode": "replicate"}, (1, 3, 5, 6)),
    ((3, 4, 3), {"padding": (1, 2), "padding_mode": "circular"}, (1, 3, 5, 6)),
    ((3, 4, 4), {"padding": "same", "dilation": (1, 2)}, (1, 3, 6, 7)),
    ((3, 4, 4), {"stride": 2, "padding": 1}, (2, 3, 8, 8)),
]


@pytest.mark.parametrize("args, kwargs, in_shape", CONV_CASES, ids=[str(c[1]) for c in CONV_CASES])
@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_conv2d_matches_torch(torch, args, kwargs, in_shape):
    ours, theirs = pair(torch, "Conv2d", *args, **kwargs)
    compare(torch, ours, theirs, in_shape)


CONVT_CASES = [
    ((8, 4, 4), {"stride": 2, "padding": 1}, (2, 8, 5, 5)),
    ((4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}, (2, 4, 4, 5)),
    ((3, 2, (3, 2)), {"stride": (1, 2), "dilation": 2, "bias": False}, (1, 3, 4, 4)),
]


@pytest.mark.parametrize("args, kwargs, in_shape", CONVT_CASES, ids=[str(c[1]) for c in CONVT_CASES])
def test_conv_transpose2d_matches_torch(torch, args, kwargs, in_shape):
    ours, theirs = pair(torch, "ConvTranspose2d", *args, **kwargs)
    compare(torch, ours, theirs, in_shape)


def test_conv_transpose2d_output_size_matches_torch(torch):
    ours, theirs = pair(torch, "ConvTranspose2d", 3, 2, 3, stride=2, padding=1)
    compare(torch, ours, theirs, (1, 3, 4, 4), call=lambda layer, x: layer(x, output_size=(8, 8)))


@pytest.mark.parametrize("name, kwargs, in_shape", [
    ("BatchNorm2d", {}, (4, 3, 5, 5)),
    ("BatchNorm2d", {"momentum": None}, (4, 3, 5, 5)),
    ("BatchNorm2d", {"affine": False, "eps": 1e-3}, (4, 3, 2, 2)),
    ("BatchNorm1d", {"momentum": 0.3}, (6, 3)),
    ("BatchNorm1d", {}, (4, 3, 7)),
])
def test_batchnorm_train_then_eval_matches_torch(torch, name, kwargs, in_shape):
    ours, theirs = pair(torch, name, 3, **kwargs)
    randomize_torch(torch, theirs)
    load_from_torch(ours, theirs)
    # Two training steps: outputs, gradients, and the running statistics after each.
    for seed in (1, 2):
        ours.zero_grad()
        theirs.zero_grad()
        compare(torch, ours, theirs, in_shape, seed=seed)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key].data, value.numpy(), rtol=1e-9,
                                       atol=1e-12, err_msg=key)
    ours.eval()
    theirs.eval()
    compare(torch, ours, theirs, in_shape, seed=3, grads=False)
    assert ours.num_batches_tracked.item() == 2


def test_batchnorm_without_running_stats_matches_torch(torch):
    ours, theirs = pair(torch, "BatchNorm2d", 3, track_running_stats=False)
    ours.eval()
    theirs.eval()        # no running stats: batch statistics even in eval mode
    compare(torch, ours, theirs, (2, 3, 4, 4))


@pytest.mark.parametrize("kwargs", [{}, {"affine": True}, {"affine": True, "track_running_stats": True}])
def test_instance_norm_matches_torch(torch, kwargs):
    ours, theirs = pair(torch, "InstanceNorm2d", 3, **kwargs)
    randomize_torch(torch, theirs)
    load_from_torch(ours, theirs)
    compare(torch, ours, theirs, (2, 3, 4, 5))
    ours.eval()
    theirs.eval()
    compare(torch, ours, theirs, (2, 3, 4, 5), seed=4, grads=False)


@pytest.mark.parametrize("shape, kwargs", [((3, 4), {}), (4, {"eps": 1e-3}), (4, {"bias": False}),
                                           (4, {"elementwise_affine": False})])
def test_layer_norm_matches_torch(torch, shape, kwargs):
    ours, theirs = pair(torch, "LayerNorm", shape, **kwargs)
    randomize_torch(torch, theirs)
    load_from_torch(ours, theirs)
    compare(torch, ours, theirs, (2, 5, 3, 4))


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_matches_torch(torch, padding_idx):
    ours, theirs = pair(torch, "Embedding", 6, 4, padding_idx=padding_idx)
    idx = np.array([[0, 2, 5], [2, 2, 1]])
    yt = theirs(torch.tensor(idx))
    yo = ours(tinygan.tensor(idx))
    # exact: an embedding is a row lookup
    np.testing.assert_array_equal(yo.data, yt.detach().numpy())
    w = np.random.default_rng(0).standard_normal(yo.shape)
    (yt * torch.tensor(w)).sum().backward()
    (yo * tinygan.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours.weight.grad.data, theirs.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name, args, kwargs, in_shape", [
    ("ReLU", (), {}, (3, 4)),
    ("LeakyReLU", (0.2,), {}, (3, 4)),
    ("Tanh", (), {}, (3, 4)),
    ("Sigmoid", (), {}, (3, 4)),
    ("AvgPool2d", (2,), {}, (1, 2, 6, 6)),
    ("AvgPool2d", (3, 2, 1), {}, (1, 2, 7, 7)),
    ("MaxPool2d", (3, 2, 1), {}, (1, 2, 8, 8)),
    ("Upsample", (), {"scale_factor": 2}, (1, 2, 3, 4)),
    ("Upsample", ((5, 7),), {"mode": "bilinear", "align_corners": False}, (1, 2, 3, 4)),
    ("Flatten", (), {}, (2, 3, 4)),
    ("Unflatten", (1, (2, 6)), {}, (2, 12)),
])
def test_parameter_free_layers_match_torch(torch, name, args, kwargs, in_shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    compare(torch, ours, theirs, in_shape)
