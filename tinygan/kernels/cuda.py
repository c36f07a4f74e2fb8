"""The CUDA kernel loader: ``.cu`` sources compiled at run time with NVRTC, lazily, once per device.

A kernel of tinygan is a CUDA source ``tinygan/kernels/NAME.cu`` beside the Python
module ``tinygan/kernels/NAME.py`` that launches it and holds its plain twin.  The
module declares, when it is imported, which kernels the source holds::

    cuda.declare("scale.cu", ["scale<float>", "scale<double>"])

and launches one of them on CuPy arrays through ``function``::

    if cuda.use_kernel(x):
        return launch_scale(lambda name: cuda.function("scale.cu", name), x, a)
    return scale_reference(x, a)          # the twin: the CPU path, and TINYGAN_KERNELS=0

The names are *name expressions* -- ``scale<float>`` is one instance of a C++
template, and its symbol in the compiled module is a mangled name that only the
compiler knows.  NVRTC is handed every declared expression of a source and reports
each one's mangled ("lowered") name, which is how ``cupy.RawModule`` finds a template
instance by the name written here (CuPy's ``name_expressions``).  An ``extern "C"``
kernel is declared by its plain name, and works the same way.

What this loader promises (the StyleGAN2 reference code compiled its extensions with
nvcc at import and rebuilt a failing one on every call; its users' most common
complaint was compile failures and hangs):

- Nothing compiles at import: ``declare`` only records names.  A source is compiled
  the first time one of its kernels is asked for, for the GPU that is current then,
  with all of its declared names at once, and kept: one compile per (source, device).
- No nvcc is needed: NVRTC, the compiler library CuPy ships with or finds, compiles
  the source in the running process (``backend.raw_module``; backend.py is the only
  module that imports CuPy).
- A failed compile raises ``KernelCompileError`` naming the source and the kernel and
  showing NVRTC's log, and is remembered: every later call for that source on that
  device raises the same error at once, without compiling again.
- ``TINYGAN_KERNELS=0`` switches every kernel off (``use_kernel`` says False), so the
  plain CuPy composition of each twin runs instead -- to compare and to time the two.

The same sources are checked without a GPU by ``tinygan.kernels.nvrtc`` (every declared
name compiled for sm_75 and sm_90 with ``OPTIONS``) and run on the CPU by the emulator.
"""
from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .. import backend

#: Where the kernel sources live: beside this file.
KERNELS_DIR = Path(__file__).resolve().parent

#: NVRTC's options for every kernel source.  The target architecture is not among them:
#: CuPy adds the current GPU's, and the compile check adds sm_75 and sm_90 in turn.
#: ``--generate-line-info`` costs nothing at run time and lets compute-sanitizer name the
#: source line of a fault.
OPTIONS: tuple[str, ...] = ("--std=c++17", "--generate-line-info")

_declared: dict[str, list[str]] = {}           # source -> its name expressions, in order
_modules: dict[tuple[str, int], dict[str, Any]] = {}    # (source, device id) -> name -> kernel
_failures: dict[tuple[str, int], "KernelCompileError"] = {}   # (source, device id) -> the error


class KernelCompileError(RuntimeError):
    """A kernel source that NVRTC could not compile (or CUDA could not load).

    ``source`` and ``name`` say which; ``log`` is NVRTC's message, compile log included.
    """

    def __init__(self, source: str, name: str, log: str):
        self.source, self.name, self.log = source, name, log
        super().__init__(f"kernel {name!r} of {source}: the CUDA source failed to compile "
                         f"(NVRTC, options {' '.join(OPTIONS)}); it will not be retried in this "
                         f"process.\n{log}")


# ---------------------------------------------------------------------------------------
# switching kernels on and off
# ---------------------------------------------------------------------------------------
def enabled() -> bool:
    """False when the environment variable ``TINYGAN_KERNELS`` is ``"0"`` (read at each call,
    so a benchmark or a test can flip it between two calls); True when it is unset or ``"1"``."""
    value = os.environ.get("TINYGAN_KERNELS", "1").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"TINYGAN_KERNELS must be '0' (kernels off) or '1' (on), got {value!r}")
    return value != "0"


def use_kernel(*arrays: Any) -> bool:
    """True when the CUDA kernel should run: kernels are enabled and every array is a CuPy array."""
    return bool(arrays) and enabled() and all(backend.is_cupy_array(a) for a in arrays)


@contextmanager
def kernels(on: bool) -> Iterator[None]:
    """``with kernels(False): ...`` runs the block with every kernel off (``TINYGAN_KERNELS=0``:
    the plain twins), ``kernels(True)`` with them on; the setting before is restored after.
    The dispatch reads the variable at each call, so two calls can be compared side by side."""
    old = os.environ.get("TINYGAN_KERNELS")
    os.environ["TINYGAN_KERNELS"] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["TINYGAN_KERNELS"]
        else:
            os.environ["TINYGAN_KERNELS"] = old


