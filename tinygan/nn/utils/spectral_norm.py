"""Spectral normalization (Miyato et al. 2018): a layer's weight divided by its largest singular value.

A discriminator whose every layer has spectral norm (largest singular value) 1, and whose
activations are 1-Lipschitz (ReLU, leaky ReLU), is itself 1-Lipschitz: the norm of a product is
at most the product of the norms (sec. 2.1).  So the paper replaces each weight W by

    W_SN = W / sigma(W),        sigma(W) = max_{h != 0} ||W h|| / ||h||        (sec. 2.1, eq. 8)

An SVD per step would be too dear; instead one step of power iteration per forward pass, started
from the vector ``u`` the previous step left behind, tracks the top singular pair as W drifts
slowly under training (Algorithm 1, App. A)::

    v <- W^T u / ||W^T u||,      u <- W v / ||W v||,      sigma ~= u^T W v

A convolution's weight (out, in, kh, kw) is first reshaped to the matrix (out, in*kh*kw), whose
rows are the filters (the paper's choice, and PyTorch's).  That matrix is what the conv applies
to each image patch; the conv as a whole can stretch an image by up to sqrt(kh*kw) times more
(at stride 1 each pixel enters kh*kw patches), a bounded factor the paper accepts.
``u`` and ``v`` are held constant in the gradient: sigma = u^T W v is then bilinear in W, so
d sigma / dW = u v^T, which is the exact derivative of the top singular value when u and v
have converged.  They are no_grad state, like BatchNorm's running statistics.

``spectral_norm(module)`` works as PyTorch's ``torch.nn.utils.spectral_norm`` (the old-style
hook, not the parametrization): the Parameter moves to ``weight_orig``, the persistent buffers
``weight_u`` (out,) and ``weight_v`` (in*kh*kw,) hold the singular-vector estimates, and a
forward pre-hook writes ``weight = weight_orig / sigma`` onto the module before every forward,
so the layer's own ``forward`` runs unchanged.  In training mode the hook first runs the power
iteration and updates u and v in place; in eval mode it uses them as they are, so evaluation
changes no state.  u and v are in ``state_dict()``, so a checkpoint resumes bit-exactly.
"""
from __future__ import annotations

import numbers

from ...autograd import Tensor, no_grad
from ...creation import randn
from ..conv import ConvTranspose2d
from ..equalized import EqualizedConv2d, EqualizedLinear
from ..module import Module
from ..parameter import Parameter


def _normalize(x: Tensor, eps: float) -> Tensor:
    """x / max(||x||_2, eps): a unit vector, and no division by zero when x is 0 (PyTorch's
    ``F.normalize``)."""
    return x / (x * x).sum().sqrt().clamp(min=eps)


