"""Host memory: keep the memory NumPy frees, so the next training step does not fault it in again.

A training step allocates and frees the same few dozen arrays every time: activations,
im2col patches, gradients, 0.1-13 MB each.  glibc's malloc gives freed memory at the top
of its heap back to the kernel once more than a small amount is free there
(``M_TRIM_THRESHOLD``).  The next step then asks for it again, and the kernel hands out
fresh zeroed pages, each costing a page fault on first touch.  For the DCGAN step of
``benchmarks/dcgan_step.py`` that was ~16,000 faults (~64 MB zeroed) per step and 45%
of its time on one thread (505 ms against 280 ms with the setting below).

The fix is to ask malloc to keep a pad of ``TOP_PAD`` bytes at the top of the heap
whenever it grows or trims it (``mallopt(M_TOP_PAD)``): freed blocks then stay in the
process and are reused as they are.  Peak memory does not change (the process's
high-water mark is the same); what changes is that up to ``TOP_PAD`` of it stays mapped
between steps.  (NumPy caches only blocks under 1 KiB itself.)

This is set once, when tinygan is imported, on Linux with glibc only (elsewhere there is
nothing to call).  ``TINYGAN_KEEP_MEMORY=0`` in the environment leaves malloc's defaults
alone, e.g. to measure the difference.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

TOP_PAD = 64 * 1024 * 1024     # bytes kept at the top of the heap: a few steps' worth of arrays
M_TOP_PAD = -2                 # glibc's <malloc.h> parameter number for mallopt

_applied: bool | None = None


def keep_freed_memory(top_pad: int = TOP_PAD) -> bool:
    """Ask glibc's malloc to keep ``top_pad`` bytes at the top of the heap; True if it did.

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
    _applied = bool(mallopt(M_TOP_PAD, int(top_pad)))
    return _applied


def is_applied() -> bool | None:
    """Whether ``keep_freed_memory`` took effect (None before it was called)."""
    return _applied
