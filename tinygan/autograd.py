"""The autograd engine: ``Tensor``, ``Function``, ``backward`` and ``grad``.

A ``Tensor`` wraps an array (``.data``: a NumPy or CuPy ndarray).  Every
differentiable op is a ``Function``: ``forward`` works on raw arrays, and
``backward`` receives the gradients of the outputs as *Tensors* and returns the
gradients of the inputs as Tensors, computed with tinygan ops.  That one rule
gives higher-order gradients for free: with ``create_graph=True`` the backward
pass is itself recorded, so it can be differentiated again -- which is what
WGAN-GP's gradient penalty and StyleGAN's R1 and path-length terms need.

Methods.  Every operator and method of a Tensor (``a + b``, ``x.sum(1)``,
``x.reshape(...)``) is listed on the class below, a one-line call into the op
that computes it in ``tinygan/ops/``, where its forward and derivative live.

Recording.  When gradients are enabled and an input requires grad, calling a
Function links its output to it (``output.grad_fn = function``; the function
keeps its inputs).  The graph is thus a DAG of Functions reachable from the
output.  Outputs are held by weak references, so the graph does not keep dead
intermediate tensors alive and there are no reference cycles.

Backward.  One routine, ``_run_backward``, serves both ``backward()`` (gradients
into the leaves' ``.grad``) and ``grad()`` (gradients returned, ``.grad``
untouched).  It collects the Functions reachable from the outputs (an iterative
search) in topological order -- the order they were created in -- then walks
them in reverse, consumers before producers, adding up the gradient arriving
at each tensor from all its uses before passing it on.  Unless ``retain_graph``
is set, each Function drops its inputs once it has run, which frees the saved
tensors; a second backward through it is then a clear error.
"""
from __future__ import annotations

import contextlib
import itertools
import operator
import re
import weakref
from typing import Any, Iterable, Sequence

import numpy as np

from . import backend
from .backend import device as Device

# ----------------------------------------------------------------------------
# dtypes and grad mode
# ----------------------------------------------------------------------------
float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

_default_dtype = float32


def get_default_dtype() -> np.dtype:
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the dtype that Python floats and lists of floats become (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype}")
    _default_dtype = dtype


class _GradMode:
    enabled = True


def is_grad_enabled() -> bool:
    return _GradMode.enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager (and decorator) that turns graph recording on or off."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev = _GradMode.enabled
        _GradMode.enabled = self.mode

    def __exit__(self, *exc):
        _GradMode.enabled = self.prev
        return False


