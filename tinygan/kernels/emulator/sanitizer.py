"""A launch under ThreadSanitizer, in a process of its own.

ThreadSanitizer must see a process from its start: its runtime has to be loaded first, with
its thread-local state in the initial TLS block.  A TSan-built shared library cannot be
dlopen'ed into a running, uninstrumented Python ("libtsan.so.2: cannot allocate memory in static
TLS block"); preloading libtsan into a Python subprocess works, but makes every launch start an
interpreter under TSan.  So a sanitized launch runs in a small executable built from the same
translation unit plus a ``main`` (``standalone_main`` in the header): Python writes the
arguments to a file, the executable runs the launch and writes the arrays back, and Python
copies them into the caller's arrays.  TSan prints its reports on stderr and exits with status
66; either turns into a DataRaceError that carries the report.

Address-space randomisation is switched off for the child (``personality(ADDR_NO_RANDOMIZE)``,
what ``setarch -R`` does): TSan's fixed shadow-memory layout fails ("unexpected memory
mapping") on kernels that randomise mmap with more bits than it expects.
"""
from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

MAGIC = 0x31554D454E475954   # "TYGNEMU1"
TSAN_EXIT_CODE = 66
ADDR_NO_RANDOMIZE = 0x0040000


class DataRaceError(RuntimeError):
    """ThreadSanitizer reported a data race (or another threading error) in a kernel launch."""

    def __init__(self, message: str, report: str):
        super().__init__(message)
        self.report = report


def _no_aslr() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.personality(ADDR_NO_RANDOMIZE)
    except Exception:   # without it TSan usually still works; never fail the launch here
        pass


def launch(executable: Path, entry: int, kernel: str, signature, cfg: list[int], checked, timeout_s: float,
           report_error) -> None:
    """Run kernel ``entry`` of ``executable`` on the checked arguments; copy the arrays back."""
    with tempfile.TemporaryDirectory(prefix="tinygan-tsan-") as tmp:
        inp, out = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        with open(inp, "wb") as f:
            f.write(struct.pack("=11Q", MAGIC, entry, *cfg))
            f.write(struct.pack("=Q", len(checked)))
            for is_array, value in checked:
                data = value.tobytes()
                f.write(struct.pack("=QQ", int(is_array), len(data)))
                f.write(data)
        env = dict(os.environ)
        env.setdefault("TSAN_OPTIONS", f"exitcode={TSAN_EXIT_CODE} second_deadlock_stack=1")
        proc = subprocess.run([str(executable), str(inp), str(out)], capture_output=True, text=True,
                              env=env, preexec_fn=_no_aslr, timeout=timeout_s + 60, check=False)
        if "ThreadSanitizer" in proc.stderr or proc.returncode == TSAN_EXIT_CODE:
            summary = [line.strip() for line in proc.stderr.splitlines() if line.startswith("SUMMARY:")]
            raise DataRaceError(f"{kernel}: " + ("\n".join(summary) or "ThreadSanitizer failed")
                                + f"\n\n{proc.stderr}", proc.stderr)
        if proc.returncode != 0:
            report_error(proc.stderr.strip().removeprefix("tinygan-emulator error: "))
        data = out.read_bytes()
    offset = 0
    for ctype, (is_array, value) in zip(signature, checked):
        if is_array:
            n = max(value.nbytes, 1)
            if not ctype.startswith("const ") and value.nbytes:
                np.copyto(value, np.frombuffer(data, value.dtype, value.size, offset).reshape(value.shape))
            offset += n