class SpectralNorm:
    """The forward pre-hook that ``spectral_norm`` installs (one per normalized parameter).

    It holds only its settings, not the module, so a deep copy of the module (an EMA generator)
    gets a hook of its own.

    Args:
        name: the parameter normalized (``weight``).
        n_power_iterations: power-iteration steps per training-mode forward (>= 1).
        dim: the weight's dim that becomes the matrix's rows (0; 1 for ConvTranspose2d, whose
            weight is (in, out/groups, kh, kw), so that the rows are again the output channels).
        eps: the floor of the norms in the normalizations.
    """

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12):
        self.name = name
        self.n_power_iterations = n_power_iterations
        self.dim = dim
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """The weight as the matrix W of the paper: dim ``self.dim`` first, the rest flattened.

        Shapes: Linear (out, in) -> (out, in); Conv2d (out, in, kh, kw) -> (out, in*kh*kw);
        ConvTranspose2d (in, out, kh, kw) with dim=1 -> (out, in*kh*kw).
        """
        if self.dim != 0:
            others = [d for d in range(weight.ndim) if d != self.dim]
            weight = weight.permute(self.dim, *others)
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        """``weight_orig / sigma`` with sigma = u^T W v, differentiable in ``weight_orig`` only.

        With ``do_power_iteration`` the buffers u and v first take ``n_power_iterations`` steps
        of Algorithm 1 (in place, without a graph).  The u and v that enter sigma are copies
        of the buffers: a later step rewrites the buffers, and a graph kept from this forward
        (the two forward passes of D on real and fake data before one backward) must still
        see the values it was built with.
        """
        weight = getattr(module, self.name + "_orig")
        u_buffer = getattr(module, self.name + "_u")
        v_buffer = getattr(module, self.name + "_v")
        with no_grad():
            if do_power_iteration:
                w = self.reshape_weight_to_matrix(weight.detach())
                u = u_buffer
                for _ in range(self.n_power_iterations):
                    v = _normalize(w.transpose(0, 1) @ u, self.eps)   # v <- W^T u / ||W^T u||
                    u = _normalize(w @ v, self.eps)                   # u <- W v / ||W v||
                u_buffer.data[...] = u.data          # in place: state_dict and EMA see it
                v_buffer.data[...] = v.data
            else:
                u, v = u_buffer.clone(), v_buffer.clone()
        sigma = u @ (self.reshape_weight_to_matrix(weight) @ v)      # u^T W v, 0-d
        return weight / sigma                                        # eq. 8

    def __call__(self, module: Module, args) -> None:
        # The forward pre-hook: recompute the normalized weight the layer's forward reads.
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    def remove(self, module: Module) -> None:
        """Put back a plain Parameter ``name`` holding the normalized weight (u, v as they are)."""
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    @staticmethod
    def apply(module: Module, name: str, n_power_iterations: int, dim: int | None,
              eps: float) -> "SpectralNorm":
        """Check everything, then rewire ``module`` (unchanged if a check fails)."""
        op = "spectral_norm"
        if not isinstance(module, Module):
            raise TypeError(f"{op}: expected a tinygan.nn.Module, got {type(module).__name__}")
        layer = type(module).__name__
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"{op}: cannot register two spectral_norm hooks on the same "
                                   f"parameter '{name}' of {layer} (it is already normalized; "
                                   f"its Parameter is now '{name}_orig')")
        if isinstance(module, (EqualizedLinear, EqualizedConv2d)):
            # sigma(c W) = c sigma(W): the run-time gain c of the equalized learning rate would
            # cancel inside W / sigma(W) and come back afterwards, so the effective weight would
            # have spectral norm c, not 1 -- and the gain's purpose (Adam steps of one relative
            # size in every layer) is lost, W / sigma(W) being blind to the scale of W.
            raise TypeError(f"{op}: {layer} scales its weight at run time by weight_gain "
                            f"(the equalized learning rate), which spectral normalization would "
                            f"undo; use nn.Linear / nn.Conv2d for spectrally normalized layers")
        if isinstance(n_power_iterations, bool) or not isinstance(n_power_iterations,
                                                                  numbers.Integral) \
                or n_power_iterations < 1:
            raise ValueError(f"{op}: expected n_power_iterations to be a positive integer, "
                             f"got n_power_iterations={n_power_iterations!r}")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"{op}: expected eps > 0 (the floor of the norms), got eps={eps!r}")
        weight = module._parameters.get(name)
        if weight is None:
            present = ", ".join(f"'{n}'" for n, p in module._parameters.items() if p is not None)
            raise ValueError(f"{op}: {layer} has no parameter '{name}' "
                             f"(its parameters: {present or 'none'})")
        if weight.ndim < 1:
            raise ValueError(f"{op}: parameter '{name}' of {layer} is a scalar (shape ()); "
                             f"it needs at least one dim to be read as a matrix")
        if dim is None:
            dim = 1 if isinstance(module, ConvTranspose2d) else 0
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) \
                or not -weight.ndim <= dim < weight.ndim:
            raise ValueError(f"{op}: dim={dim!r} is out of range for parameter '{name}' of "
                             f"{layer} with shape {tuple(weight.shape)}")
        for suffix in ("_orig", "_u", "_v"):
            if hasattr(module, name + suffix):
                raise ValueError(f"{op}: {layer} already has an attribute '{name + suffix}', "
                                 f"which spectral_norm needs for its own state")

        fn = SpectralNorm(name, int(n_power_iterations), int(dim) % weight.ndim, float(eps))
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight.detach()).shape
            # Random unit vectors from tinygan's seeded generator (manual_seed repeats them).
            u = _normalize(randn(h, dtype=weight.dtype, device=weight.device), fn.eps)
            v = _normalize(randn(w, dtype=weight.dtype, device=weight.device), fn.eps)
        del module._parameters[name]
        # The same Parameter object: an optimizer built before this call still trains it.
        module.register_parameter(name + "_orig", weight)
        # Until the first forward the attribute is the raw weight, as in PyTorch.
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> Module:
    """Normalize ``module.<name>`` by its spectral norm before every forward (Miyato et al. 2018).

    ``module.<name>`` becomes ``<name>_orig / sigma(<name>_orig)`` (eq. 8), with sigma = u^T W v
    from ``n_power_iterations`` steps of power iteration (Algorithm 1) in training mode, none
    in eval mode.  Works on Linear, Conv2d, ConvTranspose2d, Embedding and any layer whose
    forward reads ``self.<name>``; not on the Equalized layers (their run-time gain would
    undo it, see the error).

    Args:
        module: the layer (changed in place, and returned).
        name: the parameter to normalize.
        n_power_iterations: power-iteration steps per training forward (1 in the paper).
        eps: the floor of the norms when normalizing u and v.
        dim: the dim of the weight that indexes the matrix's rows: None means 1 for
            ConvTranspose2d and 0 otherwise (PyTorch's rule).

    State (PyTorch's names): Parameter ``<name>_orig`` (the weight's shape; the same Parameter
    object as before), buffers ``<name>_u`` (rows,) and ``<name>_v`` (cols,) with
    rows x cols the matrix's shape, e.g. (out,) and (in*kh*kw,) for a Conv2d.  ``<name>`` is a
    plain attribute, recomputed each forward (the raw weight until the first one).  Like
    PyTorch, u and v start as random unit vectors, so run one training-mode forward before
    relying on an eval-mode sigma.

    >>> layer = spectral_norm(nn.Linear(20, 40))
    >>> layer.weight_u.shape, layer.weight_v.shape
    ((40,), (20,))
    """
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``spectral_norm``: ``module.<name>`` becomes a Parameter again, holding the current
    normalized weight ``<name>_orig / (u^T W v)`` (no further power iteration); the buffers
    and ``<name>_orig`` go.  As in PyTorch the Parameter is a new object: rebuild the optimizer."""
    for key, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"remove_spectral_norm: spectral_norm of '{name}' not found in "
                     f"{type(module).__name__}")
