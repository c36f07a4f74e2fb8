"""The kernel loader (tinygan/kernels/cuda.py) on any machine: switching kernels on and off,
declarations, and the compile-once, fail-once rules -- with CuPy's RawModule replaced by a
recorder, so that what is compiled, when, with which names and options, can be counted.

The same loader compiling real kernels on a GPU is tested in test_cuda_gpu.py.
"""
from __future__ import annotations

import importlib
import subprocess
import sys

import numpy as np
import pytest

from tinygan import backend
from tinygan.kernels import cuda


class FakeArray:
    """Stands for a CuPy array (backend.is_cupy_array is patched to recognise it)."""


class FakeCompileError(Exception):
    pass


class Recorder:
    """Replaces backend.raw_module: records each module made, and compiles on get_function
    as CuPy's RawModule does -- failing with ``log`` when one is set."""

    def __init__(self):
        self.modules = []          # (code, options, names, device) per module made
        self.compiles = 0
        self.log = None
        self.device = 0

    def raw_module(self, code, options, name_expressions):
        self.modules.append((code, tuple(options), list(name_expressions), self.device))
        recorder = self

        class Module:
            compiled = False

            def get_function(self, name):
                if not self.compiled:
                    recorder.compiles += 1
                    if recorder.log is not None:
                        raise FakeCompileError(recorder.log)
                    self.compiled = True
                assert name in name_expressions
                return ("kernel", name, recorder.device, len(recorder.modules))
        return Module()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A fresh loader state, a recording backend, and a source file ``tmp/k.cu``."""
    monkeypatch.setattr(cuda, "_declared", {})
    monkeypatch.setattr(cuda, "_modules", {})
    monkeypatch.setattr(cuda, "_failures", {})
    rec = Recorder()
    monkeypatch.setattr(backend, "raw_module", rec.raw_module)
    monkeypatch.setattr(backend, "current_device_id", lambda: rec.device)
    monkeypatch.setattr(backend, "is_cupy_array", lambda a: isinstance(a, FakeArray))
    rec.source = str(tmp_path / "k.cu")
    (tmp_path / "k.cu").write_text("template <typename T> __global__ void k(T* x) {}\n")
    return rec


# ---------------------------------------------------------------------------------------
# on and off
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, on", [(None, True), ("1", True), ("0", False), (" 0 ", False), ("", True)])
def test_enabled_reads_tinygan_kernels_at_each_call(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("TINYGAN_KERNELS", raising=False)
    else:
        monkeypatch.setenv("TINYGAN_KERNELS", value)
    assert cuda.enabled() is on


def test_a_bad_tinygan_kernels_value_is_named(monkeypatch):
    monkeypatch.setenv("TINYGAN_KERNELS", "off")
    with pytest.raises(ValueError, match=r"TINYGAN_KERNELS.*'off'"):
        cuda.enabled()


def test_use_kernel_wants_kernels_on_and_every_array_on_the_gpu(fake, monkeypatch):
    monkeypatch.delenv("TINYGAN_KERNELS", raising=False)
    a, b = FakeArray(), FakeArray()
    assert cuda.use_kernel(a) and cuda.use_kernel(a, b)
    assert not cuda.use_kernel(np.zeros(3))
    assert not cuda.use_kernel(a, np.zeros(3))
    assert not cuda.use_kernel()
    monkeypatch.setenv("TINYGAN_KERNELS", "0")
    assert not cuda.use_kernel(a, b)


def test_use_kernel_is_false_for_numpy_arrays_on_a_real_backend(monkeypatch):
    monkeypatch.delenv("TINYGAN_KERNELS", raising=False)
    assert cuda.use_kernel(np.ones(4), np.ones(2)) is False


# ---------------------------------------------------------------------------------------
# declarations
# ---------------------------------------------------------------------------------------
def test_declare_records_names_in_order_once(fake):
    cuda.declare("a.cu", ["f<float>", "f<double>"])
    cuda.declare("a.cu", ["f<double>", "g"])
    assert cuda.declared() == {"a.cu": ["f<float>", "f<double>", "g"]}
    cuda.declared()["a.cu"].append("mutated")          # a copy: the registry is untouched
    assert cuda.declared()["a.cu"] == ["f<float>", "f<double>", "g"]
    assert fake.modules == []                          # declaring compiles nothing


@pytest.mark.parametrize("source, names, error", [
    ("a.cu", "f<float>", TypeError),          # a string, not a list of names
    ("a.cpp", ["f"], ValueError),
    ("a.cu", ["f", ""], ValueError),
    ("a.cu", [3], ValueError),
])
def test_declare_refuses_bad_input(fake, source, names, error):
    with pytest.raises(error, match="cuda.declare"):
        cuda.declare(source, names)
    assert cuda.declared() == {}


def test_importing_a_kernel_module_compiles_nothing_and_imports_no_cupy():
    code = ("import sys, tinygan.kernels.scale, tinygan.kernels.cuda as c\n"
            "assert 'scale<float>' in c.declared()['scale.cu']\n"
            "assert not c._modules and 'cupy' not in sys.modules, sorted(sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_reloading_a_kernel_module_calls_no_compiler(fake):
    fake.log = "must not compile"
    import tinygan.kernels.scale as scale
    importlib.reload(scale)
    assert fake.modules == [] and cuda.declared()["scale.cu"] == ["scale<float>", "scale<double>"]


# ---------------------------------------------------------------------------------------
# compile once per (source, device)
# ---------------------------------------------------------------------------------------
def test_first_use_compiles_every_declared_name_once(fake):
    cuda.declare(fake.source, ["k<float>", "k<double>"])
    f = cuda.function(fake.source, "k<float>")
    assert fake.compiles == 1 and len(fake.modules) == 1
    code, options, names, device = fake.modules[0]
    assert code.startswith("template <typename T>") and options == cuda.OPTIONS
    assert names == ["k<float>", "k<double>"] and device == 0
    assert "--std=c++17" in cuda.OPTIONS
    # memoized: the same kernel again, and the other name from the same module, no compile
    assert cuda.function(fake.source, "k<float>") is f
    assert cuda.function(fake.source, "k<double>")[1] == "k<double>"
    assert fake.compiles == 1 and len(fake.modules) == 1


def test_each_device_gets_its_own_compile(fake):
    cuda.declare(fake.source, ["k<float>"])
    on0 = cuda.function(fake.source, "k<float>")
    fake.device = 1
    on1 = cuda.function(fake.source, "k<float>")
    assert on0[2] == 0 and on1[2] == 1 and fake.compiles == 2
    fake.device = 0
    assert cuda.function(fake.source, "k<float>") is on0 and fake.compiles == 2


def test_names_declared_later_bring_a_fresh_compile_with_every_name(fake):
    cuda.declare(fake.source, ["k<float>"])
    cuda.function(fake.source, "k<float>")
    cuda.declare(fake.source, ["k<double>"])
    cuda.function(fake.source, "k<double>")
    assert [m[2] for m in fake.modules] == [["k<float>"], ["k<float>", "k<double>"]]


def test_a_failed_compile_names_the_kernel_shows_the_log_and_is_not_retried(fake):
    cuda.declare(fake.source, ["k<float>", "k<double>"])
    fake.log = 'k.cu(3): error: identifier "oops" is undefined'
    with pytest.raises(cuda.KernelCompileError) as first:
        cuda.function(fake.source, "k<double>")
    message = str(first.value)
    assert "'k<double>'" in message and fake.source in message, message
    assert 'identifier "oops" is undefined' in message and "FakeCompileError" in message
    assert first.value.source == fake.source and first.value.name == "k<double>"
    assert "not be retried" in message
    fake.log = None                  # even if a compile would now succeed, none is attempted
    for name in ("k<double>", "k<float>"):
        with pytest.raises(cuda.KernelCompileError, match="oops") as again:
            cuda.function(fake.source, name)
        assert again.value.name == name
    assert fake.compiles == 1 and len(fake.modules) == 1
    # forget() (for tests) clears the memory; the next call compiles afresh.
    cuda.forget()
    assert cuda.function(fake.source, "k<float>")[1] == "k<float>" and fake.compiles == 2


def test_an_undeclared_kernel_is_refused_before_compiling(fake):
    cuda.declare(fake.source, ["k<float>"])
    with pytest.raises(KeyError, match=r"'k<int>' is not declared for source .*k\.cu.*cuda\.declare"):
        cuda.function(fake.source, "k<int>")
    with pytest.raises(KeyError, match="declared: nothing"):
        cuda.function("other.cu", "k<float>")
    assert fake.modules == []


def test_a_missing_source_file_is_named(fake, tmp_path):
    missing = str(tmp_path / "gone.cu")
    cuda.declare(missing, ["g"])
    with pytest.raises(FileNotFoundError, match=r"gone\.cu"):
        cuda.function(missing, "g")


def test_a_bare_source_name_is_found_beside_the_loader():
    assert cuda.source_path("scale.cu") == cuda.KERNELS_DIR / "scale.cu"
    assert cuda.source_path("scale.cu").is_file()
    assert (cuda.KERNELS_DIR / "scale.cu") in cuda.kernel_sources()
