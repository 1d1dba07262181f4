"""Activations, in numerically stable forms."""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor, as_tensor, is_grad_enabled
from ..backend import xp
from .arguments import DIM, pytorch_names
from .broadcast import _constant
from .elementwise import _blend, _sign_mask, exp, select, where
from .reductions import _keepdims_shape, _normalize_axis


class ReLU(Function):
    def forward(self, x):
        return xp.maximum(x, 0)

    def backward(self, gy):
        return select(self.inputs[0].data > 0, gy)


def leaky_relu_plain(x, slope=0.01):
    """The textbook rule, a select: its gradient, through ``where``, is 1
    where x > 0 and slope elsewhere (at the kink too).  :class:`LeakyReLU`
    below computes the same numbers."""
    # y = x if x > 0 else slope x
    return where(x > 0, x, slope * x)


def leaky_relu_and_slope(x, slope):
    """On arrays: leaky_relu(x) and its derivative, 1 where x > 0 and
    ``slope`` (a scalar of x's dtype) elsewhere.  On a GPU
    :class:`LeakyReLU` runs it fused (``backend.fuse``): one kernel for the
    forward and the backward's factor, where its CPU form takes two and four."""
    # dy/dx = 1 if x > 0 else slope;  y = x dy/dx
    scale = xp.where(x > 0, 1, slope)
    return x * scale, scale


_leaky_relu_fused = backend.fuse(leaky_relu_and_slope)


class LeakyReLU(Function):
    """``leaky_relu_plain`` as one Function: max(x, slope x) when slope <= 1
    and min(x, slope x) above 1, which needs no mask array forward, and a
    backward that is one product with a precomputed scale.  What it buys:
    1.18-1.23x on the DCGAN step
    (``benchmarks/bench_plain_fast.py``, two runs; AMD EPYC, 2 shared vCPUs, 1 thread).
    On a GPU (``backend.GPU_KERNELS``) the forward is
    :func:`leaky_relu_and_slope` in one kernel, which keeps the scale."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        if backend.GPU_KERNELS:
            y, self.scale = _leaky_relu_fused(x, x.dtype.type(self.slope))
            return y
        y = xp.multiply(x, self.slope, out=xp.empty_like(x))  # out=: an array even if 0-d
        return (xp.maximum if self.slope <= 1 else xp.minimum)(x, y, out=y)

    def backward(self, gy):
        if backend.GPU_KERNELS:
            return gy * _constant(self.scale)
        x = self.inputs[0].data
        # slope + (1 - slope) [x > 0], by arithmetic: NumPy's where() is several
        # times slower on a mask that is half True at random
        scale = (x > 0).astype(x.dtype)
        scale *= 1 - self.slope
        scale += self.slope
        return gy * _constant(scale)


def _sigmoid_parts(x):
    """e = e^-|x| in (0, 1] (the exponent is never positive: no overflow)
    and r = 1 / (1 + e) = sigma(|x|): sigma(x) is r for x >= 0 and e r for
    x < 0, sigma(-x) the other one.  Neither is computed as 1 minus the
    other, which cancels: the tanh form (1 + tanh(x/2))/2 gives 0 at x = -20
    in float32, where sigma is 2.06e-9, and sigma (1 - sigma) loses 1e-3 of
    sigma' at x = 10."""
    e = xp.abs(x, out=xp.empty_like(x))     # out=: an array even when 0-d
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    r = xp.add(e, 1, out=xp.empty_like(e))
    xp.reciprocal(r, out=r)
    return e, r


def _sigmoid_array(x):
    """sigma(x) = 1 / (1 + e^-x), accurate to a few ulps on both sides."""
    e, r = _sigmoid_parts(x)
    e *= r  # sigma(-|x|)
    return _blend(_sign_mask(x), e, r)  # x < 0: e r, else r


def _sigmoid_slope_array(x):
    """sigma'(x) = sigma(x) sigma(-x) = e r^2: symmetric, one exp, no cancellation."""
    e, r = _sigmoid_parts(x)
    e *= r
    e *= r
    return e


