"""Adam's update of one parameter, in place, split over the threads.  Arrays in, arrays out.

Twin: ``reference.adam_update``, Algorithm 1 of Kingma & Ba (2015) line by line.
Here every step runs on every parameter, so the update works in place with one
scratch array instead of a temporary per operation, and arranges the step as
PyTorch does -- lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), one
scalar factor on m -- which is the paper's step up to rounding.  On the CPU a
large parameter is cut into one share of its elements per thread (each element
is computed the same way, so any thread count gives the same bits).

On a CUDA GPU, ``launch_step`` runs ``adam.cu``: the same arithmetic for every parameter of
a group in one launch over a table of pointers (kernels/multi_tensor.py).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from . import benchmark, cuda
from .threads import for_rows


def update_(p, g, m, v, vmax, *, lr: float, beta1: float, beta2: float, eps: float,
            step: int) -> None:
    """One Adam step at step number ``step`` (t >= 1), in place on p, m, v (and vmax, the
    running maximum of v for AMSGrad, or None).  All arrays have p's shape; g is read only."""
    xp = get_array_module(p)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step

    def update(p, g, m, v, vmax):
        tmp = xp.subtract(g, m, out=xp.empty_like(m))
        tmp *= 1 - beta1
        m += tmp                                 # = beta1 * m + (1 - beta1) * g  (a lerp, as PyTorch)
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v *= beta2
        v += tmp                                 # = beta2 * v + (1 - beta2) * g^2
        if vmax is not None:
            v = xp.maximum(vmax, v, out=vmax)
        denom = xp.sqrt(v, out=tmp)
        denom /= math.sqrt(bias_correction2)
        denom += eps
        s = xp.divide(m, denom, out=tmp)
        s *= lr / bias_correction1
        p -= s

    arrays = (p, g, m, v, vmax)
    if xp is not np or not all(a is None or a.flags.c_contiguous for a in arrays):
        update(*arrays)
        return
    flat = [None if a is None else a.reshape(-1) for a in arrays]
    for_rows(lambda sl: update(*[None if a is None else a[sl] for a in flat]), p.size, 4 * p.size)


# -- on a CUDA GPU: adam.cu, every parameter in one launch ----------------------------------------
SOURCE = "adam.cu"
CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NAMES = [f"adam_step<{t}>" for t in CTYPES.values()]
cuda.declare(SOURCE, NAMES)
ROLES = ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def launch_step(get, table, dtype, *, lr: float, beta1: float, beta2: float, eps: float, step: int,
                weight_decay: float = 0.0, decoupled: bool = False, amsgrad: bool = False,
                maximize: bool = False, threads: int = 256) -> None:
    """One Adam step at step number ``step`` of every tensor of ``table`` (a
    ``multi_tensor.Table`` over the five ``ROLES``: p, g, m, v and vmax, the last None
    unless ``amsgrad``), all of ``dtype``, in place, in one launch of ``adam_step``.

    ``get(name)`` returns the kernel callable (see batch_norm.py).  ``decoupled``: AdamW's
    weight decay (p shrunk by 1 - lr wd) instead of Adam's L2 term in the gradient.  The
    scalars are computed here in double and rounded once to ``dtype``, as NumPy rounds the
    Python floats of the CPU path.
    """
    dtype = np.dtype(dtype)
    if dtype not in CTYPES:
        raise ValueError(f"adam launch_step: expected float32 or float64 parameters, got {dtype}")
    if step < 1:
        raise ValueError(f"adam launch_step: the step number starts at 1, got {step}")
    if table.blocks == 0:
        return
    ty = dtype.type
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    get(f"adam_step<{CTYPES[dtype]}>")(
        table.blocks, threads,
        table.args() + (ty(1 - beta1), ty(beta2), ty(1 - beta2), ty(eps),
                        ty(math.sqrt(bias_correction2)), ty(lr / bias_correction1),
                        ty(weight_decay), ty(1 - lr * weight_decay), np.int32(decoupled),
                        np.int32(amsgrad), np.int32(maximize)))


# -- benchmarks/kernels.py: one launch against the per-parameter update ---------------------------
def _bench_inputs(xp):
    """Adam (betas (0.5, 0.999)) over a DCGAN's generator and discriminator -- 905 k float32
    parameters in 18 tensors -- with fixed gradients in place."""
    from ..autograd import Tensor
    from ..models import dcgan
    from ..optim import Adam as AdamOptimizer
    device = "cpu" if xp is np else "cuda"
    params = [p for net in (dcgan.generator(), dcgan.discriminator()) for p in net.to(device).parameters()]
    rng = np.random.default_rng(0)
    for p in params:
        p.grad = Tensor(xp.asarray(rng.standard_normal(p.shape).astype(np.float32)))
    return AdamOptimizer(params, lr=2e-4, betas=(0.5, 0.999)), params


def _bench_step(opt, params):
    """One optimizer step -> the first moment of the largest parameter.  Both sides of the
    benchmark step the same optimizer a different number of times, and m after k steps on a
    fixed gradient g is g (1 - 0.5^k): equal to g in float32 after a few dozen steps on both
    sides, so max|diff| compares the kernel with the plain update."""
    opt.step()
    return opt.state[max(params, key=lambda p: p.numel())]["exp_avg"]


benchmark.register("fused Adam over a DCGAN's 18 parameters: adam.cu vs the per-parameter CuPy update",
                   inputs=_bench_inputs, run=_bench_step)
