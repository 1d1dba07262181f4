"""Elementwise functions: exp, log, sqrt, abs, clip, maximum/minimum, where.

Piecewise functions (relu, clip, abs, maximum, where, the max of a
reduction, ...) send the gradient to some positions and exactly 0 to the
others.  "Exactly 0" means *select*, not multiply: ``gy * mask`` is
``0 * inf = nan`` where the incoming gradient is infinite at a masked-out
position, e.g. ``relu(x).sqrt()`` at x < 0, where sqrt'(0) = inf.  PyTorch
selects, and so does :func:`select`, which every such backward uses.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor, as_tensor
from ..backend import xp
from .broadcast import _constant, _operands, sum_to


def _select_array(mask, a):
    """``a`` where ``mask``, +0.0 elsewhere, whatever ``a`` holds there (inf,
    NaN).  ``xp.where`` does this but is 5-10x slower than a product on a
    random mask (a branch per element); AND-ing the bits of ``a`` with
    all-ones (keep) or all-zeros (the bits of +0.0) is one branch-free pass,
    as fast as the product it replaces."""
    ints = xp.dtype(f"int{8 * a.dtype.itemsize}")
    bits = xp.array(mask, dtype=ints)   # 0 or 1 (a new array, even 0-d)
    xp.negative(bits, out=bits)         # 0 or -1: all bits set
    if bits.shape != a.shape:           # a mask that broadcasts against a
        bits = xp.broadcast_to(bits, xp.broadcast_shapes(bits.shape, a.shape)).copy()
    bits &= a.view(ints)
    return bits.view(a.dtype)


def _sign_mask(x):
    """All bits set where the sign bit of ``x`` is (x < 0, and -0.0), none
    elsewhere: an arithmetic shift of the float's bits, one pass."""
    bits = 8 * x.dtype.itemsize
    ints = x.view(xp.dtype(f"int{bits}"))
    return xp.right_shift(ints, bits - 1, out=xp.empty_like(ints))  # out=: an array if 0-d


def _blend(m, a, b):
    """``a`` where the integer mask ``m`` has all bits set, ``b`` where it
    has none (``xp.where`` for two arrays of one dtype and shape, which is
    several times slower): (a AND m) OR (b AND NOT m).  Works in place:
    ``a`` becomes the result, and ``m`` and ``b`` are overwritten."""
    a, b = xp.asarray(a), xp.asarray(b)  # NumPy's 0-d arithmetic gives scalars
    result = a.view(m.dtype)
    result &= m
    xp.invert(m, out=m)
    m &= b.view(m.dtype)
    result |= m
    return a


class Select(Function):
    """y = mask ? g : 0, the masking step of every piecewise backward.
    Linear in g, so its backward is itself: the gradient passes where the
    mask is set and is exactly 0 elsewhere."""

    def __init__(self, mask):
        self.mask = mask

    def forward(self, g):
        return _select_array(self.mask, g)

    def backward(self, gy):
        return Select(self.mask)(gy)


def select(mask, g):
    """``g`` where the boolean array ``mask`` is set, exactly 0 elsewhere."""
    return Select(mask)(g)


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
    """|x|' = sign(x), taken as 0 at the kink x = 0 (PyTorch's choice, but
    selected: an infinite gy at 0 gives 0, not NaN)."""

    def forward(self, x):
        return xp.abs(x)

    def backward(self, gy):
        x = self.inputs[0].data
        return select(x != 0, gy * _constant(xp.sign(x)))


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
        return select(inside, gy)


class Maximum(Function):
    """Elementwise max; at ties each input gets half the gradient, so the sum
    over both inputs is still the full gradient."""

    def forward(self, a, b):
        return xp.maximum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return _tie_grads(gy, a, b, a.data > b.data, self.needs_input_grad)


class Minimum(Function):
    def forward(self, a, b):
        return xp.minimum(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return _tie_grads(gy, a, b, a.data < b.data, self.needs_input_grad)


def _tie_grads(gy, a, b, wins, needs):
    """gy to ``a`` where it wins, to ``b`` where it loses, half to each at
    ties; exactly 0 to the loser."""
    ties = a.data == b.data
    half = _constant(xp.where(ties, 0.5, 1.0).astype(xp.result_type(a.data, b.data)))
    shared = gy * half
    ga = sum_to(select(wins | ties, shared), a.shape) if needs[0] else None
    gb = sum_to(select(~wins, shared), b.shape) if needs[1] else None
    return ga, gb


class Where(Function):
    """y = cond ? a : b.  The gradient goes to whichever input was chosen."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return xp.where(self.cond, a, b)

    def backward(self, gy):
        a, b = self.inputs
        cond = xp.asarray(self.cond) if not backend.is_array(self.cond) else self.cond
        ga = sum_to(select(cond, gy), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(select(~cond, gy), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


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
