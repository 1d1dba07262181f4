"""Arithmetic: + - * / ** and the matrix product, each forward beside its backward."""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor, as_tensor
from ..backend import xp
from .blas_layout import columnwise
from .broadcast import _operands, sum_to
from .elementwise import log, select, where


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
    so a constant exponent works for negative bases).

    At the boundary, PyTorch's values: dy/da = 0 where b = 0 (a^0 is the
    constant 1, whatever a and the upstream gradient; b a^(b-1) would be
    0 * inf at a = 0 or for an infinite gy), and
    dy/db = 0 where a = 0 and b >= 0 (0^b is constant there; y log a would
    be 0 * -inf).  Those positions are selected out, and their operands
    replaced by a harmless 1 first ("double where"), so that the second
    derivative, which differentiates the masked formula too, meets no inf.
    (As in PyTorch, the mixed derivative d2y/(da db) at exactly b = 0 is
    then taken as 0, not 1/a.)"""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = gb = None
        if self.needs_input_grad[0]:
            live = b.data != 0
            safe_a = where(live, a, 1.0)
            ga = sum_to(select(live, gy * b * safe_a ** (b - 1)), a.shape)
        if self.needs_input_grad[1]:
            live = ~((a.data == 0) & (b.data >= 0))
            gb = sum_to(select(live, gy * self.output * log(where(live, a, 1.0))), b.shape)
        return ga, gb


def _t(x):
    return x.swapaxes(-1, -2)


def matmul_grads_plain(a, b, gy):
    """The textbook rule for Y = A @ B: each gradient is one matrix product,
    summed over the batch axes that broadcasting stretched."""
    # dL/dA = gY @ B^T
    ga = sum_to(gy @ _t(b), a.shape)
    # dL/dB = A^T @ gY
    gb = sum_to(_t(a) @ gy, b.shape)
    return ga, gb


def matmul_grads(a, b, gy, needs):
    """The same two products, each computed the way round that suits BLAS
    (``blas_layout.columnwise``: (B @ gY^T)^T for gY @ B^T, (gY^T @ A)^T for
    A^T @ gY), and only for the inputs that need one.  What it buys: 1.3x on
    the DCGAN's convolution weight gradients, and activation-shaped gradients
    in their activation's memory order (see ``blas_layout``)."""
    ga = gb = None
    if needs[0]:
        flip = columnwise(a.data, gy.shape[-2], gy.shape[-1], b.shape[-2])
        ga = sum_to(_t(b @ _t(gy)) if flip else gy @ _t(b), a.shape)
    if needs[1]:
        flip = columnwise(b.data, a.shape[-1], a.shape[-2], gy.shape[-1])
        gb = sum_to(_t(_t(gy) @ a) if flip else _t(a) @ gy, b.shape)
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
        return matmul_grads(a, b, gy, self.needs_input_grad)


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
        return (gc, *matmul_grads(a, b, gy, self.needs_input_grad[1:]))


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
