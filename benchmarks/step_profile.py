"""The host profile of a DCGAN training step on the CuPy path, counted on the CPU.

On a GPU a tinygan step is host-bound: every array operation of the CuPy path is a
kernel launch of a few microseconds of Python and driver time, and every read of a
device value (``float(loss)``, ``.item()``, ``.get()``) waits for the GPU to finish.
This script counts those events for ONE training step without a GPU.  It puts a
counting stand-in in the place of CuPy (``backend._cupy``): its "device arrays" are
NumPy arrays of a subclass that records every operation that would be a CuPy kernel
launch, every host-device copy and every synchronisation, and computes the numbers
with NumPy.  tinygan's code sees a CUDA device and takes its CuPy path (no CPU
threads, no channels-last layout, the whole batch at once), exactly as on a GPU.

What counts as one launch (CuPy's behaviour, approximately):

* a ufunc call (``a + b``, ``xp.exp(a, out=t)``, ``a += b``), a reduction
  (``a.sum()``, ``xp.max(a, axis=1)``), a matrix product (one cuBLAS GEMM);
* an array function that makes a new array (``xp.concatenate``, ``xp.where``,
  ``xp.ascontiguousarray`` of a strided view, ``xp.zeros`` -- a memset);
  functions that return a view (``reshape`` of a contiguous array, ``transpose``,
  ``as_strided``, ``broadcast_to``) are free, and ``xp.empty`` is an allocation,
  counted apart;
* an assignment into an array (``a[...] = b``, ``a[:, 1:] = 0``) and a gather
  (``a[index_array]``); ``copy``, ``astype`` to another dtype.

A host-device copy: ``xp.asarray`` of host data and ``ndarray.set`` (an upload into an
existing array: asynchronous, listed as such, when given a stream and pinned memory) are
host->device; ``.get()`` and the conversions ``float(a)``, ``int(a)``, ``bool(a)``,
``a.item()`` are device->host.  A
synchronisation: every device->host copy, a boolean-mask index (its size is read
back), ``cuda.Device().synchronize()``.  A host->device copy from pageable memory may
also stall the host; those are listed as copies, not synchronisations.

Approximations: CuPy fuses nothing on its own, so the counts are close to what the
profiler shows, but a few CuPy functions launch more than one kernel (``var`` two,
a GEMM sometimes a split-K reduction too) and are counted once; cuBLAS's workspace
and CuPy's memory pool are not counted.  Launches of tinygan's own CUDA kernels
(``cuda.function``) are counted under their kernel names when the loader is present
and ``--kernels`` is given (they then run in the CUDA-on-CPU emulator).

    python benchmarks/step_profile.py [--model dcgan|vae|stylegan] [--batch N] [--json OUT]
                                      [--kernels]

The DCGAN step (the default) is benchmarks/gpu_dcgan_step.py's: a D update
(``model.d_loss``, backward, Adam), then a G update (``model.g_loss``, backward, Adam).
The VAE step (``--model vae``, batch 128) is train/vae.py's: a batch cut from uint8 digits
on the device, made float and dynamically binarized, ``family.loss``, backward, Adam; the
loop's read point, where the data checks a step defers are read, is counted apart.  The StyleGAN-lite step (``--model stylegan``, batch 32) is
train/stylegan.py's StyleGANStepper step with R1 and path length both due.  Two
steps run first (the optimizers create their state in the first one); the third is counted.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import types
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

PACKAGE = os.path.join(os.path.abspath(ROOT), "tinygan") + os.sep


# -- the tally --------------------------------------------------------------------------------
class Tally:
    """Events by kind: ``launch`` (kernel launches), ``h2d`` / ``d2h`` (copies), ``sync``,
    ``alloc`` (allocations without a launch), and ``foreign`` (a host array mixed into a
    device operation: CuPy would refuse it).  Each event is also attributed to the tinygan
    function that asked for it (``site``) and to the op, optimizer or layer around it (``op``)."""

    def __init__(self):
        self.on = False
        self.events: Counter = Counter()          # (category, name) -> count
        self.sites: Counter = Counter()           # (category, site) -> count
        self.ops: Counter = Counter()             # (category, op) -> count

    def reset(self):
        self.events.clear(), self.sites.clear(), self.ops.clear()

    def add(self, category: str, name: str) -> None:
        if not self.on:
            return
        self.events[category, name] += 1
        site, op = _where()
        self.sites[category, site] += 1
        self.ops[category, op] += 1

    def totals(self) -> dict:
        out = Counter()
        for (category, _), n in self.events.items():
            out[category] += n
        return {k: out.get(k, 0) for k in ("launch", "h2d", "d2h", "sync", "alloc", "foreign")}


TALLY = Tally()


def _where():
    """(site, op): the innermost tinygan function on the stack (file:function), and the
    innermost method of a tinygan class there (Class.method: a Function's forward/backward,
    an optimizer's step, a layer's forward)."""
    f = sys._getframe(2)
    site = op = None
    while f is not None and op is None:
        path = f.f_code.co_filename
        if path.startswith(PACKAGE):
            if site is None:
                site = f"{path[len(PACKAGE):]}:{f.f_code.co_name}"
            owner = f.f_locals.get("self")
            if owner is not None and type(owner).__module__.startswith("tinygan."):
                op = f"{type(owner).__name__}.{f.f_code.co_name}"
        f = f.f_back
    return site or "(outside tinygan)", op or site or "(outside tinygan)"


# -- device arrays ----------------------------------------------------------------------------
def _plain(a):
    """A DeviceArray as a plain ndarray view (recursively through lists, tuples, dicts)."""
    if isinstance(a, DeviceArray):
        return a.view(np.ndarray)
    if isinstance(a, (list, tuple)):
        return type(a)(_plain(v) for v in a)
    if isinstance(a, dict):
        return {k: _plain(v) for k, v in a.items()}
    return a


def _device(r):
    """A result as a device array: ndarrays and NumPy scalars (CuPy returns 0-d arrays)."""
    if isinstance(r, DeviceArray):
        return r
    if isinstance(r, np.ndarray):
        d = r.view(DeviceArray)
        d._parent = r.base            # None for a new array, as CuPy's .base says
        return d
    if isinstance(r, np.generic):
        return _device(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_device(v) for v in r)
    if isinstance(r, list):
        return [_device(v) for v in r]
    return r


def _arrays(obj):
    """Every ndarray inside obj (lists, tuples, dicts)."""
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _arrays(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _arrays(v)


def _note_foreign(name, args):
    if any(type(a) is np.ndarray and a.ndim > 0 for a in _arrays(args)):
        TALLY.add("foreign", name)


def _is_view(result, inputs) -> bool:
    outs = [r for r in _arrays(result)]
    ins = [a for a in _arrays(inputs)]
    return bool(outs) and all(any(np.may_share_memory(o, i) for i in ins) for o in outs)


def _has_array_index(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, (np.ndarray, list)) for k in keys)


def _has_mask(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype == bool for k in keys)


def _reduce(name):
    """A DeviceArray method for a reduction: one launch."""
    def method(self, *args, **kwargs):
        TALLY.add("launch", f"reduce:{name}")
        return _device(getattr(self.view(np.ndarray), name)(*_plain(args), **_plain(kwargs)))
    method.__name__ = name
    return method


def _maybe_copy(name):
    """A DeviceArray method that returns a view or a copy: a launch for a copy."""
    def method(self, *args, **kwargs):
        plain = self.view(np.ndarray)
        result = getattr(plain, name)(*_plain(args), **_plain(kwargs))
        if isinstance(result, np.ndarray) and not np.may_share_memory(result, plain):
            TALLY.add("launch", f"copy:{name}")
        return _device(result)
    method.__name__ = name
    return method


def _read(name):
    """A DeviceArray method that reads a value on the host: a copy that waits for the device."""
    def method(self, *args):
        TALLY.add("d2h", name)
        TALLY.add("sync", name)
        return getattr(self.view(np.ndarray), name)(*args)
    method.__name__ = name
    return method


class _DeviceInfo:
    id = 0


class _MemoryPointer:
    """What ``cupy.ndarray.data`` is: ``.ptr``, the address (here the host's) of the first byte."""

    __slots__ = ("ptr",)

    def __init__(self, ptr: int):
        self.ptr = ptr


class DeviceArray(np.ndarray):
    """A NumPy array standing in for a cupy.ndarray: every operation is tallied."""

    device = _DeviceInfo()
    _parent = None

    def __array_finalize__(self, obj):
        self._parent = obj            # a view of obj (``_device`` corrects it for new arrays)

    @property
    def data(self):
        """A memory pointer, as CuPy's (the kernels' pointer tables read ``.data.ptr``)."""
        return _MemoryPointer(self.ctypes.data)

    @property
    def base(self):
        """The array this one is a view of, None for an array that owns its memory (the
        stand-in's arrays are all views of NumPy arrays underneath: tinygan's autograd reads
        ``.base`` to decide whether a gradient must be copied)."""
        return self._parent

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        kind = "gemm" if ufunc.__name__ == "matmul" else ("ufunc" if method == "__call__" else method)
        TALLY.add("launch", f"{kind}:{ufunc.__name__}")
        _note_foreign(ufunc.__name__, inputs)
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _device(result)

    def __array_function__(self, func, types_, args, kwargs):
        return _call(func.__name__, func, args, kwargs)

    # reductions: one kernel each in CuPy (NumPy's methods would count their inner ufuncs)
    sum, mean, var, std = _reduce("sum"), _reduce("mean"), _reduce("var"), _reduce("std")
    max, min, prod = _reduce("max"), _reduce("min"), _reduce("prod")
    any, all, argmax, argmin = _reduce("any"), _reduce("all"), _reduce("argmax"), _reduce("argmin")
    # a launch when the result is a new array, free when it is a view
    copy, astype, reshape = _maybe_copy("copy"), _maybe_copy("astype"), _maybe_copy("reshape")
    ravel, flatten = _maybe_copy("ravel"), _maybe_copy("flatten")
    clip, round, cumsum = _maybe_copy("clip"), _maybe_copy("round"), _maybe_copy("cumsum")

    def dot(self, other, out=None):
        TALLY.add("launch", "gemm:dot")
        return _device(np.dot(self.view(np.ndarray), _plain(other), out=_plain(out)))

    def fill(self, value):
        TALLY.add("launch", "fill:fill")
        self.view(np.ndarray).fill(value)

    def __getitem__(self, key):
        result = self.view(np.ndarray)[_plain(key)]
        if _has_array_index(_plain(key)):
            TALLY.add("launch", "gather:getitem")
            if _has_mask(_plain(key)):
                TALLY.add("sync", "mask index")
                TALLY.add("d2h", "mask index")
        return _device(result)

    def __setitem__(self, key, value):
        value_plain = _plain(value)
        if type(value_plain) is np.ndarray and not isinstance(value, DeviceArray) and value_plain.ndim > 0:
            TALLY.add("h2d", "setitem from host")
        is_array = isinstance(value_plain, np.ndarray) and value_plain.ndim > 0
        TALLY.add("launch", "copy:setitem" if is_array else "fill:setitem")
        if _has_array_index(_plain(key)):
            TALLY.add("launch", "scatter:setitem")
        self.view(np.ndarray)[_plain(key)] = value_plain

    # reading a value on the host: a device->host copy, which waits for the device
    __float__, __int__, __bool__, __index__ = (_read("__float__"), _read("__int__"), _read("__bool__"),
                                               _read("__index__"))
    item, tolist = _read("item"), _read("tolist")

    def set(self, arr, stream=None):
        """An upload into this array: asynchronous (no wait) with a stream and pinned memory,
        which is how kernels/multi_tensor.py refreshes a table; counted as a copy either way."""
        TALLY.add("h2d", "set (async, pinned)" if stream is not None else "set")
        self.view(np.ndarray)[...] = np.asarray(arr).reshape(self.shape)

    def get(self, stream=None, out=None):
        TALLY.add("d2h", "get")
        TALLY.add("sync", "get")
        return np.array(self.view(np.ndarray))

    def __repr__(self):
        return "device " + repr(self.view(np.ndarray))


def _call(name, func, args, kwargs):
    """Run a NumPy function on plain arrays; tally it as a launch unless its result is a view
    of its inputs (or not an array at all)."""
    pargs, pkwargs = _plain(args), _plain(kwargs)
    result = func(*pargs, **pkwargs)
    on_device = any(isinstance(a, DeviceArray) for a in _arrays((args, kwargs)))
    if any(isinstance(r, np.ndarray) for r in _arrays(result)) or isinstance(result, np.generic):
        if not _is_view(result, (pargs, pkwargs)):
            TALLY.add("launch" if on_device else "h2d", name)
        if on_device:
            _note_foreign(name, args)
    return _device(result)


# -- the stand-in for the cupy module ---------------------------------------------------------
_ALLOC = {"empty", "empty_like"}
_FILL = {"zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "arange", "eye", "linspace"}


class _Namespace:
    """A NumPy namespace seen through the counting stand-in."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        value = getattr(self._module, name)
        if isinstance(value, np.ufunc) or isinstance(value, type):
            return value                          # ufuncs dispatch through __array_ufunc__
        if isinstance(value, types.ModuleType):
            return _Namespace(value)
        if not callable(value):
            return value
        if name in _ALLOC:
            def alloc(*args, **kwargs):
                TALLY.add("alloc", name)
                return _device(value(*_plain(args), **_plain(kwargs)))
            return alloc
        if name in _FILL:
            def fill(*args, **kwargs):
                TALLY.add("launch", f"fill:{name}")
                return _device(value(*_plain(args), **_plain(kwargs)))
            return fill
        return lambda *args, **kwargs: _call(name, value, args, kwargs)


class _Device:
    def __init__(self, index=None):
        self.id = 0 if index is None else int(index)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        pass

    def synchronize(self):
        TALLY.add("sync", "Device.synchronize")


class _Event:
    """cupy.cuda.Event: recorded after an asynchronous copy; ``done`` asks without waiting
    (the stand-in's copies are done at once), ``synchronize`` waits."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        pass

    def record(self, stream=None):
        pass

    done = True

    def synchronize(self):
        TALLY.add("sync", "Event.synchronize")


def _alloc_pinned_memory(nbytes: int):
    """Page-locked host memory: here plain host memory NumPy can view."""
    return bytearray(nbytes)


class CountingCuPy(_Namespace):
    """The parts of the cupy module tinygan uses, on NumPy, counting."""

    ndarray = DeviceArray
    __version__ = "counting stand-in"

    def __init__(self):
        super().__init__(np)
        self.cuda = types.SimpleNamespace(Device=_Device, Event=_Event,
                                          alloc_pinned_memory=_alloc_pinned_memory,
                                          get_current_stream=lambda: "the current stream",
                                          runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))

    @staticmethod
    def is_available():
        return True

    @staticmethod
    def asarray(a, dtype=None, order=None):
        if isinstance(a, DeviceArray):
            if dtype is None or np.dtype(dtype) == a.dtype:
                return a
            TALLY.add("launch", "copy:astype")
            return a.astype(dtype)
        TALLY.add("h2d", "asarray")
        return np.array(a, dtype=dtype, order=order or "K").view(DeviceArray)

    @classmethod
    def array(cls, a, dtype=None, copy=True, order="K", ndmin=0):
        if isinstance(a, DeviceArray):
            if copy:
                TALLY.add("launch", "copy:array")
            return _device(np.array(a.view(np.ndarray), dtype=dtype, copy=copy, order=order, ndmin=ndmin))
        TALLY.add("h2d", "array")
        return np.array(a, dtype=dtype, order=order, ndmin=ndmin).view(DeviceArray)

    @staticmethod
    def ascontiguousarray(a, dtype=None):
        if isinstance(a, DeviceArray):
            return _call("ascontiguousarray", np.ascontiguousarray, (a,), {"dtype": dtype})
        TALLY.add("h2d", "ascontiguousarray")
        return np.ascontiguousarray(a, dtype=dtype).view(DeviceArray)

    @staticmethod
    def get_array_module(*args):
        return CUPY if any(isinstance(a, DeviceArray) for a in args) else np


CUPY = CountingCuPy()


def _scatter_add(target, index, values):
    TALLY.add("launch", "scatter:scatter_add")
    np.add.at(target.view(np.ndarray), _plain(index), _plain(values))


@contextlib.contextmanager
def counting_backend():
    """tinygan's backend with the counting stand-in as its CuPy, for the time of the block."""
    from tinygan import backend
    saved = backend._cupy, sys.modules.get("cupyx")
    backend._cupy = CUPY
    sys.modules["cupyx"] = types.SimpleNamespace(scatter_add=_scatter_add)
    try:
        yield TALLY
    finally:
        backend._cupy = saved[0]
        if saved[1] is None:
            sys.modules.pop("cupyx", None)
        else:
            sys.modules["cupyx"] = saved[1]


# -- tinygan's own kernels, run in the emulator and tallied -----------------------------------
def use_emulated_kernels() -> bool:
    """With ``--kernels``: tinygan's CUDA kernels run in the CUDA-on-CPU emulator, each launch
    tallied under its name.  False when the loader or the emulator is missing."""
    try:
        from tinygan.kernels import cuda, emulator
    except ImportError:
        return False

    from tinygan.kernels import im2col

    def function(source, name):
        f = emulator.function(source, name)

        def launch(grid, block, args, shared_mem=0):
            TALLY.add("launch", f"kernel:{name}")
            return f(grid, block, tuple(_plain(a) for a in args), shared_mem)
        return launch
    cuda.function = function
    # The emulator runs a grid's blocks in turn, about a millisecond each: im2col.cu's
    # grid-stride loops let a few blocks do a whole batch, and the launches are the same.
    im2col.MAX_BLOCKS = 8
    return True


# -- the step ---------------------------------------------------------------------------------
def profile(batch: int = 64) -> dict:
    """The tally of one DCGAN training step (the third) on the counting backend."""
    import tinygan
    sys.path.insert(0, HERE)
    from side_by_side import dcgan_optimizers, gan_step
    from tinygan.models import FAMILIES
    with counting_backend() as tally:
        tinygan.manual_seed(0)
        model = FAMILIES["dcgan"]().to("cuda")
        d_opt, g_opt = dcgan_optimizers(model)
        real = tinygan.rand(batch, 1, 28, 28, device="cuda") * 2 - 1

        def step():
            gan_step(model, d_opt, g_opt, real, batch)

        step(), step()
        _counted(tally, step)
        return _result(batch, tally)


def profile_vae(batch: int = 128) -> dict:
    """The tally of one VAE training step (the third) on the counting backend: a batch cut
    from uint8 digits on the device, made float, dynamically binarized (train/vae.py's
    transform), then ``family.loss``, backward and Adam (train/vae.py's VAEStepper), and the
    loop's read point for the data checks a step defers (losses/range_check.py), which a
    training run reaches every ``DEVICE_READ_EVERY`` steps and is counted here apart."""
    import tinygan
    from tinygan import optim
    from tinygan.data import Compose, DataLoader, binarize, to_float
    from tinygan.models import VAE_FAMILIES
    try:
        from tinygan.losses import range_check
        read_point = range_check.raise_pending
    except ImportError:               # a tree whose data checks read the device in the step
        def read_point():
            pass
    with counting_backend() as tally:
        tinygan.manual_seed(0)
        model = VAE_FAMILIES["vae"]().to("cuda")
        opt = optim.Adam(model.parameters(), lr=1e-3)
        digits = np.random.default_rng(0).integers(0, 256, (4 * batch, 28, 28), dtype=np.uint8)
        loader = DataLoader((digits, np.zeros(4 * batch, np.int64)), batch_size=batch, shuffle=True,
                            drop_last=True, seed=0, device="cuda",
                            transform=Compose([to_float, binarize]))
        batches = iter(loader)

        def step():
            x, _ = next(batches)
            loss, _ = model.loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step(), step()
        read_point()
        _counted(tally, step)
        result = _result(batch, tally)
        _counted(tally, read_point)
        result["read_point"] = tally.totals()
        return result


def profile_stylegan(batch: int = 32) -> dict:
    """The tally of one StyleGAN-lite training step on the counting backend: the cpu preset's
    networks, tinygan.train.stylegan.StyleGANStepper's step with both lazy regularizers due
    (Dmain, R1, Gmain, path length: the heaviest step of a period; R1 runs every 16th step,
    path length every 4th), after two warm-up steps."""
    import tinygan
    from tinygan.train.loop import build_family
    from tinygan.train.stylegan import PL_INTERVAL, R1_INTERVAL, StyleGANStepper
    with counting_backend() as tally:
        tinygan.manual_seed(0)
        family = build_family("stylegan", preset="cpu").to("cuda")
        stepper = StyleGANStepper(family, dict(
            lr_g=0.0025, lr_d=0.0025, betas=[0.0, 0.99], r1_gamma=0.0064,
            r1_interval=R1_INTERVAL, pl_weight=2.0, pl_interval=PL_INTERVAL, mixing=0.9, seed=0))
        real = tinygan.rand(batch, 1, 32, 32, device="cuda") * 2 - 1

        def step():
            stepper.d_steps = stepper.g_steps = 0          # both regularizers due
            stepper.step(real, None, lambda *a: None)

        step(), step()
        _counted(tally, step)
        return _result(batch, tally)


def _counted(tally: Tally, work) -> None:
    """Run ``work()`` once with the tally reset and counting (and counting off after)."""
    tally.reset()
    tally.on = True
    try:
        work()
    finally:
        tally.on = False


def _result(batch: int, tally: Tally) -> dict:
    return {"batch": batch, "totals": tally.totals(),
            "launches_by_kind": _by(tally.events, "launch"),
            "launches_by_op": _by(tally.ops, "launch"),
            "launches_by_site": _by(tally.sites, "launch"),
            "copies_and_syncs": {f"{c}:{n}": v for (c, n), v in sorted(tally.events.items())
                                 if c in ("h2d", "d2h", "sync", "foreign")},
            "syncs_by_site": _by(tally.sites, "sync"),
            "h2d_by_site": _by(tally.sites, "h2d"),
            "h2d_by_op": _by(tally.ops, "h2d")}


def _by(counter: Counter, category: str) -> dict:
    rows = [(name, n) for (c, name), n in counter.items() if c == category]
    return dict(sorted(rows, key=lambda r: (-r[1], r[0])))


def _table(title: str, rows: dict, limit: int | None = None) -> str:
    items = list(rows.items())
    shown = items if limit is None else items[:limit]
    width = max([len(k) for k, _ in shown] + [len(title)])
    lines = [f"{title:<{width}}  count", "-" * (width + 7)]
    lines += [f"{k:<{width}}  {v:5d}" for k, v in shown]
    if len(shown) < len(items):
        lines.append(f"{'(' + str(len(items) - len(shown)) + ' more)':<{width}}  {sum(v for _, v in items[len(shown):]):5d}")
    lines.append(f"{'total':<{width}}  {sum(rows.values()):5d}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("dcgan", "vae", "stylegan"), default="dcgan",
                    help="the step profiled: DCGAN's (D then G), the VAE's or StyleGAN-lite's")
    ap.add_argument("--batch", type=int, default=None,
                    help="default 64 (dcgan), 128 (vae), 32 (stylegan)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--kernels", action="store_true",
                    help="tinygan's CUDA kernels on (run in the emulator); default: TINYGAN_KERNELS=0")
    ap.add_argument("--top", type=int, default=25, help="rows of the per-site table")
    args = ap.parse_args()
    kernels = args.kernels and use_emulated_kernels()
    if args.kernels and not kernels:
        raise SystemExit("--kernels: this tree has no kernel loader or emulator (tinygan/kernels/cuda.py, emulator/)")
    os.environ["TINYGAN_KERNELS"] = "1" if kernels else "0"
    if args.model == "vae":
        batch = args.batch or 128
        result = profile_vae(batch)
        what = "One VAE training step"
    elif args.model == "stylegan":
        batch = args.batch or 32
        result = profile_stylegan(batch)
        what = "One StyleGAN-lite training step (Dmain, R1, Gmain, path length)"
    else:
        batch = args.batch or 64
        result = profile(batch)
        what = "One DCGAN training step (D then G)"
    result["kernels"] = kernels
    result["model"] = args.model
    t = result["totals"]
    print(f"{what} on the CuPy path, batch {batch}, "
          f"tinygan kernels {'on (emulated)' if kernels else 'off'}:")
    print(f"  {t['launch']} kernel launches, {t['h2d']} host->device copies, {t['d2h']} device->host "
          f"copies, {t['sync']} synchronisations, {t['alloc']} allocations without a launch"
          + (f", {t['foreign']} host arrays in device operations" if t["foreign"] else ""))
    if "read_point" in result:
        r = result["read_point"]
        print(f"  and at the loop's read point (every DEVICE_READ_EVERY steps), for the deferred data "
              f"checks: {r['launch']} launches, {r['d2h']} device->host copies, {r['sync']} "
              f"synchronisations")
    print()
    print(_table("launches by kind", result["launches_by_kind"]))
    print()
    print(_table("launches by op", result["launches_by_op"]))
    print()
    print(_table("launches by site", result["launches_by_site"], args.top))
    print()
    print(_table("copies and synchronisations", result["copies_and_syncs"]))
    print()
    print(_table("synchronisations by site", result["syncs_by_site"]))
    print()
    print(_table("host->device copies by site", result["h2d_by_site"]))
    print()
    print(_table("host->device copies by op", result["h2d_by_op"]))
    print()
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
