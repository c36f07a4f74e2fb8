"""Training: run folders, progress bars and the recipes behind ``tinygan train``.

loop.py is the one training loop every kind of model shares (run folder, logs, checkpoints,
bit-exact resume, the NaN stop, Ctrl-C, the EMA); kinds.py is the table of the kinds of
training step (``KINDS``: "gan" -> gan.py, "vae" -> vae.py), each with its Stepper, its
trainer, its command-line options and its evaluation figures; evaluate.py scores a run of
any kind; export.py writes a run's sampling weights; settings.py holds fast mode;
classifier.py is the recipe of the frozen classifier.

The contract of a kind (``kinds.Kind``; tinygan/models/__init__.py has a family's):

- a ``Stepper`` (loop.py): its optimizers, built in ``__init__(family, cfg)``; ``step(x, y,
  check) -> (logged floats, stepped)``, which shows every loss to ``check`` before its
  backward; ``state_dict``/``load_state_dict`` of its optimizers and counters (for bit-exact
  resume); and, if it likes, ``curve_keys``, ``summary_keys``, ``postfix``,
  ``epoch_values``, ``pictures``;
- ``train(model_name, *, dataset, out, epochs, batch_size, seed, device, resume, force,
  ema, progress, max_steps, **options)``: builds the family from its registry entry, the
  data in the entry's ``data_shape``, the Stepper and the ``Run``, and calls ``loop.fit``;
- ``options``: its command-line options (``options.Option``: flag, dest, type, help,
  default), which ``tinygan train`` adds and passes to ``train``; optionally ``evaluate``,
  ``eval_options`` and ``figures`` for ``tinygan eval``, ``pictures`` for the last line of
  ``tinygan train``.

Adding a family = one model file + one registry entry; adding a kind of training = one
Stepper module + one Kind entry.  Nothing else changes: the command line, sampling and
evaluation read the two tables.
"""
from .classifier import accuracy, load_classifier_weights, train_classifier
from .evaluate import evaluate_run, evaluate_vae_run
from .export import export_run
from .gan import train_gan
from .kinds import KINDS, Kind
from .loop import Stepper, fit, load_run, sample_run
from .options import Option
from .run import Run
from .settings import fast_mode
from .vae import train_vae

__all__ = ["Run", "accuracy", "fast_mode", "load_classifier_weights", "train_classifier",
           "train_gan", "train_vae", "load_run", "sample_run", "evaluate_run", "evaluate_vae_run",
           "export_run", "KINDS", "Kind", "Option", "Stepper", "fit"]
