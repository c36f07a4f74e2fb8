"""Training: run folders, progress bars and the recipes behind ``tinygan train``."""
from .classifier import accuracy, fast_mode, load_classifier_weights, train_classifier
from .run import Run

__all__ = ["Run", "accuracy", "fast_mode", "load_classifier_weights", "train_classifier"]
