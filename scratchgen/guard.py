"""The ``numpy-guard`` backend: NumPy on the CPU that refuses what CuPy refuses.

Code that runs on NumPy can still fail on a GPU, because a CuPy array lives in
device memory and will not turn into a host array behind your back.  This
backend lets the CPU test suite find those bugs.  Arrays are
:class:`GuardArray` objects, a thin *wrapper* around a private
``numpy.ndarray`` (a subclass could not stop ``np.asarray`` from seeing its
data), and :data:`xp` is a stand-in for the ``numpy`` module that unwraps the
arguments, calls NumPy and wraps the result.

What it catches (each is a ``TypeError`` that says what to write instead):

* implicit conversion to host: ``np.asarray(a)``, ``np.array(a)``, a NumPy
  function or ufunc given a backend array (``np.exp(a)``,
  ``np.concatenate([a, b])``), ``float(a)`` or ``if a:`` on an array with more
  than one element;
* mixing with host arrays: ``a + np.ones(3)``, ``np.ones(3) * a``,
  ``xp.concatenate([a, host])``, ``a[:] = host``, or a Python list as an operand.
  Python numbers, NumPy scalars and 0-d arrays are fine, as in CuPy; so is
  ``xp.asarray(host)``, which is CuPy's explicit host-to-device copy;
* code that expects a NumPy scalar: reductions and ``a[i]`` give 0-d arrays,
  as CuPy does, so ``range(a.sum())`` or ``my_list[a.argmax()]`` fail here too.

What it cannot catch: functions or keyword arguments that NumPy has and CuPy
lacks; dtype differences (NumPy's rules are used throughout); performance
pitfalls such as Python loops over elements; GPU memory limits.

What it counts: every copy from the device to the host (``float(a)``,
``a.item()``, ``bool(a)``, ``backend.to_numpy(a)``, ...) is allowed, as in
CuPy, but on a GPU each one waits for all queued work to finish, so one per
training step stalls the GPU every step.  :func:`count_host_syncs` counts
them, and the tests use it to check that training loops convert their
losses once per log interval, not once per step.  It is also a little stricter than CuPy, which forwards
``np.exp(cupy_array)`` to ``cupy.exp``: here library code must say
``xp.exp``, which runs on both.
"""
from __future__ import annotations

import contextlib
import functools
import numbers
import types

import numpy as np

__all__ = ["HOST_CONVERSION", "GuardArray", "count_host_syncs", "xp"]

HOST_CONVERSION = ("implicit conversion to a host NumPy array is not allowed "
                   "(CuPy refuses it): use scratchgen.backend.to_numpy(a)")


class HostSyncs:
    """The number of device-to-host copies made while it was active."""

    def __init__(self):
        self.count = 0


_active_counters: list[HostSyncs] = []


def _host_sync() -> None:
    for counter in _active_counters:
        counter.count += 1


@contextlib.contextmanager
def count_host_syncs():
    """``with count_host_syncs() as syncs: ...``, then ``syncs.count``."""
    counter = HostSyncs()
    _active_counters.append(counter)
    try:
        yield counter
    finally:
        _active_counters.remove(counter)


def _mixing_error(host: np.ndarray) -> TypeError:
    return TypeError(
        f"cannot mix a backend array with a host NumPy array of shape {host.shape} "
        "(CuPy refuses cupy_array + numpy_array): move the host array to the "
        "backend with scratchgen.backend.asarray(x), or the backend array to the "
        "host with scratchgen.backend.to_numpy(a)")


def _is_host_array(x) -> bool:
    return isinstance(x, np.ndarray) and x.ndim > 0


def _is_scalar(x) -> bool:
    """Python numbers, NumPy scalars and 0-d host arrays: CuPy accepts these."""
    return isinstance(x, (numbers.Number, np.generic)) or (
        isinstance(x, np.ndarray) and x.ndim == 0)


# --------------------------------------------------------------------------
# Crossing the wrapper: _unwrap on the way into NumPy, _wrap on the way out.
# --------------------------------------------------------------------------
def _unwrap(x, owners: dict, host_ok: bool = False):
    """Replace GuardArrays by their NumPy arrays, inside lists, tuples and dicts.

    ``owners`` remembers which GuardArray each inner array came from, so a
    result that *is* an argument (``xp.asarray(a)``, ``out=a``) comes back as
    the same object."""
    if isinstance(x, GuardArray):
        owners[id(x._a)] = x
        return x._a
    if _is_host_array(x) and not host_ok:
        raise _mixing_error(x)
    if type(x) in (list, tuple):
        return type(x)(_unwrap(v, owners, host_ok) for v in x)
    if type(x) is dict:
        return {k: _unwrap(v, owners, host_ok) for k, v in x.items()}
    return x


