"""The multi-tensor optimizer kernels (adam.cu, sgd.cu, ema.cu) against their twins.

Each kernel updates every tensor of a table of pointers (kernels/multi_tensor.py) in one
launch.  Here the kernels run in the CPU emulator through the launchers the GPU uses, with a
table of NumPy arrays (addresses ``a.ctypes.data``) holding tensors of 1, 5, 1000 and 4097
elements -- one block, a block's partial chunk, and a tensor cut into a full chunk and one
element -- in float32 and float64, over several steps, against the formulas in float64:
Adam against ``reference.adam_update`` (Kingma & Ba, Alg. 1), SGD and the EMA against the
formulas written out here.  Then the optimizers themselves with the kernels serving their
step (the GPU's path, in the emulator) against their CPU path; the ``gpu`` tests at the end
compare the CuPy path with kernels on and off.

Rounding bounds: the kernels compute each element with the operations of the CPU path in the
same order (a GPU may fuse a multiply and an add, which only drops a rounding), so an element
is off by a few roundings of the magnitudes involved per step, carried from step to step;
each bound below is written out where it is used.
"""
from __future__ import annotations

import numpy as np
import pytest

import tinygan
from tinygan import backend
from tinygan.kernels import adam, benchmark, cuda, ema as ema_kernel, emulator, multi_tensor, reference, sgd
from tinygan.optim import EMA, SGD, Adam, AdamW

from tolerances import FACTOR, assert_within, eps
from gpu_helpers import host

SIZES = (1, 5, 1000, 4097)
DTYPES = [np.float32, np.float64]


def emulated(source):
    return lambda name: emulator.function(source, name)


def _arrays(rng, dtype, sizes=SIZES):
    return [rng.standard_normal(n).astype(dtype) for n in sizes]


# -- the table ----------------------------------------------------------------------------------
def test_block_map_covers_every_tensor_once():
    """Block b takes elements [start, start + chunk) of one tensor; a tensor of 4097 gets a
    full chunk and a chunk of one; an empty tensor gets no block."""
    tensors, starts = multi_tensor.block_map([1, 5, 0, 4097], chunk=4096)
    np.testing.assert_array_equal(tensors, [0, 1, 3, 3])     # exact: integers
    np.testing.assert_array_equal(starts, [0, 0, 0, 4096])   # exact: integers
    tensors, starts = multi_tensor.block_map([1000], chunk=300)
    np.testing.assert_array_equal(starts, [0, 300, 600, 900])  # exact: integers


def test_table_refresh_rewrites_a_pinned_buffer_only_after_its_copy_ran(monkeypatch):
    """Table.refresh takes the RING pinned buffers in turn and, before rewriting one, waits
    for the copy that last read it if that copy has not run (as on a GPU that is RING steps
    behind); copies that have run cost no wait."""
    copies, waits = [], []

    class Event:
        def __init__(self, done):
            self.done = done

        def synchronize(self):
            waits.append(self)

    def copy(target, source):
        target[...] = source.reshape(target.shape)
        copies.append(source)
        return Event(done=len(copies) % 2 == 0)          # every other copy still queued
    monkeypatch.setattr(multi_tensor.backend, "copy_to_device_async", copy)
    rng = np.random.default_rng(1)
    ps = _arrays(rng, np.float32)
    table = multi_tensor.Table([ps, _arrays(rng, np.float32)])
    for turn in range(3 * multi_tensor.RING):
        gs = _arrays(rng, np.float32)
        table.refresh([ps, gs])
        np.testing.assert_array_equal(table.table[1], [g.ctypes.data for g in gs])   # exact: addresses
    buffers = {id(b) for b in copies}
    assert len(buffers) == multi_tensor.RING                 # the ring, reused
    # The copies 1, 3, 5, ... were left "queued": each buffer they used is waited for once
    # before its next rewrite (the last RING copies are not rewritten yet).
    assert len(waits) == sum(1 for k in range(1, 3 * multi_tensor.RING - multi_tensor.RING + 1)
                             if k % 2 == 1)


