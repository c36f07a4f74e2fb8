"""Translating images with a trained CycleGAN run, and scoring its translations:
``tinygan translate`` and ``tinygan eval`` of kind ``cyclegan``.

``translate_run(run, images, direction)``: images (N, C, 28, 28) in [-1, 1] of the source
domain -> their translations, float32, through G_AB (``"AB"``) or G_BA (``"BA"``).

``evaluate_cyclegan_run(run, n)``: on the first ``n`` test images of each domain
(tinygan/data/domains.py), the three things a translation must do (Zhu et al. 2017, sec. 5.1
scores theirs the same way, with a semantic classifier on the translated photos):

- ``digit_kept_ab``: how often the frozen digit classifier of domain B reads a's label in
  G_AB(a); ``digit_kept_ba`` likewise with domain A's classifier on G_BA(b);
- ``look_ab`` / ``look_ba``: how often the frozen domain classifier (A or B) calls G_AB(a) a
  B and G_BA(b) an A; ``fid_ab`` / ``fid_ba``: the FID of the translations against the
  target domain's test images (``domain_fid``);
- ``cycle_l1_a`` / ``cycle_l1_b``: the mean |G_BA(G_AB(a)) - a| and |G_AB(G_BA(b)) - b| per
  pixel (eq. 2's terms), in the units of images in [-1, 1].

With ``reference`` the same classifiers on the real test images of each domain are given
too (``reference``): the ceiling of the two scores.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from .loop import is_pretrained, load_run, sampling
from .run import Run

BATCH = 500


def _domains():
    from ..data import domains
    return domains


def digit_classifier(domain: str):
    """The frozen digit classifier of ``domain``: MNIST's for A, the restyled digits' for B
    (``tinygan.data.domains.DIGIT_CLASSIFIERS``)."""
    from ..models import pretrained_classifier
    return pretrained_classifier(_domains().DIGIT_CLASSIFIERS[domain])


def domain_classifier():
    """The frozen classifier of the pair: (N, 2) logits, class 0 = A, 1 = B."""
    from ..models import pretrained_domain_classifier
    return pretrained_domain_classifier(_domains().PAIR)


def domain_fid(images, domain: str, split: str = "test") -> float:
    """FID of ``images`` against ``domain``'s ``split`` on that domain's digit classifier
    (``tinygan.metrics.domain_fid``)."""
    from ..metrics import domain_fid as fid
    return float(fid(images, domain, split))


def _predict(model, images: np.ndarray) -> np.ndarray:
    """argmax of ``model``'s outputs on ``images``, in batches, on the model's device."""
    out = []
    device = next((p.device for p in model.parameters()), "cpu")
    was_training = model.training
    model.eval()                                # frozen classifiers: no dropout
    try:
        with no_grad():
            for i in range(0, len(images), BATCH):
                x = Tensor(backend.to_device(np.ascontiguousarray(images[i:i + BATCH]), device))
                out.append(np.asarray(backend.to_device(model(x).data, "cpu")).argmax(1))
    finally:
        model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def check_images(images, family, what: str) -> np.ndarray:
    """``images`` as float32 (N, *family.image_shape) in [-1, 1], or a ValueError naming
    ``what`` and what is wrong."""
    arr = np.asarray(images)
    shape = tuple(family.image_shape)
    if arr.ndim != 4 or tuple(arr.shape[1:]) != shape or len(arr) == 0:
        raise ValueError(f"{what}: images must have shape (N, {', '.join(map(str, shape))}) "
                         f"with N >= 1, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{what}: images must be floating point in [-1, 1], got {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: images hold {int((~np.isfinite(arr)).sum())} values that are "
                         "not finite (NaN or inf)")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1 or hi > 1:
        raise ValueError(f"{what}: images must be in [-1, 1] (tinygan's range; (x / 255) * 2 - 1 "
                         f"from bytes), got values in [{lo:g}, {hi:g}]")
    return arr.astype(np.float32, copy=False)


def translate(family, images: np.ndarray, direction: str, device="cpu") -> np.ndarray:
    """``images`` (N, C, 28, 28) through ``family.generator(direction)``, in batches: float32."""
    G = family.generator(direction)
    out = np.empty_like(images, dtype=np.float32)
    with sampling(family):
        for i in range(0, len(images), BATCH):
            x = Tensor(backend.to_device(np.ascontiguousarray(images[i:i + BATCH]), device))
            out[i:i + BATCH] = np.asarray(backend.to_device(G(x).data, "cpu"))
    return out


def _cyclegan_family(folder, device):
    family, cfg, state = load_run(folder, device)
    if not hasattr(family, "generator") or not hasattr(family, "G_AB"):
        raise ValueError(f"{folder} is a {cfg.get('model')} run; only a CycleGAN run translates "
                         "images (tinygan train cyclegan)")
    return family, cfg, state


def translate_run(folder, images, direction: str, device="cpu") -> np.ndarray:
    """The translations of ``images`` by the run's G_AB (``"AB"``) or G_BA (``"BA"``)."""
    if direction not in ("AB", "BA"):
        raise ValueError(f"--direction must be AB or BA, got {direction!r}")
    family, _, _ = _cyclegan_family(folder, device)
    return translate(family, check_images(images, family, "translate"), direction, device)


