"""Functional ops, shaped like ``torch.nn.functional`` (imported as ``F``).

Each op lives in the file of its concern under ``tinygan/ops``; this module only
gathers them under PyTorch's names.
"""
from ..ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, softplus
from ..ops.bias_act import bias_act
from ..ops.conv import conv2d, conv_transpose2d
from ..ops.dropout import dropout
from ..ops.linear import embedding, linear
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                        l1_loss, mse_loss, nll_loss)
from ..ops.math import tanh
from ..ops.minibatch_stddev import minibatch_stddev
from ..ops.modulated_conv import modulated_conv2d
from ..ops.norm import batch_norm, instance_norm, layer_norm
from ..ops.pool import avg_pool2d, max_pool2d
from ..ops.resample import interpolate
from ..ops.shape import pad
from ..ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    # activations
    "bias_act", "leaky_relu", "log_softmax", "relu", "sigmoid", "softmax", "softplus", "tanh",
    # layers
    "avg_pool2d", "batch_norm", "conv2d", "conv_transpose2d", "dropout", "embedding",
    "instance_norm", "interpolate", "layer_norm", "linear", "max_pool2d", "pad",
    # losses
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "l1_loss",
    "mse_loss", "nll_loss",
    # resampling with a FIR filter (StyleGAN2)
    "downsample2d", "filter2d", "setup_filter", "upfirdn2d", "upsample2d",
    # StyleGAN2
    "minibatch_stddev", "modulated_conv2d",
]
