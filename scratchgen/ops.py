"""The differentiable operations, each a forward and its backward side by side.

Notation: ``gy`` is dL/dy, the gradient flowing in from above; each
``backward`` returns dL/dx for each input by the chain rule,
``dL/dx = gy * dy/dx`` (elementwise ops) or its matrix analogue.

Broadcasting.  When NumPy broadcasts ``x`` of shape (3, 1) against (3, 4),
every element of ``x`` is used 4 times, so its gradient is the *sum* of the 4
gradients: ``backward`` sums ``gy`` back to the input's shape
(:func:`sum_to`).  Broadcasting forward is summing backward.

Every backward is written with the operations of this module, never with
raw arrays, so the backward pass can itself be differentiated.
"""
from __future__ import annotations

from . import backend
from .autograd import Function, Tensor, as_tensor
from .backend import xp


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


# ---------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------

class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(gy, b.shape)


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        a, b = self.inputs
        return sum_to(gy, a.shape), sum_to(-gy, b.shape)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b
        gb = sum_to(-ga * a / b, b.shape) if self.needs_input_grad[1] else None
        return sum_to(ga, a.shape), gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = a ** b.  dy/da = b a^(b-1);  dy/db = y log a (only when b needs it,
    so a constant exponent works for negative bases)."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = sum_to(gy * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * self.output * log(a), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


def _stored_transposed(t):
    """True for a 2-D array laid out column by column, e.g. a batch-last
    activation flattened for a Linear layer (a view, see ``conv``)."""
    a = t.data
    return a.ndim == 2 and a.flags.f_contiguous and not a.flags.c_contiguous


def _columnwise(like, rows, inner, cols):
    """Whether to compute a gradient of shape (rows, cols), a sum of
    ``inner`` products, as the transpose of the swapped product: the same
    numbers, laid out column by column.  Two things decide:

    * a product whose inner dimension is over twice as long as the other
      two is a sum over many terms, such as a convolution's weight gradient
      (a sum over the batch and every pixel): its result is small, so its
      layout costs little, but OpenBLAS is faster (1.3x for the DCGAN's
      convolutions) when the result has more rows than columns;
    * otherwise the result may be as large as an activation: it comes out
      in ``like``'s memory order, so that elementwise ops that meet it run
      over one memory order (a mixed pair is 2-3x slower in NumPy) and
      reshapes back to ``like``'s producers stay views."""
    if inner > 2 * rows and inner > 2 * cols:
        return rows < cols
    return _stored_transposed(like)


def _t(x):
    return x.swapaxes(-1, -2)


def _matmul_grads(a, b, gy, needs):
    """dL/dA = gY @ B^T = (B @ gY^T)^T and dL/dB = A^T @ gY = (gY^T @ A)^T
    for Y = A @ B, summed over broadcast batch axes."""
    ga = gb = None
    if needs[0]:
        columnwise = _columnwise(a, gy.shape[-2], gy.shape[-1], b.shape[-2])
        ga = sum_to(_t(b @ _t(gy)) if columnwise else gy @ _t(b), a.shape)
    if needs[1]:
        columnwise = _columnwise(b, a.shape[-1], a.shape[-2], gy.shape[-1])
        gb = sum_to(_t(_t(gy) @ a) if columnwise else _t(a) @ gy, b.shape)
    return ga, gb


class MatMul(Function):
    """Y = A @ B over the last two axes, batched over the leading ones.
    dL/dA = gY @ B^T,  dL/dB = A^T @ gY  (then summed over broadcast batch axes)."""

    def forward(self, a, b):
        if a.ndim > 1 and b.ndim > 1 and a.shape[-1] == 1:
            return a * b  # an outer product: one pass, where BLAS would pack first (4x slower)
        return a @ b

    def backward(self, gy):
        a, b = self.inputs
        return _matmul_grads(a, b, gy, self.needs_input_grad)


