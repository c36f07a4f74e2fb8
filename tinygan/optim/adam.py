"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""
from __future__ import annotations

from typing import Iterable

from ..backend import get_array_module
from ..kernels import adam as adam_kernel, cuda, multi_tensor
from .optimizer import Optimizer


def _start(state: dict, p, amsgrad: bool, xp) -> None:
    """A parameter's first step: step 0, both moments (and AMSGrad's running max) zero."""
    state["step"] = 0
    state["exp_avg"] = xp.zeros_like(p)
    state["exp_avg_sq"] = xp.zeros_like(p)
    if amsgrad:
        state["max_exp_avg_sq"] = xp.zeros_like(p)


class Adam(Optimizer):
    r"""Adam: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015), Algorithm 1.

    At step t = 1, 2, ..., with gradient g_t of parameter p (negated if ``maximize``)::

        g_t <- g_t + weight_decay * p_{t-1}           (L2 penalty, if weight_decay != 0)
        m_t  = beta1 * m_{t-1} + (1 - beta1) * g_t     (first moment, m_0 = 0)
        v_t  = beta2 * v_{t-1} + (1 - beta2) * g_t^2   (second moment, v_0 = 0)
        v_t <- max(v_hat_{t-1}, v_t)   stored as v_hat  (if amsgrad: Reddi et al., ICLR 2018)
        m^_t = m_t / (1 - beta1^t),  v^_t = v_t / (1 - beta2^t)     (bias correction)
        p_t  = p_{t-1} - lr * m^_t / (sqrt(v^_t) + eps)

    ``eps`` is added to sqrt(v^_t), after the bias correction, as in the paper and PyTorch.
    The state is ``step`` (t, an int), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad,
    ``max_exp_avg_sq``.  GANs usually take ``betas=(0.5, 0.999)`` (DCGAN) or ``(0.0, 0.99)``
    (StyleGAN2).

    Args:
        params: Tensors or parameter-group dicts (see ``Optimizer``).
        lr: learning rate (alpha in the paper).
        betas: decay rates (beta1, beta2) of the moment estimates.
        eps: added to the denominator for numerical stability.
        weight_decay: L2 penalty coefficient, added to the gradient (see AdamW for decoupled decay).
        amsgrad: use the running maximum of v (AMSGrad).
        maximize: ascend the objective instead of descending it.
    """

    _decoupled_weight_decay = False

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False,
                 *, maximize: bool = False) -> None:
        name = type(self).__name__
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"{name}: invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"{name}: invalid beta parameter at index 1: {betas[1]}")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, p, g, state: dict, group: dict) -> None:
        xp = get_array_module(p)
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if not state:
            _start(state, p, group["amsgrad"], xp)
        state["step"] += 1
        t = state["step"]

        if weight_decay != 0:
            if self._decoupled_weight_decay:
                p *= 1 - lr * weight_decay           # AdamW: shrink the weights directly
            else:
                g = g + weight_decay * p             # Adam: L2 penalty through the gradient

        m, v = state["exp_avg"], state["exp_avg_sq"]
        vmax = state.get("max_exp_avg_sq") if group["amsgrad"] else None
        # m_t, v_t, (amsgrad's max), bias correction and the step, in place (kernels/adam.py)
        adam_kernel.update_(p, g, m, v, vmax, lr=lr, beta1=beta1, beta2=beta2, eps=eps, step=t)

    def _fused_step(self, items: list, group: dict) -> bool:
        """On a GPU: the whole group in one launch of kernels/adam.cu per (dtype, step number)
        -- usually one -- with the arithmetic of ``_update``.  False (``_update`` per parameter)
        unless ``cuda.use_kernel`` says yes for every array and all are contiguous float32 or
        float64."""
        if not multi_tensor.fusable(items, adam_kernel.CTYPES):
            return False
        xp = get_array_module(items[0][1])
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        buckets: dict = {}
        for param, p, g in items:
            state = self.state[param]
            if not state:                                  # as _update starts a parameter
                _start(state, p, group["amsgrad"], xp)
            state["step"] += 1
            vmax = state.get("max_exp_avg_sq") if group["amsgrad"] else None
            key = (p.dtype, state["step"], vmax is not None)
            buckets.setdefault(key, []).append((param, p, g, state["exp_avg"], state["exp_avg_sq"], vmax))
        group_index = next(i for i, gr in enumerate(self.param_groups) if gr is group)
        for (dtype, t, amsgrad), members in buckets.items():
            roles = [list(column) for column in zip(*members)][1:]     # p, g, m, v, vmax
            table = self._table((group_index, tuple(id(m[0]) for m in members)), roles)
            adam_kernel.launch_step(lambda name: cuda.function(adam_kernel.SOURCE, name), table,
                                    dtype, lr=lr, beta1=beta1, beta2=beta2, eps=eps, step=t,
                                    weight_decay=group["weight_decay"],
                                    decoupled=self._decoupled_weight_decay, amsgrad=amsgrad,
                                    maximize=group["maximize"])
        return True


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay.

    Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019), Algorithm 2.
    The weights are shrunk directly, not through the gradient, so the decay is not rescaled
    by Adam's per-coordinate step size::

        p_{t-1} <- p_{t-1} * (1 - lr * weight_decay)
        then Adam's update with the raw gradient (m_t, v_t, bias correction, amsgrad as in Adam).

    As in PyTorch the decay is multiplied by ``lr`` (the paper's schedule multiplier eta_t
    times its lambda).  The default ``weight_decay`` is 1e-2.
    """

    _decoupled_weight_decay = True

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False,
                 *, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
