"""Optimizers, learning-rate schedules and weight averaging, shaped like ``torch.optim``.

One concept per file:

* ``optimizer``: the ``Optimizer`` base class (param groups, state, zero_grad, step, state_dict);
* ``sgd``: ``SGD`` (momentum, Nesterov);
* ``adam``: ``Adam`` and ``AdamW``;
* ``rmsprop``: ``RMSprop``;
* ``lr_scheduler``: ``StepLR``, ``LambdaLR``, ``LinearLR`` (also importable from here);
* ``ema``: ``EMA``, the moving average of a generator's weights used for sampling;
* ``ema_half_life``: ``EMAHalfLife``, its decay from a half-life in images (StyleGAN2's).

Typical use::

    opt = tinygan.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt.zero_grad()
    loss.backward()
    opt.step()
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .ema import EMA
from .ema_half_life import EMAHalfLife
from .lr_scheduler import LambdaLR, LinearLR, LRScheduler, StepLR
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "EMA", "EMAHalfLife", "lr_scheduler", "LRScheduler",
           "StepLR", "LambdaLR", "LinearLR"]
