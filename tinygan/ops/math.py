"""Elementwise arithmetic and math functions, and matrix multiplication.

Binary ops broadcast as NumPy does; their backward sums the gradient back to
each input's shape (``sum_to``).  Each backward is written with tinygan ops on
Tensors -- ``gy * x1``, not ``gy.data * x1.data`` -- so that with
``create_graph=True`` it is recorded and can be differentiated again.

Piecewise-linear ops (abs, relu, clamp, maximum, where) have a piecewise-constant
derivative, whose own derivative is zero (almost everywhere; PyTorch takes it as
zero at the kinks too).  Whether that factor is recorded as a function of x
decides whether the gradient ``g`` (taken with ``create_graph=True``) requires
grad, and tinygan decides it as PyTorch does, op by op:
* abs (``sign(x)``) and relu / leaky_relu (``activation.Slope``): PyTorch's
  backward formulas take the input ``self``, so ``g`` requires grad and its
  derivative in x is the zero it is.  Here that factor is a ``PiecewiseConstant``
  Function of x, whose backward is zero.
* clamp, maximum / minimum, where, max / min (reductions): PyTorch builds the
  gradient from ``gy`` and a boolean mask, which is not differentiable, so ``g``
  does not require grad unless ``gy`` does, and a second ``grad`` of it raises.
  Here the mask is a constant Tensor.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor, as_tensor, get_default_dtype
from ..kernels import elementwise
from ..kernels.matmul import product
from .shape import sum_to, swap_last_dims, reshape, unsqueeze


def _mask(condition, like: Tensor) -> Tensor:
    """A constant 0/1 tensor of ``like``'s dtype from a boolean array."""
    return Tensor(condition.astype(like.data.dtype))


def zero_gradient(x: Tensor) -> Tensor:
    """A constant zero gradient for ``x``: the derivative of a piecewise-constant function of it."""
    return Tensor(backend.get_array_module(x.data).zeros(x.shape, x.dtype))


class PiecewiseConstant(Function):
    """A function that is constant between jumps (a sign, a step, a floor): its derivative is 0.

    It is 0 wherever it exists, and taken as 0 at the jumps too, as PyTorch does.  Backward
    formulas use these for the piecewise-constant factor of a derivative -- abs'(x) = sign(x),
    relu'(x) = step(x) -- so that, recorded with ``create_graph=True``, the factor is a
    function of x in the graph: the gradient requires grad when x does, and differentiating
    it again gives the zero it should (not the error a constant factor gives).
    Subclasses define ``forward``.
    """

    def backward(self, gy):
        return tuple(zero_gradient(x) if need else None
                     for x, need in zip(self.inputs, self.needs_input_grad))


class Sign(PiecewiseConstant):
    """-1, 0 or 1 by the sign of x."""

    def forward(self, x):
        return backend.get_array_module(x).sign(x)


class FloorQuotient(PiecewiseConstant):
    """floor(a / b), the quotient of Python's % (a - floor(a / b) * b)."""

    def forward(self, a, b):
        return backend.get_array_module(a).floor(a / b)


# -- arithmetic ----------------------------------------------------------------
class Add(Function):
    """y = a + b; dy/da = dy/db = 1, summed back over broadcast axes."""

    def forward(self, a, b):
        return elementwise.binary(np.add, a, b)       # a + b, split over threads when large

    def backward(self, gy):
        a, b = self.inputs
        return (sum_to(gy, a.shape) if self.needs_input_grad[0] else None,
                sum_to(gy, b.shape) if self.needs_input_grad[1] else None)


