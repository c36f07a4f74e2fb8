"""Batch transforms for image arrays (NumPy or CuPy), applied by the ``DataLoader``.

They work on whole batches, shape (N, 1, H, W) (``to_float`` also accepts the
datasets' (N, H, W) and adds the channel axis), and on whichever device the
array is on, so a loader can move uint8 pixels to the GPU (4x less to copy) and
convert there.  The usual GAN pipeline is::

    Compose([to_float, normalize, pad_to_32])   # uint8 (N, 28, 28) -> float32 (N, 1, 32, 32) in [-1, 1]

[-1, 1] matches a generator that ends in tanh.  The VAEs' pipeline keeps [0, 1] and,
for a Bernoulli decoder, binarizes each batch afresh (dynamic binarization)::

    Compose([to_float, binarize])               # uint8 (N, 28, 28) -> float32 0/1 (N, 1, 28, 28)

A model that trains on another shape gets its batches through ``ToShape`` (the trainers
append it, with the (C, H, W) of the model's registry entry)::

    Compose([to_float, normalize, ToShape((3, 32, 32))])   # -> float32 (N, 3, 32, 32)
"""
from __future__ import annotations

from typing import Callable, Sequence

from .. import random
from ..backend import device_of, get_array_module


def to_float(images):
    """uint8 pixels 0..255 -> float32 in [0, 1].

    Shapes: (N, H, W) -> (N, 1, H, W) (grayscale gets its channel axis), or
    (N, C, H, W) -> (N, C, H, W).
    """
    xp = get_array_module(images)
    if images.ndim == 3:
        images = images[:, None]
    if images.dtype != xp.uint8:
        raise TypeError(f"to_float: expected uint8 pixels, got {images.dtype}")
    # Multiply by a float32 constant so the result stays float32 (and is exact for 0 and 255).
    return images.astype(xp.float32) * xp.float32(1.0 / 255.0)


def normalize(images, mean: float = 0.5, std: float = 0.5):
    """``(x - mean) / std``; the defaults map [0, 1] to [-1, 1]. Shape unchanged."""
    xp = get_array_module(images)
    dtype = images.dtype
    return ((images - xp.asarray(mean, dtype=dtype)) / xp.asarray(std, dtype=dtype)).astype(dtype, copy=False)


def _pad_centred(images, h: int, w: int, fill: float, op: str):
    """Centre the last two axes of ``images`` in (h, w), the border ``fill`` (pure data movement)."""
    h0, w0 = images.shape[-2:]
    if h0 > h or w0 > w:
        raise ValueError(f"{op}: images are {h0}x{w0}, larger than {h}x{w}")
    if images.dtype.kind == "u" and fill < 0:
        raise ValueError(f"{op}: fill={fill} can't be stored in {images.dtype}; "
                         "pass fill=0 for unnormalized pixels")
    top, left = (h - h0) // 2, (w - w0) // 2
    pad = [(0, 0)] * (images.ndim - 2) + [(top, h - h0 - top), (left, w - w0 - left)]
    return get_array_module(images).pad(images, pad, mode="constant", constant_values=fill)


def pad_to_32(images, fill: float = -1.0):
    """Pad (N, C, 28, 28) to (N, C, 32, 32): 2 pixels each side (DCGAN's power-of-two sizes).

    ``fill`` is the background colour: -1 (the default) is black *after*
    ``normalize``; pass ``fill=0`` for images still in [0, 1] or uint8 pixels.
    """
    return _pad_centred(images, 32, 32, fill, "pad_to_32")


def to_shape(images, shape, fill: float = -1.0):
    """Serve images (N, c, h, w) as (N, *shape): pad the borders, repeat gray channels.

    Pure data movement, no resampling: the (h, w) picture is centred in the larger
    (H, W) = ``shape[1:]`` and the border is ``fill``, the background (-1 is black after
    ``normalize``; 0 for images in [0, 1] or uint8 pixels).  A one-channel image becomes C
    identical channels (gray as RGB).  Already of that shape: returned as it is.
    """
    c, h, w = (int(d) for d in shape)
    n0, c0, h0, w0 = images.shape
    if (c0, h0, w0) == (c, h, w):
        return images
    if h0 > h or w0 > w or (c0 != c and c0 != 1):
        raise ValueError(f"to_shape: can't serve images of shape {(c0, h0, w0)} as {(c, h, w)}; "
                         "it only pads and repeats one channel")
    images = _pad_centred(images, h, w, fill, "to_shape")
    return images if c0 == c else get_array_module(images).repeat(images, c, axis=1)


class ToShape:
    """``to_shape`` as a transform for ``Compose``: ``ToShape((3, 32, 32), fill=-1)``."""

    def __init__(self, shape, fill: float = -1.0):
        self.shape, self.fill = tuple(int(d) for d in shape), fill

    def __call__(self, images):
        return to_shape(images, self.shape, self.fill)

    def __repr__(self) -> str:
        return f"ToShape({self.shape}, fill={self.fill})"


def binarize(images, generator=None):
    """Dynamic binarization: each pixel becomes 1 with probability equal to its value in [0, 1].

    A fresh sample every time it is called (every batch, so every epoch sees new
    binarizations), as in the VAE literature on binarized MNIST, which turns the
    gray levels into Bernoulli data and keeps a Bernoulli decoder from overfitting
    one fixed binarization.  From tinygan's seeded generator by default, whose state
    is in every checkpoint: a resumed run draws what an unbroken one would have.
    Pass a ``numpy.random.Generator`` with a fixed seed for a fixed binarization (the
    VAEs' test set: ``tinygan.train.vae.evaluation_images``).

    Args:
        images: float array in [0, 1], any shape, e.g. (N, 1, 28, 28).
        generator: a ``tinygan.random.Generator`` or a ``numpy.random.Generator`` (or
            CuPy's, for CuPy arrays); default tinygan's generator for the array's device
            (``manual_seed``).

    Returns:
        float array of 0s and 1s, same shape and dtype.
    """
    if generator is None:
        generator = random.generator_for(device_of(images))
    u = generator.random(images.shape, dtype=images.dtype if images.dtype.itemsize in (4, 8) else "float32")
    return (u < images).astype(images.dtype)


class Compose:
    """Apply transforms one after another: ``Compose([to_float, normalize])(batch)``."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, images):
        for t in self.transforms:
            images = t(images)
        return images

    def __repr__(self) -> str:
        names = ", ".join(getattr(t, "__name__", repr(t)) for t in self.transforms)
        return f"Compose([{names}])"
