"""Training: run folders, progress bars and the recipes behind ``tinygan train``."""
from .classifier import accuracy, fast_mode, load_classifier_weights, train_classifier
from .gan import evaluate_run, load_run, sample_run, train_gan
from .run import Run

__all__ = ["Run", "accuracy", "fast_mode", "load_classifier_weights", "train_classifier",
           "train_gan", "load_run", "sample_run", "evaluate_run"]
