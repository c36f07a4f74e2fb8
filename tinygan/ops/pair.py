"""``pair``: how a 2-D op reads a size, stride or padding given as one number or as (h, w).

PyTorch's 2-D ops -- conv2d, conv_transpose2d, the poolings, interpolate, and their layers
-- take each of these arguments either as one integer, used for both spatial dims, or as
a pair (h, w).  Every such argument of tinygan goes through ``pair``, so they all accept
the same things and refuse the same things with the same kind of error.

An integer is anything Python accepts as one: an int, a NumPy integer, a 0-d integer
array or tensor -- whatever ``operator.index`` takes -- but not a bool, which PyTorch's
functional ops refuse too (``True`` is an int to Python, never a size to a user).  A
sequence must have two elements: PyTorch's conv and pooling ops also repeat a
one-element list, which is more often a slip than a wish, so tinygan refuses it.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

_BOUNDS = {0: "non-negative", 1: "positive"}


def pair(value, name: str, op: str, *, at_least: int | None = None,
         real: bool = False) -> tuple:
    """``value`` as a 2-tuple (h, w): ``3 -> (3, 3)``, ``(3, 1) -> (3, 1)``.

    Args:
        value: an integer, or a sequence (tuple, list, ...) of two integers.
        name, op: the argument and the op, for the error messages ("stride", "conv2d").
        at_least: the smallest allowed element (1 for a stride, 0 for a padding), or None.
        real: read real numbers, as floats, instead of integers (interpolate's scale_factor).

    Returns:
        (h, w) as Python ints (floats with ``real``).

    Raises:
        TypeError: a value or element of the wrong type -- a float or a bool where integers
            are wanted, a string -- as PyTorch raises for these.
        ValueError: a sequence of another length than 2, or an element below ``at_least``.
    """
    kind = "a number or a pair of numbers" if real else "an int or a pair of ints"
    bad = f"{op}: {name} must be {kind}, got {value!r}"
    try:
        n = len(value)
    except TypeError:              # one number: an int, a NumPy integer, a 0-d array or tensor
        items = (value, value)
    else:
        if isinstance(value, str):
            raise TypeError(bad)
        if n != 2:
            raise ValueError(bad)
        items = tuple(value)
    h, w = (_real(v, bad) if real else _integer(v, bad) for v in items)
    if at_least is not None and min(h, w) < at_least:
        bound = _BOUNDS.get(at_least, f">= {at_least}")
        raise ValueError(f"{op}: {name} must be {bound}, got {value!r}")
    return h, w


def _integer(v, bad: str) -> int:
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(bad)
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(bad) from None


def _real(v, bad: str) -> float:
    # numbers.Real covers Python's int and float and NumPy's integers and floats.
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(bad)
    return float(v)
