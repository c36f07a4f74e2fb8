"""``tinygan eval RUN``: one evaluation for every kind of model.

Every run is scored the same way on ``n`` samples of its latest checkpoint (its EMA's weights
if it kept one): the FID against the real test images and the classifier score
(tinygan.metrics), and, for a family whose registry entry has classes, how often the frozen
classifier sees the class the samples were drawn for (``label_accuracy``: a conditional
model's labels) or the best one-to-one match of codes to classes (``code_accuracy``:
InfoGAN's categorical code).  A kind adds its own figures through its ``figures`` in
tinygan/train/kinds.py (a VAE: its -ELBO and IWAE bounds, tinygan/train/vae.py).
"""
from __future__ import annotations

from .. import backend, random
from ..autograd import Tensor
from . import vae
from .loop import (EVAL_BYTES_PER_SAMPLE, check_sample_memory, class_noise, family_entry, generate,
                   is_pretrained, load_run, num_classes)
from .run import Run
from .settings import FAST_EVAL_IMAGES, fast_mode

def reference_statistics(dataset: str, classifier) -> tuple:
    """``((mu, sigma), probs)``: the feature statistics of the real test images (the FID's
    reference) and their class probabilities, through ``classifier`` (the test set's first
    ``FAST_EVAL_IMAGES`` under TINYGAN_FAST)."""
    from .. import metrics
    test = metrics.real_images(dataset, train=False, n=FAST_EVAL_IMAGES if fast_mode() else None)
    feats, probs = metrics.classifier_outputs(test, classifier)
    return metrics.feature_statistics(feats), probs


def sample_scores(family, images, classes, classifier, test_stats) -> dict:
    """The scores of samples ``images`` (N, C, H, W) drawn for ``classes`` (N,) int64 (None for
    an unconditional family): ``fid`` against ``test_stats``, ``classifier_score``,
    ``n_samples``, and ``label_accuracy`` (a conditional family) or ``code_accuracy``
    (InfoGAN's code)."""
    from .. import metrics
    feats, probs = metrics.classifier_outputs(images, classifier)
    result = {"fid": metrics.frechet_distance(*metrics.feature_statistics(feats), *test_stats),
              "classifier_score": metrics.classifier_score_from_probs(probs),
              "n_samples": int(len(images))}
    if getattr(family, "conditional", False):
        result["label_accuracy"] = float((probs.argmax(1) == classes).mean())
    elif classes is not None:
        result["code_accuracy"] = metrics.best_mapping_accuracy(classes, probs.argmax(1),
                                                                 num_classes(family))[0]
    return result


def evaluate_run(folder, n: int = 10_000, seed: int = 0, device="cpu", classifier=None,
                 log: bool = True, reference: bool = False, **options) -> dict:
    """FID, classifier score, the class accuracies that apply and the kind's own figures of
    ``n`` samples of a run's latest checkpoint.

    ``folder`` may be ``"pretrained:NAME"`` (a model shipped with tinygan) or an ``.npz``
    that ``tinygan export`` wrote (see ``load_run``); neither has a metrics.jsonl, so ``log``
    does nothing there.  ``options`` go to the kind's figures (a VAE's ``iwae_k``).

    Appends ``{"type": "eval", ...}`` to the run's metrics.jsonl when ``log``.  With
    ``reference``, also ``"reference"``: the same figures for real training images (FID of
    ``n`` training images against the test set, classifier score of the test images).
    """
    from .. import metrics
    from .kinds import KINDS        # (kinds.py imports this module: the table is read on use)
    if n < metrics.FEATURE_DIM:
        metrics._check_enough(n, metrics.FEATURE_DIM)        # the error names both numbers
    family, cfg, state = load_run(folder, device)
    check_sample_memory(family, n, extra_per_sample=EVAL_BYTES_PER_SAMPLE)
    kind = KINDS.get(family_entry(family).kind)
    figures = None if kind is None else kind.figures
    dataset = cfg["dataset"]
    clf = classifier if classifier is not None else metrics.load_classifier(dataset)
    test_stats, test_probs = reference_statistics(dataset, clf)

    # The samples first, so they are those of ``tinygan sample RUN --seed SEED``.
    random.manual_seed(seed)
    z, classes = class_noise(family, n, device)
    images = generate(family, z, None if classes is None else Tensor(backend.to_device(classes, device)))
    result: dict = {} if figures is None else dict(figures(family, cfg, device, **options))
    result.update(sample_scores(family, images, classes, clf, test_stats))
    if log and not is_pretrained(folder):   # a read-only run: the result is still returned, with a warning
        Run.open(folder).log_or_warn({"type": "eval", "epoch": state["epoch"], "step": state["step"],
                                      "images": state["images"], **result})
    if reference:
        train = metrics.real_images(dataset, train=True, n=n)
        result["reference"] = {
            "fid": metrics.fid(train, test_stats, clf),
            "classifier_score": metrics.classifier_score_from_probs(test_probs),
            "n_samples": int(min(n, len(train)))}
    return result


def evaluate_vae_run(folder, n: int = 10_000, iwae_k: int = vae.IWAE_K, seed: int = 0, device="cpu",
                     classifier=None, log: bool = True, reference: bool = False) -> dict:
    """``evaluate_run`` of a VAE run with ``iwae_k`` importance samples for its IWAE bound
    (checked before anything is loaded); see ``tinygan.train.vae.evaluation_figures``."""
    vae.check_k(iwae_k, "evaluate_vae_run")
    return evaluate_run(folder, n=n, seed=seed, device=device, classifier=classifier, log=log,
                        reference=reference, iwae_k=iwae_k)


__all__ = ["reference_statistics", "sample_scores", "evaluate_run", "evaluate_vae_run"]
