"""tinygan: deep generative models from scratch on NumPy (CPU) and CuPy (GPU).

The public API is shaped like PyTorch's::

    import tinygan
    x = tinygan.randn(4, 3, requires_grad=True)
    y = (x.tanh() ** 2).sum()
    (g,) = tinygan.grad(y, x, create_graph=True)   # g can be differentiated again

Importing tinygan changes nothing outside it: no process-wide setting is touched.  (The
``tinygan`` command and the trainer tune glibc's malloc for themselves, see
``tinygan/kernels/host_memory.py``.)
"""
from . import backend, kernels, ops, random
from .autograd import (Function, Tensor, as_tensor, backward, bool_, enable_grad, float16,
                       float32, float64, get_default_dtype, grad, int8, int16, int32, int64,
                       is_grad_enabled, no_grad, set_default_dtype, set_grad_enabled, tensor,
                       uint8)
from .backend import cuda_is_available, device
from .kernels.threads import get_num_threads, set_num_threads
from .creation import (arange, empty, empty_like, eye, full, full_like, linspace, ones, ones_like,
                       rand, rand_like, randint, randn, randn_like, randperm, truncated_normal,
                       zeros, zeros_like)
from .ops import (abs, add, amax, amin, broadcast_to, cat, chunk, clamp, cos, div, exp, expand,
                  flatten, leaky_relu, log, log_softmax, logsumexp, matmul, max, maximum, mean,
                  min, minimum, mul, neg, pad, permute, pow, relu, reshape, sigmoid, sign, sin,
                  softmax, softplus, split, sqrt, squeeze, stack, std, sub, sum, tanh, transpose,
                  unsqueeze, var, where)
from .random import get_rng_state, manual_seed, seed, set_rng_state
from . import checkpoint, data, nn, optim
from . import models  # after nn: the model families are built from its layers

# PyTorch's other names for the dtypes (they shadow builtins only inside this namespace).
bool = bool_  # noqa: A001
float, double, half, long = float32, float64, float16, int64  # noqa: A001
clip = clamp

__version__ = "0.1.0"
