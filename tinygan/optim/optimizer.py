"""``Optimizer``: the base class of SGD, Adam, AdamW and RMSprop, shaped like ``torch.optim.Optimizer``.

An optimizer holds

* ``param_groups``: a list of dicts, each ``{"params": [Tensor, ...], "lr": ..., ...}`` --
  the parameters plus the hyperparameters that apply to them (a GAN's generator
  and discriminator, or a network's body and head, can train at different rates);
* ``defaults``: the hyperparameters a group gets when it does not name them;
* ``state``: per-parameter state (Adam's moment estimates, SGD's momentum buffer),
  ``state[param]`` -> dict of arrays and numbers, created at the parameter's first step.

The loop over parameters is written once, here, in ``step``: it skips parameters
without a gradient and hands each other one to the subclass's ``_update``, which
changes the parameter's array in place (``p -= lr * g``).  So every optimizer file
holds only its update rule, and the rule works on NumPy and CuPy arrays alike.
On a GPU, SGD and Adam first offer a group's parameters to ``_fused_step``, which
updates them all in one kernel launch over a table of pointers (kernels/adam.cu,
kernels/sgd.cu) instead of a few launches per parameter.

``state_dict()`` refers to parameters by their position (0, 1, 2, ... across the
groups, as PyTorch does) and holds only arrays and Python numbers, so it can go
into an ``.npz`` checkpoint; ``load_state_dict`` maps the positions back onto this
optimizer's parameters.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import chain
from typing import Any, Callable, Iterable

import numpy as np

from .. import backend
from ..autograd import Tensor, enable_grad, no_grad
from ..kernels import multi_tensor
from ..nn.parameter import clear_grads


def _is_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) or backend.is_cupy_array(x)


def _to_python(value: Any, like: Any = None) -> Any:
    """A hyperparameter back from a checkpoint: NumPy scalars become Python numbers, a list
    becomes a tuple where the optimizer had a tuple (``betas`` after a trip through JSON).

    This matters for bit-exact resumes: a ``np.float64`` learning rate would promote a
    float32 update to float64 where a Python float keeps it float32.
    """
    if isinstance(value, np.generic) or (_is_array(value) and value.ndim == 0):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_to_python(v) for v in value]
        return tuple(items) if isinstance(like, tuple) or isinstance(value, tuple) else items
    return value


def _copy(value: Any) -> Any:
    """A copy of a state value, so a saved state dict doesn't change as training goes on."""
    if _is_array(value):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class Optimizer:
    """Base class of the optimizers.

    Args:
        params: an iterable of Tensors (``model.parameters()``), or of dicts each defining a
            parameter group: ``[{"params": G.parameters()}, {"params": D.parameters(), "lr": 4e-4}]``.
        defaults: the hyperparameters (and their default values) of the optimizer.

    Subclasses implement ``_update(p, g, state, group)``: change the array ``p`` in place given
    its gradient array ``g`` (never modify ``g``: it may be shared), the parameter's ``state``
    dict (empty at its first step) and its ``group`` dict.
    """

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._tables = multi_tensor.TableCache()     # the fused steps' tables, on a GPU
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or dicts, but got "
                "a single Tensor; wrap it in a list: [tensor]"
            )
        groups = list(params)
        if len(groups) == 0:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (a dict with ``"params"`` and any hyperparameters to override).

        Useful to start training a layer later (fine-tuning, progressive growing).
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("add_param_group: the group has no 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("add_param_group: params must be an ordered collection (a list), not a "
                            "set: the order of a set changes between runs, and state_dict relies on it")
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"add_param_group: the optimizer can only optimize Tensors, but "
                                f"params[{i}] is a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"add_param_group: can't optimize a non-leaf Tensor (params[{i}], "
                                 f"shape {tuple(p.shape)}); optimize the leaf it was computed from")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("add_param_group: a parameter appears twice in the same group")
        for other in self.param_groups:
            if not set(ids).isdisjoint(id(p) for p in other["params"]):
                raise ValueError("add_param_group: some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self.param_groups.append(group)

    # ------------------------------------------------------------------------
    # the training step
    # ------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the previous step (``backward`` adds into ``.grad``).

        With ``set_to_none`` (the default) ``.grad`` becomes None, which also tells ``step``
        to leave the parameter alone; otherwise it becomes zeros.
        """
        clear_grads(chain.from_iterable(g["params"] for g in self.param_groups), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss if given.

        ``closure`` (optional) re-evaluates the model and returns the loss; it runs with
        gradient recording on, before the update.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                items = []
                for param in group["params"]:
                    if param.grad is None:
                        continue
                    p, g = param.data, param.grad.data
                    if g.shape != p.shape:
                        raise RuntimeError(
                            f"{type(self).__name__}.step: a parameter of shape {tuple(p.shape)} has a "
                            f"gradient of shape {tuple(g.shape)}"
                        )
                    if g.dtype != p.dtype:
                        g = g.astype(p.dtype)     # the update keeps the parameter's dtype
                    items.append((param, p, g))
                if items and self._fused_step(items, group):
                    continue
                for param, p, g in items:
                    self._update(p, g, self.state[param], group)
        return loss

    def _update(self, p, g, state: dict, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement _update")

    def _fused_step(self, items: list, group: dict) -> bool:
        """Update every ``(param, p, g)`` of ``items`` (one group's parameters with a gradient)
        at once and return True -- a subclass with a multi-tensor kernel does so in one launch
        on a GPU -- or return False to have ``_update`` called for each.  Default: False."""
        return False

    def _table(self, key, roles: list):
        """The multi-tensor table over ``roles`` (kernels/multi_tensor.py), kept per ``key``
        while its arrays stay where they are."""
        return self._tables.get(key, roles)

    # ------------------------------------------------------------------------
    # saving and loading
    # ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as plain data: ``{"state": {index: {name: array or number}},
        "param_groups": [{"params": [index, ...], "lr": ..., ...}, ...]}``.

        Parameters are numbered in the order of ``param_groups`` (PyTorch's convention). Arrays
        are copies (on the parameters' device), so the dict is a snapshot.
        """
        state: dict[int, dict[str, Any]] = {}
        groups = []
        index = 0
        for group in self.param_groups:
            packed = {k: _copy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                if self.state.get(p):
                    state[index] = {k: _copy(v) for k, v in self.state[p].items()}
                packed["params"].append(index)
                index += 1
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (also one that went through ``.npz`` and JSON: string keys,
        0-d arrays and lists in place of ints, floats and tuples are accepted).

        The groups must match this optimizer's in number and in size; arrays are checked
        against the shapes of the parameters, and moved to their device and dtype.
        """
        name = type(self).__name__
        try:
            saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' "
                             "(as returned by state_dict())") from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter group(s), "
                f"but the optimizer has {len(self.param_groups)}"
            )
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} "
                    f"parameter(s) in the state dict, but {len(group['params'])} in the optimizer"
                )
        index_to_param = {
            int(i): p for i, p in zip(chain.from_iterable(g["params"] for g in saved_groups),
                                      chain.from_iterable(g["params"] for g in self.param_groups))
        }
        state: defaultdict = defaultdict(dict)
        for key, saved in saved_state.items():
            if int(key) not in index_to_param:
                raise ValueError(f"{name}.load_state_dict: the state dict has state for parameter "
                                 f"{key}, which none of its parameter groups lists")
            p = index_to_param[int(key)]
            state[p] = {k: self._load_state_value(k, v, p, key) for k, v in saved.items()}
        groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {k: _to_python(v, like=group.get(k)) for k, v in saved.items() if k != "params"}
            new["params"] = group["params"]
            groups.append(new)
        self.state, self.param_groups = state, groups

    def _load_state_value(self, key: str, value: Any, p: Tensor, index: Any) -> Any:
        if key == "step":                         # a counter, stored as a Python int
            return int(_to_python(value))
        if _is_array(value):
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: state '{key}' of parameter {index} has "
                    f"shape {tuple(value.shape)}, but the parameter has shape {tuple(p.shape)}"
                )
            value = backend.to_device(value, p.device)
            if value.dtype.kind == "f" and p.dtype.kind == "f":
                value = value.astype(p.dtype, copy=False)
            return value.copy()
        return _to_python(value)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