class no_grad(set_grad_enabled):
    """``with tinygan.no_grad():`` -- nothing inside is recorded for backward."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    def __init__(self):
        super().__init__(True)


# ----------------------------------------------------------------------------
# Tensor
# ----------------------------------------------------------------------------
_ARRAY_TYPES: tuple = (np.ndarray,)


def _as_array(data):
    """Make sure what an op returned is an ndarray (NumPy ufuncs on 0-d arrays return scalars)."""
    if isinstance(data, np.generic):
        return np.asarray(data)
    return data


class Tensor:
    """A multi-dimensional array that remembers how it was computed.

    Attributes:
        data: the ndarray (NumPy on the CPU, CuPy on a GPU).
        grad: the accumulated gradient (a Tensor of the same shape) of a leaf after ``backward``.
        requires_grad: whether ops on this tensor are recorded.
        grad_fn: the ``Function`` that produced it, or None for a leaf.
    """

    __slots__ = ("data", "grad", "_requires_grad", "grad_fn", "_retains_grad", "__weakref__")
    # Make NumPy defer to Tensor's operators: ``ndarray * Tensor`` calls Tensor.__rmul__.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False):
        if type(data) is not np.ndarray:        # (an ndarray, the common case, is kept as it is)
            if isinstance(data, Tensor):
                data = data.data
            elif not isinstance(data, _ARRAY_TYPES) and not backend.is_cupy_array(data):
                data = _to_array(data, None)
            data = _as_array(data)
        self.data = data
        self.grad: Tensor | None = None
        self.grad_fn: Function | None = None
        self._retains_grad = False
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    # -- basic properties ------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind not in "fc":
            raise RuntimeError(
                f"requires_grad: only floating point tensors can require gradients, "
                f"got dtype {self.data.dtype}"
            )
        if self.grad_fn is not None and not value:
            raise RuntimeError(
                "requires_grad: you can only change requires_grad of leaf tensors; "
                "use .detach() to get a tensor that does not require grad"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that does not require grad")
        self._retains_grad = True

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> Device:
        return backend.device_of(self.data)

    @property
    def is_cuda(self) -> bool:
        return backend.is_cupy_array(self.data)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # -- conversion --------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU)."""
        if self._requires_grad:
            raise RuntimeError(
                "numpy: can't call numpy() on a Tensor that requires grad; "
                "use tensor.detach().numpy() instead"
            )
        if backend.is_cupy_array(self.data):
            raise TypeError("numpy: the tensor is on a CUDA device; use tensor.cpu().numpy()")
        return self.data

    def tolist(self):
        return backend.to_device(self.data, "cpu").tolist()

    def item(self):
        if self.data.size != 1:
            raise ValueError(
                f"item: a Tensor with {self.data.size} elements (shape {tuple(self.shape)}) "
                "cannot be converted to a Python scalar"
            )
        return self.data.reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(
                f"bool: the truth value of a Tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def detach(self) -> "Tensor":
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor(self.data)

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._requires_grad = False
        return self

    def __repr__(self) -> str:
        body = np.array2string(
            np.asarray(backend.to_device(self.data, "cpu")), separator=", ", prefix="tensor(",
            precision=4,
        )
        extras = []
        if self.data.dtype not in (_default_dtype, int64, bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self.is_cuda:
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{type(self.grad_fn).__name__}Backward>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # -- autograd ------------------------------------------------------------------
    def backward(self, gradient: "Tensor | None" = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            gradient: d(loss)/d(self), same shape as self; may be omitted for a scalar.
            retain_graph: keep the graph for another backward (default: ``create_graph``).
            create_graph: record the backward pass, so the gradients can be differentiated again.
        """
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    # -- operators and methods -----------------------------------------------------
    # Every operator and math/shape method of a Tensor is listed here, as a one-line
    # call into the op that computes it, so the math (forward and derivative) stays
    # in the op's own file: ``_math`` is ops/math.py, ``_reduce`` ops/reduce.py,
    # ``_shape`` ops/shape.py, ``_activation`` ops/activation.py, ``_convert``
    # ops/convert.py.  The op modules import Tensor from here, so they are bound at
    # the end of this module and looked up when a method runs.  The signatures are
    # the ops' own (tests/test_autograd.py checks that they agree).

    # arithmetic operators (ops/math.py); ``2 - x`` calls x.__rsub__(2)
    def __add__(self, other): return _math.add(self, other)
    def __radd__(self, other): return _math.add(other, self)
    def __sub__(self, other): return _math.sub(self, other)
    def __rsub__(self, other): return _math.sub(other, self)
    def __mul__(self, other): return _math.mul(self, other)
    def __rmul__(self, other): return _math.mul(other, self)
    def __truediv__(self, other): return _math.div(self, other)
    def __rtruediv__(self, other): return _math.div(other, self)
    def __floordiv__(self, other): return _math.floor_divide(self, other)
    def __rfloordiv__(self, other): return _math.floor_divide(other, self)
    def __mod__(self, other): return _math.remainder(self, other)
    def __rmod__(self, other): return _math.remainder(other, self)
    def __pow__(self, exponent): return _math.pow(self, exponent)
    def __rpow__(self, base): return _math.rpow(self, base)
    def __matmul__(self, other): return _math.matmul(self, other)
    def __rmatmul__(self, other): return _math.matmul(other, self)
    def __neg__(self): return _math.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _math.abs(self)

    # comparisons: boolean tensors, never recorded (they have no gradient)
    def __lt__(self, other): return Tensor(self.data < as_tensor(other, like=self).data)
    def __le__(self, other): return Tensor(self.data <= as_tensor(other, like=self).data)
    def __gt__(self, other): return Tensor(self.data > as_tensor(other, like=self).data)
    def __ge__(self, other): return Tensor(self.data >= as_tensor(other, like=self).data)
    def __eq__(self, other): return Tensor(self.data == as_tensor(other, like=self).data)
    def __ne__(self, other): return Tensor(self.data != as_tensor(other, like=self).data)
    __hash__ = object.__hash__   # __eq__ is elementwise, so keep hashing by identity

    # indexing (ops/shape.py)
    def __getitem__(self, index): return _shape.getitem(self, index)

    def __setitem__(self, index, value) -> None:
        """In-place assignment; not recorded, so refused while it could corrupt a graph."""
        if self._requires_grad and _GradMode.enabled:
            raise RuntimeError(
                "setitem: in-place assignment to a tensor that requires grad is not supported; "
                "build a new tensor (tinygan.where, tinygan.cat) or assign under no_grad()"
            )
        xp = backend.get_array_module(self.data)
        self.data[_shape._convert_index(index, xp)] = value.data if isinstance(value, Tensor) else value

    # math methods (ops/math.py, ops/activation.py)
    def add(self, b): return _math.add(self, b)
    def sub(self, b): return _math.sub(self, b)
    def mul(self, b): return _math.mul(self, b)
    def div(self, b): return _math.div(self, b)
    def remainder(self, b): return _math.remainder(self, b)
    def neg(self): return _math.neg(self)
    def pow(self, exponent): return _math.pow(self, exponent)
    def matmul(self, b): return _math.matmul(self, b)
    def exp(self): return _math.exp(self)
    def log(self): return _math.log(self)
    def sqrt(self): return _math.sqrt(self)
    def abs(self): return _math.abs(self)
    def sign(self): return _math.sign(self)
    def sin(self): return _math.sin(self)
    def cos(self): return _math.cos(self)
    def tanh(self): return _math.tanh(self)
    def clamp(self, min=None, max=None): return _math.clamp(self, min, max)  # noqa: A002
    clip = clamp
    def maximum(self, b): return _math.maximum(self, b)
    def minimum(self, b): return _math.minimum(self, b)
    def sigmoid(self): return _activation.sigmoid(self)
    def relu(self): return _activation.relu(self)
    def softmax(self, dim): return _activation.softmax(self, dim)
    def log_softmax(self, dim): return _activation.log_softmax(self, dim)

    # reductions (ops/reduce.py)
    def sum(self, dim=None, keepdim=False): return _reduce.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return _reduce.mean(self, dim, keepdim)
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _reduce.var(self, dim, unbiased, keepdim, correction=correction)
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _reduce.std(self, dim, unbiased, keepdim, correction=correction)
    def max(self, dim=None, keepdim=False): return _reduce.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _reduce.min(self, dim, keepdim)
    def amax(self, dim=None, keepdim=False): return _reduce.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return _reduce.amin(self, dim, keepdim)
    def logsumexp(self, dim=None, keepdim=False): return _reduce.logsumexp(self, dim, keepdim)

    # shape (ops/shape.py)
    def reshape(self, *shape): return _shape.reshape(self, *shape)
    view = reshape
    def reshape_as(self, other): return _shape.reshape(self, other.shape)
    view_as = reshape_as
    def flatten(self, start_dim=0, end_dim=-1): return _shape.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return _shape.squeeze(self, dim)
    def unsqueeze(self, dim): return _shape.unsqueeze(self, dim)
    def permute(self, *dims): return _shape.permute(self, *dims)
    def transpose(self, dim0, dim1): return _shape.transpose(self, dim0, dim1)
    @property
    def T(self): return _shape.permute(self, tuple(reversed(range(self.data.ndim))))
    @property
    def mT(self): return _shape.transpose(self, -1, -2)
    def expand(self, *sizes): return _shape.expand(self, *sizes)
    def expand_as(self, other): return _shape.expand(self, other.shape)
    def broadcast_to(self, shape): return _shape.broadcast_to(self, shape)
    def split(self, split_size_or_sections, dim=0): return _shape.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return _shape.chunk(self, chunks, dim)

    # dtype and device (ops/convert.py); last in the class, as they shadow builtins here
    def to(self, *args, dtype=None, device=None): return _convert.to(self, *args, dtype=dtype, device=device)
    def clone(self): return _convert.clone(self)
    def type_as(self, other): return _convert.cast(self, other.dtype)
    def cpu(self): return _convert.to(self, "cpu")
    def cuda(self, device=None): return _convert.to(self, "cuda" if device is None else f"cuda:{int(device)}")
    def float(self): return _convert.cast(self, "float32")
    def double(self): return _convert.cast(self, "float64")
    def half(self): return _convert.cast(self, "float16")
    def long(self): return _convert.cast(self, "int64")
    def int(self): return _convert.cast(self, "int32")
    def bool(self): return _convert.cast(self, "bool")


def _to_array(data, dtype, xp=np):
    """Convert Python data to an array following PyTorch's dtype rules.

    Python floats (and lists of them) become the default dtype (float32),
    ints become int64, bools bool; an existing ndarray keeps its dtype.
    """
    if isinstance(data, (np.ndarray, np.generic)) or backend.is_cupy_array(data):
        arr = data
    else:
        arr = np.asarray(data)
        if dtype is None:
            if arr.dtype.kind == "f":
                arr = arr.astype(_default_dtype)
            elif arr.dtype.kind in "iu":
                arr = arr.astype(int64)
            elif arr.dtype.kind not in "b":
                raise TypeError(f"tensor: can't make a tensor from data of dtype {arr.dtype}")
    if dtype is not None:
        arr = arr.astype(np.dtype(dtype), copy=False)
    return np.asarray(arr) if isinstance(arr, np.generic) else arr


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Build a tensor from Python numbers, (nested) lists, or an ndarray (copied).

    >>> tensor([1.0, 2.0]).dtype      # Python floats -> float32
    dtype('float32')
    """
    if isinstance(data, Tensor):
        data = data.data
    arr = _to_array(data, dtype)
    if device is None and backend.is_cupy_array(arr):
        arr = arr.copy()
    else:
        xp_arr = backend.to_device(arr, device)
        arr = xp_arr.copy() if xp_arr is data or xp_arr is arr else xp_arr
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Wrap an operand of an op: a Tensor passes through; a number takes the dtype of ``like``."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        x = x.item()            # a NumPy scalar is a number too: it mustn't promote the tensor
    if like is not None and isinstance(x, (int, float, bool)):
        xp = backend.get_array_module(like.data)
        kind = like.data.dtype.kind
        if kind == "f" or (kind in "iu" and not isinstance(x, float)):
            return Tensor(xp.asarray(x, dtype=like.data.dtype))
        return Tensor(xp.asarray(x, dtype=_default_dtype if kind in "iub" else None))
    if like is not None:
        arr = _to_array(x, None)
        return Tensor(backend.to_device(arr, like.device))
    return Tensor(_to_array(x, None))


# ----------------------------------------------------------------------------
# Function
# ----------------------------------------------------------------------------
class Function:
    """One differentiable operation: a node of the graph.

    Subclasses implement
      ``forward(self, *arrays) -> array`` on raw ndarrays, and
      ``backward(self, gy) -> Tensor or tuple of Tensors (one per input, None where unused)``
      with tinygan ops on Tensors, so the backward pass can itself be recorded.
    Every Function has one output: ops with several results (split, chunk) are
    built from several Functions.
    Inside ``backward``, ``self.inputs`` are the input Tensors, ``self.output``
    the output Tensor, and ``self.needs_input_grad[i]``
    tells whether input i wants a gradient.  Parameters of the op (axes, shapes)
    are set in ``__init__``; calling the instance applies it.
    """

    inputs: tuple
    needs_input_grad: tuple
    _output: Any = None

    def __call__(self, *inputs: Tensor) -> Tensor:
        try:
            y = self.forward(*[x.data for x in inputs])
        except ValueError as exc:
            raise ValueError(_explain(self, exc, inputs)) from None
        if _GradMode.enabled:
            for x in inputs:
                if x._requires_grad:
                    self.seq = next(_creation_order)
                    self.inputs = inputs
                    self.needs_input_grad = tuple([x._requires_grad for x in inputs])
                    out = _new_tensor(y, self)
                    self._output = weakref.ref(out)
                    return out
        return _new_tensor(y, None)

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, *gys):
        raise NotImplementedError

    @property
    def output(self) -> Tensor:
        """The output tensor (alive whenever backward runs: someone downstream holds it)."""
        return self._output()

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def op_name(self) -> str:
        """The public name of the op, for error messages: LogSoftmax -> log_softmax."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()

    def _release(self) -> None:
        """Drop the inputs (the saved tensors); the graph can't be walked through here again."""
        self.inputs = None


_creation_order = itertools.count()


def _explain(fn: Function, exc: ValueError, inputs) -> str:
    """Name the op and the shapes in NumPy's errors (which name neither)."""
    msg = str(exc)
    if msg.startswith(fn.op_name + ":"):
        return msg
    shapes = " and ".join(str(tuple(x.shape)) for x in inputs)
    if "broadcast" in msg:
        return f"{fn.op_name}: shapes {shapes} can't be broadcast together"
    return f"{fn.op_name}: {msg} (input shapes {shapes})"


def _new_tensor(y, fn: "Function | None") -> Tensor:
    """Wrap an op's result (the fast path of ``Tensor.__init__``); ``fn`` is its creator or None."""
    t = Tensor.__new__(Tensor)
    t.data = np.asarray(y) if isinstance(y, np.generic) else y
    t.grad = None
    t.grad_fn = fn
    t._requires_grad = fn is not None
    t._retains_grad = False
    return t


# ----------------------------------------------------------------------------
# the backward pass
# ----------------------------------------------------------------------------
def _topological_order(roots: Iterable[Function]) -> list:
    """Functions reachable from ``roots``, each after every function that produced its inputs.

    A Function is always created after the Functions that made its inputs, so the
    order of creation (``seq``, a counter) is already a topological order: collect
    what is reachable, then sort by it.
    """
    seen = set(roots)
    stack = list(seen)
    while stack:
        fn = stack.pop()
        if fn.inputs is None:
            raise RuntimeError(
                f"backward: trying to backward through the graph a second time ({fn.name}Backward): "
                "its saved tensors were freed after the first backward; pass retain_graph=True to "
                "the first backward (or grad) call if you need to go through it again"
            )
        for x in fn.inputs:
            p = x.grad_fn
            if p is not None and p not in seen:
                seen.add(p)
                stack.append(p)
    return sorted(seen, key=_creation_seq)


_creation_seq = operator.attrgetter("seq")


def _accumulate(slot: dict, x: Tensor, g: Tensor) -> None:
    """Add ``g`` to the gradient waiting for non-leaf ``x`` (the sum over all of x's uses)."""
    entry = slot.get(id(x))
    if entry is None:
        slot[id(x)] = [x, g]           # keep x alive so its id can't be reused meanwhile
    else:
        entry[1] = entry[1] + g


def _run_backward(outputs: Sequence[Tensor], grad_outputs: Sequence[Tensor], inputs,
                  retain_graph: bool, create_graph: bool):
    """The engine behind ``Tensor.backward`` (inputs None) and ``grad`` (inputs given).

    Returns the list of gradients of ``inputs`` (None where no gradient arrived).
    """
    grads: dict = {}
    for y, gy in zip(outputs, grad_outputs):
        _accumulate(grads, y, gy)
    targets = None if inputs is None else {id(x) for x in inputs}
    roots = [y.grad_fn for y in outputs if y.grad_fn is not None]
    order = _topological_order(roots)
    if targets is not None:
        # Prune: run only the functions from which some requested input is reachable.
        useful: set = set()
        for fn in order:
            if any(id(x) in targets or (x.grad_fn is not None and x.grad_fn in useful)
                   for x in fn.inputs):
                useful.add(fn)
        order = [fn for fn in order if fn in useful]

    results: dict = {}
    # Arrays that must not become a leaf's .grad as they are (the caller's own gradients).
    delivered: dict = {id(gy.data): gy.data for gy in grad_outputs}
    with set_grad_enabled(create_graph):
        # Leaves that are themselves roots (y.backward() on a leaf).
        for y in outputs:
            if y.grad_fn is None and id(y) in grads:
                _deliver(y, grads.pop(id(y))[1], targets, results, delivered)
        for fn in reversed(order):
            o = fn._output()
            entry = grads.pop(id(o), None) if o is not None else None
            if entry is not None:
                gy = entry[1]
                if targets is not None and id(o) in targets:
                    results[id(o)] = gy
                if o._retains_grad and targets is None:
                    o.grad = gy if o.grad is None else o.grad + gy
                    delivered[id(o.grad.data)] = o.grad.data    # a leaf gets a copy of it
                gxs = fn.backward(gy)
                if type(gxs) is not tuple:
                    gxs = (gxs,)
                if len(gxs) != len(fn.inputs):
                    raise RuntimeError(
                        f"{fn.name}.backward returned {len(gxs)} gradients for {len(fn.inputs)} inputs"
                    )
                for x, gx in zip(fn.inputs, gxs):
                    if gx is None or not x._requires_grad:
                        continue
                    if gx.data.shape != x.data.shape:
                        raise RuntimeError(
                            f"{fn.name}.backward returned a gradient of shape {gx.shape} "
                            f"for an input of shape {x.shape}"
                        )
                    if x.grad_fn is None:          # a leaf: its gradient goes out at once
                        _deliver(x, gx, targets, results, delivered)
                    else:                          # wait for the gradients from x's other uses
                        _accumulate(grads, x, gx)
            if not retain_graph:
                fn._release()
    if targets is not None:
        # A requested non-leaf whose producer was pruned still holds its gradient here.
        for key, (_, g) in grads.items():
            if key in targets and key not in results:
                results[key] = g
    return results


def _deliver(leaf: Tensor, g: Tensor, targets, results: dict, delivered: dict) -> None:
    """Hand a leaf its gradient ``g``: into ``.grad`` (backward) or into the results (grad)."""
    if targets is None:
        if not _GradMode.enabled:
            g = _own_array(g, leaf, delivered)
        elif g.dtype != leaf.dtype:
            g = g.to(leaf.dtype)
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    elif id(leaf) in targets:
        results[id(leaf)] = results[id(leaf)] + g if id(leaf) in results else g


def _own_array(g: Tensor, leaf: Tensor, delivered: dict) -> Tensor:
    """``g``, or a copy of it: a fresh, writable array of the leaf's dtype that no other tensor shares.

    A gradient arriving at a leaf may be a read-only broadcast view, a view of
    another array, or the very tensor another leaf receives too (``a + b`` hands
    ``gy`` to both): copy it then, so that changing one ``.grad`` in place (an
    optimizer, gradient clipping) can't change another.  A fresh array is kept as
    it is; ``delivered`` (one backward pass's record) catches it arriving at a second leaf.
    """
    a = g.data
    if a.dtype != leaf.data.dtype:
        a = a.astype(leaf.data.dtype)
    # (CuPy arrays have no read-only flag: they are always writable.)
    elif id(a) in delivered or a.base is not None or not getattr(a.flags, "writeable", True):
        a = a.copy()
    delivered[id(a)] = a           # holding a keeps its id from being reused meanwhile
    return g if a is g.data else _new_tensor(a, None)


def _check_grad_output(y: Tensor, gy, where: str) -> Tensor:
    if gy is None:
        if y.data.size != 1:
            raise RuntimeError(
                f"{where}: grad can be implicitly created only for scalar outputs, but the output "
                f"has shape {tuple(y.shape)}; pass gradient= (a tensor of that shape)"
            )
        xp = backend.get_array_module(y.data)
        return Tensor(xp.ones_like(y.data))
    gy = as_tensor(gy, like=y)
    if gy.dtype != y.dtype:
        gy = Tensor(gy.data.astype(y.data.dtype))
    if gy.shape != y.shape:
        raise RuntimeError(
            f"{where}: gradient has shape {tuple(gy.shape)} but the output has shape {tuple(y.shape)}"
        )
    return gy


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of every leaf that requires grad."""
    tensors = (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,) * len(tensors) if grad_tensors is None else (grad_tensors,)
    for i, y in enumerate(tensors):
        if not y._requires_grad:
            raise RuntimeError(
                f"backward: element {i} of tensors does not require grad and has no grad_fn "
                f"(shape {tuple(y.shape)}); did you compute it under no_grad or from detached tensors?"
            )
    gys = [_check_grad_output(y, g, "backward") for y, g in zip(tensors, grad_tensors)]
    if retain_graph is None:
        retain_graph = create_graph
    _run_backward(tensors, gys, None, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple.

    Unlike ``backward`` this never touches ``.grad``.  With ``create_graph=True``
    the returned gradients are part of the graph and can be differentiated again
    (a gradient penalty is ``grad(D(x).sum(), x, create_graph=True)``).
    """
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,) * len(outputs) if grad_outputs is None else (grad_outputs,)
    for i, y in enumerate(outputs):
        if not y._requires_grad:
            raise RuntimeError(
                f"grad: element {i} of outputs does not require grad and has no grad_fn "
                f"(shape {tuple(y.shape)})"
            )
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(x).__name__}, not a Tensor")
        if not x._requires_grad:
            raise RuntimeError(
                f"grad: inputs[{i}] (shape {tuple(x.shape)}) does not require grad, "
                "so it can't be in the graph"
            )
    gys = [_check_grad_output(y, g, "grad") for y, g in zip(outputs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    results = _run_backward(outputs, gys, inputs, retain_graph, create_graph)
    out = []
    for i, x in enumerate(inputs):
        g = results.get(id(x))
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: inputs[{i}] (shape {tuple(x.shape)}) was not used in the graph of the "
                "outputs; pass allow_unused=True to get None for it"
            )
        out.append(g)
    return tuple(out)



# The op modules import Tensor and Function from this module, so they are imported
# last, once both exist; Tensor's methods above look them up when they run.
from .ops import activation as _activation, convert as _convert, math as _math  # noqa: E402
from .ops import reduce as _reduce, shape as _shape  # noqa: E402