# ---------------------------------------------------------------------------------------
# declaring and finding sources
# ---------------------------------------------------------------------------------------
def source_path(source: str | os.PathLike) -> Path:
    """The file of a kernel source: a bare name is looked up beside this module."""
    path = Path(source)
    return path if path.is_absolute() else KERNELS_DIR / path


def declare(source: str, names: Sequence[str]) -> None:
    """Record that CUDA source ``source`` (``"NAME.cu"``, or an absolute path) holds the kernels
    ``names`` (name expressions: ``"bias_act_forward<float>"``, or an ``extern "C"`` kernel's
    name).  Declaration only -- nothing is read or compiled here.  Declaring again adds names."""
    if isinstance(names, str):
        raise TypeError(f"cuda.declare({source!r}, ...): names must be a list of name expressions, "
                        f"not the string {names!r}")
    if not str(source).endswith(".cu"):
        raise ValueError(f"cuda.declare: a kernel source is a .cu file, got {source!r}")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"cuda.declare({source!r}, ...): bad name expression {name!r}")
    known = _declared.setdefault(str(source), [])
    added = [name for name in dict.fromkeys(names) if name not in known]
    known.extend(added)
    if added:
        # A compile made (or failed) before these names were declared lacks them: the next
        # call compiles the source again, with every name.
        for key in [k for k in (*_modules, *_failures) if k[0] == str(source)]:
            _modules.pop(key, None)
            _failures.pop(key, None)


def declared() -> dict[str, list[str]]:
    """Every declared source and its name expressions: ``{source: [name, ...]}`` (a copy)."""
    return {source: list(names) for source, names in _declared.items()}


def kernel_sources() -> list[Path]:
    """The ``.cu`` files of the package (``tinygan/kernels/*.cu``), sorted by name."""
    return sorted(KERNELS_DIR.glob("*.cu"))


def import_kernel_modules() -> dict[str, list[str]]:
    """Import the launcher module ``tinygan.kernels.NAME`` of every ``NAME.cu``, so that each
    declares its names; return ``declared()``.  A source without a launcher is an error."""
    for path in kernel_sources():
        if not (KERNELS_DIR / f"{path.stem}.py").is_file():
            raise FileNotFoundError(f"kernel source {path.name} has no launcher module "
                                    f"tinygan/kernels/{path.stem}.py to declare its kernels")
        importlib.import_module(f"{__package__}.{path.stem}")
    return declared()


# ---------------------------------------------------------------------------------------
# compiling, once per (source, device)
# ---------------------------------------------------------------------------------------
def function(source: str, name: str) -> Callable:
    """The compiled kernel ``name`` of ``source`` for the current GPU: a ``cupy.RawKernel``,
    called as ``f(grid, block, args, shared_mem=0)``.  (A launcher whose arrays may live on
    another GPU than the current one launches under ``with x.device:``.)

    The first call for a source on a device compiles it with NVRTC (all its declared names at
    once) and keeps the module; later calls return the kept kernel.  A failed compile raises
    ``KernelCompileError`` now and at every later call for that source and device.
    """
    source = str(source)
    names = _declared.get(source)
    if names is None or name not in names:
        raise KeyError(f"cuda.function: kernel {name!r} is not declared for source {source!r} "
                       f"(declared: {names or 'nothing'}); the launcher module must call "
                       f"cuda.declare({source!r}, [...{name!r}...]) at import")
    key = (source, backend.current_device_id())
    failure = _failures.get(key)
    if failure is not None:
        raise KernelCompileError(failure.source, name, failure.log)   # no second attempt
    kernels = _modules.get(key)
    if kernels is None:
        kernels = _modules[key] = _compile(source, names, name, key)
    return kernels[name]


def _compile(source: str, names: list[str], asked: str, key: tuple[str, int]) -> dict[str, Any]:
    """Compile and load every declared kernel of ``source``; remember a failure under ``key``."""
    path = source_path(source)
    try:
        code = path.read_text()
    except OSError as exc:
        raise FileNotFoundError(f"cuda.function: kernel source {source!r} not found at {path} "
                                f"({exc})") from None
    try:
        module = backend.raw_module(code, OPTIONS, names)
        # get_function compiles (NVRTC) and loads the module on the first name.
        return {n: module.get_function(n) for n in names}
    except Exception as exc:  # CuPy's CompileException (its text holds NVRTC's log), a load error
        error = KernelCompileError(source, asked, f"{type(exc).__name__}: {exc}")
        _failures[key] = error
        raise error from None


def forget() -> None:
    """Drop every compiled module and remembered failure (declarations stay).  For tests."""
    _modules.clear()
    _failures.clear()
