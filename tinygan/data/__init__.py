"""Data: the IDX reader, MNIST and Fashion-MNIST, checksummed fetching, transforms, DataLoader,
and the two image domains of ``domains.py`` (the pair "mnist-thick", for CycleGAN).

    from tinygan.data import MNIST, DataLoader, Compose, to_float, normalize
    loader = DataLoader(MNIST(), batch_size=64, shuffle=True, seed=0,
                        transform=Compose([to_float, normalize]))
    for images, labels in loader:     # Tensors (64, 1, 28, 28) float32 in [-1, 1], (64,) int64
        ...
"""
from . import domains, fetch
from .datasets import DATASETS, FashionMNIST, IDXDataset, MNIST, get_dataset
from .fetch import ChecksumError, DownloadError, cache_dir, load_raw
from .idx import IDXError, read_idx, write_idx
from .loader import DataLoader
from .transforms import Compose, ToShape, binarize, normalize, pad_to_32, to_float, to_shape

__all__ = [
    "MNIST", "FashionMNIST", "IDXDataset", "DATASETS", "get_dataset",
    "domains", "fetch", "load_raw", "cache_dir", "ChecksumError", "DownloadError",
    "read_idx", "write_idx", "IDXError",
    "DataLoader",
    "Compose", "to_float", "normalize", "pad_to_32", "to_shape", "ToShape",
    "binarize",
]
