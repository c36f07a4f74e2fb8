"""Per-op cost of forward + backward on small tensors: tinygan vs PyTorch, side by side.

On tensors of a few hundred elements the arithmetic is almost free; what an op
costs is the framework around it: building the output Tensor, recording the
graph node, the backward call and routing the gradient.  This benchmark
measures that cost, op by op, for tinygan and (when it is importable) for
PyTorch in the same process, on the same shapes, dtype (float32) and values.

Usage::

    python benchmarks/autograd_overhead.py [--quick] [--json OUT] [--ops add,mul] [--no-torch]

Method: "running sum of N op outputs, minus the same running sum of N leaves".
For each op and shape we time, as one sample, building and differentiating::

    y = op(leaves[0])
    for k in 1..N-1:   y = y + op(leaves[k])     # each op gets its own fresh leaf inputs
    y.backward(ones)                             # one root, one backward call

and, as the baseline, the same graph with the op replaced by the identity on
leaves of the op's *output* shape (``y = z[0]; y = y + z[k] ...``).  Both graphs
have the same N-1 adds, the same single root and one backward call, so

    per-op cost = (op-graph time - baseline-graph time) / N

is what one more op in a graph costs: its forward, the recording of its node,
its backward, and handing its gradient on -- with the fixed cost of the
backward call and of the running sum cancelled out.  The op is never applied to
its own output, so no chain can overflow (exp), shrink (sum, getitem) or grow
(cat), and every op is measured the same way.  It is the "op + sum + backward
minus sum + backward" idea, amortized over N ops per backward call so that a
~20 us op is not lost in the noise of a ~100 us backward call.

Sampling, as ``timeit`` does it but paired: k rounds, each timing one sample of
each of the four graphs (op and baseline, tinygan and PyTorch) back to back, so
that the two sides of every subtraction and of every ratio see the same machine
conditions.  Garbage collection is off while timing; leaf ``.grad`` is reset to
None between samples outside the timed region (a training step's
``zero_grad``); freeing the graph is inside it.  The reported per-op cost is
the median over the k rounds of (op sample - baseline sample) / N.  ``--stat
min`` reports timeit's best-of-k instead, (fastest op sample - fastest baseline
sample) / N.  On an idle machine the two should agree; on a shared one the
difference of two minima is itself noisy (one lucky sample moved a row by 2x
between runs here), while the paired median kept the ratios within about 15%
from run to run.  The JSON output has both, and the min and median of every graph's
samples.

The forward-only columns time the same two graphs built under ``no_grad``, with
no backward.  The MLP row is different: it is the whole step (3 matmul + bias
layers, relu between, loss = mean of squares, backward) in us per step, not per
op.  Before timing, every row checks that tinygan's leaf gradients match PyTorch's.

Threads: the env vars OMP/OPENBLAS/MKL_NUM_THREADS are set to BENCH_THREADS
(default 1) at the top, before NumPy or torch are imported, and
``torch.set_num_threads`` gets the same number, so both sides compute on one
core each.  (For tensors this small more threads buy nothing; PyTorch's small ops
were measurably slower here with its default two threads.)

Clock: samples are timed with the process's CPU time (``time.process_time``),
not the wall clock, so that time the process spends descheduled while other
programs run on a shared machine is not counted.  Both frameworks do all their
work on the calling thread here (one compute thread, and PyTorch's autograd runs
CPU graphs on the calling thread: the process has a single OS thread), so
nothing is missed.  ``--clock wall`` uses ``time.perf_counter`` instead.  Other
load still slows the CPU itself (shared caches and cores): on a busy machine
the absolute us go up, for both frameworks alike, while the ratios, measured
round-robin, move much less.  The header prints the load average.

A full run takes 30-60 s; ``--quick`` about 5 s (fewer, noisier samples).
"""
from __future__ import annotations

import os

