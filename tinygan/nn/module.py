"""``Module``: the base class of every layer and model, shaped like ``torch.nn.Module``.

A Module owns three kinds of state, each in its own ordered dict so that the
order of ``parameters()`` (and thus of an optimizer's state) is the order in
which they were assigned in ``__init__``:

* ``_parameters``: Parameters, trained by the optimizer;
* ``_buffers``: Tensors that are state but not trained (BatchNorm's running
  mean and variance); saved in ``state_dict`` unless registered with
  ``persistent=False``;
* ``_modules``: child Modules, which makes a model a tree.

``__setattr__`` sorts assigned values into these dicts, so ``self.fc =
Linear(2, 3)`` is all a model needs to write.  Everything else -- walking the
tree, ``train``/``eval``, ``state_dict``, moving to a device -- is a recursion
over that tree.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Callable, Iterator

import numpy as np

from .. import backend
from ..autograd import Tensor
from .parameter import Parameter, clear_grads

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(s: str, num_spaces: int) -> str:
    """Indent every line of ``s`` but the first (for nested reprs)."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * num_spaces + line for line in lines[1:])


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``handle.remove()`` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


class Module:
    """Base class for layers and models.

    Subclasses call ``super().__init__()`` first, assign Parameters, buffers and
    submodules as attributes, and define ``forward``.  Calling the module runs
    ``forward`` (plus any hooks)::

        class MLP(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(784, 128)    # registered as a submodule
                self.fc2 = nn.Linear(128, 10)

            def forward(self, x):                 # x: (N, 784) -> (N, 10)
                return self.fc2(F.relu(self.fc1(x)))
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ expects these dicts to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    # ------------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f"Module [{type(self).__name__}] is missing the required \"forward\" function")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_pre_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args) -> None or new args`` runs before ``forward``."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """``hook(module, args, output) -> None or new output`` runs after ``forward``."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------------
    # registration
    # ------------------------------------------------------------------------
    def _check_new_name(self, name: str, kind: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "":
            raise KeyError(f"{kind} name can't be empty string \"\"")
        if "." in name:
            raise KeyError(f"{kind} name can't contain \".\", got: {name}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a Parameter (or None: a declared but absent parameter, like ``bias=False``)."""
        self._check_new_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(tinygan.nn.Parameter or None required)"
            )
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"cannot assign non-leaf Tensor to parameter '{name}'")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is not trained (e.g. BatchNorm's ``running_mean``).

        Persistent buffers are part of ``state_dict``; non-persistent ones are not.
        """
        self._check_new_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module (``self.name = module`` does the same for valid identifiers)."""
        self._check_new_name(name, "module")
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        def remove_from(*dicts):
            for d in dicts:
                if name in d:
                    if d is self.__dict__.get("_buffers"):
                        self._non_persistent_buffers_set.discard(name)
                    del d[name]

        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            remove_from(self.__dict__, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(tinygan.nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            remove_from(self.__dict__, self._parameters, self._buffers)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(tinygan.nn.Module or None expected)"
                )
            self._modules[name] = value
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for registered state.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        keys = set(super().__dir__())
        keys.update(self._parameters, self._buffers, self._modules)
        return sorted(keys)

    # ------------------------------------------------------------------------
    # walking the tree
    # ------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, "Module"]]:
        """``(name, module)`` for this module (name ``prefix``) and all below, depth first.

        A module reachable by two paths is listed once (at its first path).
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator["Module"]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        """The direct submodules (each once)."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator["Module"]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, get_members, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in get_members(module):
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` in registration order: ``"0.weight"``, ``"0.bias"``, ...

        A parameter shared by two layers (tied weights) is listed once.
        """
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The submodule at a dotted path, e.g. ``"features.0"``."""
        mod = self
        for item in target.split(".") if target else []:
            if item not in mod._modules or mod._modules[item] is None:
                raise AttributeError(
                    f"{type(mod).__name__} has no submodule `{item}` (path {target!r})")
            mod = mod._modules[item]
        return mod

    def apply(self, fn: Callable[["Module"], None]) -> "Module":
        """Call ``fn`` on every submodule (children first) and on self; e.g. custom init."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------------
    # modes and gradients
    # ------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (``mode=True``) or evaluation mode here and in all submodules.

        It matters for layers that behave differently: Dropout, BatchNorm.
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Freeze (False) or unfreeze every parameter; e.g. D while training G."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter (to None, or to zeros)."""
        clear_grads(self.parameters(), set_to_none)

    # ------------------------------------------------------------------------
    # devices and dtypes
    # ------------------------------------------------------------------------
    def _apply(self, fn: Callable) -> "Module":
        """Replace the array of every parameter, gradient and buffer by ``fn(array)``.

        The Parameter objects stay the same (only their ``.data`` changes), so an
        optimizer built before ``model.to(...)`` still holds the right tensors.
        """
        for module in self.modules():
            for p in module._parameters.values():
                if p is None:
                    continue
                p.data = fn(p.data)
                if p.grad is not None:
                    p.grad = Tensor(fn(p.grad.data))
            for b in module._buffers.values():
                if b is not None:
                    b.data = fn(b.data)
        return self

    def to(self, *args, **kwargs) -> "Module":
        """Move and/or cast parameters and buffers in place; returns self.

        ``to(device)``, ``to(dtype)``, ``to(device, dtype)``, ``to(tensor)`` (its device and
        dtype), or keywords ``device=``, ``dtype=``.  Only floating-point arrays change dtype
        (``num_batches_tracked`` stays int64), as in PyTorch.
        """
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (str, backend.device)):
                device = a
            elif a is not None:
                try:
                    dtype = np.dtype(a)
                except TypeError:
                    raise TypeError(f"to() received an invalid argument {a!r}") from None
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind not in "fc":
                raise TypeError("nn.Module.to only accepts floating point dtypes, "
                                f"but got desired dtype={dtype}")
        if device is not None:
            device = backend.device(device)

        def convert(a):
            if dtype is not None and a.dtype.kind in "fc" and a.dtype != dtype:
                a = a.astype(dtype)
            if device is not None:
                a = backend.to_device(a, device)
            return a

        return self._apply(convert)

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self, device: "int | str | None" = None) -> "Module":
        if device is None:
            return self.to("cuda")
        return self.to(f"cuda:{device}" if isinstance(device, int) else device)

    def float(self) -> "Module":
        return self.to(dtype=np.float32)

    def double(self) -> "Module":
        return self.to(dtype=np.float64)

    def half(self) -> "Module":
        return self.to(dtype=np.float16)

    # ------------------------------------------------------------------------
    # saving and loading
    # ------------------------------------------------------------------------
    def state_dict(self, destination: "OrderedDict | None" = None, prefix: str = "",
                   keep_vars: bool = False) -> "OrderedDict[str, Tensor]":
        """``OrderedDict`` of dotted name -> Tensor for every parameter and persistent buffer.

        The tensors are detached (``keep_vars=True`` gives the Parameters themselves) and share
        their arrays with the model, as in PyTorch: copy them if the model will keep training.
        """
        if destination is None:
            destination = OrderedDict()
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values from ``state_dict`` (Tensors or ndarrays) into the parameters and buffers.

        Everything is checked before anything is copied, so on error the model is unchanged:
        shape mismatches always raise; with ``strict=True`` so do missing and unexpected keys.
        Values are copied in place (cast to each target's dtype and device), so optimizers
        keep pointing at the right Parameters.

        Returns:
            ``(missing_keys, unexpected_keys)`` as a named tuple.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        mismatched, prepared = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, Tensor):
                arr = value.data
            elif isinstance(value, np.ndarray) or backend.is_cupy_array(value):
                arr = value
            else:
                try:
                    arr = np.asarray(value)
                except Exception as exc:  # noqa: BLE001 - reported with the key below
                    mismatched.append(
                        f"bad value for {key}: can't convert a {type(value).__name__} ({exc})")
                    continue
            if tuple(arr.shape) != tuple(target.shape):
                mismatched.append(f"size mismatch for {key}: expected shape {tuple(target.shape)} "
                                  f"(the model's), got {tuple(arr.shape)} from the state_dict")
                continue
            if arr.dtype.kind not in "biuf" and arr.dtype.kind != "c":
                mismatched.append(f"bad value for {key}: can't load values of dtype {arr.dtype}")
                continue
            # Convert now, so that the copying loop below can't fail half-way.
            arr = backend.to_device(arr, target.device).astype(target.dtype, copy=False)
            prepared.append((target, arr))
        errors = []
        def quoted(keys):
            return ", ".join(f'"{k}"' for k in keys) + "."

        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + quoted(missing))
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: " + quoted(unexpected))
        errors += [m + "." for m in mismatched]
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__} (the model was not "
                "changed):\n\t" + "\n\t".join(errors)
            )
        for target, arr in prepared:
            target.data[...] = arr        # in place: same Parameter objects, same arrays
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------------
    # printing
    # ------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The layer's settings shown inside its repr, e.g. ``"in_features=2, out_features=3"``."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        # The same layout as PyTorch's, so printed models look alike in both.
        extra_lines = self.extra_repr().split("\n") if self.extra_repr() else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
