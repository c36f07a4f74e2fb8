"""CPU threads: tinygan runs the independent pieces of an op (chunks of a batch) on every core.

Why not leave it to BLAS.  A convolution on the CPU is im2col copies, one GEMM
per chunk of the batch, and layout copies (``ops/im2col.py``).  A multithreaded
BLAS spreads each GEMM over the cores, but the chunk GEMMs are small -- e.g.
(392 x 1024) @ (1024 x 128), which OpenBLAS does not split at all -- and the
copies around them run on one core.  Measured on a 2-core machine, with BLAS
threads only, a DCGAN step kept one core busy and the other spinning: OpenBLAS's
idle worker thread burned as much CPU time as the main thread while waiting for
work.  Giving whole chunks to threads instead -- each chunk's copies and GEMM on
one core, with a one-thread BLAS -- keeps the cores busy for the whole
convolution: D's 64->128 convolution and its weight gradient ran 1.4-2x faster on
two threads than on one.  NumPy lets go of Python's global interpreter lock (GIL)
inside BLAS calls, ufunc loops and large copies, so plain Python threads run
them at the same time.  (Small strided copies gained nothing from a second
thread in a test, so a chunk's copies gain less than its GEMM.)

The pool.  ``threads - 1`` helper threads and the calling thread take items
from one shared counter, so a thread that starts late -- or is descheduled on
a busy machine -- leaves its share to the others.  Items are whole chunks or
whole rows of an array; each one writes only its own part of the output, and
partial sums (a weight gradient's chunks, batch norm's per-channel sums) are
added in item order, so a run gives the same numbers every time with the same
number of threads.

BLAS threads.  A helper asks for a one-thread BLAS for its own calls
(OpenBLAS's ``openblas_set_num_threads_local``), and once the pool is in use,
every BLAS call of the process gets one thread (``openblas_set_num_threads``):
large products are split over the pool by ``ops.math.product`` instead, and a
multithreaded BLAS call would leave OpenBLAS's workers spinning on the cores
the pool wants.  Where the BLAS is not OpenBLAS (MKL, Accelerate) there is
nothing to call and its own threading is left as it is.

What a map costs.  Measured on a 2-core VM (``benchmarks/thread_overhead.py``): a map of two
equal items takes 90-115 us longer than one item alone, whatever the items' size.  The
helper wakes, then waits for the GIL until the caller's first NumPy call lets go of it; every
time either thread comes back from NumPy while the other is running Python, it waits again;
and the caller, done with its share, sleeps until the helper has finished and wakes again.
So splitting pays for work of a few hundred microseconds and more (a convolution's chunks, the
FIR filter on a batch), breaks even on an elementwise pass over a few MB, and loses on less.
Hence ``PARALLEL_MIN``, 2**19 elements: timed op by op in StyleGAN-lite's 2-thread step, the
passes over 2**17-2**18 elements took 1.2-2x longer split than in the caller (an elementwise
product 79 against 159 us, Adam's update 138 against 269 us), those near 2**19 the same either
way, and those over 2**20 1.3-1.5x less.  The whole step changes by about the noise (1-3%), and
so did DCGAN's.  The same waits slow the items themselves: in StyleGAN-lite's 2-thread step the
items take about 1.4x their 1-thread time.  Fewer, larger maps are the remedy that works from
Python (see ``im2col.CHUNK_THREADED``, and D's one pass over reals and fakes in
``models/stylegan.py``).

How many threads: ``set_num_threads(n)``, else ``TINYGAN_NUM_THREADS``, else
``OMP_NUM_THREADS`` (the usual knob, which PyTorch reads too), else the cores
this process may run on.  One thread means no pool at all: every op runs as
before, in the calling thread, with whatever BLAS threads the environment set.
"""
from __future__ import annotations

import ctypes
import os
import itertools
import queue
import threading

_threads: int | None = None          # the number of threads; None until first asked
_helpers: list = []                  # the pool: threads - 1 helper threads (the caller is the last)
_lock = threading.Lock()
_busy = threading.local()            # set while a thread runs a map's item: nested maps run serially


def _from_environment() -> int:
    for var in ("TINYGAN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if var == "OMP_NUM_THREADS":
            value = value.split(",")[0].strip()     # OpenMP's "4,2": 4 at the outer level
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"{var}={value!r}: expected a whole number of threads >= 1") from None
            if n < 1:
                raise ValueError(f"{var}={value!r}: expected a whole number of threads >= 1")
            return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:           # not Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """The number of threads tinygan's CPU ops use (see the module docstring)."""
    global _threads
    if _threads is None:
        _threads = _from_environment()
    return _threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for tinygan's CPU ops from now on (1: run everything in the caller)."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected an int >= 1, got {n!r}")
    with _lock:
        if _helpers:
            for inbox in _helpers:
                inbox.put(None)      # each helper ends when it reads None
            _helpers.clear()
            _blas_threads_everywhere(_blas_before)   # BLAS's own threading, as it was
        _threads = n


class _Map:
    """One parallel_map: its items, where the next free item is, the results, the first error."""

    def __init__(self, fn, items):
        self.fn, self.items = fn, items
        self.next = itertools.count()         # next() on it is atomic under the GIL
        self.results = [None] * len(items)
        self.left = len(items)
        self.error = None
        self.lock = threading.Lock()
        self.finished = threading.Event()

    def work(self) -> None:
        """Take items until none is left (every thread of the pool, the caller too, runs this)."""
        _busy.active = True
        try:
            while (i := next(self.next)) < len(self.items):
                try:
                    self.results[i] = self.fn(self.items[i])
                except BaseException as exc:  # handed to the caller, which raises it
                    self.error = self.error or exc
                with self.lock:
                    self.left -= 1
                    if self.left == 0:
                        self.finished.set()
        finally:
            _busy.active = False


