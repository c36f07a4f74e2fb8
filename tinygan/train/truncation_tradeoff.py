"""BigGAN's quality-diversity trade-off (Brock et al. 2019, sec. 3.1, Fig. 4 (a)): FID and the
classifier score of the same samples truncated at falling thresholds.

Truncating z (every entry with |z_i| > t resampled) keeps G's input near the mode of N(0, I),
where G was trained most: each sample gets cleaner -- the classifier is surer of its class,
and the label accuracy rises -- but the samples grow alike.  The classifier score rewards the
first and, through p(y), only the spread over the classes, so it keeps rising as t falls; FID
compares the whole feature distribution with the real one's, so it first falls (the cleaner
samples) and then rises again as the variety within each class vanishes.  The paper draws
this as a curve of FID against the Inception Score, one point per threshold; here the frozen
MNIST classifier of ``tinygan.metrics`` stands in for Inception, as in ``tinygan eval``.

``truncation_tradeoff`` scores a run (or a family) at each threshold exactly as
``tinygan eval`` scores it (the same classifier, the same test statistics, the same n seeded
samples: threshold None is the plain evaluation, number for number), and the samples at a
threshold t are those of ``tinygan sample RUN --truncation t`` with the same seed.
``tinygan eval RUN --truncation-sweep`` (``evaluate_biggan_run``) adds the sweep to the plain
evaluation, logs it and draws the curve as truncation_tradeoff.png.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import backend, random
from ..autograd import Tensor
from ..viz import plot_tradeoff
from .biggan_pictures import THRESHOLDS
from .evaluate import evaluate_run, reference_statistics, sample_scores
from .loop import (EVAL_BYTES_PER_SAMPLE, check_sample_memory, class_noise, generate,
                   is_pretrained, load_run, run_config, truncation_kind)
from .run import Run

PLOT = "truncation_tradeoff.png"


def _check_thresholds(thresholds) -> list:
    """The thresholds from the loosest to the tightest (None, no truncation, first); each
    None or a finite number > 0, none twice."""
    op = "truncation_tradeoff"
    thresholds = list(thresholds)
    if not thresholds:
        raise ValueError(f"{op}: give at least one threshold")
    for t in thresholds:
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float, np.number))
                              or not math.isfinite(t) or not t > 0):
            raise ValueError(f"{op}: a threshold is None (no truncation) or a finite number "
                             f"> 0, got {t!r} in {thresholds}")
    keys = [math.inf if t is None else float(t) for t in thresholds]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{op}: a threshold is given twice in {thresholds}")
    return [None if k == math.inf else k for k in sorted(keys, reverse=True)]


def truncation_tradeoff(folder_or_family, thresholds=THRESHOLDS, n: int = 10_000, seed: int = 0,
                        device="cpu", classifier=None, dataset: str | None = None) -> list:
    """FID, classifier score and label accuracy of ``n`` samples at each truncation threshold.

    Args:
        folder_or_family: a BigGAN run folder (or ``"pretrained:NAME"``, an exported ``.npz``),
            loaded on ``device`` with its EMA's weights as ``tinygan eval`` does; or a family
            with threshold truncation itself (used where it is, as it is).
        thresholds: numbers > 0, and None for no truncation; scored from the loosest to the
            tightest (None first), the order of the returned list.
        n: samples per threshold (at least 128, the classifier's feature size; FIDs compare
            only at the same n).
        seed: the samples' seed, as ``tinygan eval --seed`` / ``tinygan sample --seed``.
        classifier: the frozen classifier (default the dataset's).
        dataset: the real data of the FID; default the run's (a family: "mnist").

    Returns: one dict per threshold, ``{"truncation": t, "fid", "classifier_score",
    "n_samples", "label_accuracy"}``: the same z's and labels at every threshold, each time
    with the entries beyond t resampled from the same state of the generator.  tinygan's
    generator is put back as it was.
    """
    # tinygan's generator is put back after (building the classifier draws its initial
    # weights, the samples their z's), so a sweep in a notebook leaves its random numbers alone.
    state = random.get_rng_state()
    try:
        return _sweep(folder_or_family, thresholds, n, seed, device, classifier, dataset)
    finally:
        random.set_rng_state(state)


def _sweep(folder_or_family, thresholds, n, seed, device, classifier, dataset) -> list:
    from .. import metrics
    if isinstance(folder_or_family, (str, Path)):
        family, cfg, _ = load_run(folder_or_family, device)
        if dataset is not None and dataset != cfg["dataset"]:
            raise ValueError(f"truncation_tradeoff: {folder_or_family} was trained on "
                             f"{cfg['dataset']!r}; its FID is against that, not {dataset!r}")
        dataset = cfg["dataset"]
    else:
        family, dataset = folder_or_family, dataset or "mnist"
        device = family._device(None)
    if truncation_kind(family) != "threshold":
        raise ValueError(f"truncation_tradeoff: {type(family).__name__} has no threshold on "
                         f"|z| to sweep (BigGAN's truncation; StyleGAN's psi is another trick)")
    thresholds = _check_thresholds(thresholds)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"truncation_tradeoff: n must be a whole number of samples, got {n!r}")
    metrics._check_enough(int(n), metrics.FEATURE_DIM)      # the error names both numbers
    check_sample_memory(family, n, extra_per_sample=EVAL_BYTES_PER_SAMPLE)
    clf = classifier if classifier is not None else metrics.load_classifier(dataset)
    test_stats, _ = reference_statistics(dataset, clf)

    # The draws of ``tinygan eval`` and ``tinygan sample`` with this seed.
    random.manual_seed(seed)
    z, classes = class_noise(family, n, device)
    labels = Tensor(backend.to_device(classes, device))
    points = []
    for t in thresholds:
        # generate puts the generator back after each call: every threshold resamples from
        # the same state, as ``tinygan sample --truncation t`` would.
        images = generate(family, z, labels, **({} if t is None else {"truncation": t}))
        points.append({"truncation": t,
                       **sample_scores(family, images, classes, clf, test_stats)})
    return points


def plot_truncation_tradeoff(points, path, title: str = "") -> Path:
    """FID against the classifier score, one point per threshold, labelled with it."""
    prefix = f"{title}: " if title else ""
    return plot_tradeoff(points, "classifier_score", "fid", "truncation", path,
                         title=f"{prefix}truncation trades variety for quality "
                               f"(n = {points[0]['n_samples']})",
                         xlabel="classifier score (higher: surer, more even classes)",
                         ylabel="FID (lower: closer to the test set)", label_name="t")


def evaluate_biggan_run(folder, n: int = 10_000, seed: int = 0, device="cpu", classifier=None,
                        log: bool = True, reference: bool = False,
                        truncation_sweep: bool = False) -> dict:
    """``tinygan eval`` of a BigGAN run: ``evaluate_run``, and with ``truncation_sweep`` also
    ``"truncation_sweep"``, the points of ``truncation_tradeoff`` at no truncation (the plain
    evaluation's figures) and at ``THRESHOLDS``, and ``"truncation_plot"``, the path of their
    curve: truncation_tradeoff.png in the run folder (for a shipped or exported model, which
    has none, in the current directory).  The sweep is logged to metrics.jsonl as
    ``{"type": "truncation_sweep", ...}`` when ``log``."""
    from .. import metrics
    dataset = run_config(folder)["dataset"]
    clf = classifier if classifier is not None else metrics.load_classifier(dataset)
    result = evaluate_run(folder, n=n, seed=seed, device=device, classifier=clf, log=log,
                          reference=reference)
    if not truncation_sweep:
        return result
    family, cfg, state = load_run(folder, device)
    plain = {"truncation": None, **{k: result[k] for k in
                                    ("fid", "classifier_score", "n_samples", "label_accuracy")}}
    points = [plain] + truncation_tradeoff(family, THRESHOLDS, n=n, seed=seed, classifier=clf,
                                           dataset=dataset)
    pretrained = is_pretrained(folder)
    path = Path(PLOT) if pretrained else Path(folder) / PLOT
    plot_truncation_tradeoff(points, path, title=cfg.get("model", ""))
    if log and not pretrained:
        Run.open(folder).log_or_warn({"type": "truncation_sweep", "epoch": state["epoch"],
                                      "step": state["step"], "images": state["images"],
                                      "points": points})
    result["truncation_sweep"] = points
    result["truncation_plot"] = str(path)
    return result


__all__ = ["truncation_tradeoff", "plot_truncation_tradeoff", "evaluate_biggan_run", "PLOT"]
