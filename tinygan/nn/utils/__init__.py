"""Utilities that act on a Module from outside, shaped like ``torch.nn.utils``.

``spectral_norm.py``: ``spectral_norm(module)`` divides a layer's weight by its largest singular
value, estimated by power iteration before every forward (Miyato et al. 2018), and
``remove_spectral_norm(module)`` undoes it.
"""
from .spectral_norm import SpectralNorm, remove_spectral_norm, spectral_norm

__all__ = ["SpectralNorm", "remove_spectral_norm", "spectral_norm"]