class Sub(Function):
    """y = a - b; dy/da = 1, dy/db = -1."""

    def forward(self, a, b):
        return elementwise.binary(np.subtract, a, b)  # a - b

    def backward(self, gy):
        a, b = self.inputs
        return (sum_to(gy, a.shape) if self.needs_input_grad[0] else None,
                sum_to(-gy, b.shape) if self.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b; dy/da = b, dy/db = a."""

    def forward(self, a, b):
        return elementwise.binary(np.multiply, a, b)  # a * b

    def backward(self, gy):
        a, b = self.inputs     # Mul()(...) directly: both are Tensors already, no promotion needed
        return (sum_to(Mul()(gy, b), a.shape) if self.needs_input_grad[0] else None,
                sum_to(Mul()(gy, a), b.shape) if self.needs_input_grad[1] else None)


class Div(Function):
    """y = a / b; dy/da = 1 / b, dy/db = -a / b^2, summed back over broadcast axes."""

    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        return (sum_to(ga, a.shape) if self.needs_input_grad[0] else None,
                sum_to(-ga * a / b, b.shape) if self.needs_input_grad[1] else None)


class Neg(Function):
    """y = -x; dy/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class PowScalar(Function):
    """x ** c for a constant exponent c: d/dx = c x^(c-1)."""

    def __init__(self, c: float):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        x, c = self.inputs[0], self.c
        if c == 0:
            # x^0 = 1 is constant; c * x^(c-1) would be 0 * inf = nan at x = 0.
            return gy * 0.0
        if c == 2:
            return gy * (x * 2.0)
        return gy * (c * x ** (c - 1))


class Pow(Function):
    """a ** b for tensors: d/da = b a^(b-1), d/db = a^b log a."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = gb = None
        if self.needs_input_grad[0]:
            # b a^(b-1) is 0 * 0^-1 = nan at a = b = 0, where PyTorch gives 0: use a = 1 there.
            at_zero = (a.data == 0) & (b.data == 0)
            base = where(at_zero, 1.0, a) if at_zero.any() else a
            ga = sum_to(gy * b * base ** (b - 1.0), a.shape)
        if self.needs_input_grad[1]:
            # a^b log a -> 0 as a -> 0+ when b >= 0 (PyTorch's value there), but evaluated at
            # a = 0 it is 0 * -inf = nan.  Taking the log of 1 instead at those points gives the
            # 0; masking log's input (not its output) keeps nan out of higher derivatives too.
            at_zero = (a.data == 0) & (b.data >= 0)
            safe_a = where(at_zero, 1.0, a) if at_zero.any() else a
            gb = sum_to(gy * self.output * log(safe_a), b.shape)
        return ga, gb


def _operands(a, b) -> tuple:
    """Make both operands Tensors, with PyTorch's type promotion for numbers.

    A number takes the dtype of the tensor it meets (``x * 2.0`` stays float32),
    and an integer tensor meeting a float becomes the default float dtype
    (``int_tensor * 0.5`` is float32, where NumPy would say float64).
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype == b.data.dtype:
        return a, b                     # the common case: nothing to convert or promote
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    ka, kb = a.dtype.kind, b.dtype.kind
    if ka in "iub" and kb == "f":
        a = Tensor(a.data.astype(b.dtype if b.ndim else get_default_dtype()))
    elif kb in "iub" and ka == "f":
        b = Tensor(b.data.astype(a.dtype if a.ndim else get_default_dtype()))
    return a, b


# -- a tensor and a number ------------------------------------------------------
# ``x * 0.5``, ``1 - x``: the number is a constant operand.  Made into a Tensor (as_tensor),
# it would be a 0-d array -- on a GPU a host->device copy at every call.  These ops keep it a
# number: on NumPy it becomes the same 0-d array as before (same arithmetic, same threads);
# on CuPy a NumPy scalar of the tensor's dtype, which CuPy passes as a kernel argument.
def _number(v):
    """v as a Python number if it is one (NumPy scalars included), else None."""
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        return v.item()
    if isinstance(v, (bool, int, float)):
        return v
    return None


def _scalar_case(a, b):
    """(tensor, number, number_first) when one operand is a float Tensor and the other a
    number -- the number then takes the tensor's dtype, as ``_operands`` would give it --
    else None (integer tensors keep ``_operands``' promotion rules)."""
    if isinstance(a, Tensor) and a.dtype.kind == "f" and not isinstance(b, Tensor):
        c = _number(b)
        if c is not None:
            return a, c, False
    if isinstance(b, Tensor) and b.dtype.kind == "f" and not isinstance(a, Tensor):
        c = _number(a)
        if c is not None:
            return b, c, True
    return None


def _constant(x, c):
    """The number c in x's dtype, as an operand next to the array x."""
    if backend.get_array_module(x) is np:
        return np.asarray(c, dtype=x.dtype)        # exactly what as_tensor(c, like=x) holds
    return x.dtype.type(c)                         # a kernel argument, not a device array


class ScalarFunction(Function):
    """An elementwise op of one tensor and a constant number ``c`` (not an input)."""

    def __init__(self, c):
        self.c = c


class AddScalar(ScalarFunction):
    """y = x + c; dy/dx = 1."""

    def forward(self, x):
        return elementwise.binary(np.add, x, _constant(x, self.c))

    def backward(self, gy):
        return gy


class SubScalar(ScalarFunction):
    """y = x - c; dy/dx = 1."""

    def forward(self, x):
        return elementwise.binary(np.subtract, x, _constant(x, self.c))

    def backward(self, gy):
        return gy


class RSubScalar(ScalarFunction):
    """y = c - x; dy/dx = -1."""

    def forward(self, x):
        return elementwise.binary(np.subtract, _constant(x, self.c), x)

    def backward(self, gy):
        return -gy


class MulScalar(ScalarFunction):
    """y = c x; dy/dx = c."""

    def forward(self, x):
        return elementwise.binary(np.multiply, x, _constant(x, self.c))

    def backward(self, gy):
        return MulScalar(self.c)(gy)


class DivScalar(ScalarFunction):
    """y = x / c; dy/dx = 1 / c (divided, not multiplied by 1/c: the same rounding as Div)."""

    def forward(self, x):
        return x / _constant(x, self.c)

    def backward(self, gy):
        return DivScalar(self.c)(gy)


class RDivScalar(ScalarFunction):
    """y = c / x; dy/dx = -c / x^2, computed as Div's -(gy / x) * c / x."""

    def forward(self, x):
        return _constant(x, self.c) / x

    def backward(self, gy):
        x = self.inputs[0]
        return -(gy / x) * self.c / x


def add(a, b) -> Tensor:
    scalar = _scalar_case(a, b)
    if scalar is not None:
        x, c, _ = scalar
        return AddScalar(c)(x)          # c + x == x + c exactly (IEEE addition commutes)
    return Add()(*_operands(a, b))


def sub(a, b) -> Tensor:
    scalar = _scalar_case(a, b)
    if scalar is not None:
        x, c, number_first = scalar
        return RSubScalar(c)(x) if number_first else SubScalar(c)(x)
    return Sub()(*_operands(a, b))


def mul(a, b) -> Tensor:
    scalar = _scalar_case(a, b)
    if scalar is not None:
        x, c, _ = scalar
        return MulScalar(c)(x)          # IEEE multiplication commutes too
    return Mul()(*_operands(a, b))


def div(a, b) -> Tensor:
    scalar = _scalar_case(a, b)
    if scalar is not None:
        x, c, number_first = scalar
        return RDivScalar(c)(x) if number_first else DivScalar(c)(x)
    a, b = _operands(a, b)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub":   # true division, as in PyTorch
        a = Tensor(a.data.astype(get_default_dtype()))
        b = Tensor(b.data.astype(get_default_dtype()))
    return Div()(a, b)


class Remainder(Function):
    """a mod b with the sign of b (Python's % and torch.remainder): a - floor(a / b) * b.

    d/da = 1 and d/db = -floor(a / b), away from the jumps where a / b is an integer.
    """

    def forward(self, a, b):
        return backend.get_array_module(a).remainder(a, b)

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy, a.shape) if self.needs_input_grad[0] else None
        # The quotient is a function of a and b in the graph: PyTorch's formula for b,
        # -grad * div(a, b, rounding_mode='floor'), takes both, so its gradient requires grad.
        gb = sum_to(-gy * FloorQuotient()(a, b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def remainder(a, b) -> Tensor:
    return Remainder()(*_operands(a, b))


def floor_divide(a, b) -> Tensor:
    """floor(a / b), as Python's //; piecewise constant, so it carries no gradient."""
    a, b = _operands(a, b)
    xp = backend.get_array_module(a.data)
    return Tensor(xp.floor_divide(a.data, b.data))


def neg(x: Tensor) -> Tensor:
    return Neg()(x)


def pow(x, exponent) -> Tensor:
    """``x ** exponent``; a Python-number exponent is a constant, a Tensor one is differentiated."""
    if isinstance(exponent, Tensor):
        x = as_tensor(x, like=exponent)
        return Pow()(x, exponent)
    if isinstance(x, Tensor):
        if exponent == 1:
            return x
        return PowScalar(exponent)(x)
    raise TypeError(f"pow: expected a Tensor, got {type(x).__name__}")


def rpow(x: Tensor, base) -> Tensor:
    """``base ** x`` for a number base."""
    return Pow()(as_tensor(base, like=x), x)


# -- unary math --------------------------------------------------------------------
class Exp(Function):
    """y = e^x; dy/dx = e^x = y (the output is reused)."""

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.output


class Log(Function):
    """y = log x (natural); dy/dx = 1 / x."""

    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    """y = sqrt(x); dy/dx = 1 / (2 sqrt(x)) = 1 / (2 y)."""

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (self.output * 2.0)


class Abs(Function):
    """y = |x|; dy/dx = sign(x), 0 at 0 (as PyTorch)."""

    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, gy):
        return gy * sign(self.inputs[0])         # abs'(x) = sign(x), 0 at 0 (as PyTorch)


class Sin(Function):
    """y = sin x; dy/dx = cos x."""

    def forward(self, x):
        return backend.get_array_module(x).sin(x)

    def backward(self, gy):
        return gy * cos(self.inputs[0])


class Cos(Function):
    """y = cos x; dy/dx = -sin x."""

    def forward(self, x):
        return backend.get_array_module(x).cos(x)

    def backward(self, gy):
        return -gy * sin(self.inputs[0])


class Tanh(Function):
    """y = tanh x; dy/dx = 1 - tanh^2 x = 1 - y^2."""

    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, gy):
        return TanhBackward()(gy, self.output)