class AddMM(Function):
    """Y = C + A @ B, for a bias C that broadcasts to the product's shape
    (PyTorch's ``addmm``): the bias of a Linear or Conv2d layer, whose
    functions call it with checked shapes (A and B at least 2-D).  One
    Function instead of MatMul then Add, so the bias goes in place into the
    product, a fresh array nothing else holds: one output-sized array and
    one pass fewer.  The gradients are Add's and MatMul's."""

    def forward(self, c, a, b):
        y = a @ b
        if xp.result_type(y, c) != y.dtype or xp.broadcast_shapes(y.shape, c.shape) != y.shape:
            return y + c  # C promotes or stretches Y: the result needs a new array
        y += c
        return y

    def backward(self, gy):
        c, a, b = self.inputs
        gc = sum_to(gy, c.shape) if self.needs_input_grad[0] else None
        return (gc, *_matmul_grads(a, b, gy, self.needs_input_grad[1:]))


def add(a, b): return Add()(*_operands(a, b))
def sub(a, b): return Sub()(*_operands(a, b))
def mul(a, b): return Mul()(*_operands(a, b))
def div(a, b): return Div()(*_operands(a, b))
def neg(x): return Neg()(x)
def pow(a, b): return Pow()(*_operands(a, b))  # noqa: A001 (mirrors the operator)


def matmul(a, b):
    """Matrix product with NumPy's rules, including 1-D operands (a vector is
    treated as a row on the left and a column on the right, then dropped)."""
    a, b = _operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must be at least 1-D, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                         f"({a.shape[-1]} != {b.shape[-2 if b.ndim > 1 else 0]})")
    if a.ndim == 1:
        return matmul(a.reshape(1, -1), b).squeeze(-2)
    if b.ndim == 1:
        return matmul(a, b.reshape(-1, 1)).squeeze(-1)
    return MatMul()(a, b)


# ---------------------------------------------------------------------------
# Elementwise functions
# ---------------------------------------------------------------------------

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


class Cast(Function):
    """A dtype change; the gradient is cast back to the input's dtype."""

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, gy):
        return astype(gy, self.inputs[0].dtype)


def astype(x, dtype):
    dtype = backend.dtype_of(dtype)
    return x if x.dtype == dtype else Cast(dtype)(x)


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


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------

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
        hit = (x.data == self.output.data.reshape(keep)).astype(x.data.dtype)
        share = hit / hit.sum(axis=self.axis, keepdims=True)
        return gy.reshape(keep) * _constant(share)


class Max(_Extremum):
    def forward(self, x):
        return x.max(axis=self.axis, keepdims=self.keepdims)


