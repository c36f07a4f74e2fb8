"""Training: run folders, progress bars and the recipes behind ``tinygan train``.

loop.py is the one training loop (GANs and VAEs); gan.py and vae.py hold what each kind
of model does in a step, and how its runs are sampled and evaluated.
"""
from .classifier import accuracy, fast_mode, load_classifier_weights, train_classifier
from .gan import evaluate_run, train_gan
from .loop import load_run, sample_run
from .run import Run
from .vae import evaluate_vae_run, train_vae

__all__ = ["Run", "accuracy", "fast_mode", "load_classifier_weights", "train_classifier",
           "train_gan", "train_vae", "load_run", "sample_run", "evaluate_run", "evaluate_vae_run"]
