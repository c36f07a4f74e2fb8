"""BigGAN's orthogonal regularization, off-diagonal only (Brock et al. 2019, sec. 3.1, eq. 3).

BigGAN samples with truncated latents, which works only if G maps nearby z smoothly.  Plain
orthogonal regularization, beta ||W^T W - I||_F^2 (Brock et al. 2017), pulls every weight
matrix towards orthonormal columns -- too strong a constraint, the paper finds.  Eq. 3 keeps
only the off-diagonal part and lets the filters' norms float free:

    R_beta(W) = beta || W^T W  (.)  (1 - I) ||_F^2

(``(.)`` the elementwise product, ``1`` the all-ones matrix): it pushes different filters
towards orthogonality, nothing more.  The loss is this summed over the weight matrices.

Which product: the paper writes W^T W for a W whose *columns* are the filters (a layer computes
W^T x in its notation).  tinygan stores the filters as *rows* -- Linear (out, in), Conv2d
(out, in, kh, kw) read as the matrix (out, in*kh*kw) -- so the same matrix of filter dot
products <w_i, w_j>, (out, out), is W W^T here.  That is also what BigGAN's reference code
computes (``w = param.view(param.shape[0], -1)``, then ``w @ w.t()``).  The reference code adds
the gradient 2 (W W^T (.) (1 - I)) W directly, which is half the true gradient
4 (W W^T (.) (1 - I)) W of eq. 3: its ``strength`` s equals beta = s / 2 here.

Biases and other 1-D (or 0-D) tensors are skipped: a vector is one filter, with nothing to be
orthogonal to (the reference code skips them too).  Which weights are regularized is the
caller's choice: BigGAN applies it to G's weights, without the shared class embedding.
"""
from __future__ import annotations

from typing import Iterable

from ..autograd import Tensor
from ..creation import eye
from .checks import check_float_tensor, check_number

_OP = "orthogonal_regularization"


def orthogonal_regularization(parameters_or_weights: Tensor | Iterable[Tensor],
                              beta: float) -> Tensor:
    """beta * sum over weights W of ||W W^T (.) (1 - I)||_F^2 (Brock et al. 2019, eq. 3).

    Args:
        parameters_or_weights: a Tensor, or an iterable of Tensors such as
            ``G.parameters()``; each one with 2 or more dims is read as the matrix
            W = w.reshape(w.shape[0], -1), (out, fan_in); 1-D ones (biases, norm gains) and
            0-D ones are skipped.
        beta: the weight of the penalty, >= 0 (BigGAN: 1e-4).

    Returns:
        A 0-d Tensor, to be added to G's loss; differentiable to any order.

    Raises ``ValueError`` when no tensor has 2 or more dims (nothing to regularize).
    """
    beta = check_number(beta, "beta", _OP, minimum=0.0)
    if isinstance(parameters_or_weights, Tensor):
        tensors = [parameters_or_weights]
    else:
        try:
            tensors = list(parameters_or_weights)
        except TypeError:
            raise TypeError(f"{_OP}: expected a Tensor or an iterable of Tensors (e.g. "
                            f"model.parameters()), got {type(parameters_or_weights).__name__}"
                            ) from None
    total = None
    for i, w in enumerate(tensors):
        check_float_tensor(w, f"element {i} of parameters_or_weights", _OP)
        if w.ndim < 2:
            continue                    # a bias: one vector, nothing to be orthogonal to
        m = w.reshape(w.shape[0], -1)                      # (out, fan_in): one filter a row
        gram = m @ m.transpose(0, 1)                       # (out, out): <w_i, w_j>
        off_diagonal = 1 - eye(m.shape[0], dtype=m.dtype, device=m.device)   # 1 - I
        masked = gram * off_diagonal
        term = (masked * masked).sum()                     # ||.||_F^2
        total = term if total is None else total + term
    if total is None:
        shapes = ", ".join(str(tuple(w.shape)) for w in tensors)
        raise ValueError(f"{_OP}: no tensor with 2 or more dims among the {len(tensors)} given "
                         f"({shapes or 'none'}); biases and other 1-D tensors are skipped, so "
                         f"there is nothing to regularize")
    return total * beta
