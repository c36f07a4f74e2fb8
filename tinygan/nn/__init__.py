"""Neural-network building blocks, shaped like ``torch.nn``.

``Module`` (module.py) is the base class: it registers ``Parameter``\\ s, buffers
and submodules assigned as attributes, and gives ``parameters()``,
``state_dict()``, ``train()``/``eval()`` and ``to(device)``.  The layers own
their weights (PyTorch's layouts and default initializations) and call the
differentiable functions in ``functional`` (imported as ``F``).  ``init`` holds
the weight initializations.
"""
from . import functional, init
from .activation import LeakyReLU, ReLU, Sigmoid, Tanh
from .attention import SelfAttention2d
from .conditional_norm import ConditionalBatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d, ConvTranspose2d
from .dropout import Dropout
from .embedding import Embedding
from .equalized import EqualizedConv2d, EqualizedLinear
from .linear import Identity, Linear
from .module import Module
from .noise import NoiseInjection
from .padding import ReflectionPad2d
from .norm import BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm
from .parameter import Parameter
from .pooling import AvgPool2d, MaxPool2d
from .shape import Flatten, Unflatten
from .upsample import Upsample
from . import utils   # after the layers: it builds on them

__all__ = [
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "ConditionalBatchNorm2d", "Conv2d", "ConvTranspose2d",
    "Dropout", "Embedding", "EqualizedConv2d", "EqualizedLinear", "Flatten", "Identity",
    "InstanceNorm2d", "LayerNorm", "LeakyReLU", "Linear", "MaxPool2d", "Module", "ModuleDict",
    "ModuleList", "NoiseInjection", "Parameter", "ReflectionPad2d", "ReLU", "SelfAttention2d", "Sequential", "Sigmoid",
    "Tanh", "Unflatten", "Upsample", "functional", "init", "utils",
]
