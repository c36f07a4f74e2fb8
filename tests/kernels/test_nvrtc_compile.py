"""The NVRTC compile check (tinygan/kernels/nvrtc.py): every kernel source of the package, with
every name its launcher module declares, compiled for sm_75 and sm_90 with the loader's options.

NVRTC is a library (the dev extras install it), so this runs on any machine, GPU or not.  The
sources are found at collection time (tinygan/kernels/*.cu): a new kernel is checked here with
no change to this file.  The test-only sources in tests/kernels/cuda/ show that the check can
fail, and that its error carries NVRTC's own log.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tinygan.kernels import cuda, nvrtc

TEST_SOURCES = Path(__file__).resolve().parent / "cuda"
SOURCES = [path.name for path in cuda.kernel_sources()]


def test_the_package_has_kernel_sources_to_check():
    # Without this the parametrized check below could pass by checking nothing.
    assert "scale.cu" in SOURCES, SOURCES


@pytest.mark.parametrize("arch", nvrtc.ARCHS)
@pytest.mark.parametrize("source", SOURCES)
def test_every_declared_kernel_compiles(source, arch):
    names = cuda.import_kernel_modules().get(source)
    assert names, f"{source}: its launcher module declares no kernels (cuda.declare)"
    lowered = nvrtc.compile_source(cuda.source_path(source), names, arch)
    assert list(lowered) == names
    for name, symbol in lowered.items():
        assert symbol.isidentifier(), (name, symbol)
        if "<" in name:      # a template instance: a mangled symbol, not the name as written
            assert symbol.startswith("_Z") and symbol != name, (name, symbol)


def test_a_planted_error_fails_the_check_with_nvrtcs_log():
    with pytest.raises(nvrtc.NvrtcError) as info:
        nvrtc.compile_source(TEST_SOURCES / "planted_error.cu", ["planted"], "sm_90")
    message = str(info.value)
    # NVRTC's own words, with the file and line of the error, and the step that failed.
    assert 'identifier "planted_undeclared_value" is undefined' in message, message
    assert "planted_error.cu(7)" in message, message
    assert "nvrtcCompileProgram" in message and "sm_90" in message, message
    assert "planted_undeclared_value" in info.value.log


def test_a_name_that_is_no_kernel_of_the_source_fails():
    with pytest.raises(nvrtc.NvrtcError) as info:
        nvrtc.compile_source(cuda.source_path("scale.cu"), ["scale<float>", "scale_typo<float>"], "sm_75")
    assert "scale_typo" in info.value.log, str(info.value)


def test_each_architecture_is_compiled_for_on_its_own():
    path = TEST_SOURCES / "needs_sm90.cu"
    assert nvrtc.compile_source(path, ["cluster_rank"], "sm_90") == {"cluster_rank": "cluster_rank"}
    with pytest.raises(nvrtc.NvrtcError, match=r"(?s)sm_75.*cluster_ctarank.*requires .target sm_90"):
        nvrtc.compile_source(path, ["cluster_rank"], "sm_75")


def test_the_options_are_the_loaders():
    # The loader's own options reach NVRTC: an option NVRTC does not know fails the compile.
    with pytest.raises(nvrtc.NvrtcError, match="--no-such-option"):
        nvrtc.compile_source(cuda.source_path("scale.cu"), ["scale<float>"], "sm_90",
                             options=(*cuda.OPTIONS, "--no-such-option"))


def test_a_source_without_names_is_refused():
    with pytest.raises(nvrtc.NvrtcError, match="no kernel names"):
        nvrtc.compile_source(cuda.source_path("scale.cu"), [], "sm_90")


def test_a_source_without_a_launcher_module_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "orphan.cu").write_text('extern "C" __global__ void orphan() {}\n')
    monkeypatch.setattr(cuda, "KERNELS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"orphan\.cu has no launcher module"):
        cuda.import_kernel_modules()


def test_the_command_checks_the_package_and_fails_on_a_planted_error():
    ok = subprocess.run([sys.executable, "-m", "tinygan.kernels.nvrtc"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    for arch in nvrtc.ARCHS:
        assert re.search(rf"ok\s+scale\.cu\s+{arch}\s+2 kernels", ok.stdout), ok.stdout
    bad = subprocess.run([sys.executable, "-m", "tinygan.kernels.nvrtc", str(TEST_SOURCES / "planted_error.cu"),
                          "--names", "planted"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert 'identifier "planted_undeclared_value" is undefined' in bad.stderr, bad.stderr


def test_a_missing_library_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(nvrtc, "_lib", None)
    monkeypatch.setattr(nvrtc, "_candidates", lambda: ["/nonexistent/libnvrtc.so.13"])
    with pytest.raises(nvrtc.NvrtcError, match=r"(?s)NVRTC \(libnvrtc.so\) not found.*dev extras.*/nonexistent"):
        nvrtc.library()
