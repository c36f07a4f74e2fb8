"""What the CUDA-on-CPU emulator costs: its g++ builds and its launches.

The emulator (tinygan/kernels/emulator/) runs the kernel tests of ``make test``, so its costs
are test-suite costs: a g++ build per kernel source (cached across runs; a fresh CI machine
pays them once per run) and a launch per call, where every CUDA thread is an OS thread and a
``__syncthreads()`` makes every one of them wait.

Usage::

    python benchmarks/emulator_costs.py

Builds go to a fresh temporary cache so that each one is measured; "g++ cpu" is the compiler's
user + system time, "wall" includes waiting for a busy machine.  Launches: the median of a few
calls, on the test kernels of tests/kernels/cuda/.
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CUDA = ROOT / "tests" / "kernels" / "cuda"
REDUCTIONS = ["block_sum", "warp_sum<float>", "warp_sum<double>", "warp_exchanges", "atomic_totals"]
ELEMENTWISE = ["scaled_add<float>", "scaled_add<double>", "math_table"]


def compiler_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_build(label, fn):
    cpu, wall = compiler_cpu(), time.perf_counter()
    result = fn()
    print(f"  {label:<48} wall {time.perf_counter() - wall:5.2f} s   g++ cpu {compiler_cpu() - cpu:5.2f} s")
    return result


def timed_launch(label, f, grid, block, args, schedule="parallel", reps=5):
    f(grid, block, args, schedule=schedule)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        f(grid, block, args, schedule=schedule)
        times.append(time.perf_counter() - start)
    print(f"  {label:<58} {schedule:<9} {np.median(times) * 1e3:8.1f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tinygan-emulator-bench-") as cache:
        os.environ["TINYGAN_EMULATOR_CACHE"] = cache
        measure()


def measure() -> None:
    from tinygan.kernels import emulator
    from tinygan.kernels.emulator import build

    print(f"# {platform.machine()}, {os.cpu_count()} cores, {build.compiler_version(build.compiler()).splitlines()[0]}, "
          f"Python {sys.version.split()[0]}")
    print(f"# load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at start")
    print("builds (each once per machine, then from the cache):")
    timed_build("runtime.cpp -> shared library", lambda: build.runtime("library"))
    timed_build("runtime.cpp -> ThreadSanitizer object", lambda: build.runtime("thread"))
    timed_build("runtime.cpp -> AddressSanitizer object", lambda: build.runtime("address"))
    reductions = timed_build("reductions.cu, 5 name expressions -> library",
                             lambda: emulator.load(CUDA / "reductions.cu", REDUCTIONS))
    elementwise = timed_build("elementwise.cu, 3 name expressions -> library",
                              lambda: emulator.load(CUDA / "elementwise.cu", ELEMENTWISE))
    tsan = timed_build("reductions.cu -> ThreadSanitizer executable",
                       lambda: emulator.load(CUDA / "reductions.cu", REDUCTIONS, sanitize="thread"))
    asan = timed_build("reductions.cu -> AddressSanitizer executable",
                       lambda: emulator.load(CUDA / "reductions.cu", REDUCTIONS, sanitize="address"))

    print("launches (median):")
    n = 1 << 20
    x, y, out = np.ones(n, np.float32), np.ones(n, np.float32), np.zeros(n, np.float32)
    scaled_add = elementwise.get_function("scaled_add<float>")
    timed_launch("scaled_add, 1 block of 32 threads, n = 32", scaled_add, 1, 32,
                 (x, y, out, np.float32(2), np.int64(32)))
    timed_launch("scaled_add, 1 block of 256 threads, n = 2^20 (grid-stride)", scaled_add, 1, 256,
                 (x, y, out, np.float32(2), np.int64(n)))
    xs, sums = np.ones(16 * 256, np.float32), np.zeros(16, np.float32)
    for schedule in emulator.SCHEDULES:
        timed_launch("block_sum, 16 blocks of 256 (9 barriers each)", reductions.get_function("block_sum"), 16, 256,
                     (xs, sums, np.int32(xs.size)), schedule, reps=3)
    timed_launch("block_sum under ThreadSanitizer, 4 blocks of 256", tsan.get_function("block_sum"), 4, 256,
                 (xs, sums, np.int32(1024)), reps=3)
    timed_launch("block_sum under AddressSanitizer, 4 blocks of 256", asan.get_function("block_sum"), 4, 256,
                 (xs, sums, np.int32(1024)), reps=3)
    print(f"# load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at end")


if __name__ == "__main__":
    main()