def test_table_cache_rebuilds_only_what_moved():
    rng = np.random.default_rng(0)
    ps, gs = _arrays(rng, np.float32), _arrays(rng, np.float32)
    cache = multi_tensor.TableCache()
    table = cache.get("k", [ps, gs])
    np.testing.assert_array_equal(table.table[1], [g.ctypes.data for g in gs])   # exact: addresses
    assert cache.get("k", [ps, gs]) is table
    device_table = table.table
    for turn in range(2 * multi_tensor.RING + 1):               # new gradients, elsewhere, each step
        gs2 = [g.copy() for g in gs]
        moved = cache.get("k", [ps, gs2])
        # the same table, its address rows rewritten in place (no new device array)
        assert moved is table and moved.table is device_table
        np.testing.assert_array_equal(moved.table[1], [g.ctypes.data for g in gs2])  # exact: addresses
        np.testing.assert_array_equal(moved.table[0], [p.ctypes.data for p in ps])   # exact: addresses
    strided = np.zeros(2 * gs[1].size, np.float32)[::2]         # checked on a refresh too
    with pytest.raises(ValueError, match=r"multi-tensor table: array 1 of role 1 .*contiguous: False"):
        cache.get("k", [ps, [gs[0], strided] + gs[2:]])
    moved = cache.get("k", [ps[:2], gs[:2]])                     # other sizes: a new table
    assert moved is not table
    for k in range(2 * cache.MAX_KEYS):                          # many keys: the cache stays bounded
        cache.get(k, [ps, gs])
    assert len(cache._tables) <= cache.MAX_KEYS
    with pytest.raises(ValueError, match=r"multi-tensor table: array 2 of role 1 has shape \(999,\)"):
        multi_tensor.Table([ps, gs[:2] + [gs[2][:999]] + gs[3:]])


# -- Adam ---------------------------------------------------------------------------------------
ADAM_OPTIONS = {
    "plain": dict(),
    "amsgrad": dict(amsgrad=True),
    "l2": dict(weight_decay=0.1),
    "decoupled-maximize": dict(weight_decay=0.1, decoupled=True, maximize=True),
}


