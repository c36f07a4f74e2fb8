"""Each CUDA kernel against the plain CuPy composition it replaces, on a GPU.

Every kernel module of tinygan/kernels/ registers its cases with
``tinygan.kernels.benchmark.register`` (imported here through the loader's list of
sources).  A case is one call of a public function; it is timed twice on the same
inputs: with the kernels on, and with ``TINYGAN_KERNELS=0``, which makes the same call
run the plain twin (CuPy's own elementwise and reduction kernels).  Both results are
compared (max |kernel - plain|), so a fast wrong kernel shows here too.

Timing: CUDA events around a block of calls on the current stream, the block long
enough to take >= 5 ms, repeated --repeat times; the median per call.  "first call"
is the kernel side's first call, the NVRTC compile included.

    python benchmarks/kernels.py [--repeat 7] [--only SUBSTRING] [--json OUT]

Without CuPy or a GPU it says so, times nothing, and exits 0.  Speedup = plain / kernel.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tinygan import backend  # noqa: E402
from tinygan.kernels import benchmark, cuda  # noqa: E402




def time_call(cp, fn, args, repeat: int) -> float:
    """Median seconds per call of fn(*args) on the GPU (CUDA events, blocks of >= 5 ms)."""
    start, stop = cp.cuda.Event(), cp.cuda.Event()
    n = 1
    while True:                                  # grow the block until it takes >= 5 ms
        start.record()
        for _ in range(n):
            fn(*args)
        stop.record()
        stop.synchronize()
        ms = cp.cuda.get_elapsed_time(start, stop)
        if ms >= 5 or n >= 4096:
            break
        n *= 4
    per_call = []
    for _ in range(repeat):
        start.record()
        for _ in range(n):
            fn(*args)
        stop.record()
        stop.synchronize()
        per_call.append(cp.cuda.get_elapsed_time(start, stop) / 1e3 / n)
    return statistics.median(per_call)


def run_case(cp, case, repeat: int) -> dict:
    args = case.inputs(cp)
    with cuda.kernels(True):
        t = time.perf_counter()
        out_kernel = case.run(*args)
        cp.cuda.Device().synchronize()
        first = time.perf_counter() - t
        t_kernel = time_call(cp, case.run, args, repeat)
    plain = case.plain or case.run
    with cuda.kernels(False):
        out_plain = plain(*args)
        t_plain = time_call(cp, plain, args, repeat)
    diff = float(cp.max(cp.abs(cp.asarray(out_kernel, dtype=cp.float64)
                               - cp.asarray(out_plain, dtype=cp.float64)))) if out_kernel.size else 0.0
    return {"case": case.name, "kernel_us": t_kernel * 1e6, "plain_us": t_plain * 1e6,
            "speedup": t_plain / t_kernel, "first_call_ms": first * 1e3, "max_abs_diff": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--only", help="time only the cases whose name contains this")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    cuda.import_kernel_modules()
    cases = [c for c in benchmark.cases() if not args.only or args.only in c.name]
    report = {"device": None, "cases": [], "registered": [c.name for c in cases]}
    try:
        cp = backend.cupy_module()
    except RuntimeError as exc:
        report["skipped"] = f"no GPU: {exc}"
        print(f"Nothing timed -- {report['skipped']}")
        print(f"{len(cases)} case(s) registered: " + "; ".join(report["registered"]))
    else:
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        report["device"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        report["cupy"] = cp.__version__
        print(f"{report['device']}, CuPy {cp.__version__}, {len(cases)} case(s)")
        print(f"{'case':<60} {'kernel us':>10} {'plain us':>10} {'speedup':>8} {'1st ms':>8} {'max|diff|':>10}")
        for case in cases:
            try:
                row = run_case(cp, case, args.repeat)
            except Exception as exc:           # one broken case must not hide the others
                row = {"case": case.name, "error": f"{type(exc).__name__}: {exc}"}
                print(f"{case.name:<60} ERROR {row['error']}")
            else:
                print(f"{row['case']:<60} {row['kernel_us']:>10.1f} {row['plain_us']:>10.1f} "
                      f"{row['speedup']:>7.2f}x {row['first_call_ms']:>8.1f} {row['max_abs_diff']:>10.2e}")
            report["cases"].append(row)
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 1 if any("error" in row for row in report["cases"]) else 0


if __name__ == "__main__":
    sys.exit(main())
