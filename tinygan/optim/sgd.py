"""Stochastic gradient descent, with momentum and Nesterov momentum (``torch.optim.SGD``)."""
from __future__ import annotations

from typing import Iterable

from ..backend import get_array_module
from ..kernels import cuda, multi_tensor, sgd as sgd_kernel
from .optimizer import Optimizer


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    At step t, with gradient g_t of parameter p (negated if ``maximize``)::

        g_t <- g_t + weight_decay * p_{t-1}                 (L2 penalty, if weight_decay != 0)
        b_t  = g_t                                          (t = 1: the buffer starts at the gradient)
        b_t  = momentum * b_{t-1} + (1 - dampening) * g_t   (t > 1)
        d_t  = g_t + momentum * b_t    if nesterov  else  b_t     (d_t = g_t if momentum == 0)
        p_t  = p_{t-1} - lr * d_t

    This is PyTorch's form of momentum (Polyak's heavy ball with the learning rate outside
    the buffer).  ``nesterov=True`` is the look-ahead variant of Sutskever, Martens, Dahl &
    Hinton, "On the importance of initialization and momentum in deep learning" (ICML 2013),
    eq. 3-4, rewritten in terms of the current parameters as in PyTorch.

    Args:
        params: Tensors or parameter-group dicts (see ``Optimizer``).
        lr: learning rate.
        momentum: momentum factor (0 turns momentum off).
        dampening: how much of the new gradient enters the buffer is ``1 - dampening``.
        weight_decay: L2 penalty coefficient (added to the gradient).
        nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        maximize: ascend the objective instead of descending it.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        if lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, g, state: dict, group: dict) -> None:
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p -= lr * g

    def _fused_step(self, items: list, group: dict) -> bool:
        """On a GPU: the whole group in one launch of kernels/sgd.cu (two on the step where
        some momentum buffers are new and others not) with the arithmetic of ``_update``.
        False (``_update`` per parameter) unless ``cuda.use_kernel`` says yes for every array
        and all are contiguous float32 or float64."""
        if not multi_tensor.fusable(items, sgd_kernel.CTYPES):
            return False
        xp = get_array_module(items[0][1])
        momentum = group["momentum"]
        buckets: dict = {}
        for param, p, g in items:
            state, buf, first = self.state[param], None, False
            if momentum != 0:
                buf = state.get("momentum_buffer")
                if buf is None:                      # the kernel starts it at the gradient
                    buf = state["momentum_buffer"] = xp.empty_like(p)
                    first = True
            buckets.setdefault((p.dtype, first), []).append((param, p, g, buf))
        group_index = next(i for i, gr in enumerate(self.param_groups) if gr is group)
        for (dtype, first), members in buckets.items():
            roles = [list(column) for column in zip(*members)][1:]     # p, g, buf
            table = self._table((group_index, tuple(id(m[0]) for m in members)), roles)
            sgd_kernel.launch_step(lambda name: cuda.function(sgd_kernel.SOURCE, name), table,
                                   dtype, lr=group["lr"], momentum=momentum,
                                   dampening=group["dampening"], weight_decay=group["weight_decay"],
                                   nesterov=group["nesterov"], maximize=group["maximize"],
                                   first_step=first)
        return True
