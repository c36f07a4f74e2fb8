"""Dense maps: ``linear`` (y = x W^T + b) and ``embedding`` (a row lookup).

An embedding is a linear layer applied to one-hot vectors -- onehot(i) @ W
picks row i of W -- computed as a gather instead of a product.  Its gradient
is therefore the product's: the rows of gy are added into the rows of W they
came from (``EmbeddingBackward``, a scatter-add), and the derivative of that
scatter is the gather again.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor
from ..kernels.matmul import product
from .math import matmul
from .shape import transpose


class Linear(Function):
    """y = x @ w^T: x (*, in), w (out, in) -> y (*, out), without a transposed copy of w.

    dL/dx = gy @ w and dL/dw = gy^T x (summed over the leading dims).

    One Function rather than ``matmul(x, transpose(w))`` for the weight gradient's sake:
    through the transpose, d/dw arrives as the transpose *view* of x^T gy, which the
    leaf must copy; here it is gy^T x, computed straight into w's (out, in) layout.
    Both gradients are tinygan ops, so the backward can itself be differentiated.
    """

    def forward(self, x, w):
        return product(x, w.T)              # w.T is a view: BLAS reads w transposed, no copy

    def backward(self, gy):
        x, w = self.inputs
        gx = matmul(gy, w) if self.needs_input_grad[0] else None         # (*, out) @ (out, in)
        gw = None
        if self.needs_input_grad[1]:
            out_features, in_features = w.shape
            gw = matmul(transpose(gy.reshape(-1, out_features), 0, 1),   # sum over every row of *
                        x.reshape(-1, in_features))                      # (out, N) @ (N, in)
        return gx, gw


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight^T + bias.

    Shapes: input (*, in_features), weight (out_features, in_features) as PyTorch,
    bias (out_features,) or None; y (*, out_features).
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be (out_features, in_features), got shape "
                         f"{tuple(weight.shape)}")
    out_features, in_features = weight.shape
    if input.ndim == 0 or input.shape[-1] != in_features:
        raise ValueError(
            f"linear: input of shape {tuple(input.shape)} has "
            f"{input.shape[-1] if input.ndim else 0} features in its last dim, but weight of "
            f"shape {tuple(weight.shape)} expects {in_features}"
        )
    y = Linear()(input, weight)
    if bias is not None:
        if tuple(bias.shape) != (out_features,):
            raise ValueError(
                f"linear: bias has shape {tuple(bias.shape)}, expected ({out_features},)")
        y = y + bias
    return y


class Embedding(Function):
    """y[...] = weight[index[...]]: index (*) int, weight (num_embeddings, dim) -> y (*, dim).

    A gather of rows; dL/dweight scatters gy back to the rows read (``EmbeddingBackward``).
    """

    def __init__(self, index, padding_idx):
        self.index, self.padding_idx = index, padding_idx

    def forward(self, weight):
        self.num = weight.shape[0]
        return weight[self.index]

    def backward(self, gy):
        return EmbeddingBackward(self.index, self.padding_idx, self.num)(gy)


class EmbeddingBackward(Function):
    """gw[k] = sum of gy[...] over the positions where index == k; the padding row gets none."""

    def __init__(self, index, padding_idx, num: int):
        self.index, self.padding_idx, self.num = index, padding_idx, num

    def forward(self, gy):
        xp = backend.get_array_module(gy)
        dim = gy.shape[-1]
        gy = gy.reshape(-1, dim)
        index = self.index.reshape(-1)
        if self.padding_idx is not None:
            keep = index != self.padding_idx
            gy, index = gy[keep], index[keep]
        gw = xp.zeros((self.num, dim), dtype=gy.dtype)
        backend.scatter_add(gw, index, gy)          # repeated indices add up
        return gw

    def backward(self, ggw):
        # The adjoint of the scatter: gather the rows back (zero where index is the padding).
        gg = Embedding(self.index, self.padding_idx)(ggw)
        if self.padding_idx is None:
            return gg
        keep = (self.index != self.padding_idx)[..., None]
        return gg * Tensor(keep.astype(gg.dtype))


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Look up rows of ``weight``: input (*) int64 indices, weight (num, dim) -> (*, dim).

    ``padding_idx`` (may be negative) names a row that gets no gradient.  ``max_norm``,
    ``scale_grad_by_freq`` and ``sparse`` are not supported.
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError(
            "embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.shape)}")
    num = weight.shape[0]
    index = input.data if isinstance(input, Tensor) else backend.get_array_module(weight.data).asarray(input)
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {index.dtype}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= num):
        bad = int(index.min()) if int(index.min()) < 0 else int(index.max())
        raise IndexError(
            f"embedding: index {bad} is out of range for {num} embeddings (weight shape "
            f"{tuple(weight.shape)})"
        )
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within [-{num}, {num})")
        padding_idx %= num
    return Embedding(index, padding_idx)(weight)