@pytest.mark.parametrize("chunk", [4096, 1000])
@pytest.mark.parametrize("options", list(ADAM_OPTIONS), ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_adam_step_matches_algorithm_1(dtype, options, chunk):
    """Four steps of every tensor in one launch each, against Alg. 1 in float64 (with the
    gradient negated for ``maximize``, wd p added for L2, p shrunk by 1 - lr wd for AdamW).

    Error bounds carried step by step (FACTOR 2 on top), with the kernel's operations:
    m + (g - m)(1 - beta1) keeps beta1 of m's old error and adds four roundings of its
    terms; v beta2 + g^2 (1 - beta2) keeps beta2 of v's and adds four; vmax takes the larger;
    the step s = m / (sqrt(v) / sqrt(bc2) + eps) * lr / bc1 carries m's error scaled by
    lr / bc1 / denominator, v's relative error halved, and six roundings of s; p adds s's
    error and the rounding of the difference (and of the decay factor, of g + wd p)."""
    opts = ADAM_OPTIONS[options]
    amsgrad = opts.get("amsgrad", False)
    wd, decoupled, maximize = opts.get("weight_decay", 0.0), opts.get("decoupled", False), opts.get("maximize", False)
    lr, beta1, beta2, eps_ = 1e-2, 0.5, 0.999, 1e-8
    rng = np.random.default_rng(1)
    ps = _arrays(rng, dtype)
    ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    vmaxs = [np.zeros_like(p) if amsgrad else None for p in ps]
    ref = [[p.astype(np.float64), np.zeros(p.size), np.zeros(p.size), np.zeros(p.size) if amsgrad else None]
           for p in ps]
    err = [[np.zeros(p.size) for _ in range(4)] for p in ps]       # bounds for p, m, v, vmax
    cache = multi_tensor.TableCache(chunk)
    f = eps(dtype)
    for t in (1, 2, 3, 4):
        gs = _arrays(rng, dtype)
        table = cache.get(dtype, [ps, gs, ms, vs, vmaxs])
        assert table.blocks == sum(-(-n // chunk) for n in SIZES)
        adam.launch_step(emulated(adam.SOURCE), table, dtype, lr=lr, beta1=beta1, beta2=beta2, eps=eps_,
                         step=t, weight_decay=wd, decoupled=decoupled, amsgrad=amsgrad, maximize=maximize)
        for k, (p, g, m, v, vmax) in enumerate(zip(ps, gs, ms, vs, vmaxs)):
            pr, mr, vr, vmaxr = ref[k]
            e_p, e_m, e_v, e_vmax = err[k]
            g64 = -g.astype(np.float64) if maximize else g.astype(np.float64)
            e_g = np.zeros(p.size)
            if wd and decoupled:
                pr = pr * (1 - lr * wd)
                e_p = e_p + 2 * f * np.abs(pr)
            elif wd:
                g64 = g64 + wd * pr
                e_g = wd * e_p + 2 * f * (np.abs(g64) + wd * np.abs(pr))
            before = pr
            m_old, v_old = mr, vr
            pr, mr, vr, vmaxr = ref[k] = list(reference.adam_update(pr, g64, mr, vr, vmaxr, step=t, lr=lr,
                                                                    beta1=beta1, beta2=beta2, eps=eps_))
            e_m = beta1 * e_m + (1 - beta1) * e_g + 4 * f * ((1 - beta1) * np.abs(g64 - m_old) + np.abs(mr))
            e_v = (beta2 * e_v + (1 - beta2) * 2 * np.abs(g64) * e_g
                   + 4 * f * (beta2 * v_old + (1 - beta2) * g64 * g64 + vr))
            v_used, e_used = vr, e_v
            if amsgrad:
                e_vmax = np.maximum(e_v, e_vmax)          # max is 1-Lipschitz in each argument
                v_used, e_used = vmaxr, e_vmax
            bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
            denom = np.sqrt(v_used / bc2) + eps_
            s = np.abs(before - pr)
            e_s = lr / bc1 * e_m / denom + s * (e_used / (2 * np.maximum(v_used, np.finfo(np.float64).tiny)) + 6 * f)
            e_p = e_p + e_s + f * np.abs(pr)
            err[k] = [e_p, e_m, e_v, e_vmax]
            what = f"tensor of {p.size} at step {t}"
            assert_within(m, mr, FACTOR * e_m, f"m, {what}")
            assert_within(v, vr, FACTOR * e_v, f"v, {what}")
            if amsgrad:
                assert_within(vmax, vmaxr, FACTOR * e_vmax, f"vmax, {what}")
            assert_within(p, pr, FACTOR * e_p, f"p, {what}")


# -- SGD ----------------------------------------------------------------------------------------
SGD_OPTIONS = {
    "plain": dict(),
    "momentum": dict(momentum=0.9, dampening=0.1),
    "nesterov-l2": dict(momentum=0.9, nesterov=True, weight_decay=0.01),
    "maximize": dict(momentum=0.5, maximize=True),
}


@pytest.mark.parametrize("options", list(SGD_OPTIONS), ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_sgd_step_matches_the_formula(dtype, options):
    """Four steps against optim/sgd.py's formulas in float64, the first starting the buffer
    at the gradient.  Error bounds carried step by step: the buffer's old error times
    momentum plus three roundings (b m, (1 - dampening) g, their sum); d = g + m b adds two;
    p's old error plus lr times d's error plus two roundings (lr d and the difference)."""
    opts = SGD_OPTIONS[options]
    momentum, dampening = opts.get("momentum", 0.0), opts.get("dampening", 0.0)
    nesterov, wd, maximize = opts.get("nesterov", False), opts.get("weight_decay", 0.0), opts.get("maximize", False)
    lr = 0.1
    rng = np.random.default_rng(2)
    ps = _arrays(rng, dtype)
    bufs = [np.empty_like(p) if momentum else None for p in ps]
    ref = [[p.astype(np.float64), None] for p in ps]
    err = [[np.zeros(p.size), np.zeros(p.size)] for p in ps]      # bounds on p's and b's errors
    cache = multi_tensor.TableCache()
    f = eps(dtype)
    for t in (1, 2, 3, 4):
        gs = _arrays(rng, dtype)
        sgd.launch_step(emulated(sgd.SOURCE), cache.get(dtype, [ps, gs, bufs]), dtype, lr=lr,
                        momentum=momentum, dampening=dampening, weight_decay=wd, nesterov=nesterov,
                        maximize=maximize, first_step=(t == 1))
        for k, (p, g, buf) in enumerate(zip(ps, gs, bufs)):
            pr, br = ref[k]
            e_p, e_b = err[k]
            g64 = -g.astype(np.float64) if maximize else g.astype(np.float64)
            e_g = np.zeros(p.size)
            if wd:
                e_g = 2 * f * (np.abs(g64) + wd * np.abs(pr)) + wd * e_p
                g64 = g64 + wd * pr
            d, e_d = g64, e_g
            if momentum:
                if br is None:
                    br, e_b = g64, e_g
                else:
                    e_b = momentum * e_b + (1 - dampening) * e_g + 3 * f * (momentum * np.abs(br) + np.abs(g64))
                    br = momentum * br + (1 - dampening) * g64
                    e_b += 3 * f * np.abs(br)
                d, e_d = (g64 + momentum * br, e_g + momentum * e_b + 2 * f * (np.abs(g64) + momentum * np.abs(br))) \
                    if nesterov else (br, e_b)
                assert_within(buf, br, FACTOR * e_b, f"buffer of the tensor of {p.size} at step {t}")
            e_p = e_p + lr * e_d + 2 * f * (lr * np.abs(d) + np.abs(pr))
            pr = pr - lr * d
            e_p += 2 * f * np.abs(pr)
            ref[k], err[k] = [pr, br], [e_p, e_b]
            assert_within(p, pr, FACTOR * e_p, f"p of the tensor of {p.size} at step {t}")


# -- EMA ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_ema_update_matches_the_formula(dtype):
    """ema <- beta ema + (1 - beta) p, four times: the old error times beta plus three
    roundings (ema beta, (1 - beta) p, the sum)."""
    rng = np.random.default_rng(3)
    avgs = _arrays(rng, dtype)
    ref = [a.astype(np.float64) for a in avgs]
    err = [np.zeros(a.size) for a in avgs]
    cache = multi_tensor.TableCache(chunk=1000)
    f, beta = eps(dtype), 0.9
    for t in (1, 2, 3, 4):
        ps = _arrays(rng, dtype)
        ema_kernel.launch_update(emulated(ema_kernel.SOURCE), cache.get(dtype, [avgs, ps]), dtype, beta=beta)
        for k, (a, p) in enumerate(zip(avgs, ps)):
            ref[k] = beta * ref[k] + (1 - beta) * p.astype(np.float64)
            err[k] = beta * err[k] + 3 * f * (np.abs(ref[k]) + np.abs(p))
            assert_within(a, ref[k], FACTOR * err[k], f"average of the tensor of {a.size} after {t} updates")


def test_bad_input_is_named():
    rng = np.random.default_rng(4)
    table = multi_tensor.Table([_arrays(rng, np.float32)] * 5)
    with pytest.raises(ValueError, match="adam launch_step: the step number starts at 1, got 0"):
        adam.launch_step(emulated(adam.SOURCE), table, np.float32, lr=1e-3, beta1=0.9, beta2=0.99, eps=1e-8, step=0)
    with pytest.raises(ValueError, match="sgd launch_step: expected float32 or float64 parameters, got float16"):
        sgd.launch_step(emulated(sgd.SOURCE), table, np.float16, lr=0.1)
    with pytest.raises(ValueError, match="multi-tensor table: role 1 has 2 arrays, role 0 has 4"):
        multi_tensor.Table([_arrays(rng, np.float32), _arrays(rng, np.float32)[:2]])


# -- the optimizers with the kernels serving their step, as on a GPU --------------------------------
@pytest.fixture
def served(monkeypatch):
    """``cuda.use_kernel`` says yes for NumPy arrays too (while TINYGAN_KERNELS is not "0")
    and ``cuda.function`` hands out the emulator's kernels: the optimizers then take their
    GPU path on the CPU.  Yields the list of kernels launched."""
    launched = []

    def function(source, name):
        launched.append(name)
        return emulator.function(source, name)
    monkeypatch.setattr(cuda, "use_kernel", lambda *arrays: cuda.enabled() and all(
        isinstance(a, np.ndarray) for a in arrays))
    monkeypatch.setattr(cuda, "function", function)
    yield launched


def _params(seed, dtype=np.float64, device="cpu"):
    rng = np.random.default_rng(seed)
    return [tinygan.tensor(rng.standard_normal(n).astype(dtype), device=device, requires_grad=True)
            for n in SIZES]


def _run(make_optimizer, steps, seed, dtype, skip=None):
    """(parameters, optimizer, the largest move of each element in one step) after ``steps``
    steps of an optimizer with seeded gradients (parameter ``skip`` has none at step 2)."""
    params = _params(seed, dtype)
    opt = make_optimizer(params)
    rng = np.random.default_rng(seed + 1)
    moved = [np.zeros(p.shape) for p in params]
    for t in range(1, steps + 1):
        opt.zero_grad()
        before = [p.data.astype(np.float64) for p in params]
        for k, p in enumerate(params):
            g = rng.standard_normal(p.shape).astype(dtype)
            if not (k == skip and t == 2):
                p.grad = tinygan.tensor(g)
        opt.step()
        moved = [np.maximum(m, np.abs(p.data - b)) for m, p, b in zip(moved, params, before)]
    return params, opt, moved


OPTIMIZERS = {
    "adam-amsgrad-l2": lambda ps: Adam(ps, lr=1e-2, betas=(0.5, 0.999), weight_decay=0.1, amsgrad=True),
    "adamw-maximize": lambda ps: AdamW(ps, lr=1e-2, maximize=True),
    "sgd-nesterov": lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "sgd-dampening": lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
    "sgd-plain": lambda ps: SGD(ps, lr=0.1),
    "two-groups": lambda ps: Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 1e-3}], lr=1e-2),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(OPTIMIZERS), ids=str)
def test_optimizer_served_by_the_kernels(served, monkeypatch, name, dtype):
    """Three steps with the kernels serving ``step`` against the CPU path.  One launch per
    group and step -- and one more for Adam at step 3, where the parameter that had no
    gradient at step 2 is a step behind the others (another bias correction).

    The same operations in the same order on both paths, so an element differs by a few
    roundings per step of the terms of its update: for a parameter, its value and its
    move in a step; for a state array, its values (the gradients are standard normal and
    the moments and buffers their averages, so no term exceeds the array's largest value
    by much)."""
    make = OPTIMIZERS[name]
    fused, opt, _ = _run(make, 3, 10, dtype, skip=1)
    kernel = "sgd_step" if name.startswith("sgd") else "adam_step"
    assert [n.split("<")[0] for n in served] == [kernel] * len(served)
    assert len(served) == 3 * len(opt.param_groups) + (kernel == "adam_step")
    monkeypatch.setenv("TINYGAN_KERNELS", "0")
    launches = len(served)
    plain, opt_plain, moved = _run(make, 3, 10, dtype, skip=1)
    assert len(served) == launches                     # kernels off: none launched
    u = 3 * 8 * eps(dtype)
    for k, (a, b, m) in enumerate(zip(fused, plain, moved)):
        assert_within(a.data, b.data, u * (np.abs(b.data) + m), f"parameter {k}")
    state, state_plain = opt.state_dict()["state"], opt_plain.state_dict()["state"]
    assert state.keys() == state_plain.keys()
    for k in state:
        assert state[k].keys() == state_plain[k].keys()
        for key, value in state[k].items():
            expected = state_plain[k][key]
            if key == "step":
                assert value == expected
            else:
                assert_within(value, expected, u * (np.abs(expected) + np.abs(expected).max()),
                              f"{key} of parameter {k}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_ema_served_by_the_kernel(served, monkeypatch, dtype):
    """EMA.update: one launch for every floating-point parameter, against the CPU path (the
    same three roundings an update, carried with weight beta < 1)."""
    results = []
    for setting in ("1", "0"):
        monkeypatch.setenv("TINYGAN_KERNELS", setting)
        model = tinygan.nn.Linear(7, 5)
        rng = np.random.default_rng(11)
        for p in model.parameters():
            p.data = rng.standard_normal(p.shape).astype(dtype)
        ema = EMA(model, beta=0.9)
        for _ in range(3):
            for p in model.parameters():
                p.data[...] = rng.standard_normal(p.shape)
            ema.update()
        results.append(ema.state_dict()["params"])
        if setting == "1":
            assert [n.split("<")[0] for n in served] == ["ema_update"] * 3
    f = eps(dtype)
    for name in results[1]:
        assert_within(results[0][name], results[1][name], 3 * 4 * f * (np.abs(results[1][name]) + 1), name)


# -- on a GPU: the CuPy path with kernels on and off -----------------------------------------------
HAS_GPU = tinygan.cuda_is_available()




@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", list(OPTIMIZERS), ids=str)
def test_gpu_optimizer_kernels_on_and_off(monkeypatch, name, dtype):
    """Three steps on CUDA with TINYGAN_KERNELS unset (adam.cu / sgd.cu, one launch per group)
    and "0" (the per-parameter CuPy operations): the same up to a few roundings per step."""
    make = OPTIMIZERS[name]
    results = []
    for setting in ("1", "0"):
        monkeypatch.setenv("TINYGAN_KERNELS", setting)
        params = _params(20, dtype, "cuda")
        opt = make(params)
        rng = np.random.default_rng(21)
        for t in range(3):
            opt.zero_grad()
            for p in params:
                p.grad = tinygan.tensor(rng.standard_normal(p.shape).astype(dtype), device="cuda")
            opt.step()
        results.append([host(p) for p in params])
    f = eps(dtype)
    for k, (a, b) in enumerate(zip(*results)):
        assert_within(a, b, 3 * 8 * f * (np.abs(b) + 0.1), f"parameter {k}")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs CuPy and a CUDA GPU")
def test_gpu_ema_kernel_on_and_off(monkeypatch):
    results = []
    for setting in ("1", "0"):
        monkeypatch.setenv("TINYGAN_KERNELS", setting)
        model = tinygan.nn.Linear(70, 50).to("cuda")
        rng = np.random.default_rng(22)
        for p in model.parameters():
            p.data = backend.to_device(rng.standard_normal(p.shape).astype(np.float32), "cuda")
        ema = EMA(model, beta=0.9)
        for _ in range(3):
            for p in model.parameters():
                p.data[...] = backend.to_device(rng.standard_normal(p.shape).astype(np.float32), "cuda")
            ema.update()
        results.append({n: host(a) for n, a in ema.state_dict()["params"].items()})
    for name in results[1]:
        expected = results[1][name]
        assert_within(results[0][name], expected, 3 * 4 * eps(np.float32) * (np.abs(expected) + 1), name)


def test_the_benchmark_case_runs():
    """benchmarks/kernels.py's case (timed on a GPU only), run here through the CPU path:
    the first moment it returns tends to the fixed gradient, as its docstring says."""
    case = next(c for c in benchmark.cases() if c.name.startswith("fused Adam over a DCGAN"))
    opt, params = case.inputs(np)
    largest = max(params, key=lambda p: p.numel())
    for k in range(1, 4):
        m = case.run(opt, params)
        g = largest.grad.data.astype(np.float64)
        assert_within(m, g * (1 - 0.5 ** k), 4 * k * eps(np.float32) * np.abs(g), f"m after {k} steps")
