"""Benchmark cases: each CUDA kernel against the plain CuPy composition it replaces.

A kernel module registers, at import, the call that shows what its kernel is for::

    benchmark.register("scale float32 (64, 512, 32, 32)",
                       inputs=lambda xp: (xp.ones((64, 512, 32, 32), xp.float32), 3.0),
                       run=scale)

``inputs(xp)`` makes the arguments with an array module (CuPy when timed); ``run(*args)``
is the public function, which takes the kernel path while ``TINYGAN_KERNELS`` is unset and
the plain twin when it is ``"0"`` -- so one call, timed under both settings, compares the
kernel with what it replaces (``plain=`` names another callable for the plain side where
the twin is not that).  benchmarks/kernels.py imports every kernel module and times every
registered case; nothing here imports CuPy or times anything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Case:
    """One benchmark: ``run(*inputs(xp))`` with kernels on, against ``plain`` (default: ``run``
    with ``TINYGAN_KERNELS=0``)."""
    name: str
    inputs: Callable[[Any], tuple]
    run: Callable[..., Any]
    plain: Callable[..., Any] | None = None


_cases: dict[str, Case] = {}


def register(name: str, inputs: Callable[[Any], tuple], run: Callable[..., Any],
             plain: Callable[..., Any] | None = None) -> None:
    """Add a benchmark case; a name registered again (a reloaded module) replaces its case."""
    if not callable(inputs) or not callable(run) or (plain is not None and not callable(plain)):
        raise TypeError(f"benchmark.register({name!r}): inputs, run and plain must be callables")
    _cases[name] = Case(name, inputs, run, plain)


def cases() -> list[Case]:
    """Every registered case, in the order registered."""
    return list(_cases.values())
