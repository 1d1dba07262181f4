"""Reverse-mode automatic differentiation: ``Tensor``, ``Function`` and the
backward pass.

The idea in five lines
----------------------
Every operation ``y = f(x1, ..., xk)`` on tensors is a :class:`Function`.
Calling it computes ``y`` from raw arrays (``forward``) and, when gradients
are wanted, remembers its inputs: the tensors and the functions that made
them form a directed acyclic graph, built on the fly as the program runs.
``loss.backward()`` walks that graph from the loss back to the leaves and
applies the chain rule at every node::

    dL/dx_i = sum over consumers f of x_i:  f.backward(dL/dy)[i]

``backward`` receives ``dL/dy`` and returns one ``dL/dx_i`` per input.  It is
written with the *same differentiable tensor operations* as user code (not
with raw arrays), so when ``create_graph=True`` the backward pass itself
builds a graph and can be differentiated again: second derivatives, and
gradient penalties such as WGAN-GP's, come for free.

Engineering choices, each for a reason:

* The graph walk is iterative (an explicit stack), so a chain of 20,000 ops
  does not hit Python's recursion limit.
* A function holds its inputs strongly and its outputs only through weak
  references, so there is no reference cycle: a graph is freed the moment the
  last tensor pointing into it goes away.
* After ``backward`` (unless ``retain_graph``) each function drops its inputs,
  so the activations it kept alive are freed before the next training step.
* Gradients of non-leaf tensors are accumulated in a dictionary during the
  walk and discarded; only leaves (parameters, inputs) get ``.grad``, as in
  PyTorch (and tensors that asked with ``retain_grad()``).
* Each leaf owns its ``.grad``: a writable array that no other tensor
  shares.  The walk passes arrays along without copying (the gradient of a
  sum is a read-only broadcast view; both inputs of an addition receive the
  same array), so at the end a gradient that is read-only or already given
  to another tensor is copied, once.
* In-place writes (``t[i] = v``, ``t.zero_()``) bump a version counter;
  every function remembers its inputs' versions, and backward refuses to
  use an input that was changed since (PyTorch's rule), instead of
  differentiating silently with the wrong values.
"""
from __future__ import annotations

import contextlib
import weakref

from . import backend
from .backend import xp


class _Config:
    grad_enabled = True   # record graphs?
    anomaly = False       # check every forward and backward for NaN/Inf?


@contextlib.contextmanager
def _set_grad_enabled(mode: bool):
    previous, _Config.grad_enabled = _Config.grad_enabled, mode
    try:
        yield
    finally:
        _Config.grad_enabled = previous


def no_grad():
    """Context manager: operations inside record no graph (inference, updates)."""
    return _set_grad_enabled(False)


def enable_grad():
    """Context manager: record graphs again, e.g. inside a ``no_grad`` block."""
    return _set_grad_enabled(True)


def is_grad_enabled() -> bool:
    return _Config.grad_enabled


@contextlib.contextmanager
def detect_anomaly():
    """Raise at the first operation whose forward *or* backward produces
    NaN or Inf, naming it and its input shapes.  (PyTorch's version watches
    only backward.)  Costs one ``isfinite`` check per op: for debugging."""
    previous, _Config.anomaly = _Config.anomaly, True
    try:
        yield
    finally:
        _Config.anomaly = previous


def _is_float(dtype) -> bool:
    return backend.dtype_of(dtype).kind in "fc"


