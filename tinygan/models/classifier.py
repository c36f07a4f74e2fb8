"""A small CNN classifier for 28x28 digits and clothes.

Trained once on MNIST and once on Fashion-MNIST (``tinygan train classifier``),
it is the frozen feature network behind tinygan's FID and classifier score: its
penultimate layer (``features``, 128 values) plays the part Inception-v3's pool
layer plays for ImageNet-sized images (Heusel et al. 2017), and its softmax the
part of the Inception classifier in the Inception Score (Salimans et al. 2016).

It is all-convolutional (Springenberg et al. 2015): strided convolutions do the
downsampling that max pooling would, so no layer works at the full 28x28
resolution -- which makes it cheap enough to reach 99% on MNIST in a few
minutes on a 2-core CPU.

    x (N, 1, 28, 28) in [-1, 1]
    -> Conv 5x5 stride 2 1->32, BatchNorm, ReLU     (N, 32, 14, 14)
    -> Conv 3x3 stride 2 32->64, BatchNorm, ReLU    (N, 64, 7, 7)
    -> Flatten, Linear 3136->128, ReLU              (N, 128)   = features
    -> Dropout 0.25, Linear 128->10                 (N, 10)    = logits
"""
from __future__ import annotations

from pathlib import Path

from .. import nn
from ..autograd import Tensor

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"


class Classifier(nn.Module):
    """The network above; ``channels`` are the two convolutions' widths (the shipped digit
    classifiers keep the defaults; ``DomainClassifier`` is a narrower one)."""

    def __init__(self, num_classes: int = 10, feature_dim: int = 128, dropout: float = 0.25,
                 channels: tuple = (32, 64)):
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 5, stride=2, padding=2), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.Flatten(), nn.Linear(c2 * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def features(self, x: Tensor) -> Tensor:
        """(N, 1, 28, 28) images in [-1, 1] -> (N, feature_dim) features."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"{type(self).__name__}: expected images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 1, 28, 28) images in [-1, 1] -> (N, num_classes) logits."""
        return self.head(self.features(x))


def pretrained_classifier(dataset: str = "mnist") -> Classifier:
    """The frozen classifier shipped with tinygan for ``dataset``, in eval mode:
    ``"mnist"``, ``"fashion-mnist"``, or ``"mnist-thick-b"`` (the restyled digits of domain B
    of ``tinygan.data.domains``).

    The weights (``tinygan/weights/classifier_<dataset>.npz``) are made by
    ``tinygan train classifier --dataset <dataset>`` (benchmarks/README.md gives the
    command and the test accuracy they reach).
    """
    return load_frozen(Classifier(), "classifier_", dataset, "pretrained_classifier")


def load_frozen(model: nn.Module, prefix: str, name: str, op: str, what: str = "") -> nn.Module:
    """``model`` with the weights of ``tinygan/weights/<prefix><name>.npz`` (dashes as
    underscores), in eval mode; a missing file is an error that names ``op``, ``what`` the name
    is ("the pair ") and the names that are there."""
    from ..checkpoint import load   # noqa: PLC0415 - keeps importing models light
    path = WEIGHTS / f"{prefix}{name.replace('-', '_')}.npz"
    if not path.exists():
        known = sorted(p.stem.removeprefix(prefix).replace("_", "-")
                       for p in WEIGHTS.glob(f"{prefix}*.npz"))
        raise FileNotFoundError(f"{op}: no weights for {what}{name!r} at {path}; "
                                f"available: {', '.join(known) or 'none'}")
    model.load_state_dict(load(path)["model"])
    return model.eval()
