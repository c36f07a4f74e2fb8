"""Differentiable ops, one concern per file, and the Tensor methods that call them.

``math``: arithmetic, unary functions, clamp/maximum/minimum/where, matmul.
``reduce``: sum, mean, var, std, max, min, logsumexp.
``shape``: reshape, permute, broadcast, indexing, cat/stack/split/chunk, pad.
``activation``: sigmoid, relu, leaky_relu, softplus, softmax, log_softmax.
``pair``: how the 2-D ops (conv, pool, resample) read a size or stride given as an int or (h, w).

Below, the ops become methods and operators of ``Tensor`` (``x.sum(1)``,
``a @ b``), as in PyTorch.  Keeping that table here lets autograd.py stay
free of any op's code.
"""
from __future__ import annotations

from ..autograd import Tensor, as_tensor, is_grad_enabled
from ..backend import get_array_module
from . import activation, convert, math, reduce, shape
from .convert import cast, clone, to
from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, softplus
from .math import (abs, add, clamp, cos, div, exp, log, matmul, maximum, minimum, mul, neg, pow,
                   sign, sin, sqrt, sub, tanh, where)
from .reduce import amax, amin, logsumexp, max, mean, min, std, sum, var
from .shape import (broadcast_to, cat, chunk, expand, flatten, getitem, pad, permute, reshape,
                    split, squeeze, stack, sum_to, transpose, unsqueeze)


def _compare(op: str):
    def method(self, other):
        other = as_tensor(other, like=self)
        return Tensor(getattr(self.data, op)(other.data))
    method.__name__ = op
    return method


def _setitem(self, index, value):
    """In-place assignment; not recorded, so refused while it could corrupt a graph."""
    if self.requires_grad and is_grad_enabled():
        raise RuntimeError(
            "setitem: in-place assignment to a tensor that requires grad is not supported; "
            "build a new tensor (tinygan.where, tinygan.cat) or assign under no_grad()"
        )
    xp = get_array_module(self.data)
    self.data[shape._convert_index(index, xp)] = value.data if isinstance(value, Tensor) else value


_METHODS = {
    # arithmetic operators
    "__add__": add, "__radd__": lambda a, b: add(b, a),
    "__sub__": sub, "__rsub__": lambda a, b: sub(b, a),
    "__mul__": mul, "__rmul__": lambda a, b: mul(b, a),
    "__truediv__": div, "__rtruediv__": lambda a, b: div(b, a),
    "__neg__": neg, "__pos__": lambda a: a,
    "__pow__": pow, "__rpow__": math.rpow,
    "__matmul__": matmul, "__rmatmul__": lambda a, b: matmul(b, a),
    "__mod__": math.remainder, "__rmod__": lambda a, b: math.remainder(b, a),
    "__floordiv__": math.floor_divide, "__rfloordiv__": lambda a, b: math.floor_divide(b, a),
    "remainder": math.remainder,
    "__abs__": abs,
    "__getitem__": getitem,
    "__lt__": _compare("__lt__"), "__le__": _compare("__le__"),
    "__gt__": _compare("__gt__"), "__ge__": _compare("__ge__"),
    "__eq__": _compare("__eq__"), "__ne__": _compare("__ne__"),
    # math methods
    "add": add, "sub": sub, "mul": mul, "div": div, "neg": neg, "pow": pow, "matmul": matmul,
    "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "sign": sign, "sin": sin, "cos": cos,
    "tanh": tanh,
    "sigmoid": sigmoid, "relu": relu, "softmax": softmax, "log_softmax": log_softmax,
    "clamp": clamp, "clip": clamp, "maximum": maximum, "minimum": minimum,
    # reductions
    "sum": sum, "mean": mean, "var": var, "std": std, "max": max, "min": min,
    "amax": amax, "amin": amin, "logsumexp": logsumexp,
    # shape
    "reshape": reshape, "view": reshape, "transpose": transpose, "permute": permute,
    "flatten": flatten, "squeeze": squeeze, "unsqueeze": unsqueeze, "expand": expand,
    "broadcast_to": broadcast_to, "split": split, "chunk": chunk,
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.__setitem__ = _setitem
Tensor.to = to
Tensor.clone = clone
Tensor.type_as = lambda self, other: cast(self, other.dtype)
Tensor.cpu = lambda self: to(self, "cpu")
Tensor.cuda = lambda self, device=None: to(self, "cuda" if device is None else f"cuda:{int(device)}")
Tensor.float = lambda self: cast(self, "float32")
Tensor.double = lambda self: cast(self, "float64")
Tensor.half = lambda self: cast(self, "float16")
Tensor.long = lambda self: cast(self, "int64")
Tensor.int = lambda self: cast(self, "int32")
Tensor.bool = lambda self: cast(self, "bool")
Tensor.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(lambda self: transpose(self, -1, -2))
Tensor.expand_as = lambda self, other: expand(self, other.shape)
Tensor.view_as = lambda self, other: reshape(self, other.shape)
Tensor.reshape_as = lambda self, other: reshape(self, other.shape)