def _wrap(r, owners: dict | None = None):
    """Wrap NumPy results the way CuPy returns them (scalars become 0-d arrays)."""
    if isinstance(r, np.ndarray):
        if owners and id(r) in owners:
            return owners[id(r)]
        return GuardArray(r)
    if isinstance(r, (np.number, np.bool_)):
        return GuardArray(np.asarray(r))
    if isinstance(r, np.random.Generator):
        return _Proxy(r)
    if isinstance(r, tuple):  # includes named tuples such as linalg's SVDResult
        items = [_wrap(v, owners) for v in r]
        return type(r)(*items) if hasattr(r, "_fields") else tuple(items)
    if isinstance(r, list):
        return [_wrap(v, owners) for v in r]
    return r


def _call(fn, args, kwargs, owners=None, host_ok=False):
    owners = {} if owners is None else owners
    args = _unwrap(args, owners, host_ok)
    kwargs = _unwrap(kwargs, owners, host_ok)
    return _wrap(fn(*args, **kwargs), owners)


def _operand(x):
    """The NumPy value for the other side of ``a + x``, or NotImplemented."""
    if isinstance(x, GuardArray):
        return x._a
    if _is_host_array(x):
        raise _mixing_error(x)
    if _is_scalar(x):
        return x
    if isinstance(x, (list, tuple)):
        raise TypeError(f"CuPy does not accept a Python {type(x).__name__} as an "
                        "operand: make it an array first with xp.asarray(...)")
    return NotImplemented  # let the other type try, e.g. Tensor.__radd__


# --------------------------------------------------------------------------
# The array type.
# --------------------------------------------------------------------------
class GuardArray:
    """A NumPy array that behaves like a CuPy array: no implicit host copies."""

    __slots__ = ("_a",)

    def __init__(self, a: np.ndarray):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"GuardArray wraps a numpy.ndarray, not {type(a).__name__}; "
                            "use xp.asarray(x) to make one")
        self._a = a

    def unwrap(self) -> np.ndarray:
        """The inner NumPy array, for the backend's own bookkeeping (memory
        layout, views); not a copy to the host."""
        return self._a

    def get(self) -> np.ndarray:
        """The values on the host: CuPy's ``a.get()``, a device-to-host copy
        (counted by :func:`count_host_syncs`)."""
        _host_sync()
        return self._a

    # -- the refusals ------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(HOST_CONVERSION)

    def __array_function__(self, func, _types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__}() was given a backend array: "
                        f"{HOST_CONVERSION}, or call xp.{func.__name__}(...) instead")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # ``np.float32(2) * a`` arrives here as np.multiply(np.float32(2), a):
        # one scalar with one backend array is allowed, as in CuPy.
        if method == "__call__" and len(inputs) == 2 and not kwargs:
            guards = [isinstance(i, GuardArray) for i in inputs]
            if sum(guards) == 1 and _is_scalar(inputs[guards.index(False)]):
                return _wrap(ufunc(*(_operand(i) for i in inputs)))
        for i in inputs:
            if _is_host_array(i):
                raise _mixing_error(i)
        raise TypeError(f"numpy.{ufunc.__name__} was given a backend array: "
                        f"{HOST_CONVERSION}, or call xp.{ufunc.__name__}(...) instead")

    # -- conversions: numpy's rules (one element only), as CuPy's a.get() has
    def __float__(self):
        _host_sync()
        return float(self._a)

    def __int__(self):
        _host_sync()
        return int(self._a)

    def __complex__(self):
        _host_sync()
        return complex(self._a)

    def __bool__(self):
        _host_sync()
        return bool(self._a)

    def item(self, *args):
        _host_sync()
        return self._a.item(*args)

    def tolist(self):
        _host_sync()
        return self._a.tolist()

    # -- containers --------------------------------------------------------
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (_wrap(row) for row in self._a)

    def __contains__(self, x):
        return _operand(x) in self._a

    def __getitem__(self, key):
        # Host arrays and lists are fine as indices: CuPy copies them over.
        return _wrap(self._a[_unwrap(key, {}, host_ok=True)])

    def __setitem__(self, key, value):
        v = _operand(value)
        self._a[_unwrap(key, {}, host_ok=True)] = value if v is NotImplemented else v

    # -- text, copies, pickling ----------------------------------------------
    def __repr__(self):
        body = np.array2string(self._a, separator=", ", prefix="GuardArray(")
        return f"GuardArray({body}, dtype={self._a.dtype})"

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __copy__(self):
        return GuardArray(self._a.copy())

    def __deepcopy__(self, memo):
        return GuardArray(self._a.copy())

    def __reduce__(self):
        return (GuardArray, (self._a,))


