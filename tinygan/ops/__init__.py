"""Differentiable ops, one concern per file.

``math``: arithmetic, unary functions, clamp/maximum/minimum/where, matmul.
``reduce``: sum, mean, var, std, max, min, logsumexp.
``shape``: reshape, permute, broadcast, indexing, cat/stack/split/chunk, pad.
``activation``: sigmoid, relu, leaky_relu, softplus, softmax, log_softmax.
``pair``: how the 2-D ops (conv, pool, resample) read a size or stride given as an int or (h, w).
``upfirdn2d``: upsample, pad, FIR filter, downsample in one op (StyleGAN2's resampling).
``bias_act``: bias + activation * gain, clamped (StyleGAN2), differentiable to any order.

The ops are also Tensor's methods and operators (``x.sum(1)``, ``a @ b``), as in
PyTorch: autograd.py lists them on the class, each a one-line call into its op here.
"""
from __future__ import annotations

from . import activation, convert, math, reduce, shape
from .convert import cast, clone, to
from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, softplus
from .math import (abs, add, clamp, cos, div, exp, log, matmul, maximum, minimum, mul, neg, pow,
                   sign, sin, sqrt, sub, tanh, where)
from .reduce import amax, amin, logsumexp, max, mean, min, std, sum, var
from .shape import (broadcast_to, cat, chunk, expand, flatten, getitem, pad, permute, reshape,
                    split, squeeze, stack, sum_to, transpose, unsqueeze)
