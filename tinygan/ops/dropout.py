"""Dropout (Srivastava et al. 2014): zero each element with probability p while training.

The kept elements are scaled by 1 / (1 - p) ("inverted dropout"), so the expected
output equals the input and nothing has to change at evaluation time, when
dropout is the identity.  The mask comes from tinygan's seeded generator of the
input's device, so ``tinygan.manual_seed`` makes it reproducible.  The output is
the input times a constant mask, so ``mul`` gives every derivative.
"""
from __future__ import annotations

from .. import random
from ..autograd import Tensor


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """input * mask / (1 - p) with mask ~ Bernoulli(1 - p) elementwise; the identity if not training.

    Args:
        input: any shape, floating point.
        p: probability of zeroing an element, in [0, 1] (p = 1 zeroes everything).
        training: apply dropout (True) or return the input unchanged (False).
        inplace: accepted for PyTorch compatibility; the result is always a new tensor.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if input.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating point input, got dtype {input.dtype}")
    if p == 1.0:
        return input * 0.0
    gen = random.generator_for(input.device)
    keep = gen.random(input.shape) >= p                         # P(keep) = 1 - p
    mask = (keep * (1.0 / (1.0 - p))).astype(input.dtype)       # 0 or 1 / (1 - p)
    return input * Tensor(mask)
