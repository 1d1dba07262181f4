"""Broadcasting, forward and backward: ``broadcast_to`` and its adjoint ``sum_to``.

When NumPy broadcasts ``x`` of shape (3, 1) against (3, 4), every element
of ``x`` is used 4 times, so its gradient is the *sum* of the 4 gradients:
broadcasting forward is summing backward.  Every binary op below sums its
incoming gradient back to each input's shape with :func:`sum_to`.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor, as_tensor
from ..backend import xp


def _operands(a, b):
    """Two tensors for a binary op; a bare number takes the other's dtype."""
    if isinstance(a, Tensor):
        return a, as_tensor(b, like=a)
    return as_tensor(a, like=b), b


def _constant(array) -> Tensor:
    return Tensor(array)


# ---------------------------------------------------------------------------
# Broadcasting: broadcast_to and its adjoint sum_to
# ---------------------------------------------------------------------------

def _sum_to_array(a, shape):
    """Sum ``a`` over the axes that broadcasting added or stretched."""
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape)
                                      if n == 1 and a.shape[i + lead] != 1)
    out = a.sum(axis=axes, keepdims=True) if axes else a
    return out.reshape(shape) if lead or axes else out


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.inputs[0].shape)


class SumTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return _sum_to_array(x, self.shape)

    def backward(self, gy):
        return broadcast_to(gy, self.inputs[0].shape)


def broadcast_to(x, shape):
    x = as_tensor(x)
    return x if x.shape == tuple(shape) else BroadcastTo(shape)(x)


def sum_to(x, shape):
    return x if x.shape == tuple(shape) else SumTo(shape)(x)
