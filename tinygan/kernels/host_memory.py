"""Host memory: keep the memory NumPy frees, so the next training step does not fault it in again.

A training step allocates and frees the same few dozen arrays every time: activations,
im2col patches, gradients, 0.1-13 MB each.  glibc's malloc gives freed memory at the top
of its heap back to the kernel once more than a small amount is free there
(``M_TRIM_THRESHOLD``).  The next step then asks for it again, and the kernel hands out
fresh zeroed pages, each costing a page fault on first touch.  For the DCGAN step of
``benchmarks/dcgan_step.py`` that was ~16,000 faults (~64 MB zeroed) per step, about
15% of its time on one thread (347 ms against 294 ms a step with the setting below,
alternating processes).

The fix is to fix malloc's thresholds instead of letting it adapt them:

* ``M_MMAP_THRESHOLD`` 64 MiB: every array a step makes comes from the heap, none
  from a mapping of its own that ``free`` would unmap;
* ``M_TRIM_THRESHOLD`` 256 MiB: free memory at the top of the heap is handed back
  only when there is more than that;
* ``M_TOP_PAD`` 64 MiB: the heap grows in large steps and keeps that much when trimmed.

Freed blocks then stay in the process and are reused as they are.  Peak memory does
not change (the process's high-water mark is the same); what changes is that up to
``TRIM_THRESHOLD`` of freed memory stays mapped between steps.  (NumPy caches only
blocks under 1 KiB itself.)  A first version set ``M_TOP_PAD`` alone: in most runs
that was enough, but with ``OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2`` in the
environment the same DCGAN run took 91,000 faults a step (2.7 million in 30 steps,
a 1-epoch run 614 s instead of 261 s), while all three settings give 40,000 faults
for the whole 30-step run whatever the environment.

A library must not change process-wide settings when it is imported, so ``import
tinygan`` leaves malloc alone.  The processes that are tinygan's own turn it on: the
``tinygan`` command (``cli.main``) and the trainer (``train.loop.fit``); a script that
trains by hand calls ``tinygan.kernels.host_memory.keep_freed_memory()`` itself, best
before its first large array.  Linux with glibc only (elsewhere there is nothing to call).
``TINYGAN_KEEP_MEMORY=0`` in the environment leaves malloc's defaults alone, e.g. to
measure the difference.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

TOP_PAD = 64 * 1024 * 1024     # bytes kept at the top of the heap: a few steps' worth of arrays
MMAP_THRESHOLD = 64 * 1024 * 1024    # blocks from this size up get their own mapping
TRIM_THRESHOLD = 256 * 1024 * 1024   # free memory at the heap's top kept before trimming
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3   # glibc's <malloc.h> mallopt numbers

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Fix glibc's malloc thresholds (see the module docstring); True if it took them.

    False where there is no glibc (macOS, Windows, musl) or ``TINYGAN_KEEP_MEMORY=0``.
    """
    global _applied
    if os.environ.get("TINYGAN_KEEP_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        _applied = False
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):        # not glibc: nothing to set
        _applied = False
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = all([mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                    mallopt(M_TOP_PAD, TOP_PAD)])
    return _applied


def is_applied() -> bool | None:
    """Whether ``keep_freed_memory`` took effect (None before it was called)."""
    return _applied