class Sigmoid(Function):
    """sigma(x) = 1/(1+e^-x), in the stable form of ``_sigmoid_parts``;
    sigma' = sigma(x) sigma(-x) (= sigma (1 - sigma), without the
    cancellation of 1 - sigma near 1)."""

    def forward(self, x):
        return _sigmoid_array(x)

    def backward(self, gy):
        x = self.inputs[0]
        if is_grad_enabled():  # create_graph: the derivative in ops, to differentiate again
            return gy * (self.output * sigmoid(-x))
        return gy * _constant(_sigmoid_slope_array(x.data))


class SiLU(Function):
    """silu(x) = x sigma(x) (the "swish"); silu' = sigma (1 + x (1 - sigma))."""

    def forward(self, x):
        return x * _sigmoid_array(x)

    def backward(self, gy):
        x = self.inputs[0]
        s = sigmoid(x)
        return gy * (s * (1 + x * (1 - s)))


class ELU(Function):
    """elu(x) = x for x > 0, alpha (e^x - 1) otherwise, computed branch-free
    as ``relu(x) + alpha expm1(min(x, 0))`` (expm1: accurate near 0, where
    e^x - 1 cancels).  elu' = 1 for x > 0, alpha e^x otherwise (PyTorch's
    side at the kink)."""

    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, x):
        negative = xp.minimum(x, 0, out=xp.empty_like(x))
        y = xp.expm1(negative, out=negative)
        y *= self.alpha
        y += xp.maximum(x, 0)
        return y

    def backward(self, gy):
        x = self.inputs[0]
        positive = x.data > 0
        # 1 where x > 0; alpha e^x, selected, elsewhere (clip: slope 1 up to 0 inclusive)
        slope = _constant(positive.astype(x.data.dtype)) + select(
            ~positive, self.alpha * exp(x.clip(None, 0)))
        return gy * slope


class Tanh(Function):
    """tanh' = 1 - tanh^2 = 4 sigma(2x) sigma(-2x): the second form keeps
    its relative precision where tanh is near +-1 (1 - tanh^2 is 0 in
    float32 from |x| = 9 on; the true value there is 6e-8)."""

    def forward(self, x):
        return xp.tanh(x)

    def backward(self, gy):
        x = self.inputs[0]
        if is_grad_enabled():  # create_graph: the derivative in ops, to differentiate again
            return gy * (4 * sigmoid(2 * x) * sigmoid(-2 * x))
        slope = _sigmoid_slope_array(2 * x.data)
        slope *= 4
        return gy * _constant(slope)


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
    dL/dx = y * (gy - sum(gy * y)), selected to the positions where y > 0."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def backward(self, gy):
        y = self.output
        if y.shape[self.axis] == 1:  # over one element softmax is the constant 1
            return Tensor(xp.zeros_like(gy.data))
        # where y = 0 (a logit of -inf: a masked attention score) the output is
        # constant: its gy must not enter the sum, and its x gets exactly 0
        live = y.data != 0
        gy = select(live, gy)
        return select(live, y * (gy - (gy * y).sum(axis=self.axis, keepdims=True)))


class LogSoftmax(Function):
    """y = x - lse(x);  dL/dx = gy - softmax(x) * sum(gy)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        m = x.max(axis=self.axis, keepdims=True)
        shifted = x - m
        return shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        if gy.shape[self.axis] == 1:  # over one element log_softmax is the constant 0
            return Tensor(xp.zeros_like(gy.data))
        return gy - exp(self.output) * gy.sum(axis=self.axis, keepdims=True)


def relu(x): return ReLU()(x)
def leaky_relu(x, negative_slope=0.01): return LeakyReLU(negative_slope)(x)
def sigmoid(x): return Sigmoid()(x)
def tanh(x): return Tanh()(x)
def silu(x): return SiLU()(x)
def elu(x, alpha=1.0): return ELU(alpha)(x)
def softplus(x): return Softplus()(x)


@pytorch_names(**DIM)
def logsumexp(x, axis=None, keepdims=False):
    return LogSumExp(axis, keepdims)(x)


@pytorch_names(**DIM)
def softmax(x, axis=-1):
    return Softmax(axis)(x)


@pytorch_names(**DIM)
def log_softmax(x, axis=-1):
    return LogSoftmax(axis)(x)
