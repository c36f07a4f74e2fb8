"""The array backend: NumPy on the CPU, CuPy on a CUDA GPU.

This is the ONLY module in tinygan that imports CuPy.  Every op asks
``get_array_module(array)`` for the module that owns its arrays and is written
once against that module's NumPy-compatible API (Chainer's ``cuda.get_array_module``
idea).  CuPy is imported lazily, the first time a CUDA device is asked for, so
tinygan imports and runs on machines without CuPy or without a GPU; there, only
asking for CUDA is an error, and the error says which piece is missing.

Devices are named as in PyTorch: ``"cpu"``, ``"cuda"`` (the current GPU) and
``"cuda:N"``.  ``TINYGAN_DEVICE`` sets the default device for new tensors.

``raw_module`` hands CUDA source to CuPy's NVRTC for the kernel loader
(tinygan/kernels/cuda.py).  ``TINYGAN_CUDA_MEMORY_POOL=0`` turns CuPy's memory pool
off, so that compute-sanitizer sees every array's true bounds.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

_cupy: Any = None          # the cupy module, once imported
_cupy_error: str | None = None


class device:
    """A device name, shaped like ``torch.device``: ``type`` is ``"cpu"`` or ``"cuda"``.

    >>> device("cuda:1").index
    1
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: "str | device", index: int | None = None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        if not isinstance(spec, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda:0', got {spec!r}")
        name, colon, num = spec.partition(":")
        if name not in ("cpu", "cuda"):
            raise ValueError(f"device: unknown device {spec!r}; use 'cpu', 'cuda' or 'cuda:N'")
        if colon:
            if not num.isdigit():
                raise ValueError(f"device: bad device index in {spec!r}")
            index = int(num)
        if name == "cpu" and index not in (None, 0):
            raise ValueError(f"device: the CPU has no index, got {spec!r}")
        self.type = name
        self.index = None if name == "cpu" else index

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, TypeError):
                return False
        if not isinstance(other, device):
            return NotImplemented
        if self.type != other.type:
            return False
        # "cuda" means the current GPU; treat it as equal to any explicit index of it.
        return self.index is None or other.index is None or self.index == other.index

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + ("" if self.index is None else f", index={self.index}") + ")"


def cupy_module():
    """Import CuPy on first use; raise a clear error if it or a GPU is missing."""
    global _cupy, _cupy_error
    if _cupy is not None:
        return _cupy
    _cupy_error = None       # the reason of *this* attempt only, not of an earlier one
    try:
        import cupy  # noqa: PLC0415 - the one place tinygan imports cupy
    except ImportError as exc:
        raise RuntimeError(
            "CUDA device requested but CuPy is not installed: "
            "pip install 'tinygan[cuda12]' or 'tinygan[cuda13]' to match your CUDA driver "
            f"({exc})"
        ) from None
    try:
        available = cupy.is_available()
    except Exception as exc:  # a broken driver raises here
        available, _cupy_error = False, str(exc)
    if not available:
        raise RuntimeError(
            "CUDA device requested but no usable GPU was found: CuPy is installed, "
            "but cupy.is_available() is False" + (f" ({_cupy_error})" if _cupy_error else "")
        )
    if os.environ.get("TINYGAN_CUDA_MEMORY_POOL", "1").strip() == "0":
        # Every array its own cudaMalloc: compute-sanitizer's memcheck then sees the true
        # bounds of each array (inside CuPy's pool, a stray access lands in pooled memory
        # and goes unnoticed).  Slow; for the sanitizer runs of `make gpu-check`.
        cupy.cuda.set_allocator(None)
    _cupy = cupy
    return cupy


def cuda_is_available() -> bool:
    """True when CuPy imports and sees a GPU (never raises)."""
    try:
        cupy_module()
        return True
    except RuntimeError:
        return False


def is_cupy_array(a: Any) -> bool:
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def get_array_module(*arrays: Any):
    """Return ``numpy`` or ``cupy``: the module that owns these arrays (or tensors)."""
    if _cupy is not None:
        for a in arrays:
            # A Tensor holds its array in .data -- but a CuPy array has a .data too (its
            # MemoryPointer), so test for the array before looking inside.
            if isinstance(a, _cupy.ndarray) or isinstance(getattr(a, "data", None), _cupy.ndarray):
                return _cupy
    return np


def default_device() -> device:
    """The device new tensors go to: ``$TINYGAN_DEVICE`` or the CPU."""
    return device(os.environ.get("TINYGAN_DEVICE", "cpu"))


def device_of(a: Any) -> device:
    """The device an array lives on."""
    if is_cupy_array(a):
        return device("cuda", a.device.id)
    return device("cpu")


def array_module_for(dev: "str | device | None"):
    """The array module for a device name (importing CuPy if it is a GPU)."""
    dev = default_device() if dev is None else device(dev)
    return np if dev.type == "cpu" else cupy_module()


def to_device(a: Any, dev: "str | device | None"):
    """Move (or copy) an array to a device; a no-op when it is already there."""
    dev = default_device() if dev is None else device(dev)
    if dev.type == "cpu":
        return a.get() if is_cupy_array(a) else np.asarray(a)
    cp = cupy_module()
    index = dev.index if dev.index is not None else cp.cuda.Device().id
    if isinstance(a, cp.ndarray) and a.device.id == index:
        return a
    with cp.cuda.Device(index):
        return cp.asarray(a)


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` with repeated indices adding up (``np.add.at``)."""
    if is_cupy_array(target):
        import cupyx  # noqa: PLC0415 - ships with cupy; only reached on a GPU
        cupyx.scatter_add(target, index, values)
    else:
        np.add.at(target, index, values)


def pinned_empty(shape, dtype) -> np.ndarray:
    """An empty NumPy array in page-locked ("pinned") host memory, from which a copy to the
    GPU runs asynchronously (``copy_to_device_async``); a plain one when CuPy is not in use."""
    if _cupy is None:
        return np.empty(shape, dtype)
    count = int(np.prod(shape, dtype=np.int64))
    memory = _cupy.cuda.alloc_pinned_memory(max(count * np.dtype(dtype).itemsize, 1))
    return np.frombuffer(memory, dtype, count).reshape(shape)


def copy_to_device_async(target, source: np.ndarray):
    """Copy the host array ``source`` into the device array ``target`` (same size) on the
    current stream, without waiting: ordered after the launches already queued there and
    before the ones queued after.  ``source`` should be pinned (``pinned_empty``) -- from
    pageable memory the copy makes the host wait -- and must not be written until the
    copy has run: the returned event's ``done`` says so.  A NumPy target is written at once
    (None is returned)."""
    if not is_cupy_array(target):
        target[...] = source.reshape(target.shape)
        return None
    stream = _cupy.cuda.get_current_stream()
    target.set(source.reshape(target.shape), stream=stream)
    event = _cupy.cuda.Event(block=False, disable_timing=True)
    event.record(stream)
    return event


def current_device_id() -> int:
    """The index of the current CUDA device (CuPy's ``cupy.cuda.Device()``)."""
    return cupy_module().cuda.Device().id


def raw_module(code: str, options: "tuple[str, ...]", name_expressions: "list[str]"):
    """A ``cupy.RawModule`` of CUDA source ``code``, compiled with NVRTC on first use.

    ``name_expressions`` are the kernels asked for by name (``"scale<float>"``): NVRTC
    instantiates each template and reports its mangled name, so ``get_function`` finds it
    by the name written in the source.  tinygan/kernels/cuda.py is the loader built on this.
    """
    cp = cupy_module()
    return cp.RawModule(code=code, options=tuple(options), name_expressions=list(name_expressions))
