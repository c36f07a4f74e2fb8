"""MNIST and Fashion-MNIST as in-memory arrays, shaped like ``torchvision.datasets``.

Both are 28x28 grayscale images in 10 classes, 60,000 for training and 10,000
for testing, distributed as IDX files (see ``idx.py``) and found or downloaded
by ``fetch.py``.  The whole split is loaded at once (47 MB of uint8 for MNIST's
training set), which lets the ``DataLoader`` gather a batch with one indexing
operation instead of a Python loop over samples.
"""
from __future__ import annotations

import os

import numpy as np

from . import fetch
from .idx import read_idx
from .transforms import to_shape


class IDXDataset:
    """A labelled image data set stored as four IDX files.

    Attributes:
        data: uint8 array (N, 28, 28), pixel values 0..255 ((N, S, S) with ``pad_to=S``).
        targets: int64 array (N,), class indices 0..9.
        classes: the class names, ``classes[targets[i]]``.

    Args:
        root: a folder holding ``<name>/`` with the files (or the files themselves);
            by default ``$TINYGAN_DATA/<name>/``, then the cache (see ``fetch.py``).
        train: the 60,000 training images, or the 10,000 test images.
        download: fetch the files (into the cache, or into ``root/<name>/``) when
            they are found nowhere.
        pad_to: serve the images padded to ``pad_to`` x ``pad_to`` (e.g. 32, the power of two
            that strided convolutions halve cleanly), centred, the border filled with 0: the
            background of both data sets.  Pixels are moved, never resampled.
    """

    name = ""
    classes: list = []

    def __init__(self, root: "str | os.PathLike | None" = None, train: bool = True,
                 download: bool = True, pad_to: int | None = None):
        self.train = train
        images_file, labels_file = fetch.TRAIN_FILES if train else fetch.TEST_FILES
        raw = fetch.load_raw(self.name, (images_file, labels_file), root=root, download=download)
        images = read_idx(raw[images_file], name=f"{self.name}/{images_file}")
        labels = read_idx(raw[labels_file], name=f"{self.name}/{labels_file}")
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{self.name}: expected images (N, H, W) and labels (N,), got {images.shape} "
                f"and {labels.shape}"
            )
        self.data = images.astype(np.uint8, copy=False)
        if pad_to is not None:
            # to_shape works on (N, C, H, W) batches: add the channel axis for it and drop it after.
            self.data = to_shape(self.data[:, None], (1, pad_to, pad_to), fill=0)[:, 0]
        # int64, as PyTorch's class-index tensors (cross_entropy targets, embeddings) are.
        self.targets = labels.astype(np.int64)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        """``(image, label)``: a uint8 array (28, 28) (or (pad_to, pad_to)) and an int."""
        return self.data[index], int(self.targets[index])

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split!r}, n={len(self)}, shape={self.data.shape[1:]})"


class MNIST(IDXDataset):
    """Handwritten digits 0-9 (LeCun, Cortes and Burges, 1998)."""

    name = "mnist"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]


class FashionMNIST(IDXDataset):
    """Zalando's article images, a drop-in replacement for MNIST (Xiao, Rasul and Vollgraf, 2017)."""

    name = "fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST}


def get_dataset(name: str, **kwargs) -> IDXDataset:
    """The data set called ``name`` ("mnist" or "fashion-mnist", as in ``--dataset``).

    ``kwargs`` go to the class: ``get_dataset("mnist", train=False)``.
    """
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(DATASETS)}")
    return DATASETS[key](**kwargs)
