"""The classifier recipe: ``tinygan train classifier --dataset NAME``.

``NAME`` is one of ``DATASETS``: ``mnist`` and ``fashion-mnist`` (their 10 classes), and two
made from the domain pair ``"mnist-thick"`` of ``tinygan.data.domains``: ``mnist-thick-b``
(digits in domain B's style: all 60,000 training digits restyled, tested on B's 5,000)
and ``mnist-thick-domains`` (both domains, labelled 0 = A, 1 = B, learnt by the narrow
``DomainClassifier``).

Trains ``tinygan.models.Classifier`` (or ``DomainClassifier``) with Adam and a cosine learning-rate
decay, evaluates on the test set after every epoch, checkpoints every epoch
(``--resume`` continues from the last one), and finally writes
``classifier.npz``: the weights plus the test accuracy, the file FID and the
classifier score load as their frozen feature network.
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

from .. import backend, checkpoint, nn, optim, random
from ..autograd import Tensor, no_grad
from ..data import Compose, DataLoader, domains, get_dataset, normalize, to_float
from ..kernels import threads
from ..models.classifier import Classifier
from ..models.domain_classifier import DomainClassifier
from ..viz import plot_curves
from .loop import check_settings, load_weights, restoring_from
from .progress import progress_bar
from .run import Run, warn_if_threads_differ
from .settings import fast_mode

DEFAULTS = dict(epochs=3, batch_size=128, lr=2e-3, weight_decay=1e-4, seed=0)

# --dataset -> the network that learns it (its class's name is the ``arch`` of classifier.npz).
DATASETS = {"mnist": Classifier, "fashion-mnist": Classifier,
            domains.DIGITS_B: Classifier, domains.DOMAIN_LABELS: DomainClassifier}
ARCHS = {cls.__name__: cls for cls in DATASETS.values()}


def _data(dataset: str) -> tuple:
    """``(train_x, train_y, test_x, test_y, transform)`` of ``dataset`` (a key of DATASETS).

    MNIST and Fashion-MNIST come as uint8 pixels (N, 28, 28) which the loader's ``transform``
    turns into [-1, 1] on the batches' device (a quarter of the bytes to copy to a GPU); the
    domain data sets are float32 (N, 1, 28, 28) in [-1, 1] already, ``transform`` None.
    """
    if dataset not in DATASETS:
        raise ValueError(f"train_classifier: unknown data set {dataset!r}; "
                         f"known: {', '.join(DATASETS)}")
    if dataset == domains.DIGITS_B:
        # All 60,000 training digits restyled, not only B's 30,000: the same distribution, and
        # twice the examples.  30,000 (MNIST's odd images restyled) plateaued at 97.7% test
        # accuracy from 3 to 10 epochs; 60,000 reach 98.9% in 5.  Tested on B's test split,
        # which no training image touches.
        return (*domains.restyled_mnist("train"), *domains.load_domain("B", "test"), None)
    if dataset == domains.DOMAIN_LABELS:
        return (*domains.domain_classification_data("train"),
                *domains.domain_classification_data("test"), None)
    train_set, test_set = get_dataset(dataset, train=True), get_dataset(dataset, train=False)
    return (train_set.data, train_set.targets, test_set.data, test_set.targets,
            Compose([to_float, normalize]))


def accuracy(model: Classifier, images, labels, batch_size: int = 1000) -> float:
    """Fraction of ``labels`` (N,) that ``model`` predicts from ``images`` (N, 1, 28, 28) in [-1, 1]."""
    was_training = model.training
    model.eval()
    correct = 0
    with no_grad():
        for a in range(0, len(labels), batch_size):
            logits = model(Tensor(images[a:a + batch_size]))
            pred = backend.to_device(logits.data.argmax(1), "cpu")
            correct += int((pred == backend.to_device(labels[a:a + batch_size], "cpu")).sum())
    model.train(was_training)
    return correct / max(len(labels), 1)


def _prepare(images, device, transform):
    """uint8 (N, 28, 28) (or float32 (N, 1, 28, 28), ``transform`` None) -> float32
    (N, 1, 28, 28) in [-1, 1] on ``device``."""
    images = backend.to_device(images, device)
    return images if transform is None else transform(images)


def train_classifier(dataset: str = "mnist", out: str | os.PathLike | None = None,
                     epochs: int | None = None, batch_size: int | None = None,
                     lr: float | None = None, seed: int | None = None, device=None,
                     resume: bool = False, progress: bool = True, force: bool = False) -> dict:
    """Train the classifier; return ``{"test_accuracy", "epochs", "seconds", "weights"}``.

    As for the GANs and VAEs, every setting is checked and the data read before the run folder
    is written, and a fresh start refuses a folder holding a run's files unless ``force``.
    """
    cfg = dict(DEFAULTS)
    cfg.update({k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed).items()
                if v is not None})
    check_settings(epochs=cfg["epochs"], batch_size=cfg["batch_size"])
    fast = fast_mode()
    cfg.update(model="classifier", dataset=dataset, device=str(backend.device(device or "cpu")),
               fast=fast)
    out = Path(out or f"runs/classifier-{dataset}")
    random.manual_seed(cfg["seed"])

    train_x, train_y, test_x, test_y, transform = _data(dataset)
    if fast:
        train_x, train_y, test_x, test_y = train_x[:1024], train_y[:1024], test_x[:256], test_y[:256]
    dev = cfg["device"]
    loader = DataLoader((train_x, train_y), batch_size=cfg["batch_size"], shuffle=True,
                        drop_last=True, seed=cfg["seed"], device=dev, transform=transform)
    test_images, test_labels = _prepare(test_x, dev, transform), backend.to_device(test_y, dev)
    if len(loader) == 0:
        raise ValueError(f"batch size {cfg['batch_size']} is larger than the {len(train_x)} "
                         f"training images{' of TINYGAN_FAST=1' if fast else ''}")
    run = Run(out, cfg, resume=resume, force=force)     # only now: nothing is left of a failed start

    arch = DATASETS[dataset]
    model = arch().to(dev)
    opt = optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    total = cfg["epochs"] * len(loader)
    # Cosine decay to zero over the whole run (Loshchilov & Hutter 2017, without restarts).
    sched = optim.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0))))
    loss_fn = nn.functional.cross_entropy

    start_epoch, seconds = 1, 0.0
    if resume:
        path = run.latest_path()
        state = None if path is None else checkpoint.load(path)
        if state is not None:
            load_weights(model, state, path, "classifier")
            with restoring_from(path, "can't resume the classifier from it"):
                opt.load_state_dict(state["optimizer"])
                sched.load_state_dict(state["scheduler"])
                loader.load_state_dict(state["loader"])
                random.set_rng_state(state["rng"])
                start_epoch, seconds = state["epoch"] + 1, state["seconds"]
            warn_if_threads_differ(state, path, dev)
            run.truncate(state["epoch"])

    acc = None
    for epoch in range(start_epoch, cfg["epochs"] + 1):
        model.train()
        t0 = time.perf_counter()
        bar = progress_bar(loader, desc=f"epoch {epoch}/{cfg['epochs']}", enabled=progress)
        for i, (x, y) in enumerate(bar):
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if i % 20 == 0:
                value = loss.item()
                if not math.isfinite(value):
                    raise FloatingPointError(f"classifier: loss is {value} at epoch {epoch}, "
                                             f"batch {i}; the last good checkpoint is kept")
                bar.set_postfix(refresh=False, loss=f"{value:.3f}")
                run.log({"epoch": epoch, "step": (epoch - 1) * len(loader) + i, "loss": value})
        seconds += time.perf_counter() - t0
        acc = accuracy(model, test_images, test_labels)
        run.log({"epoch": epoch, "step": epoch * len(loader), "test_accuracy": acc,
                 "seconds": round(seconds, 1)})
        if progress:
            print(f"epoch {epoch}: test accuracy {acc:.4f} ({seconds:.0f} s of training)")
        run.save(epoch, model=model.state_dict(), optimizer=opt.state_dict(),
                 scheduler=sched.state_dict(), loader=loader.state_dict(),
                 rng=random.get_rng_state(), seconds=seconds, config=cfg,
                 num_threads=threads.get_num_threads())     # see warn_if_threads_differ
    if acc is None:   # resumed a finished run
        acc = accuracy(model, test_images, test_labels)
    records = run.records()
    plot_curves(records, ["loss"], out / "losses.png", title=f"classifier on {dataset}")
    weights = checkpoint.save(out / "classifier.npz", model=model.state_dict(),
                              meta=dict(dataset=dataset, test_accuracy=acc, epochs=cfg["epochs"],
                                        seconds=round(seconds, 1), fast=fast, arch=arch.__name__))
    return {"test_accuracy": acc, "epochs": cfg["epochs"], "seconds": seconds, "weights": str(weights)}


def load_classifier_weights(path) -> Classifier:
    """A ``Classifier`` (or ``DomainClassifier``, as its metadata's ``arch`` says) in eval mode
    with the weights of a ``classifier.npz`` file."""
    state = checkpoint.load(path)
    arch = (state.get("meta") or {}).get("arch", "Classifier")
    model = ARCHS.get(arch, Classifier)()
    load_weights(model, state, path, "classifier")
    return model.eval()


__all__ = ["DATASETS", "accuracy", "train_classifier", "load_classifier_weights", "fast_mode"]
