"""``Module`` and ``Parameter``: how a model finds its own weights.

A model is a tree.  Each node (a :class:`Module`) holds

* parameters — tensors an optimizer updates (:class:`Parameter`),
* buffers — state that is saved but not trained (BatchNorm's running mean),
* children — sub-modules, each a tree of its own,

in three ordered dictionaries, ``_parameters``, ``_buffers`` and
``_modules``.  Nobody has to register anything by hand: ``__setattr__``
looks at the type of what is assigned, so ``self.fc = Linear(2, 3)`` files
``fc`` under ``_modules`` and ``self.w = Parameter(...)`` under
``_parameters``, in assignment order.  Everything else follows by walking the
tree in pre-order (a node, then its children): ``parameters()`` for the
optimizer, ``state_dict()`` for checkpoints, ``train()``/``eval()`` for the
mode switch.  A tensor's name is the path to it, ``"0.weight"`` for the
weight of a ``Sequential``'s first child: exactly PyTorch's keys, so a
checkpoint can go from one library to the other.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from itertools import chain

from .. import backend
from ..autograd import Tensor
from ..backend import xp
from ..creation import tensor


class Parameter(Tensor):
    """A tensor that is a trainable weight of a module: it requires grad, and
    assigning it to a module attribute registers it.

    Built from a Tensor it shares that tensor's array and dtype (as PyTorch's
    does); any other data (a list, a host or backend array) is copied as
    :func:`scratchgen.tensor` copies it, floats becoming float32, so the
    result is the same on every backend."""

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = xp.zeros(0, dtype=backend.DEFAULT_FLOAT)
        elif isinstance(data, Tensor):
            data = data.data
        else:
            data = tensor(data).data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns (PyTorch's name and fields)."""

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


def _addindent(text: str, spaces: int) -> str:
    """Indent every line but the first (nested reprs)."""
    return text.replace("\n", "\n" + " " * spaces)


def _as_backend_array(value):
    """A state_dict value (host array, backend array, Tensor) on the backend."""
    if isinstance(value, Tensor):
        return value.data
    return value if backend.is_array(value) else backend.asarray(value)


