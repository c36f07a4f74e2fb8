"""Learning-rate schedules, shaped like ``torch.optim.lr_scheduler``.

A scheduler rewrites ``group["lr"]`` of its optimizer's parameter groups.  Call
``scheduler.step()`` once per epoch (or per iteration), *after* ``optimizer.step()``::

    opt = Adam(model.parameters(), lr=2e-4)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)
        sched.step()

PyTorch's bookkeeping, which a resumed run relies on:

* ``last_epoch`` counts the calls to ``step()``; constructing a scheduler calls ``step()``
  once, so right after construction ``last_epoch == 0`` and the lr is the schedule's value
  at epoch 0 (LinearLR starts at ``start_factor * lr`` at once);
* each group remembers its starting rate as ``group["initial_lr"]`` (``base_lrs``); passing
  ``last_epoch=N`` to resume needs it there (it travels in the optimizer's state_dict);
* ``get_lr()`` is PyTorch's *chainable* form: it computes the next rate from the current
  ``group["lr"]``, so two schedulers on one optimizer compose.  Each class also gives its
  closed form, ``_get_closed_form_lr()``, which the tests check against.

Resuming: constructing a scheduler rewrites ``group["lr"]``, so build the optimizer and the
scheduler first, then load both state dicts (the optimizer's restores the saved lrs and
``initial_lr``, the scheduler's its ``last_epoch``).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from .optimizer import Optimizer, _to_python


class LRScheduler:
    """Base class: subclasses define ``get_lr()`` (the lrs for the epoch ``self.last_epoch``).

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: the index of the last epoch done; -1 (default) starts a new schedule.
    """

    # Attributes that are not state (the optimizer, functions): left out of state_dict.
    _not_state: tuple[str, ...] = ("optimizer",)

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: {type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param 'initial_lr' is not specified in "
                        f"param_groups[{i}] when resuming a scheduler with last_epoch >= 0; load the "
                        "optimizer's state_dict (which holds it) before creating the scheduler"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._is_initial = True          # the step() below, from the constructor
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each group for epoch ``last_epoch`` (call ``get_last_lr`` to read it)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance the schedule by one epoch and write the new rates into the optimizer."""
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer (and, for LambdaLR, the functions): plain numbers and lists."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k not in self._not_state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (also after a trip through JSON or ``.npz``)."""
        name = type(self).__name__
        unknown = sorted(set(state_dict) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unexpected key(s) {unknown}; is this the state "
                             f"of a different scheduler?")
        n = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            if key in state_dict and len(state_dict[key]) != n:
                raise ValueError(f"{name}.load_state_dict: '{key}' has {len(state_dict[key])} entries, "
                                 f"but the optimizer has {n} parameter group(s)")
        for key, value in state_dict.items():
            value = _to_python(value)
            setattr(self, key, list(value) if isinstance(value, (list, tuple)) else value)


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch).

    Args:
        optimizer: the optimizer.
        lr_lambda: a function of the epoch (an int) giving a factor, or a list of such
            functions, one per parameter group.  A warm-up is ``lambda e: min(1.0, (e + 1) / 100)``.
        last_epoch: see ``LRScheduler``.

    The functions are not part of ``state_dict`` (they can't go into a checkpoint); give the
    same ones to the scheduler you load into.
    """

    _not_state = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer: Optimizer,
                 lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: expected {n} lr_lambdas (one per parameter group), "
                                 f"but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    _get_closed_form_lr = get_lr


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs: lr = initial_lr * gamma ** (epoch // step_size).

    Args:
        optimizer: the optimizer.
        step_size: the period of the decay, in epochs.
        gamma: the factor of each decay.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # Chainable: decay the current rate at each multiple of step_size.
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class LinearLR(LRScheduler):
    """Ramp the lr's factor linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs:

        lr = initial_lr * (start_factor + (end_factor - start_factor) * min(epoch, total_iters) / total_iters)

    then hold it.  With the defaults it is a warm-up from lr/3 to lr over 5 epochs.

    Args:
        optimizer: the optimizer.
        start_factor: the factor at epoch 0, in (0, 1].
        end_factor: the factor from epoch ``total_iters`` on, in [0, 1].
        total_iters: the length of the ramp, in epochs.
        last_epoch: see ``LRScheduler``.
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError("LinearLR: start_factor must be greater than 0 and at most 1")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError("LinearLR: end_factor must be between 0 and 1")
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        # Chainable: the ratio of consecutive factors,
        #   f(e) / f(e-1) = 1 + (end - start) / (total * start + (e - 1) * (end - start)).
        if self.last_epoch == 0:
            return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return [group["lr"] for group in self.optimizer.param_groups]
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_epoch - 1) * delta)
        return [group["lr"] * ratio for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        factor = (self.start_factor + (self.end_factor - self.start_factor)
                  * min(self.total_iters, self.last_epoch) / self.total_iters)
        return [base_lr * factor for base_lr in self.base_lrs]