class Tensor:
    """An array that remembers how it was computed.

    ``data`` is the backend array (NumPy or CuPy); ``grad`` is a Tensor (or
    None) filled by ``backward``; ``creator`` is the :class:`Function` that
    produced this tensor (None for leaves).
    """

    # Make NumPy defer to Tensor's reflected operators: ndarray + Tensor
    # calls Tensor.__radd__ instead of treating the Tensor as an object.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False):
        if backend.NAME == "numpy" and isinstance(data, xp.generic):
            data = xp.asarray(data)  # NumPy's 0-d arithmetic returns scalars, not arrays
        if not backend.is_array(data):
            raise TypeError(
                f"Tensor data must be a {backend.NAME} array, got {type(data).__module__}."
                f"{type(data).__name__}; build tensors with sg.tensor(...), which "
                "converts host data to the active backend."
            )
        self.data = data
        self.grad = None
        self.creator = None
        self.requires_grad = requires_grad

    # -- attributes -----------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool):
        if value and not _is_float(self.data.dtype):
            raise TypeError(
                f"only floating-point tensors can require gradients; this one is "
                f"{self.data.dtype}. Convert it first, e.g. sg.tensor(x, dtype='float32')."
            )
        self._requires_grad = bool(value)

    shape = property(lambda self: tuple(self.data.shape))
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: backend.dtype_of(self.data.dtype))
    size = property(lambda self: int(self.data.size))
    is_leaf = property(lambda self: self.creator is None)

    _version = 0        # bumped by every in-place write (see the module docstring)
    _hooks = None       # functions register_hook added, called on this tensor's gradient
    _retains_grad = False

    def __len__(self):
        return len(self.data)

    # -- Python scalars: only a one-element tensor has one ---------------
    def _scalar(self, what):
        if self.size != 1:
            raise RuntimeError(
                f"{what} of a tensor with {self.size} values (shape {self.shape}) is ambiguous; "
                "reduce it first (e.g. `if t.max() > 0:`) or look at the values with t.numpy()")
        return self.data.reshape(()).item()

    def __bool__(self):
        return bool(self._scalar("the truth value"))

    def __float__(self):
        return float(self._scalar("float()"))

    def __int__(self):
        return int(self._scalar("int()"))

    def __format__(self, spec):
        """A 0-d tensor formats as its number (``f"{loss:.3f}"``), as in PyTorch."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    def __repr__(self):
        body = repr(self.numpy()).replace("array(", "tensor(").replace("\n", "\n ")
        grad = ", requires_grad=True" if self.requires_grad else ""
        return body[:-1] + grad + ")" if body.endswith(")") else body

    def numpy(self):
        """The values as a host ``numpy.ndarray`` (a copy on the GPU)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().item()

    def detach(self) -> "Tensor":
        """The same values, cut off from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set ``requires_grad`` in place (leaves only) and return self."""
        if self.creator is not None and not requires_grad:
            raise RuntimeError(
                "requires_grad_(False) on a tensor computed by the graph: only leaves can "
                "change it; use t.detach() for a copy outside the graph")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward
        (leaves keep theirs anyway)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad: "
                               "nothing will flow into it")
        if self.creator is not None:
            self._retains_grad = True

    def register_hook(self, hook):
        """Call ``hook(grad)`` each time the gradient with respect to this
        tensor is computed; a returned Tensor replaces the gradient (e.g. to
        clip it).  Returns a handle whose ``remove()`` takes the hook off."""
        if not self.requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad: "
                               "no gradient will ever reach the hook")
        if self._hooks is None:
            self._hooks = {}
        handle = _HookHandle(self._hooks)
        self._hooks[handle.id] = hook
        return handle

    # -- in-place writes: outside the graph only --------------------------
    def _check_in_place(self, what):
        if self.requires_grad and _Config.grad_enabled:
            if self.creator is None:
                raise RuntimeError(
                    f"{what}: a leaf tensor that requires grad cannot be changed in place "
                    "while gradients are recorded (the change would not be differentiated); "
                    "wrap the update in `with sg.no_grad():`, or write t.data[...] directly")
            raise RuntimeError(
                f"{what}: in-place writes into a tensor computed by the graph are not "
                "differentiated in scratchgen (a deliberate difference from PyTorch); build "
                "the new tensor out of place, e.g. with sg.where(mask, new, t) or concatenate")
        self._version += 1

    def __setitem__(self, index, value):
        self._check_in_place("t[...] = value")
        value = value.data if isinstance(value, Tensor) else value
        self.data[as_index(index)] = value

    def zero_(self) -> "Tensor":
        """Fill with zeros in place (e.g. ``p.grad.zero_()``) and return self."""
        self._check_in_place("zero_()")
        self.data[...] = 0
        return self


