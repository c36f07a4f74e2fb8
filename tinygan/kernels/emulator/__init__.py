"""The CUDA-on-CPU emulator: the same ``.cu`` the GPU runs, compiled with g++ and run on NumPy.

A kernel file ``tinygan/kernels/NAME.cu`` is written once, in the CUDA subset that NVRTC
compiles for the GPU.  This package compiles that same file with g++ against
``cuda_emulator.h``, a small header that makes CUDA's execution model out of OS threads, and
launches it with the call shape of ``cupy.RawKernel``::

    from tinygan.kernels import emulator
    f = emulator.function("bias_act.cu", "bias_act_forward<float>")
    f(grid, block, (x, b, y, np.float32(0.2), np.int32(n)))     # NumPy arrays, NumPy scalars

so a kernel's logic is tested on any machine with g++, against its NumPy twin, before a GPU
ever sees it.  ``load(source, names)`` compiles several name expressions in one g++ run and
returns a module with ``get_function(name)``; a test loads all the names of its source once
and hands the launcher ``module.get_function`` (or ``lambda name: emulator.function(SOURCE,
name)``, which finds them in that build)::

    module = emulator.load("bias_act.cu", NAMES)                        # once, e.g. a fixture
    y = launch_forward(module.get_function, x, b, ...)                  # the shared launcher
    y = launch_forward(emulator.load("bias_act.cu", NAMES, sanitize="thread").get_function, ...)

What it models
    * One OS thread per CUDA thread of a block, created once per launch; the blocks of the grid
      run one after another, all threads meeting at a barrier between two blocks.
    * ``threadIdx``/``blockIdx`` (per thread), ``blockDim``/``gridDim``, 3-D grids and blocks.
    * ``__shared__`` memory, one copy per block (blocks take turns), refilled with 0xFF bytes
      before each block (NaN as float or double, -1 as an integer): CUDA leaves it
      uninitialized, and a read before the write should show rather than pass by luck.
    * ``__syncthreads()`` as a barrier of the block's threads; threads that returned from the
      kernel drop out of it.  A barrier nobody can complete is reported as a deadlock.
    * Warp shuffles (``__shfl_sync``, ``_up``, ``_down``, ``_xor``, with ``width``) and
      ``__syncwarp``, through per-warp slots and warp barriers, full mask only; a shuffle in a
      warp that lacks lanes (a block size not a multiple of 32, lanes that returned) is an error.
    * ``atomicAdd`` (float, double, int, unsigned, unsigned long long) and the integer atomics,
      as relaxed atomic read-modify-writes.
    * The math functions and intrinsics of the CUDA subset (``cuda_emulator.h``, section 6).
    * Argument types: each argument is checked against the kernel's C signature.

What it does not model
    * Races between blocks: blocks never run at the same time here, so a kernel whose blocks
      race on global memory (without atomics) passes.  Races within a block are real races
      between OS threads: ThreadSanitizer finds them (``sanitize="thread"``).
    * Memory: no coalescing, banks, caches; no out-of-bounds checks on global memory unless
      ``sanitize="address"`` (else an index past an array's end reads or writes the host's
      memory); no bounds checks on shared memory; no limit on shared memory size;
      no ``extern __shared__`` (dynamic shared memory), no constant or texture memory.
    * Timing, occupancy, register pressure: the emulator says whether a kernel is right,
      never whether it is fast.
    * Warps beyond the shuffles: threads of a warp do not run in lockstep, so code that relies
      on implicit warp-synchronous execution (reading a neighbour's shared value without
      ``__syncwarp``) is racy here as it is on Volta and later GPUs; divergence costs nothing.
    * Floating point details: CUDA's fast intrinsics (``__expf``) are the accurate functions
      here, and g++ does not fuse multiply-adds where nvcc/NVRTC do, so results agree with the
      GPU to rounding, not bit for bit.

Schedules (``schedule=`` on a launch, or as the default of ``load``/``function``)
    ``"parallel"``   the OS runs the threads as it likes (the default).
    ``"forward"``    one thread at a time, each until it waits at a barrier or returns, in
                     thread order; ``"reverse"``: in reverse order; ``"shuffle"``: in a random
                     order drawn from ``seed``.
    The serial schedules are deterministic, so a missing ``__syncthreads()`` shows the same
    way on every run: under ``"forward"`` a thread reads the shared slots of higher-numbered
    threads before they are written (still NaN from the refill), under ``"reverse"`` those of
    lower-numbered threads.  Running a kernel under ``"forward"`` and ``"reverse"`` and
    comparing with its twin catches most missing barriers without ThreadSanitizer.

Cost: every CUDA thread is an OS thread, and a barrier of a block of 256 threads takes about a
millisecond on two cores; keep the grids of emulator tests small (a few blocks), with sizes
that are not multiples of the block.  One launch runs at a time in a process.

Sanitizers: ``load(source, names, sanitize="thread")`` builds with ``-fsanitize=thread`` and
runs each launch in a separate process (see ``sanitizer.py`` for why); a data race within a
block becomes a ``DataRaceError`` carrying ThreadSanitizer's report.  ``sanitize="address"``
does the same with AddressSanitizer, each array in a heap block of exactly its size: an index
past an array's end (a missing bounds check) becomes an ``OutOfBoundsError``.  A sanitized
launch copies its argument arrays into that other process, so a kernel that reaches arrays
through addresses stored in an array (a table of pointers, as a fused optimizer step over many
parameters does) cannot run sanitized: the addresses would be the parent's.

Files: ``cuda_emulator.h`` is what a kernel sees (CUDA's keywords, indices, atomics, math);
``runtime.cpp`` is the execution model (threads, barriers, shuffles, schedules), compiled once
and linked to every kernel; ``build.py`` compiles and caches; ``arguments.py`` checks a launch's
arguments; ``sanitizer.py`` runs a launch under ThreadSanitizer.  Builds are cached under
``$TINYGAN_EMULATOR_CACHE`` (default ``~/.cache/tinygan/emulator``), keyed by a hash of the
source, the header, the runtime, the flags and the compiler; ``CXX`` names the compiler (default
``g++``).  Requirements: Linux (the shared-memory refill finds its linker section by ELF's
``__start_``/``__stop_`` symbols), g++ 11 or later (C++20: ``std::atomic_ref``, ``std::bit_cast``,
``constinit``; tested with g++ 12), and for the sanitizers the libtsan / libasan that come with it.
"""
from __future__ import annotations

