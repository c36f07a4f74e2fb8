"""Model families, one file per paper (see each file's docstring for the paper and equations)."""
from .classifier import Classifier, pretrained_classifier

__all__ = ["Classifier", "pretrained_classifier"]
