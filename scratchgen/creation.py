"""Making tensors: from data, filled with constants, or drawn at random.

Float data becomes float32 unless ``dtype`` says otherwise (the library's
default, as in PyTorch); integer data stays integer (labels, indices); bool
stays bool.  Random draws come from the one generator that
``sg.manual_seed`` seeds (:mod:`scratchgen.backend`).
"""
from __future__ import annotations

import numpy as _host_np  # host side: inspecting user data before it moves

from . import backend
from .autograd import Tensor
from .backend import xp


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def _float_dtype(dtype):
    return backend.DEFAULT_FLOAT if dtype is None else backend.dtype_of(dtype)


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` on the active backend."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = backend.dtype_of(dtype)
    elif backend.is_array(data):
        dtype = backend.DEFAULT_FLOAT if data.dtype.kind == "f" else data.dtype
    else:
        kind = _host_np.asarray(data).dtype.kind
        if kind == "O":
            raise TypeError(f"cannot make a tensor from {type(data).__name__} data of mixed types")
        dtype = backend.DEFAULT_FLOAT if kind == "f" else None
    array = backend.asarray(data, dtype=dtype)
    if array is data:
        array = array.copy()
    return Tensor(array, requires_grad=requires_grad)


def zeros(*shape, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(xp.zeros(_shape(shape), dtype=_float_dtype(dtype)), requires_grad)


def ones(*shape, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(xp.ones(_shape(shape), dtype=_float_dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(xp.zeros_like(t.data), requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(xp.ones_like(t.data), requires_grad)


def randn(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Standard normal draws."""
    dtype = _float_dtype(dtype)
    return Tensor(backend.generator().standard_normal(_shape(shape), dtype=dtype), requires_grad)


def rand(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Uniform draws on [0, 1)."""
    dtype = _float_dtype(dtype)
    return Tensor(backend.generator().random(_shape(shape), dtype=dtype), requires_grad)


def randint(low, high, shape) -> Tensor:
    return Tensor(backend.generator().integers(low, high, size=_shape((shape,))))


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Like ``numpy.arange``; integer arguments give an integer tensor."""
    if stop is None:
        start, stop = 0, start
    if dtype is None and any(isinstance(v, float) for v in (start, stop, step)):
        dtype = backend.DEFAULT_FLOAT
    return Tensor(xp.arange(start, stop, step, dtype=dtype))
