"""What tinygan's CPU thread pool costs, and where a 2-thread training step spends its time.

    python benchmarks/thread_overhead.py [--threads 2] [--steps 16]

Part 1, one map.  ``threads.parallel_map`` over two equal items, each a loop of small matrix
products taking about W microseconds, against the two items run one after the other in the
calling thread.  Perfect splitting would take W; what the map takes beyond that is its cost:
waking the helper thread, the helper taking Python's lock (the GIL) to start its item, and
the caller waking again when the helper is done.  Printed for W of about 50, 200 and 800 us.

Part 2, a StyleGAN-lite step (the cpu preset's recipe, batch 32, as
``stylegan_step.py --preset-recipe``).  The step is timed with every map's items timed per
thread: how long the calling thread spends inside items (its share of the split work), how
long the helper threads do, and what is left of the caller's time -- the part of the step
that runs on one thread only (the autograd bookkeeping, the small ops below the splitting
thresholds, and the maps' own costs).  With 1 thread the same step is timed as a reference.

Both parts print numbers only; benchmarks/README.md ("StyleGAN-lite against PyTorch") says
what they mean for the 2-core step.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--steps", type=int, default=16)
ap.add_argument("--part", choices=["all", "map", "step"], default="all")
ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)   # one thread count's step


def one_map(threads: int) -> None:
    from tinygan.kernels import threads as pool
    pool.set_num_threads(threads)
    a = np.random.default_rng(0).standard_normal((1024, 96)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((96, 32)).astype(np.float32)
    pool.parallel_map(lambda _: None, range(2))      # the pool started: BLAS on one thread
    t = time.perf_counter()
    for _ in range(200):
        a @ w
    per_product = (time.perf_counter() - t) / 200
    print(f"part 1: one map of two equal items, {threads} threads "
          f"(a product (1024 x 96) @ (96 x 32) takes {per_product * 1e6:.0f} us)")
    for k in (1, 4, 16):
        def item(_):
            for _ in range(k):
                a @ w
        pool.parallel_map(item, range(2))
        serial, split = [], []
        for _ in range(300):
            t = time.perf_counter()
            item(0)
            item(1)
            serial.append(time.perf_counter() - t)
            t = time.perf_counter()
            pool.parallel_map(item, range(2))
            split.append(time.perf_counter() - t)
        s, p = statistics.median(serial), statistics.median(split)
        print(f"  items of {s / 2 * 1e6:5.0f} us: both in the caller {s * 1e6:6.0f} us, "
              f"split {p * 1e6:6.0f} us, so the map costs {(p - s / 2) * 1e6:4.0f} us "
              f"(medians of 300)")


def step_split(threads: int, steps: int) -> dict:
    import tinygan
    from tinygan.kernels import threads as pool
    from tinygan.kernels.host_memory import keep_freed_memory
    from tinygan.models.stylegan import StyleGAN
    from tinygan.train.stylegan import PL_INTERVAL, R1_INTERVAL, StyleGANStepper
    from stylegan_step import _regularizers         # the preset recipe's R1, path length, mixing
    pool.set_num_threads(threads)
    keep_freed_memory()
    busy, maps = defaultdict(float), [0]
    work = pool._Map.work

    def timed_work(self, *args):
        # wrap the map's function once (the first thread to arrive), timing each item
        # in the thread that runs it
        with self.lock:
            if not hasattr(self, "timed"):
                fn = self.fn

                def timed(item):
                    t0 = time.perf_counter()
                    try:
                        return fn(item)
                    finally:
                        busy[threading.current_thread() is threading.main_thread()] += \
                            time.perf_counter() - t0
                self.fn, self.timed = timed, True
                maps[0] += 1
        return work(self, *args)
    pool._Map.work = timed_work
    tinygan.manual_seed(0)
    family = StyleGAN("cpu")
    d = family.defaults                 # the step of stylegan_step.py --preset-recipe
    stepper = StyleGANStepper(family, dict(
        lr_g=d["lr_g"], lr_d=d["lr_d"], betas=list(d["betas"]), r1_interval=R1_INTERVAL,
        pl_interval=PL_INTERVAL, seed=0, **_regularizers("cpu", True)))
    x = tinygan.tensor(np.random.default_rng(0).uniform(-1, 1, (32, 1, 32, 32)).astype(np.float32))
    for _ in range(4):
        stepper.step(x, None, lambda *a: None)
    busy.clear()
    maps[0] = 0
    t = time.perf_counter()
    for _ in range(steps):
        stepper.step(x, None, lambda *a: None)
    total = (time.perf_counter() - t) / steps
    pool._Map.work = work
    return {"step": total, "caller_in_items": busy[True] / steps,
            "helpers_in_items": busy[False] / steps, "maps": maps[0] / steps}


def main() -> None:
    args = ap.parse_args()
    if args.child:
        return worker(args.threads, args.steps)
    if args.part in ("all", "map"):
        one_map(args.threads)
    if args.part in ("all", "step"):
        print(f"part 2: the StyleGAN-lite step (cpu preset's recipe, batch 32), {args.steps} steps")
        for threads in (1, args.threads):
            # each thread count in a fresh process: the pool and BLAS settings stay as they start
            env = dict(os.environ, OMP_NUM_THREADS=str(threads) if threads == 1 else
                       os.environ.get("OMP_NUM_THREADS", ""))
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--threads", str(threads),
                 "--steps", str(args.steps)], env=env, capture_output=True, text=True, check=True)
            print(out.stdout.rstrip())


def worker(threads: int, steps: int) -> None:
    r = step_split(threads, steps)
    outside = r["step"] - r["caller_in_items"]
    if threads == 1:              # no pool: every op runs in the caller
        print(f"  1 thread : {r['step'] * 1e3:6.1f} ms a step")
        return
    print(f"  {threads} thread{'s' if threads > 1 else ' '}: {r['step'] * 1e3:6.1f} ms a step, "
          f"{r['maps']:.0f} maps; the caller {r['caller_in_items'] * 1e3:6.1f} ms in items and "
          f"{outside * 1e3:5.1f} ms outside them, the helpers {r['helpers_in_items'] * 1e3:6.1f} ms "
          f"in items")


if __name__ == "__main__":
    main()