class Module:
    """Base class of every layer and model: subclasses set attributes in
    ``__init__`` (after ``super().__init__()``) and define ``forward``."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these to exist
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- registration --------------------------------------------------------
    def _registry(self):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 "assigning attributes in __init__")
        return self._parameters, self._buffers, self._modules

    def __setattr__(self, name, value):
        params, buffers, modules = self._registry()
        if isinstance(value, (Parameter, Module)):
            for d in (params, buffers, modules, self.__dict__):
                d.pop(name, None)
            (params if isinstance(value, Parameter) else modules)[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to parameter "
                                f"{name!r} of {type(self).__name__}: wrap it in nn.Parameter "
                                "(or assign to .data to change the values)")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"buffer {name!r} of {type(self).__name__} must be a Tensor "
                                f"or None, got {type(value).__name__}")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} to child module {name!r}")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):  # called only when normal lookup fails
        for registry in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__.get(registry)  # absent while unpickling: no recursion
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for d in self._registry():
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param) -> None:
        """Add a parameter; ``None`` declares a slot that is absent (a layer
        built with ``bias=False``), which the walks skip."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected nn.Parameter or None, "
                            f"got {type(param).__name__}")
        self.__dict__.pop(name, None)
        self._registry()[0][name] = param

    def register_buffer(self, name: str, value) -> None:
        """Add a buffer: saved in ``state_dict`` but not trained."""
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"register_buffer({name!r}): expected a Tensor or None, "
                            f"got {type(value).__name__}")
        self.__dict__.pop(name, None)
        self._registry()[1][name] = value

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): {type(module).__name__} is not a Module")
        self._registry()[2][name] = module

    # -- walking the tree ----------------------------------------------------
    def named_modules(self, memo=None, prefix: str = ""):
        """(path, module) for this module and every descendant, pre-order,
        each module once even if it appears at several places."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, registry, prefix, recurse):
        seen = set()  # a tensor shared by two modules (tied weights) is listed once
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, t in getattr(module, registry).items():
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    yield (f"{path}.{name}" if path else name), t

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, fn):
        """Call ``fn(m)`` on every descendant, then on self (custom init)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- modes and gradients -------------------------------------------------
    def train(self, mode: bool = True):
        """Training mode (dropout drops, batch norm uses batch statistics), or
        evaluation mode with ``mode=False``; applies to all descendants."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        """Freeze (False) or unfreeze every parameter, e.g. the discriminator
        while the generator of a GAN trains."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype):
        """Cast every floating-point parameter and buffer (and its gradient)
        to ``dtype`` in place, and return self: ``model.to("float64")`` for
        a gradient check, as PyTorch's ``.to(torch.float64)``.  Integer
        buffers (counts) keep their type.  The device is not an argument:
        ``SCRATCHGEN_BACKEND`` chooses it for the whole process."""
        try:
            dtype = backend.dtype_of(dtype)
        except TypeError:
            raise TypeError(f"{type(self).__name__}.to({dtype!r}): scratchgen's to() takes a "
                            "floating-point dtype (e.g. 'float64'); the device is chosen for "
                            "the whole process by SCRATCHGEN_BACKEND") from None
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: {dtype} is not a floating-point dtype")
        for t in chain(self.parameters(), self.buffers()):
            if t.dtype.kind == "f":
                t.data = t.data.astype(dtype, copy=False)
                if t.grad is not None:
                    t.grad = Tensor(t.grad.data.astype(dtype))
        return self

    def double(self):
        return self.to("float64")

    def float(self):  # noqa: A003 (PyTorch's name)
        return self.to("float32")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            p.grad = None if set_to_none or p.grad is None else Tensor(xp.zeros_like(p.data))

    # -- checkpoints ---------------------------------------------------------
    def _state_items(self, prefix=""):
        """(key, tensor) in PyTorch's state_dict order: own parameters, own
        buffers, then each child's, recursively."""
        for name, t in chain(self._parameters.items(), self._buffers.items()):
            if t is not None:
                yield prefix + name, t
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_items(f"{prefix}{name}.")

    def state_dict(self) -> OrderedDict:
        """Parameters and buffers by dotted name, as host NumPy copies (later
        training does not change a saved state)."""
        return OrderedDict((k, t.numpy().copy()) for k, t in self._state_items())

    def load_state_dict(self, state_dict, strict: bool = True) -> _IncompatibleKeys:
        """Copy values into the existing parameters and buffers, in place and
        in their own dtype, so an optimizer holding them keeps working.

        A shape mismatch is always an error; missing or unexpected keys are
        errors when ``strict``, and are returned either way.  Nothing is
        copied unless everything checks out."""
        own = OrderedDict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        values = {k: _as_backend_array(v) for k, v in state_dict.items() if k in own}
        errors = [f"size mismatch for {k}: copying a value of shape {tuple(v.shape)} from "
                  f"the state_dict, the shape in the current model is {own[k].shape}"
                  for k, v in values.items() if tuple(v.shape) != own[k].shape]
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: "
                          + ", ".join(map(repr, unexpected)))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for k, v in values.items():
            own[k].data[...] = v  # casts to the destination dtype
        return _IncompatibleKeys(missing, unexpected)

    # -- printing ------------------------------------------------------------
    def extra_repr(self) -> str:
        """The constructor arguments shown inside the parentheses."""
        return ""

    def __repr__(self):
        extra = self.extra_repr().split("\n") if self.extra_repr() else []
        children = [f"({name}): {_addindent(repr(m), 2)}" for name, m in self._modules.items()]
        lines = extra + children
        if len(extra) == 1 and not children:
            return f"{type(self).__name__}({extra[0]})"
        body = "\n  " + "\n  ".join(lines) + "\n" if lines else ""
        return f"{type(self).__name__}({body})"


def check_input(module, x, ndims, layout, axis=None, size=None):
    """Raise a ValueError naming ``module`` unless ``x`` has one of ``ndims``
    dimensions and, if ``axis`` is given, ``size`` entries along it."""
    if x.ndim not in ndims or (axis is not None and x.shape[axis] != size):
        raise ValueError(f"{module!r}: expected input of shape {layout}, got {x.shape}")