_THREADS = os.environ.get("BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = _THREADS

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # benchmark the working tree's tinygan

import tinygan  # noqa: E402

try:
    import torch  # noqa: E402
except ImportError:                    # tinygan's column is still printed
    torch = None

# The clock of every sample: this process's CPU time by default (see "Clock" above), or the
# wall clock with --clock wall.  main() sets it.
_perf = time.process_time


# ----------------------------------------------------------------------------
# the cases
# ----------------------------------------------------------------------------
@dataclass
class Case:
    op: str
    shape: str                              # label for the table
    in_shapes: list                         # shape of each input (all are leaves needing grad)
    tg: Callable                            # the op on tinygan tensors
    th: Callable | None = None              # the op on torch tensors (default: same as tg)
    note: str = ""

    def __post_init__(self):
        if self.th is None:
            self.th = self.tg


def make_cases() -> list:
    M, V = (16, 16), (64,)
    cases = []
    for label, s in (("16x16", M), ("64", V)):
        w = (16, 16) if s == M else (64, 64)
        reshaped = (4, 64) if s == M else (8, 8)
        sl = slice(2, 10) if s == M else slice(8, 40)
        cases += [
            Case("add", label, [s, s], lambda a, b: a + b),
            Case("mul", label, [s, s], lambda a, b: a * b),
            Case("matmul", label if s == M else "64 @ 64x64", [s, w], lambda a, b: a @ b),
            Case("exp", label, [s], lambda x: x.exp()),
            Case("tanh", label, [s], lambda x: x.tanh()),
            Case("sigmoid", label, [s], lambda x: x.sigmoid()),
            Case("relu", label, [s], lambda x: x.relu()),
            Case("sum", label, [s], lambda x: x.sum()),
            Case("mean", label, [s], lambda x: x.mean()),
            Case("reshape", label, [s], lambda x, r=reshaped: x.reshape(r)),
        ]
        if s == M:
            cases.append(Case("transpose", label, [s], lambda x: x.transpose(0, 1)))
        cases += [
            Case("getitem", label, [s], lambda x, sl=sl: x[sl]),
            Case("cat", label, [s, s], lambda a, b: tinygan.cat([a, b], 0),
                 (lambda a, b: torch.cat([a, b], 0)) if torch is not None else None),
            Case("softmax", label, [s], lambda x: x.softmax(-1)),
            Case("log_softmax", label, [s], lambda x: x.log_softmax(-1)),
        ]
    return cases


# ----------------------------------------------------------------------------
# the two frameworks behind one small interface
# ----------------------------------------------------------------------------
class _TinyGAN:
    name = "tinygan"

    @staticmethod
    def leaf(a):
        return tinygan.tensor(a, requires_grad=True)

    @staticmethod
    def const(a):
        return tinygan.tensor(a)

    no_grad = staticmethod(tinygan.no_grad)

    @staticmethod
    def to_numpy(t):
        return t.detach().numpy()


class _Torch:
    name = "torch"

    @staticmethod
    def leaf(a):
        return torch.tensor(a, requires_grad=True)

    @staticmethod
    def const(a):
        return torch.tensor(a)

    @staticmethod
    def no_grad():
        return torch.no_grad()

    @staticmethod
    def to_numpy(t):
        return t.detach().numpy()


# ----------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------
def _identity(z):
    return z


def _sample_grad(fn, first, rest, gout, flat):
    """One timed forward + backward of y = fn(*first) + fn(*rest[0]) + ...; returns seconds."""
    for t in flat:
        t.grad = None
    t0 = _perf()
    y = fn(*first)
    for xs in rest:
        y = y + fn(*xs)
    y.backward(gout)
    del y
    return _perf() - t0


def _sample_fwd(fn, first, rest):
    t0 = _perf()
    y = fn(*first)
    for xs in rest:
        y = y + fn(*xs)
    del y
    return _perf() - t0


@dataclass
class _Graph:
    fn: Callable
    leaves: list                     # N tuples of leaf tensors
    gout: object                     # d(loss)/dy, ones of the output shape
    flat: list = field(default_factory=list)

    def __post_init__(self):
        self.flat = [t for xs in self.leaves for t in xs]

    def grad_sample(self):
        return _sample_grad(self.fn, self.leaves[0], self.leaves[1:], self.gout, self.flat)

    def fwd_sample(self):
        return _sample_fwd(self.fn, self.leaves[0], self.leaves[1:])


def _interleave(samplers: list, k: int, warmup: int = 3) -> list:
    """k samples of each sampler, round-robin (so load and drift hit all alike): the lists of times.

    The samplers are a case's op and baseline graphs for every framework, so the two sides of
    each ratio and of each subtraction are measured under the same conditions.
    """
    for _ in range(warmup):
        for f in samplers:
            f()
    gc.collect()
    gc.disable()
    try:
        times = [[] for _ in samplers]
        for _ in range(k):
            for f, t in zip(samplers, times):
                t.append(f())
    finally:
        gc.enable()
    return times


def _case_arrays(case: Case, n: int, seed: int):
    """Standard-normal float32 inputs for the N applications of the op (shared by both frameworks)."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(np.float32) for s in case.in_shapes] for _ in range(n)]


def _out_shape(fw, case: Case, arrays) -> tuple:
    with fw.no_grad():
        return tuple(_fn(fw, case)(*[fw.const(a) for a in arrays[0]]).shape)


def _fn(fw, case: Case):
    return case.tg if fw is _TinyGAN else case.th


def measure_case(frameworks: list, case: Case, n: int, k: int, seed: int) -> dict:
    """Per-op us of ``case`` for each framework: {name: {"fwd_bwd_us", "fwd_us", ...}}."""
    arrays = _case_arrays(case, n, seed)
    graphs = []
    for fw in frameworks:
        out_shape = _out_shape(fw, case, arrays)
        rng = np.random.default_rng(seed + 1)
        ones = fw.const(np.ones(out_shape, np.float32))
        op = _Graph(_fn(fw, case), [tuple(fw.leaf(a) for a in xs) for xs in arrays], ones)
        base = _Graph(_identity, [(fw.leaf(rng.standard_normal(out_shape).astype(np.float32)),)
                                  for _ in range(n)], ones)
        graphs += [op, base]
    grad_times = _interleave([g.grad_sample for g in graphs], k)
    with contextlib.ExitStack() as stack:
        for fw in frameworks:
            stack.enter_context(fw.no_grad())
        fwd_times = _interleave([g.fwd_sample for g in graphs], k)
    out = {}
    for i, fw in enumerate(frameworks):
        s_op, s_base = grad_times[2 * i], grad_times[2 * i + 1]
        f_op, f_base = fwd_times[2 * i], fwd_times[2 * i + 1]
        out[fw.name] = {
            # median over the k rounds of (op sample - baseline sample of the same round)
            "median": {"fwd_bwd_us": _median_paired(s_op, s_base) / n * 1e6,
                       "fwd_us": _median_paired(f_op, f_base) / n * 1e6},
            # timeit's best-of-k: (fastest op sample - fastest baseline sample)
            "min": {"fwd_bwd_us": (min(s_op) - min(s_base)) / n * 1e6,
                    "fwd_us": (min(f_op) - min(f_base)) / n * 1e6},
            "graph_us": {"fwd_bwd_op": _us_summary(s_op), "fwd_bwd_base": _us_summary(s_base),
                         "fwd_op": _us_summary(f_op), "fwd_base": _us_summary(f_base)},
        }
    return out


def _median_paired(op: list, base: list) -> float:
    return statistics.median(a - b for a, b in zip(op, base))


def _us_summary(times: list) -> dict:
    return {"min": min(times) * 1e6, "median": statistics.median(times) * 1e6}


def check_case(case: Case, seed: int):
    """tinygan's leaf gradients (on a 3-op graph) must match PyTorch's; returns an error or None."""
    arrays = _case_arrays(case, 3, seed)
    grads = {}
    for fw in (_TinyGAN, _Torch):
        out_shape = _out_shape(fw, case, arrays)
        leaves = [tuple(fw.leaf(a) for a in xs) for xs in arrays]
        y = _fn(fw, case)(*leaves[0])
        for xs in leaves[1:]:
            y = y + _fn(fw, case)(*xs)
        y.backward(fw.const(np.ones(out_shape, np.float32)))
        grads[fw.name] = [fw.to_numpy(t.grad) for xs in leaves for t in xs]
    for g, h in zip(grads["tinygan"], grads["torch"]):
        if g.shape != h.shape or not np.allclose(g, h, rtol=1e-4, atol=1e-5):
            diff = np.max(np.abs(g - h)) if g.shape == h.shape else f"shapes {g.shape}, {h.shape}"
            return f"gradient mismatch (max abs diff {diff})"
    return None


# -- the MLP step -------------------------------------------------------------------
MLP_DIMS = (64, 64, 64, 16)
MLP_BATCH = 32


def _mlp_arrays(seed: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((MLP_BATCH, MLP_DIMS[0])).astype(np.float32)
    params = []
    for fan_in, fan_out in zip(MLP_DIMS[:-1], MLP_DIMS[1:]):
        w = rng.standard_normal((fan_in, fan_out)) / math.sqrt(fan_in)
        params.append(w.astype(np.float32))
        params.append((0.1 * rng.standard_normal(fan_out)).astype(np.float32))
    return x, params


def _mlp_loss(x, params):
    w1, b1, w2, b2, w3, b3 = params
    h = (x @ w1 + b1).relu()
    h = (h @ w2 + b2).relu()
    out = h @ w3 + b3
    return (out ** 2).mean()


def measure_mlp(frameworks: list, k: int, seed: int) -> dict:
    """us per MLP step (forward + backward) and per forward under no_grad, for each framework."""
    xa, pa = _mlp_arrays(seed)
    steps, fwds = [], []
    for fw in frameworks:
        x = fw.const(xa)
        params = [fw.leaf(p) for p in pa]

        def step(x=x, params=params):
            for p in params:
                p.grad = None
            t0 = _perf()
            loss = _mlp_loss(x, params)
            loss.backward()
            del loss
            return _perf() - t0

        def fwd(x=x, params=params):
            t0 = _perf()
            loss = _mlp_loss(x, params)
            del loss
            return _perf() - t0

        steps.append(step)
        fwds.append(fwd)
    step_times = _interleave(steps, k)
    with contextlib.ExitStack() as stack:
        for fw in frameworks:
            stack.enter_context(fw.no_grad())
        fwd_times = _interleave(fwds, k)
    return {fw.name: {
        "median": {"fwd_bwd_us": statistics.median(step_times[i]) * 1e6,
                   "fwd_us": statistics.median(fwd_times[i]) * 1e6},
        "min": {"fwd_bwd_us": min(step_times[i]) * 1e6, "fwd_us": min(fwd_times[i]) * 1e6},
    } for i, fw in enumerate(frameworks)}


def check_mlp(seed: int):
    xa, pa = _mlp_arrays(seed)
    grads = {}
    for fw in (_TinyGAN, _Torch):
        params = [fw.leaf(p) for p in pa]
        _mlp_loss(fw.const(xa), params).backward()
        grads[fw.name] = [fw.to_numpy(p.grad) for p in params]
    for g, h in zip(grads["tinygan"], grads["torch"]):
        if not np.allclose(g, h, rtol=1e-4, atol=1e-5):
            return f"gradient mismatch (max abs diff {np.max(np.abs(g - h))})"
    return None


# ----------------------------------------------------------------------------
# reporting
# ----------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "tinygan"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" + uncommitted changes in tinygan/" if dirty else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _engine_blob() -> str:
    """Git blob id of the autograd.py that was imported (as ``git hash-object``): the engine changes
    often, and this names the exact version the numbers belong to."""
    try:
        data = Path(tinygan.autograd.__file__).read_bytes()
    except (OSError, AttributeError):
        return "unknown"
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()[:10]


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def environment(args) -> dict:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "tinygan": f"{tinygan.__version__} ({_git_state()}; autograd.py blob {_engine_blob()})",
        "threads": {"env (OMP/OPENBLAS/MKL_NUM_THREADS)": int(_THREADS),
                    "torch.get_num_threads()": torch.get_num_threads() if torch is not None else None},
        "dtype": "float32",
        "N_ops_per_graph": args.n,
        "k_rounds": args.k,
        "stat": args.stat,
        "clock": args.clock,
        "loadavg_start": _loadavg(),
    }


def _fmt_us(v) -> str:
    return "-" if v is None else f"{v:9.2f}"


def _ratio(a, b):
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b


def _fmt_ratio(r) -> str:
    return "-" if r is None else f"{r:6.2f}x"


def _geomean(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def print_table(rows: list, have_torch: bool) -> dict:
    head = (f"{'op':<12} {'shape':<15} | {'tinygan us':>10} {'torch us':>9} {'ratio':>8} "
            f"| {'tinygan us':>10} {'torch us':>9} {'ratio':>8}")
    print(f"{'':<28} | {'forward + backward (per op)':^29} | {'forward only, no_grad (per op)':^30}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['op']:<12} {r['shape']:<15} | {_fmt_us(r['tinygan_fwd_bwd_us']):>10} "
              f"{_fmt_us(r['torch_fwd_bwd_us']):>9} {_fmt_ratio(r['ratio_fwd_bwd']):>8} "
              f"| {_fmt_us(r['tinygan_fwd_us']):>10} {_fmt_us(r['torch_fwd_us']):>9} "
              f"{_fmt_ratio(r['ratio_fwd']):>8}" + (f"   {r['note']}" if r.get("note") else ""))
    print("-" * len(head))
    summary = {}
    if have_torch:
        g1 = _geomean([r["ratio_fwd_bwd"] for r in rows])
        g2 = _geomean([r["ratio_fwd"] for r in rows])
        n1 = sum(r["ratio_fwd_bwd"] is not None for r in rows)
        n2 = sum(r["ratio_fwd"] is not None for r in rows)
        print(f"{'geometric mean of ratios':<28} | {'':>10} {'':>9} {_fmt_ratio(g1):>8} "
              f"| {'':>10} {'':>9} {_fmt_ratio(g2):>8}   (over {n1} / {n2} rows)")
        summary = {"geomean_ratio_fwd_bwd": g1, "geomean_ratio_fwd": g2,
                   "rows_in_geomean_fwd_bwd": n1, "rows_in_geomean_fwd": n2}
    return summary


def _row(row: dict, res: dict, stat: str) -> dict:
    """Fill a table row from measure_case/measure_mlp results with the chosen statistic."""
    tg, th = res["tinygan"], res.get("torch")
    for name, r in (("tinygan", tg), ("torch", th)):
        for col in ("fwd_bwd_us", "fwd_us"):
            row[f"{name}_{col}"] = r[stat][col] if r else None
    row["ratio_fwd_bwd"] = _ratio(row["tinygan_fwd_bwd_us"], row["torch_fwd_bwd_us"])
    row["ratio_fwd"] = _ratio(row["tinygan_fwd_us"], row["torch_fwd_us"])
    row["all_stats"] = res
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer, noisier samples (about 5 s)")
    p.add_argument("--json", metavar="OUT", help="also write the results to this JSON file")
    p.add_argument("--ops", help="comma-separated op names to run (default: all, plus mlp)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="time samples by process CPU time (default) or wall clock")
    p.add_argument("--stat", choices=("median", "min"), default="median",
                   help="per-op estimate: median of the k paired differences (default) or "
                        "best-of-k minus best-of-k")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if it is installed")
    args = p.parse_args(argv)
    global torch, _perf
    _perf = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.no_torch:
        torch = None
    if torch is not None:
        torch.set_num_threads(int(_THREADS))
    args.n, args.k = (8, 10) if args.quick else (32, 60)

    wanted = set(args.ops.split(",")) if args.ops else None
    cases = [c for c in make_cases() if wanted is None or c.op in wanted]
    run_mlp = wanted is None or "mlp" in wanted
    env = environment(args)
    have_torch = torch is not None
    frameworks = [_TinyGAN, _Torch] if have_torch else [_TinyGAN]

    print("autograd overhead: per-op forward+backward cost on small float32 tensors")
    for key in ("date", "cpu", "cores", "python", "numpy", "torch", "tinygan"):
        print(f"  {key:<8} {env[key] if env[key] is not None else 'not installed'}")
    print(f"  threads  {_THREADS} (OMP/OPENBLAS/MKL_NUM_THREADS"
          + (f"; torch.get_num_threads()={torch.get_num_threads()}" if have_torch else "") + ")")
    if args.stat == "median":
        stat = f"median over k={args.k} rounds of (op graph - identity graph) / N"
    else:
        stat = f"(best-of-{args.k} op graph - best-of-{args.k} identity graph) / N"
    print(f"  method   {stat}, N={args.n}")
    print(f"  clock    {'process CPU time' if args.clock == 'cpu' else 'wall clock'}")
    print(f"  load     {env['loadavg_start']} (1/5/15 min load average at start)")
    print()

    # torch imports a large heap (sympy...): move it out of the collector's sight once, so the
    # gc.collect() before each measurement is cheap.
    gc.collect()
    gc.freeze()
    t_start = time.perf_counter()
    rows, problems = [], []
    for i, case in enumerate(cases):
        seed = 1000 + i
        row = {"op": case.op, "shape": case.shape, "note": case.note}
        if have_torch:
            err = check_case(case, seed)
            if err:
                problems.append(f"{case.op} {case.shape}: {err}")
                row["note"] = (row["note"] + " " + err).strip()
        rows.append(_row(row, measure_case(frameworks, case, args.n, args.k, seed), args.stat))
    if run_mlp:
        label = f"B{MLP_BATCH} " + "-".join(map(str, MLP_DIMS))
        row = {"op": "mlp step", "shape": label, "note": "us per step, not per op"}
        if have_torch:
            err = check_mlp(7)
            if err:
                problems.append(f"mlp: {err}")
                row["note"] += " " + err
        rows.append(_row(row, measure_mlp(frameworks, 2 * args.k, 7), args.stat))

    summary = print_table(rows, have_torch)
    elapsed = time.perf_counter() - t_start
    env["loadavg_end"] = _loadavg()
    print(f"\n{len(rows)} rows in {elapsed:.1f} s (wall); load average at end {env['loadavg_end']}")
    if not have_torch:
        print("PyTorch is not installed (or --no-torch): only tinygan's columns are shown.")
    if problems:
        print("WARNING: tinygan's gradients differ from PyTorch's for: " + "; ".join(problems))
    if args.json:
        out = {"benchmark": "autograd_overhead", "environment": env, "summary": summary,
               "rows": rows, "elapsed_s": elapsed}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
