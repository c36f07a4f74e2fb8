"""The array backend (tinygan/backend.py), tensor construction and dtype rules, the creation
helpers (tinygan/creation.py) and the seeded random generators (tinygan/random.py).

CuPy is simulated as missing (``sys.modules['cupy'] = None``) or present without a GPU (a stub
module), so the CUDA error paths are tested on every machine.  Tests marked ``gpu`` need CuPy and
a GPU and skip cleanly elsewhere.
"""
from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import pytest

import tinygan
from tinygan import backend

HAS_GPU = tinygan.cuda_is_available()


@pytest.fixture(autouse=True)
def _keep_rng_state(monkeypatch):
    """Tests here reseed the generators; give the next test the stream it would have had."""
    monkeypatch.setattr(tinygan.random, "_seed", tinygan.random._seed)
    state = tinygan.get_rng_state()
    yield
    tinygan.set_rng_state(state)


@pytest.fixture
def no_cupy(monkeypatch):
    """Make ``import cupy`` fail, as on a machine without CuPy."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)


def fake_cupy(monkeypatch, is_available):
    """Install a stub ``cupy`` whose ``is_available`` is the given function (CuPy, no GPU)."""
    stub = types.ModuleType("cupy")
    stub.is_available = is_available
    monkeypatch.setitem(sys.modules, "cupy", stub)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)


# ----------------------------------------------------------------------------
# device names
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec, type_, index, text", [
    ("cpu", "cpu", None, "cpu"),
    ("cuda", "cuda", None, "cuda"),
    ("cuda:0", "cuda", 0, "cuda:0"),
    ("cuda:1", "cuda", 1, "cuda:1"),
    ("cuda:12", "cuda", 12, "cuda:12"),
])
def test_device_parsing(spec, type_, index, text):
    d = tinygan.device(spec)
    assert (d.type, d.index, str(d)) == (type_, index, text)
    assert tinygan.device(d).index == index           # copy constructor


@pytest.mark.parametrize("spec", ["gpu", "CUDA", "cuda:x", "cuda:-1", "cuda:", "cuda:1:2",
                                  "cpu:1", "", " cpu", "mps"])
def test_bad_device_names_raise_value_error(spec):
    with pytest.raises(ValueError, match="device"):
        tinygan.device(spec)


def test_device_of_a_wrong_type_raises_type_error():
    with pytest.raises(TypeError, match="device"):
        tinygan.device(0)


def test_device_equality():
    assert tinygan.device("cpu") == "cpu"
    assert tinygan.device("cuda") == "cuda:0"           # "cuda" is the current GPU
    assert tinygan.device("cuda:0") != tinygan.device("cuda:1")
    assert tinygan.device("cpu") != "cuda"
    assert tinygan.device("cpu") != "not a device"
    assert hash(tinygan.device("cuda")) == hash(tinygan.device("cuda:1"))


def test_default_device_from_the_environment(monkeypatch):
    monkeypatch.delenv("TINYGAN_DEVICE", raising=False)
    assert backend.default_device() == tinygan.device("cpu")
    monkeypatch.setenv("TINYGAN_DEVICE", "cpu")
    assert backend.default_device() == "cpu"
    assert tinygan.zeros(2).device == "cpu"
    monkeypatch.setenv("TINYGAN_DEVICE", "cuda:1")
    d = backend.default_device()
    assert (d.type, d.index) == ("cuda", 1)
    monkeypatch.setenv("TINYGAN_DEVICE", "tpu")
    with pytest.raises(ValueError, match="tpu"):
        backend.default_device()


def test_default_device_cuda_without_cupy_fails_on_first_use(monkeypatch, no_cupy):
    monkeypatch.setenv("TINYGAN_DEVICE", "cuda")
    for make in (lambda: tinygan.zeros(2), lambda: tinygan.tensor([1.0]),
                 lambda: tinygan.randn(2)):
        with pytest.raises(RuntimeError, match="CuPy is not installed"):
            make()


# ----------------------------------------------------------------------------
# CuPy missing, or no GPU
# ----------------------------------------------------------------------------
def test_importing_tinygan_does_not_import_cupy():
    code = ("import sys, tinygan, tinygan.nn.functional; "
            "x = tinygan.randn(3, requires_grad=True); (x * x).sum().backward(); "
            "print('cupy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_cuda_without_cupy_says_cupy_is_missing(no_cupy):
    assert tinygan.cuda_is_available() is False
    with pytest.raises(RuntimeError, match="CuPy is not installed") as e:
        backend.cupy_module()
    assert "pip install" in str(e.value)
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        tinygan.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        tinygan.tensor([1.0, 2.0], device="cuda:0")
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        tinygan.randn(2, device="cuda")
    # the CPU keeps working
    assert tinygan.zeros(2, device="cpu").shape == (2,)


def test_cuda_without_a_gpu_says_no_gpu(monkeypatch):
    fake_cupy(monkeypatch, lambda: False)
    assert tinygan.cuda_is_available() is False
    with pytest.raises(RuntimeError, match="no usable GPU") as e:
        tinygan.ones(3, device="cuda")
    assert "CuPy is installed" in str(e.value)
    assert backend._cupy is None              # nothing half-initialized is kept


def test_cuda_with_a_broken_driver_reports_the_driver_error(monkeypatch):
    def broken():
        raise OSError("CUDA driver version is insufficient")
    fake_cupy(monkeypatch, broken)
    with pytest.raises(RuntimeError, match="no usable GPU") as e:
        backend.cupy_module()
    assert "CUDA driver version is insufficient" in str(e.value)
    # a later attempt that fails for another reason must not repeat the old error
    sys.modules["cupy"].is_available = lambda: False
    with pytest.raises(RuntimeError, match="no usable GPU") as e:
        backend.cupy_module()
    assert "driver version" not in str(e.value)


# ----------------------------------------------------------------------------
# get_array_module, to_device
# ----------------------------------------------------------------------------
def test_get_array_module_is_numpy_on_the_cpu():
    assert backend.get_array_module(np.zeros(3)) is np
    assert backend.get_array_module(tinygan.zeros(3)) is np
    assert backend.get_array_module(np.zeros(2), tinygan.ones(2)) is np
    assert backend.get_array_module() is np


def test_to_device_cpu_is_a_no_op():
    a = np.arange(6.0).reshape(2, 3)
    assert backend.to_device(a, "cpu") is a
    assert backend.to_device(a, tinygan.device("cpu")) is a
    b = backend.to_device([1.0, 2.0], "cpu")
    assert isinstance(b, np.ndarray) and b.tolist() == [1.0, 2.0]


def test_tensor_device_on_the_cpu():
    x = tinygan.randn(2)
    assert x.device == "cpu" and isinstance(x.device, tinygan.device)
    assert not x.is_cuda


def test_tensor_to_cpu_is_a_no_op():
    # DESIGN.md's API lists Tensor.to(device); numpy()'s error message points at .cpu().
    x = tinygan.randn(2, 3)
    y = x.to("cpu")
    assert y.device == "cpu"
    assert np.shares_memory(y.data, x.data)
    z = x.cpu()
    assert np.shares_memory(z.data, x.data)


# ----------------------------------------------------------------------------
# tensor(): dtype rules
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32),
    ([1.0, 2.0], np.float32),
    ([1, 2.5], np.float32),                       # mixed ints and floats: floating
    ([[1.0], [2.0]], np.float32),
    (3, np.int64),
    ([1, 2, 3], np.int64),
    (True, np.bool_),
    ([True, False], np.bool_),
    (np.array([1.0, 2.0]), np.float64),           # an ndarray keeps its dtype
    (np.array([1.0, 2.0], dtype=np.float32), np.float32),
    (np.array([1, 2], dtype=np.int32), np.int32),
    (np.float64(2.0), np.float64),
])
def test_tensor_dtype_rules(data, dtype):
    t = tinygan.tensor(data)
    assert t.dtype == dtype
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(t.data, np.asarray(data))


def test_tensor_dtype_override():
    t = tinygan.tensor([1, 2, 3], dtype=tinygan.float64)
    assert t.dtype == np.float64 and t.data.tolist() == [1.0, 2.0, 3.0]
    u = tinygan.tensor(np.array([1.7, -2.2]), dtype=tinygan.float32)
    assert u.dtype == np.float32
    np.testing.assert_allclose(u.data, [1.7, -2.2], rtol=1e-6)
    assert tinygan.tensor([0.0, 1.0], dtype="bool").data.tolist() == [False, True]


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    t = tinygan.tensor(a)
    a[0] = 100.0
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    assert t.data[0] == 1.0
    u = tinygan.tensor(t)
    t.data[1] = -5.0
    assert u.data[1] == 2.0


def test_tensor_requires_grad_flag():
    t = tinygan.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None


def test_set_default_dtype_changes_python_floats():
    try:
        tinygan.set_default_dtype(tinygan.float64)
        assert tinygan.tensor(1.5).dtype == np.float64
        assert tinygan.zeros(2).dtype == np.float64
        assert tinygan.tensor([1, 2]).dtype == np.int64        # ints are not affected
    finally:
        tinygan.set_default_dtype(tinygan.float32)
    assert tinygan.tensor(1.5).dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        tinygan.set_default_dtype(tinygan.int64)


# ----------------------------------------------------------------------------
# creation helpers
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("make, value", [(tinygan.zeros, 0.0), (tinygan.ones, 1.0)])
def test_zeros_ones_sizes_and_dtypes(make, value):
    for t in (make(2, 3), make((2, 3)), make([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32
        # exact: pure data movement (copies, views, indexing, casts of representable values)
        np.testing.assert_array_equal(t.data, np.full((2, 3), value))
    assert make(4).shape == (4,)
    assert make(()).shape == ()
    assert make(2, dtype=tinygan.float64).dtype == np.float64
    assert make(2, dtype=tinygan.int64).dtype == np.int64
    assert make(2, requires_grad=True).requires_grad


def test_empty():
    t = tinygan.empty(3, 2)
    assert t.shape == (3, 2) and t.dtype == np.float32


def test_full():
    t = tinygan.full((2, 3), 1.5)
    assert t.shape == (2, 3) and t.dtype == np.float32
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(t.data, np.full((2, 3), 1.5))
    t = tinygan.full(3, 7)
    assert t.dtype == np.int64 and t.data.tolist() == [7, 7, 7]
    assert tinygan.full([2], True).dtype == np.bool_
    assert tinygan.full((2,), 2, dtype=tinygan.float64).dtype == np.float64


def test_arange():
    t = tinygan.arange(5)
    assert t.dtype == np.int64 and t.data.tolist() == [0, 1, 2, 3, 4]
    assert tinygan.arange(2, 5).data.tolist() == [2, 3, 4]
    assert tinygan.arange(10, 0, -3).data.tolist() == [10, 7, 4, 1]
    f = tinygan.arange(0, 1, 0.25)
    assert f.dtype == np.float32 and f.data.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert tinygan.arange(3, dtype=tinygan.float64).dtype == np.float64


def test_eye():
    t = tinygan.eye(3)
    assert t.dtype == np.float32
    # exact: nothing is rounded (exactly representable values, ops that round nothing)
    np.testing.assert_array_equal(t.data, np.eye(3))
    r = tinygan.eye(2, 3)
    assert r.shape == (2, 3)
    np.testing.assert_array_equal(r.data, np.eye(2, 3))


def test_linspace():
    t = tinygan.linspace(0, 1, 5)
    assert t.dtype == np.float32
    np.testing.assert_allclose(t.data, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert tinygan.linspace(-1, 1, 3, dtype=tinygan.float64).data.tolist() == [-1.0, 0.0, 1.0]


def test_randn_and_rand_shapes_dtypes_and_distribution():
    tinygan.manual_seed(0)
    for t in (tinygan.randn(2, 3), tinygan.randn((2, 3)), tinygan.rand(2, 3), tinygan.rand([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32
    assert tinygan.randn(4, dtype=tinygan.float64).dtype == np.float64
    assert tinygan.randn(3, requires_grad=True).requires_grad
    z = tinygan.randn(20000, dtype=tinygan.float64).data
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05
    u = tinygan.rand(20000).data
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.02


def test_random_floats_refuse_integer_dtypes():
    with pytest.raises(TypeError, match="randn"):
        tinygan.randn(3, dtype=tinygan.int64)
    with pytest.raises(TypeError, match="rand"):
        tinygan.rand_like(tinygan.arange(3))


def test_randint():
    tinygan.manual_seed(0)
    t = tinygan.randint(3, 7, (500,))
    assert t.dtype == np.int64 and t.shape == (500,)
    assert t.data.min() == 3 and t.data.max() == 6               # [low, high), all hit
    u = tinygan.randint(4, (2, 50))                               # torch.randint(high, size)
    assert u.shape == (2, 50) and u.data.min() == 0 and u.data.max() == 3
    assert tinygan.randint(5, size=(3,)).shape == (3,)
    assert not t.requires_grad


def test_randperm():
    tinygan.manual_seed(0)
    p = tinygan.randperm(50)
    assert p.dtype == np.int64
    assert sorted(p.data.tolist()) == list(range(50))
    assert p.data.tolist() != list(range(50))


def test_like_helpers_take_shape_dtype_and_override():
    t = tinygan.zeros(2, 3, dtype=tinygan.float64)
    for like, check in [(tinygan.zeros_like, lambda a: (a == 0).all()),
                        (tinygan.ones_like, lambda a: (a == 1).all()),
                        (tinygan.empty_like, lambda a: True),
                        (tinygan.randn_like, lambda a: a.std() > 0),
                        (tinygan.rand_like, lambda a: ((a >= 0) & (a < 1)).all())]:
        out = like(t)
        assert out.shape == (2, 3) and out.dtype == np.float64, like.__name__
        assert check(out.data), like.__name__
        assert like(t, dtype=tinygan.float32).dtype == np.float32, like.__name__
        assert like(t, requires_grad=True).requires_grad, like.__name__
    f = tinygan.full_like(t, 2.5)
    assert f.shape == (2, 3) and f.dtype == np.float64 and (f.data == 2.5).all()
    assert tinygan.zeros_like(tinygan.arange(3)).dtype == np.int64


# ----------------------------------------------------------------------------
# seeds and generator state
# ----------------------------------------------------------------------------
def test_manual_seed_reproducibility():
    tinygan.manual_seed(123)
    a = [tinygan.randn(4).data, tinygan.rand(3).data, tinygan.randint(0, 100, (5,)).data,
         tinygan.randperm(8).data]
    tinygan.manual_seed(123)
    b = [tinygan.randn(4).data, tinygan.rand(3).data, tinygan.randint(0, 100, (5,)).data,
         tinygan.randperm(8).data]
    for x, y in zip(a, b):
        # exact: tinygan promises bit-identical results for the same seed, thread count and machine
        np.testing.assert_array_equal(x, y)
    tinygan.manual_seed(124)
    assert not np.array_equal(tinygan.randn(4).data, a[0])


def test_consecutive_draws_differ():
    tinygan.manual_seed(5)
    assert not np.array_equal(tinygan.randn(4).data, tinygan.randn(4).data)


def test_rng_state_round_trip():
    tinygan.manual_seed(7)
    tinygan.randn(3)                              # move away from the fresh state
    state = tinygan.get_rng_state()
    first = [tinygan.randn(5).data, tinygan.rand(2).data]
    tinygan.randn(10)                             # draw more, then rewind
    tinygan.set_rng_state(state)
    second = [tinygan.randn(5).data, tinygan.rand(2).data]
    for x, y in zip(first, second):
        # exact: tinygan promises bit-identical results for the same seed, thread count and machine
        np.testing.assert_array_equal(x, y)


def test_rng_state_survives_json():
    # checkpoints store the state as JSON metadata
    tinygan.manual_seed(11)
    state = json.loads(json.dumps(tinygan.get_rng_state()))
    a = tinygan.randn(6).data
    tinygan.manual_seed(999)
    tinygan.set_rng_state(state)
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(tinygan.randn(6).data, a)


def test_seed_returns_a_seed_that_reproduces():
    s = tinygan.seed()
    assert isinstance(s, int)
    a = tinygan.randn(4).data
    tinygan.manual_seed(s)
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(tinygan.randn(4).data, a)


# ----------------------------------------------------------------------------
# GPU (CuPy): skipped where cupy.is_available() is False
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["cuda", "cuda:0"])
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_tensor_to_cuda_and_back(spec):
    x = tinygan.randn(3, 4, dtype=tinygan.float64)
    xc = x.to(spec)
    assert xc.is_cuda and xc.device.type == "cuda" and xc.device == "cuda:0"
    assert backend.get_array_module(xc) is not np
    back = xc.to("cpu")
    assert not back.is_cuda and back.device == "cpu"
    # exact: pure data movement (copies, views, indexing, casts of representable values)
    np.testing.assert_array_equal(back.numpy(), x.numpy())


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_creation_and_to_device():
    t = tinygan.zeros(2, 3, device="cuda")
    assert t.is_cuda and t.shape == (2, 3) and t.dtype == np.float32
    u = tinygan.tensor([1.0, 2.0], device="cuda")
    assert u.is_cuda
    a = backend.to_device(u.data, "cpu")
    assert isinstance(a, np.ndarray) and a.tolist() == [1.0, 2.0]
    assert backend.to_device(u.data, "cuda") is u.data          # already there: no copy
    assert tinygan.randn(4, device="cuda").is_cuda
    p = tinygan.randperm(20, device="cuda")
    assert sorted(backend.to_device(p.data, "cpu").tolist()) == list(range(20))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_manual_seed_reproducibility():
    tinygan.manual_seed(3)
    a = backend.to_device(tinygan.randn(5, device="cuda").data, "cpu")
    tinygan.manual_seed(3)
    b = backend.to_device(tinygan.randn(5, device="cuda").data, "cpu")
    # exact: tinygan promises bit-identical results for the same seed, thread count and machine
    np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_op_and_backward_match_the_cpu():
    rng = np.random.default_rng(0)
    x_np, w_np = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))

    def run(device):
        x = tinygan.tensor(x_np, device=device, requires_grad=True)
        w = tinygan.tensor(w_np, device=device, requires_grad=True)
        y = ((x @ w).tanh() * (x.sum(1, keepdim=True) + 1.0)).sum()
        y.backward()
        return [backend.to_device(t.data, "cpu") for t in (y, x.grad, w.grad)]

    for g_cpu, g_gpu in zip(run("cpu"), run("cuda")):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------
# what the kernel loader asks of the backend (a stub CuPy: no GPU needed)
# ----------------------------------------------------------------------------
def cupy_with_raw_module(monkeypatch):
    """A stub CuPy with a GPU: RawModule records its arguments, set_allocator its argument."""
    fake_cupy(monkeypatch, lambda: True)
    stub = sys.modules["cupy"]
    stub.made, stub.allocators = [], []
    stub.RawModule = lambda **kw: stub.made.append(kw) or "module"
    stub.cuda = types.SimpleNamespace(set_allocator=stub.allocators.append,
                                      Device=lambda: types.SimpleNamespace(id=3))
    return stub


def test_raw_module_hands_code_options_and_name_expressions_to_cupy(monkeypatch):
    stub = cupy_with_raw_module(monkeypatch)
    assert backend.raw_module("code", ["--std=c++17"], ("k<float>",)) == "module"
    assert stub.made == [{"code": "code", "options": ("--std=c++17",), "name_expressions": ["k<float>"]}]
    assert backend.current_device_id() == 3


@pytest.mark.parametrize("value, pool_off", [(None, False), ("1", False), ("0", True)])
def test_the_memory_pool_is_switched_off_on_request(monkeypatch, value, pool_off):
    if value is None:
        monkeypatch.delenv("TINYGAN_CUDA_MEMORY_POOL", raising=False)
    else:
        monkeypatch.setenv("TINYGAN_CUDA_MEMORY_POOL", value)
    stub = cupy_with_raw_module(monkeypatch)
    backend.cupy_module()
    assert stub.allocators == ([None] if pool_off else [])
