"""A launch's arguments held against the kernel's C signature, and its grid and block.

The compiled kernel reports its parameter types as a string (``"const float*,float*,int"``);
each argument must match its parameter exactly, as the bytes are handed to C unconverted:

    const float*  -> a C-contiguous float32 NumPy array (any shape)
    float*        -> the same, writeable (the kernel may write it)
    int           -> a numpy.int32 scalar          unsigned int        -> numpy.uint32
    long long     -> numpy.int64                   unsigned long long  -> numpy.uint64
    float         -> numpy.float32                 double              -> numpy.float64

A Python int or float is refused: which C type it would become is exactly the question a
kernel launch must not leave open (on the GPU a mismatched scalar is read as garbage).
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

C_TYPES = {
    "float": np.float32, "double": np.float64, "bool": np.bool_,
    "char": np.int8, "signed char": np.int8, "unsigned char": np.uint8,
    "short": np.int16, "unsigned short": np.uint16,
    "int": np.int32, "unsigned int": np.uint32,
    "long": np.int64, "unsigned long": np.uint64,
    "long long": np.int64, "unsigned long long": np.uint64,
}

# CUDA's limits on a launch (compute capability 7.5 and later).
MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK = (1024, 1024, 64)
MAX_GRID = (2**31 - 1, 65535, 65535)


def parse_signature(text: str) -> tuple[str, ...]:
    return tuple(text.split(",")) if text else ()


def describe(value) -> str:
    """A short account of what was passed, for error messages."""
    if isinstance(value, np.ndarray):
        layout = "" if value.flags.c_contiguous else "non-contiguous "
        return f"a {layout}{value.dtype} array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"a numpy.{type(value).__name__} scalar"
    module = type(value).__module__.split(".")[0]
    if module == "cupy":
        return f"a CuPy {type(value).__name__} (the emulator runs on NumPy arrays)"
    return f"a Python {type(value).__name__} ({value!r})" if module == "builtins" else f"a {type(value).__name__}"


def check(kernel: str, signature: Sequence[str], args: Sequence) -> list[tuple[bool, np.ndarray]]:
    """Check ``args`` against ``signature``; returns, per argument, (is_array, NumPy value).

    Raises TypeError naming the kernel, the argument's index, what it got and what the C
    signature wants."""
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"{kernel}: args must be a tuple or list of arguments, got {describe(args)}")
    if len(args) != len(signature):
        raise TypeError(f"{kernel} takes {len(signature)} arguments ({', '.join(signature)}), got {len(args)}")
    checked = []
    for i, (ctype, value) in enumerate(zip(signature, args)):
        if ctype == "unsupported":
            raise TypeError(f"{kernel}: parameter {i} has a C type the emulator cannot pass from Python "
                            f"(pointers and scalars of {', '.join(C_TYPES)} only)")
        if ctype.endswith("*"):
            base = ctype[:-1].removeprefix("const ")
            want = np.dtype(C_TYPES[base])
            if not isinstance(value, np.ndarray) or value.dtype != want or not value.flags.c_contiguous:
                raise TypeError(f"{kernel}: argument {i} is {describe(value)}, but the C signature wants "
                                f"{ctype}: a C-contiguous {want} NumPy array")
            if not ctype.startswith("const ") and not value.flags.writeable:
                raise TypeError(f"{kernel}: argument {i} is a read-only array, but the C signature wants "
                                f"{ctype}, which the kernel may write (declare it const if it does not)")
            checked.append((True, value))
        else:
            want = C_TYPES[ctype]
            if type(value) is not want:
                raise TypeError(f"{kernel}: argument {i} is {describe(value)}, but the C signature wants "
                                f"{ctype}: pass numpy.{want.__name__}(...)")
            checked.append((False, np.array(value)))
    return checked


def dims(value, what: str, kernel: str) -> tuple[int, int, int]:
    """An int or a tuple of up to 3 ints as (x, y, z), checked against CUDA's limits."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(items) <= 3 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                            for v in items):
        raise TypeError(f"{kernel}: {what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    xyz = tuple(int(v) for v in items) + (1,) * (3 - len(items))
    limits = MAX_BLOCK if what == "block" else MAX_GRID
    for axis, n, limit in zip("xyz", xyz, limits):
        if not 1 <= n <= limit:
            raise ValueError(f"{kernel}: {what}.{axis} = {n} is outside CUDA's range 1..{limit}")
    if what == "block" and xyz[0] * xyz[1] * xyz[2] > MAX_THREADS_PER_BLOCK:
        raise ValueError(f"{kernel}: a block of {xyz} has {xyz[0] * xyz[1] * xyz[2]} threads; "
                         f"CUDA allows {MAX_THREADS_PER_BLOCK}")
    return xyz
