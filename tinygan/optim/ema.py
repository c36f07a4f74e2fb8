"""``EMA``: an exponential moving average of a model's weights, for sampling from a generator.

A GAN generator's weights keep moving as the two players chase each other; the average of
its recent weights makes visibly better samples than the latest ones (Karras et al.,
"Progressive Growing of GANs", ICLR 2018, sec. 5; Yazici et al., "The Unusual Effectiveness
of Averaging in GAN Training", ICLR 2019).  StyleGAN2 and BigGAN sample only from the
averaged generator, ``G_ema``.  On a GPU the update of every floating-point parameter is
one launch of kernels/ema.cu.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from .. import backend
from ..kernels import cuda, ema as ema_kernel, multi_tensor


def _named_buffers(module) -> list:
    named = getattr(module, "named_buffers", None)
    return [] if named is None else [(n, b) for n, b in named() if b is not None]


def _on_device_of(array, like):
    """``array`` moved to the device of ``like`` (a no-op when it is there already)."""
    if backend.device_of(array) == backend.device_of(like):
        return array
    return backend.to_device(array, backend.device_of(like))


class EMA:
    r"""Keep ``ema = beta * ema + (1 - beta) * p`` for every parameter p of a module.

    Floating-point parameters are averaged; everything else -- integer parameters and all
    buffers (BatchNorm's running statistics, StyleGAN's ``w_avg``) -- is copied, as in
    StyleGAN2's training loop (``training/training_loop.py``: ``p_ema.copy_(p.lerp(p_ema, beta))``
    for parameters, ``b_ema.copy_(b)`` for buffers).  The EMA keeps its own arrays, so the
    module itself is never touched until you ask to sample from the average::

        ema = EMA(G, beta=0.999)
        for step in ...:
            ...; opt_G.step()
            ema.update()
        with ema.average_parameters():       # G holds the averaged weights in here
            samples = G(z)
        # ... and its trained weights again out here

    A ``beta`` for a half-life of ``h`` images at batch size ``B`` is ``0.5 ** (B / h)``
    (StyleGAN2: h = 10,000 images, so ``beta = 0.5 ** (32 / 10_000) = 0.9978`` at B = 32).

    Only ``module.named_parameters()`` and ``module.named_buffers()`` (``(name, Tensor)``
    pairs) are used, so any object with those works.

    Args:
        module: the model to average (its current weights are the starting average).
        beta: the decay: the weight of the old average at each update, in [0, 1].
    """

    def __init__(self, module, beta: float = 0.999) -> None:
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"EMA: beta must be in [0, 1], got {beta}")
        self.module = module
        self.beta = beta
        self.num_updates = 0
        self.shadow_params: dict[str, Any] = {n: p.data.copy() for n, p in module.named_parameters()}
        self.shadow_buffers: dict[str, Any] = {n: b.data.copy() for n, b in _named_buffers(module)}
        self._tables = multi_tensor.TableCache()     # kernels/ema.cu's tables, on a GPU

    # ------------------------------------------------------------------------
    def _pairs(self, module, which: str) -> list:
        """``(name, tensor)`` of the module's parameters or buffers, checked against the EMA's names."""
        if which == "parameters":
            pairs, shadow = list(module.named_parameters()), self.shadow_params
        else:
            pairs, shadow = _named_buffers(module), self.shadow_buffers
        names = [n for n, _ in pairs]
        if set(names) != set(shadow):
            missing, extra = sorted(set(shadow) - set(names)), sorted(set(names) - set(shadow))
            raise KeyError(f"EMA: the module's {which} don't match the averaged ones "
                           f"(missing from the module: {missing}; not in the EMA: {extra})")
        for name, t in pairs:
            if tuple(t.shape) != tuple(shadow[name].shape) and which == "parameters":
                raise ValueError(f"EMA: parameter '{name}' has shape {tuple(t.shape)}, but its "
                                 f"average has shape {tuple(shadow[name].shape)}")
        return pairs

    def update(self, module=None, beta: float | None = None) -> None:
        """Fold the module's current weights into the average (call after each optimizer step).

        Args:
            module: the module to read (default: the one given to the constructor).
            beta: this update's decay (default ``self.beta``); e.g. a ramp-up schedule.
        """
        module = self.module if module is None else module
        beta = self.beta if beta is None else beta
        fused: dict = {}                             # dtype -> [(ema, p)]: one launch each, on a GPU
        for name, p in self._pairs(module, "parameters"):
            ema = self.shadow_params[name] = _on_device_of(self.shadow_params[name], p.data)
            if (ema.dtype in ema_kernel.CTYPES and ema.dtype == p.dtype and ema.flags.c_contiguous
                    and p.data.flags.c_contiguous and cuda.use_kernel(ema, p.data)):
                fused.setdefault(ema.dtype, []).append((ema, p.data))
            elif ema.dtype.kind == "f":
                ema *= beta                          # ema = beta * ema + (1 - beta) * p,
                ema += (1 - beta) * p.data           # in place (exact at beta = 0 and 1)
            else:
                ema[...] = p.data
        for dtype, pairs in fused.items():           # the same update in kernels/ema.cu
            table = self._tables.get(dtype, [list(column) for column in zip(*pairs)])
            ema_kernel.launch_update(lambda name: cuda.function(ema_kernel.SOURCE, name), table,
                                     dtype, beta=beta)
        for name, b in self._pairs(module, "buffers"):
            self.shadow_buffers[name] = b.data.copy()
        self.num_updates += 1

    def copy_to(self, module=None) -> None:
        """Write the averaged weights (and the buffers' copies) into the module, in place."""
        module = self.module if module is None else module
        for name, t in self._pairs(module, "parameters"):
            t.data[...] = _on_device_of(self.shadow_params[name], t.data)
        for name, t in self._pairs(module, "buffers"):
            self._write_buffer(t, self.shadow_buffers[name])

    @staticmethod
    def _write_buffer(t, value) -> None:
        value = _on_device_of(value, t.data)
        if t.data.shape == value.shape:
            t.data[...] = value
        else:                                # a buffer whose shape changed: replace it
            t.data = value.copy()

    @contextlib.contextmanager
    def average_parameters(self, module=None) -> Iterator[Any]:
        """``with ema.average_parameters(): ...`` -- the module holds the averaged weights inside
        the block and gets its own back on leaving it (also if the block raises).  Yields the module.
        """
        module = self.module if module is None else module
        saved_params = {n: p.data.copy() for n, p in self._pairs(module, "parameters")}
        saved_buffers = {n: b.data.copy() for n, b in self._pairs(module, "buffers")}
        self.copy_to(module)
        try:
            yield module
        finally:
            for name, p in module.named_parameters():
                p.data[...] = saved_params[name]
            for name, b in _named_buffers(module):
                self._write_buffer(b, saved_buffers[name])

    # ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"beta", "num_updates", "params": {name: array}, "buffers": {name: array}}`` (copies)."""
        return {
            "beta": self.beta,
            "num_updates": self.num_updates,
            "params": {n: a.copy() for n, a in self.shadow_params.items()},
            "buffers": {n: a.copy() for n, a in self.shadow_buffers.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; the names and shapes must match this EMA's module."""
        for key, shadow in (("params", self.shadow_params), ("buffers", self.shadow_buffers)):
            saved = state_dict[key]
            if set(saved) != set(shadow):
                missing, extra = sorted(set(shadow) - set(saved)), sorted(set(saved) - set(shadow))
                raise KeyError(f"EMA.load_state_dict: '{key}' don't match (missing from the state "
                               f"dict: {missing}; unexpected: {extra})")
            for name, value in saved.items():
                if key == "params" and tuple(np.shape(value)) != tuple(shadow[name].shape):
                    raise ValueError(f"EMA.load_state_dict: '{name}' has shape {tuple(np.shape(value))}, "
                                     f"but the module's has shape {tuple(shadow[name].shape)}")
        for key, shadow in (("params", self.shadow_params), ("buffers", self.shadow_buffers)):
            for name, value in state_dict[key].items():
                value = backend.to_device(value, backend.device_of(shadow[name]))
                shadow[name] = value.astype(shadow[name].dtype, copy=True)
        self.beta = float(state_dict["beta"])
        self.num_updates = int(state_dict["num_updates"])

    def __repr__(self) -> str:
        return (f"EMA(beta={self.beta}, num_updates={self.num_updates}, "
                f"params={len(self.shadow_params)}, buffers={len(self.shadow_buffers)})")