# Attributes, methods and operators are forwarded to the inner array by
# the same few rules, so they are attached in loops rather than spelled out.
for _name in ("shape", "ndim", "dtype", "size", "nbytes", "strides", "itemsize", "flags"):
    setattr(GuardArray, _name, property(lambda self, n=_name: getattr(self._a, n)))
for _name in ("T", "mT", "real", "imag"):
    setattr(GuardArray, _name, property(lambda self, n=_name: _wrap(getattr(self._a, n))))


def _method(name):
    def method(self, *args, **kwargs):
        return _call(getattr(self._a, name), args, kwargs, owners={id(self._a): self})
    method.__name__ = name
    return method


# The methods that NumPy and CuPy arrays share (those used in practice).
for _name in ["astype", "reshape", "transpose", "swapaxes", "sum", "mean", "var", "std",
              "prod", "max", "min", "argmax", "argmin", "cumsum", "cumprod", "copy",
              "ravel", "flatten", "fill", "clip", "any", "all", "squeeze", "dot", "nonzero",
              "argsort", "sort", "round", "repeat", "take",
              "diagonal", "trace", "conj", "view"]:
    setattr(GuardArray, _name, _method(_name))


def _binary(name):
    def op(self, other):
        other = _operand(other)
        if other is NotImplemented:
            return NotImplemented
        return _wrap(getattr(self._a, name)(other))
    op.__name__ = name
    return op


def _inplace(name):
    def op(self, other):
        other = _operand(other)
        if other is NotImplemented:
            return NotImplemented
        getattr(self._a, name)(other)  # in place on the inner array
        return self
    op.__name__ = name
    return op


for _op in ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
            "and", "or", "xor", "lshift", "rshift"]:
    setattr(GuardArray, f"__{_op}__", _binary(f"__{_op}__"))
    setattr(GuardArray, f"__r{_op}__", _binary(f"__r{_op}__"))
    setattr(GuardArray, f"__i{_op}__", _inplace(f"__i{_op}__"))
for _op in ["lt", "le", "gt", "ge", "eq", "ne", "divmod", "rdivmod"]:
    setattr(GuardArray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ["neg", "pos", "abs", "invert"]:
    setattr(GuardArray, f"__{_op}__",
            lambda self, n=f"__{_op}__": _wrap(getattr(self._a, n)()))
GuardArray.__hash__ = None  # arrays are mutable, like numpy's and CuPy's


# --------------------------------------------------------------------------
# The module: xp.exp, xp.linalg.norm, xp.add.at, xp.random.default_rng(0)...
# --------------------------------------------------------------------------
def _guarded(fn, host_ok: bool = False):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        return _call(fn, args, kwargs, host_ok=host_ok)
    return call


class _Proxy:
    """Stands in for a NumPy module, ufunc or random Generator.

    Classes (dtypes, ``errstate``, ``finfo``) and constants (``pi``,
    ``newaxis``) pass through unchanged; sub-modules and ufuncs are proxied
    in turn; anything else callable unwraps its arguments and wraps its result.
    """

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        if name == "_target":  # not yet set (copy, pickle): no recursion
            raise AttributeError(name)
        attr = getattr(self._target, name)
        if isinstance(attr, type):
            result = attr
        elif isinstance(attr, (types.ModuleType, np.ufunc)):
            result = _Proxy(attr)
        elif callable(attr):
            result = _guarded(attr)
        else:
            result = attr
        self.__dict__[name] = result  # look each name up once
        return result

    def __call__(self, *args, **kwargs):  # a proxied ufunc
        return _call(self._target, args, kwargs)

    def __dir__(self):
        return dir(self._target)

    def __repr__(self):
        return f"<guarded {self._target!r}>"


class _GuardNumpy(_Proxy):
    """``xp`` for the numpy-guard backend."""

    ndarray = GuardArray
    # CuPy copies host data to the device on request, so these accept it.
    asarray = staticmethod(_guarded(np.asarray, host_ok=True))
    array = staticmethod(_guarded(np.array, host_ok=True))

    def __init__(self):
        super().__init__(np)

    def from_host(self, a, dtype=None) -> GuardArray:
        """Copy host data (a list, number or NumPy array) to the backend, as a
        host-to-device transfer does: the result never shares host memory."""
        return self.array(a, dtype=dtype)


xp = _GuardNumpy()
