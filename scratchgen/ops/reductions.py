"""Reductions: sum, mean, var, max, min over chosen axes.

A reduction's gradient spreads gy back over the reduced axes: evenly for
sum and mean, to the winning elements for max and min.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor, as_tensor
from ..backend import xp
from .broadcast import _constant, broadcast_to
from .arguments import DIM, pytorch_names
from .elementwise import select


def _normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes)) if ndim else ()


def _keepdims_shape(shape, axes):
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """y = sum over ``axis``.  Every summed x contributed once: dy/dx = 1,
    so the gradient is gy broadcast back over the summed axes."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        x = self.inputs[0]
        axes = _normalize_axis(self.axis, x.ndim)
        return broadcast_to(gy.reshape(_keepdims_shape(x.shape, axes)), x.shape)


class _Extremum(Function):
    """max/min over ``axis``.  The gradient goes to the arg-max; when several
    elements tie for it, they share it equally (PyTorch's ``amax`` rule)."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def backward(self, gy):
        x = self.inputs[0]
        keep = _keepdims_shape(x.shape, _normalize_axis(self.axis, x.ndim))
        hit = x.data == self.output.data.reshape(keep)
        count = hit.sum(axis=self.axis, keepdims=True).astype(x.data.dtype)
        # 1/count to each winner, exactly 0 (selected) to the others
        return select(hit, gy.reshape(keep) / _constant(count))


class Max(_Extremum):
    def forward(self, x):
        return x.max(axis=self.axis, keepdims=self.keepdims)


class Min(_Extremum):
    def forward(self, x):
        return x.min(axis=self.axis, keepdims=self.keepdims)


@pytorch_names(**DIM)
def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum(axis, keepdims)(x)


@pytorch_names(**DIM)
def mean(x, axis=None, keepdims=False):
    x = as_tensor(x)
    count = 1
    for a in _normalize_axis(axis, x.ndim):
        count *= x.shape[a]
    return sum(x, axis, keepdims) / count


@pytorch_names(**DIM)
def var(x, axis=None, keepdims=False):
    """Population variance (``ddof=0``), NumPy's default: mean((x - mean)^2)."""
    centered = x - mean(x, axis, keepdims=True)
    return mean(centered * centered, axis, keepdims)


@pytorch_names(**DIM)
def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max(axis, keepdims)(x)


@pytorch_names(**DIM)
def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min(axis, keepdims)(x)