class _HookHandle:
    """What ``register_hook`` returns: ``remove()`` takes the hook off."""
    _next_id = 0

    def __init__(self, hooks):
        self.hooks, self.id = hooks, _HookHandle._next_id
        _HookHandle._next_id += 1

    def remove(self):
        self.hooks.pop(self.id, None)


class Function:
    """One differentiable operation.

    Subclasses define ``forward(*arrays) -> array(s)`` on raw backend arrays
    and ``backward(*grads) -> grad(s)`` with Tensor operations.  Inside
    ``backward``, ``self.inputs`` are the input tensors, ``self.output`` the
    (single) output tensor, and ``self.needs_input_grad[i]`` says whether
    input ``i`` needs a gradient at all (return None to skip its work).
    """

    inputs = ()

    def __call__(self, *inputs):
        inputs = [as_tensor(x) for x in inputs]
        arrays = [x.data for x in inputs]
        try:
            ys = self.forward(*arrays)
        except ValueError as exc:  # e.g. shapes that do not broadcast
            raise ValueError(f"{self.name}: {exc}; input shapes "
                             f"{', '.join(str(x.shape) for x in inputs)}") from None
        single = not isinstance(ys, tuple)
        outputs = [Tensor(y) for y in ((ys,) if single else ys)]
        if _Config.anomaly:
            _check_finite(self.name, "forward", [o.data for o in outputs], inputs)
        if _Config.grad_enabled:
            needs = [x.requires_grad for x in inputs]
            if any(needs):
                self.inputs, self.needs_input_grad = inputs, needs
                self.versions = [x._version for x in inputs]
                self.outputs = [weakref.ref(o) for o in outputs]
                for o in outputs:
                    o.creator = self
                    o.requires_grad = True
        return outputs[0] if single else outputs

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def output(self) -> Tensor:
        return self.outputs[0]()

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grads):
        raise NotImplementedError


def _check_finite(name, phase, arrays, inputs):
    for a in arrays:
        if a is not None and _is_float(a.dtype) and not bool(xp.isfinite(a).all()):
            shapes = ", ".join(str(x.shape) for x in inputs)
            raise FloatingPointError(
                f"detect_anomaly: the {phase} of {name} produced NaN or Inf "
                f"(input shapes: {shapes})."
            )


class Cast(Function):
    """A dtype change; the gradient is cast back to the input's dtype.

    Defined here, not with the other ops, because the engine itself needs
    it: an input that was promoted (float32 times float64) gets its
    gradient back in its own dtype."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return astype(gy, self.inputs[0].dtype)


def astype(x, dtype):
    dtype = backend.dtype_of(dtype)
    return x if x.dtype == dtype else Cast(dtype)(x)


def as_index(index):
    """Tensor indices become backend arrays; lists become integer arrays."""
    if isinstance(index, tuple):
        return tuple(as_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return backend.asarray(index)
    return index


def as_tensor(value, like=None) -> Tensor:
    """Wrap a number or backend array as a constant tensor.

    A Python number takes the dtype NumPy's promotion rules give it next to
    ``like`` (a float32 tensor times 0.5 stays float32)."""
    if isinstance(value, Tensor):
        return value
    if backend.is_array(value):
        return Tensor(value)
    if isinstance(value, (int, float, bool)):
        dtype = xp.result_type(like.data, value) if like is not None else None
        return Tensor(backend.asarray(value, dtype=dtype))
    if hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:  # NumPy scalar
        return Tensor(backend.asarray(value))
    if backend.NAME != "numpy" and type(value).__module__.startswith("numpy"):
        raise TypeError(
            f"cannot mix a host numpy.ndarray with {backend.NAME} tensors (CuPy refuses "
            "implicit host-to-device copies); convert it once with sg.tensor(array)."
        )
    if backend.NAME == "numpy" and hasattr(value, "__array__") and hasattr(value, "shape"):
        return Tensor(backend.asarray(value))
    raise TypeError(f"expected a Tensor, array or number, got {type(value).__name__}")
