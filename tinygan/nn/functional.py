"""Functional ops, shaped like ``torch.nn.functional`` (imported as ``F``)."""
from ..ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, softplus
from ..ops.math import tanh
from ..ops.shape import pad

__all__ = ["leaky_relu", "log_softmax", "pad", "relu", "sigmoid", "softmax", "softplus", "tanh"]
