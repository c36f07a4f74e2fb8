"""Training: run folders, progress bars and the recipes behind ``tinygan train``.

loop.py is the one training loop (GANs and VAEs); gan.py and vae.py hold what each kind
of model does in a step; evaluate.py scores a run of any kind; settings.py holds fast mode.
"""
from .classifier import accuracy, load_classifier_weights, train_classifier
from .evaluate import evaluate_run, evaluate_vae_run
from .gan import train_gan
from .loop import load_run, sample_run
from .run import Run
from .settings import fast_mode
from .vae import train_vae

__all__ = ["Run", "accuracy", "fast_mode", "load_classifier_weights", "train_classifier",
           "train_gan", "train_vae", "load_run", "sample_run", "evaluate_run", "evaluate_vae_run"]