class Min(_Extremum):
    def forward(self, x):
        return x.min(axis=self.axis, keepdims=self.keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    x = as_tensor(x)
    count = 1
    for a in _normalize_axis(axis, x.ndim):
        count *= x.shape[a]
    return sum(x, axis, keepdims) / count


def var(x, axis=None, keepdims=False):
    """Population variance (``ddof=0``), NumPy's default: mean((x - mean)^2)."""
    centered = x - mean(x, axis, keepdims=True)
    return mean(centered * centered, axis, keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Max(axis, keepdims)(x)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Min(axis, keepdims)(x)


# ---------------------------------------------------------------------------
# Shapes: the gradient is the inverse rearrangement
# ---------------------------------------------------------------------------

class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.inputs[0].shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inverse[a % len(self.axes)] = i
        return gy.transpose(*inverse)


def reshape(x, *shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    x = as_tensor(x)
    return x if x.shape == shape else Reshape(shape)(x)


def transpose(x, *axes):
    axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Transpose(axes or None)(x)


def swapaxes(x, a, b):
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, *axes)


def flatten(x, start_axis=0, end_axis=-1):
    """Merge axes ``start_axis..end_axis`` into one (PyTorch's ``flatten``)."""
    start, end = start_axis % x.ndim, end_axis % x.ndim
    return reshape(x, x.shape[:start] + (-1,) + x.shape[end + 1:])


def expand_dims(x, axis):
    shape = list(x.shape)
    shape.insert(axis % (x.ndim + 1), 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    axes = [i for i, n in enumerate(x.shape) if n == 1] if axis is None \
        else _normalize_axis(axis, x.ndim)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {x.shape})")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


# ---------------------------------------------------------------------------
# Indexing: y = x[index]; the gradient scatters gy back into x's shape
# ---------------------------------------------------------------------------

def _has_array_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(backend.is_array(p) or isinstance(p, list) for p in parts)


class GetItem(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        return x[self.index]

    def backward(self, gy):
        return ScatterAdd(self.index, self.inputs[0].shape)(gy)


class ScatterAdd(Function):
    """The adjoint of indexing: zeros of ``shape`` with ``gy`` added at
    ``index``.  An element picked twice (``x[[0, 0]]``) gets both gradients,
    which plain assignment would lose, so integer-array indices use
    ``add.at``; slices cannot repeat and use the faster assignment."""

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        out = xp.zeros(self.shape, dtype=gy.dtype)
        if _has_array_index(self.index):
            xp.add.at(out, self.index, gy)
        else:
            out[self.index] = gy
        return out

    def backward(self, ggx):
        return ggx[self.index]


def _as_index(index):
    """Tensor indices become backend arrays; lists become integer arrays."""
    if isinstance(index, tuple):
        return tuple(_as_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return backend.asarray(index)
    return index


def getitem(x, index):
    return GetItem(_as_index(index))(x)


# ---------------------------------------------------------------------------
# Joining and padding
# ---------------------------------------------------------------------------

class Concatenate(Function):
    """Gradient: cut gy back into the pieces, at the same offsets."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        for x in self.inputs:
            index = [slice(None)] * gy.ndim
            index[self.axis] = slice(start, start + x.shape[self.axis])
            grads.append(gy[tuple(index)])
            start += x.shape[self.axis]
        return tuple(grads)


class Pad(Function):
    """Zero padding; its gradient is the un-padded window of gy."""

    def __init__(self, pad_width):
        self.pad_width = pad_width

    def forward(self, x):
        return xp.pad(x, self.pad_width)

    def backward(self, gy):
        return gy[tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.pad_width, gy.shape))]


def concatenate(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    return Concatenate(axis % tensors[0].ndim)(*tensors)


def stack(tensors, axis=0):
    tensors = [as_tensor(t) for t in tensors]
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis % (tensors[0].ndim + 1))


def split(x, indices_or_sections, axis=0):
    """NumPy's ``split``: equal sections, or cut points along ``axis``."""
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: axis of size {n} is not divisible into {indices_or_sections}")
        step = n // indices_or_sections
        cuts = list(range(step, n, step))
    else:
        cuts = list(indices_or_sections)
    bounds = zip([0] + cuts, cuts + [n])
    axis = axis % x.ndim
    return [x[(slice(None),) * axis + (slice(lo, hi),)] for lo, hi in bounds]


def pad(x, pad_width):
    """Zero padding with NumPy's ``pad_width``: an int or one (before, after)
    pair per axis."""
    if isinstance(pad_width, int):
        pad_width = [(pad_width, pad_width)] * x.ndim
    return Pad(tuple((int(lo), int(hi)) for lo, hi in pad_width))(x)


# ---------------------------------------------------------------------------
# Activations, in numerically stable forms
# ---------------------------------------------------------------------------

class ReLU(Function):
    def forward(self, x):
        return xp.maximum(x, 0)

    def backward(self, gy):
        return gy * _constant((self.inputs[0].data > 0).astype(gy.data.dtype))


class LeakyReLU(Function):
    """y = x for x > 0, slope * x otherwise; that is max(x, slope x) when
    slope <= 1 and min(x, slope x) above 1, which needs no mask array.
    The gradient is 1 where x > 0, slope elsewhere (at the kink too)."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        y = xp.multiply(x, self.slope, out=xp.empty_like(x))  # out=: an array even if 0-d
        return (xp.maximum if self.slope <= 1 else xp.minimum)(x, y, out=y)

    def backward(self, gy):
        x = self.inputs[0].data
        # slope + (1 - slope) [x > 0], by arithmetic: NumPy's where() is several
        # times slower on a mask that is half True at random
        scale = (x > 0).astype(x.dtype)
        scale *= 1 - self.slope
        scale += self.slope
        return gy * _constant(scale)


class Sigmoid(Function):
    """sigma(x) = 1/(1+e^-x), computed as (1 + tanh(x/2))/2, which never
    overflows; sigma' = sigma (1 - sigma)."""

    def forward(self, x):
        return 0.5 * (1 + xp.tanh(0.5 * x))

    def backward(self, gy):
        y = self.output
        return gy * y * (1 - y)


class Tanh(Function):
    def forward(self, x):
        return xp.tanh(x)

    def backward(self, gy):
        y = self.output
        return gy * (1 - y * y)


def _softplus_array(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|): the exponent is never
    positive, so no overflow at x = 1e4."""
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


class Softplus(Function):
    """softplus(x) = log(1 + e^x), stable (``_softplus_array``); softplus' = sigmoid."""

    def forward(self, x):
        return _softplus_array(x)

    def backward(self, gy):
        return gy * sigmoid(self.inputs[0])


class LogSumExp(Function):
    """lse(x) = m + log sum exp(x - m) with m = max x: the largest exponent
    is 0, so nothing overflows.  d lse / dx = exp(x - lse) = softmax(x)."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf: keep -inf, not NaN
        y = m + xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True))
        return y if self.keepdims else y.squeeze(axis=self.axis)

    def backward(self, gy):
        x = self.inputs[0]
        keep = _keepdims_shape(x.shape, _normalize_axis(self.axis, x.ndim))
        return gy.reshape(keep) * exp(x - self.output.reshape(keep))


class Softmax(Function):
    """y = exp(x - lse(x)).  Jacobian-vector product without the Jacobian:
    dL/dx = y * (gy - sum(gy * y))."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y = x - lse(x);  dL/dx = gy - softmax(x) * sum(gy)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        m = x.max(axis=self.axis, keepdims=True)
        shifted = x - m
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        return gy - exp(self.output) * gy.sum(axis=self.axis, keepdims=True)


def relu(x): return ReLU()(x)
def leaky_relu(x, negative_slope=0.01): return LeakyReLU(negative_slope)(x)
def sigmoid(x): return Sigmoid()(x)
def tanh(x): return Tanh()(x)
def softplus(x): return Softplus()(x)
def logsumexp(x, axis=None, keepdims=False): return LogSumExp(axis, keepdims)(x)
def softmax(x, axis=-1): return Softmax(axis)(x)
def log_softmax(x, axis=-1): return LogSoftmax(axis)(x)


# ---------------------------------------------------------------------------
# Operators and methods on Tensor
# ---------------------------------------------------------------------------

def _compare(op):
    def method(self, other):
        other = as_tensor(other, like=self)
        return Tensor(op(self.data, other.data))
    return method


def _install_tensor_methods():
    T = Tensor
    T.__add__ = add
    T.__radd__ = lambda self, other: add(other, self)
    T.__sub__ = sub
    T.__rsub__ = lambda self, other: sub(other, self)
    T.__mul__ = mul
    T.__rmul__ = lambda self, other: mul(other, self)
    T.__truediv__ = div
    T.__rtruediv__ = lambda self, other: div(other, self)
    T.__pow__ = pow
    T.__rpow__ = lambda self, other: pow(other, self)
    T.__matmul__ = matmul
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__neg__ = neg
    T.__getitem__ = getitem
    # comparisons give constant boolean tensors (no gradient flows through them)
    T.__lt__ = _compare(lambda a, b: a < b)
    T.__le__ = _compare(lambda a, b: a <= b)
    T.__gt__ = _compare(lambda a, b: a > b)
    T.__ge__ = _compare(lambda a, b: a >= b)
    T.__eq__ = _compare(lambda a, b: a == b)
    T.__ne__ = _compare(lambda a, b: a != b)
    T.__hash__ = object.__hash__  # tensors are hashed by identity, like PyTorch's
    for name in ("sum", "mean", "var", "max", "min", "reshape", "transpose", "flatten",
                 "exp", "log", "sqrt", "abs", "clip", "squeeze", "expand_dims",
                 "swapaxes", "sigmoid", "tanh", "relu", "softmax", "log_softmax",
                 "logsumexp", "broadcast_to"):
        setattr(T, name, globals()[name])
    T.T = property(lambda self: transpose(self))
    T.argmax = lambda self, axis=None, keepdims=False: Tensor(
        self.data.argmax(axis=axis, keepdims=keepdims))
    T.argmin = lambda self, axis=None, keepdims=False: Tensor(
        self.data.argmin(axis=axis, keepdims=keepdims))
    T.astype = astype


_install_tensor_methods()
