"""The NVRTC compile check: every kernel source, every declared name, for sm_75 and sm_90.

NVRTC, CUDA's run-time compiler, is a plain shared library: compiling needs no GPU,
no driver and no CUDA toolkit.  The ``dev`` extras install it (the ``nvidia-cuda-nvrtc``
wheel puts ``libnvrtc.so`` under ``site-packages/nvidia/cu13/lib``), and this module
calls it through ctypes, so that ``make test`` on any machine compiles each
``tinygan/kernels/NAME.cu`` as the loader (``cuda.py``) will on a GPU:

    nvrtcCreateProgram(source)
    nvrtcAddNameExpression(name)            for every declared name (template instances)
    nvrtcCompileProgram(cuda.OPTIONS + --gpu-architecture=sm_XX)
    nvrtcGetLoweredName(name)               the mangled symbol the loader will look up

sm_75 (Turing, the oldest architecture CUDA 13 builds for) and sm_90 (Hopper) bracket
the GPUs tinygan is run on; a source that uses something too new for one of them fails
here rather than on a user's GPU.  A failure raises ``NvrtcError`` with NVRTC's log.

    python -m tinygan.kernels.nvrtc                 # every source of the package
    python -m tinygan.kernels.nvrtc X.cu --names 'f<float>' 'g'    # one source of your own

``TINYGAN_NVRTC=/path/to/libnvrtc.so`` picks the library by hand.
"""
from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import glob
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from . import cuda

#: The architectures every source is compiled for.
ARCHS: tuple[str, ...] = ("sm_75", "sm_90")

_lib: ctypes.CDLL | None = None


class NvrtcError(RuntimeError):
    """NVRTC refused a source (``log`` holds its program log) or could not be loaded."""

    def __init__(self, message: str, log: str = ""):
        self.log = log
        super().__init__(message + (f"\n--- NVRTC log ---\n{log.rstrip()}" if log else ""))


# ---------------------------------------------------------------------------------------
# finding and loading the library
# ---------------------------------------------------------------------------------------
def _candidates() -> list[str]:
    """libnvrtc.so files, best first: $TINYGAN_NVRTC, the pip wheels (CUDA 13, then 12), the
    system's (a CUDA toolkit, the loader's search path)."""
    found: list[str] = []
    if os.environ.get("TINYGAN_NVRTC"):
        found.append(os.environ["TINYGAN_NVRTC"])
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for pattern in ("cu13/lib/libnvrtc.so*", "cuda_nvrtc/lib/libnvrtc.so*", "cu12/lib/libnvrtc.so*"):
            found += sorted((p for p in glob.glob(os.path.join(root, pattern)) if ".alt." not in p),
                            reverse=True)
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            found += sorted(glob.glob(os.path.join(home, "lib64", "libnvrtc.so*")), reverse=True)
    system = ctypes.util.find_library("nvrtc")
    if system:
        found.append(system)
    return found


def library() -> ctypes.CDLL:
    """libnvrtc, loaded once.  Raises ``NvrtcError`` saying where it looked."""
    global _lib
    if _lib is not None:
        return _lib
    tried = []
    for path in _candidates():
        try:
            # libnvrtc opens its builtins library (libnvrtc-builtins.so.VERSION) by name when
            # it compiles; a wheel's folder is not on the loader's path, so load it first,
            # globally, from beside libnvrtc -- the later lookup by name then finds it.
            for builtins in glob.glob(os.path.join(os.path.dirname(path), "libnvrtc-builtins.so*")):
                if ".alt." not in builtins:
                    ctypes.CDLL(os.path.abspath(builtins), mode=ctypes.RTLD_GLOBAL)
            lib = ctypes.CDLL(path)
        except OSError as exc:
            tried.append(f"{path}: {exc}")
            continue
        _declare_signatures(lib)
        _lib = lib
        return lib
    raise NvrtcError("NVRTC (libnvrtc.so) not found.  It comes with the dev extras "
                     "(pip install -e '.[dev]', the nvidia-cuda-nvrtc wheel) or a CUDA toolkit; "
                     "TINYGAN_NVRTC=/path/to/libnvrtc.so names it.  Tried: "
                     + ("; ".join(tried) or "no candidate files"))


def _declare_signatures(lib: ctypes.CDLL) -> None:
    p, c_int, c_size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    pp = ctypes.POINTER(ctypes.c_char_p)
    sig = {
        "nvrtcVersion": [ctypes.POINTER(c_int), ctypes.POINTER(c_int)],
        "nvrtcCreateProgram": [ctypes.POINTER(p), ctypes.c_char_p, ctypes.c_char_p, c_int, pp, pp],
        "nvrtcDestroyProgram": [ctypes.POINTER(p)],
        "nvrtcAddNameExpression": [p, ctypes.c_char_p],
        "nvrtcCompileProgram": [p, c_int, pp],
        "nvrtcGetLoweredName": [p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)],
        "nvrtcGetProgramLogSize": [p, ctypes.POINTER(c_size)],
        "nvrtcGetProgramLog": [p, ctypes.c_char_p],
    }
    for name, args in sig.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, c_int
    lib.nvrtcGetErrorString.argtypes, lib.nvrtcGetErrorString.restype = [c_int], ctypes.c_char_p


