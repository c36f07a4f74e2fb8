"""``Parameter``: a Tensor that a Module learns.

A Parameter is an ordinary leaf Tensor with ``requires_grad=True`` by default.
It is a separate class for one reason: when a Module sees a Parameter assigned
to one of its attributes (``self.weight = Parameter(...)``) it registers it, so
``module.parameters()`` can hand it to an optimizer.  A plain Tensor assigned
the same way is just an attribute (use ``register_buffer`` for state such as
BatchNorm's running mean, which is saved but not trained).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor, get_default_dtype
from ..backend import get_array_module


class Parameter(Tensor):
    """A learnable leaf tensor; assigning it to a Module attribute registers it.

    Args:
        data: a Tensor (its array is shared, not copied, as in PyTorch), an ndarray
            or Python data; None gives an empty tensor of the default dtype.
        requires_grad: True by default.

    >>> p = Parameter(tinygan.zeros(2, 3))
    >>> p.shape, p.requires_grad, p.is_leaf
    ((2, 3), True, True)
    """

    __slots__ = ()   # Tensor has slots; keep Parameter as small (and as fast) as a Tensor

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=get_default_dtype())
        elif isinstance(data, Tensor):
            # Share the array and cut any graph: a Parameter is always a leaf.
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> "Parameter":
        # copy.deepcopy(model) (e.g. for the EMA generator) must give independent arrays;
        # the gradient is not copied, as in PyTorch.
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.copy(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        return (type(self), (self.data, self.requires_grad))


def clear_grads(params, set_to_none: bool = True) -> None:
    """Forget the gradients of ``params`` (``backward`` adds into ``.grad``): None, or zeros.

    Zeros are a fresh array, not ``p.grad.data[...] = 0``: that array may be a
    read-only view, or shared with a tensor the caller still holds.
    """
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad = Tensor(get_array_module(p.grad.data).zeros_like(p.grad.data))
