"""A launch under a sanitizer, in a process of its own.

``sanitize="thread"``: ThreadSanitizer reports data races between the threads of a block (a
missing ``__syncthreads()``).  ``sanitize="address"``: AddressSanitizer reports reads and
writes past the end of an array (a missing bounds check), which without it silently touch the
host's memory.

A sanitizer must see a process from its start: its runtime has to be loaded first.  A TSan-built
shared library cannot be dlopen'ed into a running, uninstrumented Python ("libtsan.so.2: cannot
allocate memory in static TLS block"); preloading the runtime into a Python subprocess works,
but makes every launch start an interpreter under the sanitizer.  So a sanitized launch runs in
a small executable built from the same translation unit plus a ``main`` (``standalone_main`` in
runtime.cpp): Python writes the arguments to a file, the executable copies each array into a
heap block of exactly its size (so that AddressSanitizer's red zones sit right at its ends),
runs the launch and writes the arrays back, and Python copies them into the caller's arrays.
The sanitizer prints its report on stderr and exits with a status of its own; either turns
into a SanitizerError (DataRaceError, OutOfBoundsError) that carries the report.

Address-space randomisation is switched off for the child (``setarch <machine> -R``, where
setarch is installed): ThreadSanitizer's fixed shadow-memory layout fails ("unexpected memory
mapping") on Linux kernels that randomise mmap with more bits than it expects.  (setarch rather
than a ``preexec_fn``: Python code between fork and exec may deadlock in a threaded parent.)
"""
from __future__ import annotations

import os
import platform
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

MAGIC = 0x31554D454E475954   # "TYGNEMU1"
EXIT_CODES = {"thread": 66, "address": 67}
OPTIONS = {   # environment variable, options (exitcode=: a report is told from a failed launch)
    "thread": ("TSAN_OPTIONS", "exitcode=66 second_deadlock_stack=1"),
    "address": ("ASAN_OPTIONS", "exitcode=67 detect_leaks=0"),
}
MARKERS = {"thread": "WARNING: ThreadSanitizer", "address": "ERROR: AddressSanitizer"}


class SanitizerError(RuntimeError):
    """A sanitizer reported an error in a kernel launch; ``.report`` is its whole report."""

    def __init__(self, message: str, report: str):
        super().__init__(message)
        self.report = report


class DataRaceError(SanitizerError):
    """ThreadSanitizer reported a data race (or another threading error)."""


class OutOfBoundsError(SanitizerError):
    """AddressSanitizer reported an access outside an array (or another memory error)."""


ERRORS = {"thread": DataRaceError, "address": OutOfBoundsError}


def _run(sanitize: str, cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    variable, options = OPTIONS[sanitize]
    env[variable] = f"{options} {env.get(variable, '')}".strip()
    setarch = shutil.which("setarch")
    if setarch:
        cmd = [setarch, platform.machine(), "-R", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s, check=False)


def signatures(sanitize: str, executable: Path) -> list[str]:
    """The parameter types of each name expression built into ``executable``."""
    proc = _run(sanitize, [str(executable), "--signatures"], 60)
    if proc.returncode != 0:
        raise RuntimeError(f"emulator: {executable} --signatures failed:\n{proc.stderr}")
    return proc.stdout.splitlines()


def launch(sanitize: str, executable: Path, entry: int, kernel: str, signature, cfg: list[int], checked,
           timeout_s: float, report_error) -> None:
    """Run kernel ``entry`` of ``executable`` on the checked arguments; copy the arrays back."""
    with tempfile.TemporaryDirectory(prefix="tinygan-sanitizer-") as tmp:
        inp, out = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        with open(inp, "wb") as f:
            f.write(struct.pack("=11Q", MAGIC, entry, *cfg))
            f.write(struct.pack("=Q", len(checked)))
            for is_array, value in checked:
                data = value.tobytes()
                f.write(struct.pack("=QQ", int(is_array), len(data)))
                f.write(data)
        proc = _run(sanitize, [str(executable), str(inp), str(out)], timeout_s + 60)
        if MARKERS[sanitize] in proc.stderr or proc.returncode == EXIT_CODES[sanitize]:
            summary = [line.strip() for line in proc.stderr.splitlines() if line.startswith("SUMMARY:")]
            raise ERRORS[sanitize](f"{kernel}: " + ("\n".join(summary) or f"the {sanitize} sanitizer failed")
                                   + f"\n\n{proc.stderr}", proc.stderr)
        if proc.returncode != 0:
            report_error(proc.stderr.strip().removeprefix("tinygan-emulator error: "))
        data = out.read_bytes()
    offset = 0
    for ctype, (is_array, value) in zip(signature, checked):
        if is_array:
            if not ctype.startswith("const ") and value.nbytes:
                np.copyto(value, np.frombuffer(data, value.dtype, value.size, offset).reshape(value.shape))
            offset += max(value.nbytes, 1)