class TanhBackward(Function):
    """gx = gy * (1 - y^2): tanh's backward as one op of (gy, y), y = tanh(x).

    Its own derivatives (for a gradient of a gradient): linear in gy, so d/dgy is the
    same product with ggx; and d/dy (1 - y^2) = -2y.
    """

    def forward(self, gy, y):
        return gy * (1.0 - y * y)

    def backward(self, ggx):
        gy, y = self.inputs
        return (TanhBackward()(ggx, y) if self.needs_input_grad[0] else None,
                ggx * gy * (-2.0 * y) if self.needs_input_grad[1] else None)


def exp(x: Tensor) -> Tensor:
    return Exp()(x)


def log(x: Tensor) -> Tensor:
    return Log()(x)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt()(x)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - the PyTorch name
    return Abs()(x)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of each element; its gradient is zero."""
    return Sign()(x)


def sin(x: Tensor) -> Tensor:
    return Sin()(x)


def cos(x: Tensor) -> Tensor:
    return Cos()(x)


def tanh(x: Tensor) -> Tensor:
    return Tanh()(x)


# -- piecewise: clamp, maximum, minimum, where --------------------------------------------
class Clamp(Function):
    """y = min(max(x, lo), hi) (either bound may be None); dy/dx = 1 where lo <= x <= hi,
    else 0 -- a constant mask, as PyTorch's (module docstring)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return backend.get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].data
        inside = (x >= self.lo) if self.lo is not None else None
        if self.hi is not None:
            inside = (x <= self.hi) if inside is None else inside & (x <= self.hi)
        return gy * _mask(inside, gy)       # a constant mask, as PyTorch's (module docstring)


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - the PyTorch names
    """Limit values to [min, max]; the gradient passes where min <= x <= max."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp(min, max)(x)


class Maximum(Function):
    """y = max(a, b) elementwise; dy/da = 1 where a > b, dy/db = 1 where b > a, and at ties
    each input gets half the gradient (as PyTorch).

    The weights are constant masks, as PyTorch's (see the module docstring).
    """

    def forward(self, a, b):
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = (a.data > b.data) + 0.5 * (a.data == b.data)
        return (sum_to(gy * _mask(wa, gy), a.shape) if self.needs_input_grad[0] else None,
                sum_to(gy * _mask(1.0 - wa, gy), b.shape) if self.needs_input_grad[1] else None)


class Minimum(Function):
    """y = min(a, b) elementwise; dy/da = 1 where a < b, dy/db = 1 where b < a, and half
    each at ties (as PyTorch); constant masks, as for ``Maximum``."""

    def forward(self, a, b):
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        wa = (a.data < b.data) + 0.5 * (a.data == b.data)
        return (sum_to(gy * _mask(wa, gy), a.shape) if self.needs_input_grad[0] else None,
                sum_to(gy * _mask(1.0 - wa, gy), b.shape) if self.needs_input_grad[1] else None)


def maximum(a, b) -> Tensor:
    return Maximum()(*_operands(a, b))


def minimum(a, b) -> Tensor:
    return Minimum()(*_operands(a, b))


class Where(Function):
    """y = a where the condition holds, else b; dy/da = the condition (a constant 0/1 mask),
    dy/db = 1 - the condition: the gradient goes to ``a`` where it holds, else to ``b``.

    The condition is given, not computed from a or b here, so nothing of the inputs is in
    the gradient's graph -- as in PyTorch, whose second ``grad`` of it raises.
    """

    def __init__(self, condition):
        self.condition = condition

    def forward(self, a, b):
        return backend.get_array_module(a).where(self.condition, a, b)

    def backward(self, gy):
        a, b = self.inputs
        m = _mask(self.condition, gy)
        return (sum_to(gy * m, a.shape) if self.needs_input_grad[0] else None,
                sum_to(gy * (1.0 - m), b.shape) if self.needs_input_grad[1] else None)


def where(condition, input, other) -> Tensor:  # noqa: A002 - the PyTorch name
    """``input`` where ``condition`` holds, else ``other`` (all three broadcast)."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    a = as_tensor(input, like=other if isinstance(other, Tensor) else None)
    b = as_tensor(other, like=a)
    xp = backend.get_array_module(a.data)
    cond = xp.asarray(cond)
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype}")
    return Where(cond)(a, b)