def _forget_helpers_after_fork() -> None:
    """In a child made by fork (multiprocessing on Linux), the helper threads do not exist:
    forget them, so that the child's first map starts its own.  (Without this nothing would
    hang -- the caller takes every item no helper takes -- but the child would use one core.)"""
    global _lock
    _helpers.clear()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers_after_fork)


def _helper(inbox: queue.SimpleQueue) -> None:
    _blas_threads_here(1)
    while (job := inbox.get()) is not None:
        job.work()


def parallel_map(fn, items) -> list:
    """``[fn(item) for item in items]``, the calls spread over the threads; results in order.

    ``fn`` must be safe to run at the same time on different items (each writes only
    its own part of any output).  An exception in any call is raised here, after the
    other calls have finished.  The caller takes items too, and every thread takes
    the next free item when it is done with one, so a thread that is slow to start
    (or descheduled) leaves its share to the others.  Runs in the calling thread
    alone when there is one thread or one item, or when called from inside another
    map's item (its threads are all taken).
    """
    items = list(items)
    n = get_num_threads()
    if n == 1 or len(items) < 2 or getattr(_busy, "active", False):
        return [fn(item) for item in items]
    with _lock:
        if len(_helpers) != n - 1:
            if not _helpers:
                _remember_blas_threads()
            _blas_threads_everywhere(1)
            while len(_helpers) < n - 1:
                inbox = queue.SimpleQueue()
                threading.Thread(target=_helper, args=(inbox,), name="tinygan-cpu",
                                 daemon=True).start()
                _helpers.append(inbox)
        helpers = list(_helpers)
    job = _Map(fn, items)
    for inbox in helpers[:len(items) - 1]:
        inbox.put(job)
    job.work()
    job.finished.wait()
    if job.error is not None:
        raise job.error
    return job.results


PARALLEL_MIN = 1 << 19    # elements: an op on fewer runs in the caller (a map costs ~0.1 ms; see above)


def for_rows(fn, rows: int, size: int) -> list:
    """``fn(sl)`` for one slice ``sl`` of ``range(rows)`` per thread, at the same time.

    For elementwise work on arrays whose first axis has ``rows`` entries and that touch
    ``size`` elements in all: below ``PARALLEL_MIN`` elements (or with one thread) it is
    one call ``fn(slice(0, rows))`` in the caller.  Returns the calls' results in order.
    """
    threads = get_num_threads()
    if threads == 1 or size < PARALLEL_MIN or rows < 2 or getattr(_busy, "active", False):
        return [fn(slice(0, rows))]
    return parallel_map(fn, split(rows, threads))


def add_up(parts: list):
    """The sum of per-item partial results, added in item order: the same numbers on every
    run with the same number of threads.  ``parts[0]`` (a fresh array) holds the sum after."""
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def split(total: int, parts: int) -> list:
    """``total`` items as ``parts`` contiguous slices whose sizes differ by at most one."""
    parts = max(1, min(parts, total))
    q, r = divmod(total, parts)
    bounds = [0]
    for i in range(parts):
        bounds.append(bounds[-1] + q + (i < r))
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


# -- OpenBLAS, found among the libraries already loaded (NumPy's wheels bundle it) ----------
_openblas = False     # False: not looked for yet; None: not found
_blas_before = 0      # OpenBLAS's thread count before the pool started (0: unknown)


def _find_openblas():
    global _openblas
    if _openblas is False:
        _openblas = None
        try:
            with open("/proc/self/maps") as f:
                paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
        except OSError:
            paths = set()
        for path in sorted(paths):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            local = getattr(lib, "openblas_set_num_threads_local", None)
            glob = next((getattr(lib, name) for name in
                         ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
                          "openblas_set_num_threads64_") if hasattr(lib, name)), None)
            get = next((getattr(lib, name) for name in
                        ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_",
                         "openblas_get_num_threads64_") if hasattr(lib, name)), None)
            if local is not None or glob is not None:
                if local is not None:
                    local.argtypes, local.restype = [ctypes.c_int], ctypes.c_int
                if glob is not None:
                    glob.argtypes, glob.restype = [ctypes.c_int], None
                if get is not None:
                    get.argtypes, get.restype = [], ctypes.c_int
                _openblas = (local, glob, get)
                break
    return _openblas


def _blas_threads_here(n: int) -> None:
    """This thread's BLAS calls use ``n`` threads (OpenBLAS only; elsewhere nothing happens)."""
    found = _find_openblas()
    if found and found[0] is not None:
        found[0](n)


def _blas_threads_everywhere(n: int) -> None:
    """Every thread's BLAS calls use ``n`` threads (OpenBLAS only; n = 0: leave it)."""
    found = _find_openblas()
    if n > 0 and found and found[1] is not None:
        found[1](n)


def _remember_blas_threads() -> None:
    """Note OpenBLAS's thread count, to give it back when the pool is shut down."""
    global _blas_before
    found = _find_openblas()
    _blas_before = found[2]() if found and found[2] is not None else 0


def blas_threads() -> int:
    """OpenBLAS's current thread count for calls from threads with no setting of their own
    (0 where the BLAS is not OpenBLAS)."""
    found = _find_openblas()
    return found[2]() if found and found[2] is not None else 0