def version() -> tuple[int, int]:
    """NVRTC's (major, minor) version."""
    major, minor = ctypes.c_int(), ctypes.c_int()
    _call("nvrtcVersion", ctypes.byref(major), ctypes.byref(minor))
    return major.value, minor.value


def _call(fn: str, *args, program=None, what: str = "") -> None:
    lib = library()
    result = getattr(lib, fn)(*args)
    if result != 0:
        log = _log(program) if program is not None else ""
        reason = lib.nvrtcGetErrorString(result).decode()
        raise NvrtcError(f"{fn} failed ({reason}){what}", log)


def _log(program) -> str:
    lib = library()
    size = ctypes.c_size_t()
    if lib.nvrtcGetProgramLogSize(program, ctypes.byref(size)) != 0 or size.value <= 1:
        return ""
    buf = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(program, buf)
    return buf.value.decode(errors="replace")


# ---------------------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------------------
def compile_source(path: str | os.PathLike, names: Sequence[str], arch: str,
                   options: Sequence[str] = cuda.OPTIONS) -> dict[str, str]:
    """Compile the CUDA file ``path`` with NVRTC for ``arch`` (``"sm_90"``), instantiating every
    name expression of ``names``; return ``{name: lowered (mangled) name}``.

    Raises ``NvrtcError`` naming the file, the architecture and the failing step, with NVRTC's
    program log, when the source does not compile or a name is not a kernel of it.
    """
    path = Path(path)
    if not names:
        raise NvrtcError(f"{path.name}: no kernel names to compile (cuda.declare lists none)")
    code = path.read_bytes()
    lib = library()
    program = ctypes.c_void_p()
    where = f" for {path.name} on {arch}"
    _call("nvrtcCreateProgram", ctypes.byref(program), code, path.name.encode(), 0, None, None,
          what=where)
    try:
        for name in names:
            _call("nvrtcAddNameExpression", program, name.encode(), program=program,
                  what=f"{where} (name {name!r})")
        opts = [*options, f"--gpu-architecture={arch}"]
        argv = (ctypes.c_char_p * len(opts))(*(o.encode() for o in opts))
        _call("nvrtcCompileProgram", program, len(opts), argv, program=program,
              what=f"{where} with options {' '.join(opts)}")
        lowered = {}
        for name in names:
            out = ctypes.c_char_p()
            _call("nvrtcGetLoweredName", program, name.encode(), ctypes.byref(out), program=program,
                  what=f"{where}: no kernel for the name expression {name!r}")
            lowered[name] = out.value.decode()
        return lowered
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(program))


def check(sources: Sequence[tuple[Path, Sequence[str]]], archs: Sequence[str] = ARCHS,
          out=sys.stdout) -> list[dict]:
    """Compile each ``(path, names)`` for each of ``archs``, printing one line per pair with its
    time; go on past a failure, and at the end raise ``NvrtcError`` holding every failure."""
    results, failures = [], []
    for path, names in sources:
        for arch in archs:
            t = time.perf_counter()
            try:
                lowered = compile_source(path, names, arch)
            except NvrtcError as exc:
                failures.append(exc)
                print(f"FAILED  {Path(path).name:<24} {arch}", file=out)
                continue
            dt = time.perf_counter() - t
            print(f"ok  {Path(path).name:<24} {arch}  {len(lowered)} kernels  {dt * 1e3:6.0f} ms", file=out)
            results.append({"source": Path(path).name, "arch": arch, "kernels": lowered, "seconds": dt})
    if failures:
        raise NvrtcError(f"{len(failures)} compile(s) failed:\n\n" + "\n\n".join(map(str, failures)))
    return results


def package_sources() -> list[tuple[Path, list[str]]]:
    """Every ``tinygan/kernels/*.cu`` with the names its launcher module declares."""
    decl = cuda.import_kernel_modules()
    return [(path, decl.get(path.name, [])) for path in cuda.kernel_sources()]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tinygan.kernels.nvrtc",
                                 description="Compile CUDA kernel sources with NVRTC (no GPU needed).")
    ap.add_argument("sources", nargs="*", help="a .cu file to check (default: every source of the "
                                               "package, with its declared names)")
    ap.add_argument("--names", nargs="+", default=[], help="the name expressions of the given sources")
    ap.add_argument("--arch", nargs="+", default=list(ARCHS))
    args = ap.parse_args(argv)
    try:
        major, minor = version()
        print(f"NVRTC {major}.{minor}, options {' '.join(cuda.OPTIONS)}", flush=True)
        sources = ([(Path(s), args.names) for s in args.sources] if args.sources
                   else package_sources())
        t = time.perf_counter()
        results = check(sources, args.arch)
        print(f"{len(results)} compiles in {time.perf_counter() - t:.2f} s")
    except NvrtcError as exc:
        sys.stdout.flush()
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