def evaluate_cyclegan_run(folder, n: int = 10_000, seed: int = 0, device="cpu",
                          log: bool = True, reference: bool = False) -> dict:
    """The figures of the module docstring on the first ``n`` test images of each domain.
    ``seed`` is unused (nothing is drawn); it is taken as every kind's evaluation takes it."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a whole number >= 1, got {n!r}")
    family, cfg, state = _cyclegan_family(folder, device)
    data = _domains()
    a, ya = data.load_domain("A", "test")
    b, yb = data.load_domain("B", "test")
    a, ya, b, yb = a[:n], ya[:n], b[:n], yb[:n]
    fake_b, fake_a = translate(family, a, "AB", device), translate(family, b, "BA", device)
    rec_a, rec_b = translate(family, fake_b, "BA", device), translate(family, fake_a, "AB", device)
    clf_a, clf_b, dom = digit_classifier("A"), digit_classifier("B"), domain_classifier()
    result = {
        "digit_kept_ab": float((_predict(clf_b, fake_b) == ya).mean()),
        "digit_kept_ba": float((_predict(clf_a, fake_a) == yb).mean()),
        "look_ab": float((_predict(dom, fake_b) == 1).mean()),
        "look_ba": float((_predict(dom, fake_a) == 0).mean()),
        "fid_ab": domain_fid(fake_b, "B"),
        "fid_ba": domain_fid(fake_a, "A"),
        "cycle_l1_a": float(np.abs(rec_a - a).mean()),
        "cycle_l1_b": float(np.abs(rec_b - b).mean()),
        "n_a": int(len(a)), "n_b": int(len(b)),
    }
    if log and not is_pretrained(folder):      # an exported model has no run folder to log in
        Run.open(folder).log_or_warn({"type": "eval", "epoch": state["epoch"],
                                      "step": state["step"], "images": state["images"], **result})
    if reference:
        result["reference"] = {
            "digit_a": float((_predict(clf_a, a) == ya).mean()),
            "digit_b": float((_predict(clf_b, b) == yb).mean()),
            "look_a": float((_predict(dom, a) == 0).mean()),
            "look_b": float((_predict(dom, b) == 1).mean())}
    return result




# ----------------------------------------------------------------------------
# tinygan translate RUN --direction AB|BA --in FILE.npz --out FILE.npz
# ----------------------------------------------------------------------------
def configure_translate(parser) -> None:
    """The arguments of ``tinygan translate`` (a ``Command`` of kind cyclegan)."""
    parser.add_argument("run", help="a CycleGAN run folder (its latest checkpoint), "
                        "pretrained:cyclegan (the model shipped with tinygan) or an .npz "
                        "written by `tinygan export`")
    parser.add_argument("--direction", required=True, choices=["AB", "BA"],
                        help="AB: G_AB, domain A to B; BA: G_BA, B to A")
    parser.add_argument("--in", dest="input", required=True, metavar="FILE.npz",
                        help="an .npz whose 'images' are float32 (N, 1, 28, 28) in [-1, 1] of "
                        "the source domain (other arrays, such as 'labels', are copied along)")
    parser.add_argument("--out", required=True, help="the .npz to write: 'images' translated; "
                        "or a .png: the images above their translations, ten to a row")
    parser.add_argument("--force", action="store_true", help="write over --out if it exists")
    parser.add_argument("--device", default="cpu")


def read_images(path) -> dict:
    """The arrays of the .npz ``path`` (loaded without pickle); ValueError if it has no
    ``images``."""
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError) as exc:
        raise ValueError(f"--in {path}: not a readable .npz without pickled objects ({exc})") \
            from None
    if "images" not in arrays:
        raise ValueError(f"--in {path}: it has no 'images' array (it has "
                         f"{', '.join(arrays) or 'none'})")
    return arrays


def run_translate(args, out) -> str:
    """``tinygan translate``: read ``--in``, translate its images, write ``out`` atomically."""
    from ..atomic import atomic_write
    arrays = read_images(args.input)
    family, _, _ = _cyclegan_family(args.run, args.device)
    images = check_images(arrays["images"], family, f"translate --in {args.input}")
    arrays["images"] = translate(family, images, args.direction, args.device)
    a, b = args.direction
    if out.suffix == ".png":
        _pairs_picture(out, images, arrays["images"], f"{args.run}, {a} -> {b}: the images "
                       f"(rows 1, 3, ...) above their translations")
        return f"wrote a picture of {len(images)} images and their translations {a} -> {b} to {out}"
    atomic_write(out, lambda f: np.savez(f, **arrays))
    return f"wrote {len(images)} images translated {a} -> {b} to {out} ({', '.join(arrays)})"


def _pairs_picture(path, sources, translated, title: str, per_row: int = 10) -> None:
    """Ten sources to a row, each row followed by their translations, as one PNG (atomically)."""
    from .. import viz
    n = len(sources)
    per_row = min(per_row, n)
    rows = []
    for i in range(0, n, per_row):
        for part in (sources[i:i + per_row], translated[i:i + per_row]):
            blank = np.full((per_row - len(part),) + part.shape[1:], 1.0, np.float32)  # as the padding
            rows.append(np.concatenate([np.asarray(part, np.float32), blank]))
    viz.save_image_grid(np.concatenate(rows), path, nrow=per_row, title=title)


__all__ = ["translate_run", "translate", "evaluate_cyclegan_run", "check_images", "read_images",
           "configure_translate", "run_translate", "digit_classifier", "domain_classifier",
           "domain_fid"]