import ctypes
import os
import threading
from pathlib import Path
from typing import Sequence

from . import arguments, build, sanitizer
from .build import CompileError
from .sanitizer import DataRaceError, OutOfBoundsError, SanitizerError

__all__ = ["load", "function", "Module", "Kernel", "CompileError", "LaunchError", "SanitizerError", "DataRaceError",
           "OutOfBoundsError", "SCHEDULES", "SANITIZERS"]

SCHEDULES = {"parallel": 0, "forward": 1, "reverse": 2, "shuffle": 3}   # tinygan_emu::Schedule
SANITIZERS = (None, "thread", "address")


class LaunchError(RuntimeError):
    """A launch the emulator could not complete: a deadlock, a shuffle with lanes missing, ..."""


def barrier_timeout() -> float:
    """Seconds a barrier waits before the launch is called a deadlock (``TINYGAN_EMULATOR_TIMEOUT``)."""
    return float(os.environ.get("TINYGAN_EMULATOR_TIMEOUT", "60"))


class Kernel:
    """One compiled name expression; call it as ``cupy.RawKernel``: ``f(grid, block, args)``."""

    def __init__(self, module: "Module", index: int, name: str, signature: tuple[str, ...]):
        self.module, self.index, self.name, self.signature = module, index, name, signature

    def __repr__(self) -> str:
        return f"<emulator.Kernel {self.name}({', '.join(self.signature)})>"

    def __call__(self, grid, block, args, shared_mem: int = 0, *, schedule: str | None = None,
                 seed: int = 0) -> None:
        """Launch on ``grid`` blocks of ``block`` threads (ints or tuples of up to 3 ints).

        ``args``: NumPy arrays for pointer parameters (written in place), NumPy scalars of the
        parameter's exact type for the others.  ``schedule``/``seed``: see the module docstring."""
        kernel = f"kernel {self.name}"
        grid_xyz = arguments.dims(grid, "grid", kernel)
        block_xyz = arguments.dims(block, "block", kernel)
        if shared_mem:
            raise ValueError(f"{kernel}: shared_mem={shared_mem}, but dynamic shared memory (extern __shared__) "
                             "is outside the CUDA subset tinygan's kernels use; declare __shared__ arrays of "
                             "compile-time size")
        schedule = self.module.schedule if schedule is None else schedule
        if schedule not in SCHEDULES:
            raise ValueError(f"{kernel}: schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
        checked = arguments.check(kernel, self.signature, args)
        timeout = barrier_timeout()
        cfg = [*grid_xyz, *block_xyz, SCHEDULES[schedule], int(seed) & (2**64 - 1), int(timeout * 1000)]

        def report(message: str):
            raise LaunchError(f"{kernel} on grid {grid_xyz}, block {block_xyz} ({schedule}): {message}")

        if self.module.sanitize is not None:
            sanitizer.launch(self.module.sanitize, self.module.path, self.index, kernel, self.signature, cfg,
                             checked, timeout, report)
            return
        holders, pointers = [], (ctypes.c_void_p * max(len(checked), 1))()
        for i, (is_array, value) in enumerate(checked):
            if is_array:       # args[i] points at the pointer to the data
                holder = ctypes.c_void_p(value.ctypes.data)
                holders.append(holder)
                pointers[i] = ctypes.addressof(holder)
            else:              # args[i] points at the value itself
                pointers[i] = value.ctypes.data
        config = (ctypes.c_ulonglong * 9)(*cfg)
        error = ctypes.create_string_buffer(4096)
        rc = self.module.launcher(self.index)(config, pointers, error, len(error))
        if rc != 0:
            report(error.value.decode(errors="replace"))


class Module:
    """The name expressions of one source, compiled together; ``get_function(name)`` as in CuPy."""

    def __init__(self, path: Path, names: tuple[str, ...], sanitize: str | None, schedule: str):
        self.source, self.names, self.sanitize, self.schedule = path, names, sanitize, schedule
        self.path = build.build(path, names, "library" if sanitize is None else sanitize)
        self._kernels, self._launchers = {}, {}
        if sanitize is None:
            self._lib = ctypes.CDLL(str(self.path))
            signatures = []
            for i in range(len(names)):
                sig = getattr(self._lib, f"tinygan_emu_signature_{i}")
                sig.restype = ctypes.c_char_p
                signatures.append(sig().decode())
        else:
            signatures = sanitizer.signatures(sanitize, self.path)
        for i, (name, sig) in enumerate(zip(names, signatures)):
            self._kernels[name] = Kernel(self, i, name, arguments.parse_signature(sig))

    def launcher(self, index: int):
        """The C function that launches name expression ``index``: (cfg, args, err, errlen) -> 0 or 1."""
        if index not in self._launchers:
            f = getattr(self._lib, f"tinygan_emu_launch_{index}")
            f.argtypes = [ctypes.POINTER(ctypes.c_ulonglong), ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                          ctypes.c_size_t]
            f.restype = ctypes.c_int
            self._launchers[index] = f
        return self._launchers[index]

    def get_function(self, name: str) -> Kernel:
        try:
            return self._kernels[name]
        except KeyError:
            raise KeyError(f"emulator: {name!r} is not among the name expressions compiled for "
                           f"{self.source.name}: {', '.join(self.names)}") from None


_modules: dict = {}
_failures: dict = {}
_lock = threading.Lock()


def load(source: str | os.PathLike, names: Sequence[str], *, sanitize: str | None = None,
         schedule: str = "parallel") -> Module:
    """Compile ``names`` (name expressions: ``"k"``, ``"k<float>"``) of ``source`` -- a file name
    in ``tinygan/kernels/`` or a path -- once per process (and once per machine: the build is
    cached); a failed compile raises CompileError with g++'s output, and again at once on a
    second try."""
    if sanitize not in SANITIZERS:
        raise ValueError(f"emulator.load: sanitize must be None, 'thread' or 'address', got {sanitize!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"emulator.load: schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    names = tuple(names)
    if not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError(f"emulator.load: names must be a non-empty sequence of name expressions, got {names!r}")
    path = build.resolve_source(source)
    key = (path, names, sanitize, schedule)
    with _lock:
        if key in _failures:
            raise _failures[key]
        if key not in _modules:
            try:
                _modules[key] = Module(path, names, sanitize, schedule)
            except CompileError as e:
                _failures[key] = e
                raise
        return _modules[key]


def function(source: str | os.PathLike, name: str, *, sanitize: str | None = None,
             schedule: str = "parallel") -> Kernel:
    """The kernel ``name`` of ``source``, callable as ``f(grid, block, args, shared_mem=0)``.

    Taken from a module ``load`` has compiled with ``name`` among its names; else compiled
    with every name expression the source's launcher module declared to the GPU loader
    (``tinygan.kernels.cuda.declare``), in one g++ run; else compiled alone."""
    path = build.resolve_source(source)
    with _lock:
        for (p, names, s, sched), module in _modules.items():
            if p == path and s == sanitize and sched == schedule and name in names:
                return module.get_function(name)
    declared = _declared_names(path)
    names = declared if name in declared else (name,)
    return load(path, names, sanitize=sanitize, schedule=schedule).get_function(name)


def _declared_names(path: Path) -> tuple[str, ...]:
    """The name expressions declared for the source at ``path`` through the GPU loader's
    ``cuda.declare`` (its ``declared()``: source -> names), or () where there are none."""
    try:
        from .. import cuda   # noqa: PLC0415 - the GPU loader; optional for the emulator
    except ImportError:
        return ()
    declared = getattr(cuda, "declared", None)
    if not callable(declared):
        return ()
    for source, names in declared().items():
        try:
            if build.resolve_source(source) == path:
                return tuple(names)
        except FileNotFoundError:
            continue
    return ()