# -- matmul ----------------------------------------------------------------------------
class MatMul(Function):
    """C = A B, batched: (..., n, k) @ (..., k, m); batch dims broadcast.

    dL/dA = dL/dC B^T and dL/dB = A^T dL/dC, summed back over broadcast batch dims.
    """

    def forward(self, a, b):
        # shapes were checked by matmul(), against what the caller passed; the kernel
        # splits a large product over the threads (kernels/matmul.py)
        return product(a, b)

    def backward(self, gy):
        a, b = self.inputs     # both have >= 2 dims here (matmul() made them so)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(MatMul()(gy, swap_last_dims(b)), a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(MatMul()(swap_last_dims(a), gy), b.shape)
        return ga, gb


def _check_matmul_shapes(sa: tuple, sb: tuple) -> None:
    """Raise a ValueError naming both shapes (as the caller gave them) when they can't multiply."""
    if not sa or not sb:
        raise ValueError(f"matmul: both arguments need at least 1 dim, got shapes {sa} and {sb}")
    if len(sa) == 1 and len(sb) == 1:
        if sa != sb:
            raise ValueError(f"matmul: vectors of shapes {sa} and {sb} differ in length")
        return
    k_a = sa[-1]
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {sa} and {sb} don't match: the first has {k_a} columns "
            f"(its last dim), the second {k_b} rows"
            + (" (its only dim)" if len(sb) == 1 else " (its second-to-last dim)")
        )
    if len(sa) <= 2 and len(sb) <= 2:
        return                      # no batch dims
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: the batch dims {sa[:-2]} and {sb[:-2]} of shapes {sa} and {sb} "
            "can't be broadcast together"
        ) from None


def matmul(a, b) -> Tensor:
    """Matrix product as ``torch.matmul``: 1-D operands are treated as a row / column vector."""
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    _check_matmul_shapes(tuple(a.shape), tuple(b.shape))
    if a.ndim == 1 and b.ndim == 1:
        return reshape(MatMul()(unsqueeze(a, 0), unsqueeze(b, 1)), ())
    if a.ndim == 1:
        y = MatMul()(unsqueeze(a, 0), b)
        return reshape(y, y.shape[:-2] + y.shape[-1:])
    if b.ndim == 1:
        y = MatMul()(a, unsqueeze(b, 1))
        return reshape(y, y.shape[:-1])
    return MatMul()(a, b)
