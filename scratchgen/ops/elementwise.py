"""Elementwise functions: exp, log, sqrt, abs, clip, maximum/minimum, where."""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor, as_tensor
from ..backend import xp
from .broadcast import _constant, _operands, sum_to


class Exp(Function):
    def forward(self, x):
        return xp.exp(x)

    def backward(self, gy):
        return gy * self.output


class Log(Function):
    def forward(self, x):
        return xp.log(x)

    def backward(self, gy):
        return gy / self.inputs[0]


class Sqrt(Function):
    def forward(self, x):
        return xp.sqrt(x)

    def backward(self, gy):
        return gy / (2 * self.output)


class Abs(Function):
    """|x|' = sign(x), taken as 0 at the kink x = 0 (PyTorch's choice)."""

    def forward(self, x):
        return xp.abs(x)

    def backward(self, gy):
        return gy * _constant(xp.sign(self.inputs[0].data))


class Clip(Function):
    """Gradient 1 where lo <= x <= hi (PyTorch's clamp convention), else 0."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = self.inputs[0].data
        inside = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x >= self.lo
        if self.hi is not None:
            inside &= x <= self.hi
        return gy * _constant(inside.astype(x.dtype))


class Maximum(Function):
    """Elementwise max; at ties each input gets half the gradient, so the sum
    over both inputs is still the full gradient."""

    def forward(self, a, b):
        return xp.maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        share = _tie_share(a.data, b.data, a.data > b.data)
        return sum_to(gy * share, a.shape), sum_to(gy * (1 - share), b.shape)


class Minimum(Function):
    def forward(self, a, b):
        return xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        share = _tie_share(a.data, b.data, a.data < b.data)
        return sum_to(gy * share, a.shape), sum_to(gy * (1 - share), b.shape)


def _tie_share(a, b, wins):
    """1 where ``a`` wins, 0.5 at ties, 0 where ``b`` wins."""
    dtype = xp.result_type(a, b)
    return _constant(wins.astype(dtype) + 0.5 * (a == b).astype(dtype))


class Where(Function):
    """y = cond ? a : b.  The gradient goes to whichever input was chosen."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return xp.where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        zero = gy * 0
        return (sum_to(where(self.cond, gy, zero), a.shape),
                sum_to(where(self.cond, zero, gy), b.shape))


def exp(x): return Exp()(x)
def log(x): return Log()(x)
def sqrt(x): return Sqrt()(x)
def abs(x): return Abs()(x)  # noqa: A001


def clip(x, min=None, max=None):  # noqa: A002 (NumPy's and PyTorch's names)
    return Clip(min, max)(x)


def maximum(a, b): return Maximum()(*_operands(a, b))
def minimum(a, b): return Minimum()(*_operands(a, b))


def where(cond, a, b):
    cond = cond.data if isinstance(cond, Tensor) else cond
    a, b = _operands(a, b)
    return Where(cond)(a, b)
