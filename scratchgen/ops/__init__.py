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

from ..autograd import Tensor, as_tensor, astype
from .activations import (ELU, LeakyReLU, LogSoftmax, LogSumExp, ReLU, Sigmoid, SiLU, Softmax,
                          Softplus, Tanh, elu, leaky_relu, log_softmax, logsumexp, relu,
                          sigmoid, silu, softmax, softplus, tanh)
from .arguments import DIM as _DIM
from .arguments import pytorch_names as _pytorch_names
from .arithmetic import (Add, AddMM, Div, MatMul, Mul, Neg, Pow, Sub, add, div, matmul, mul, neg,
                         pow, sub)
from .broadcast import BroadcastTo, SumTo, broadcast_to, sum_to
from .elementwise import (Abs, Clip, Exp, Log, Maximum, Minimum, Select, Sqrt, Where, abs, clip,
                          exp, log, maximum, minimum, select, sqrt, where)
from .reductions import Max, Min, Sum, max, mean, min, sum, var
from .shapes import (Concatenate, GetItem, Pad, Permute, Reshape, ScatterAdd, concatenate,
                     expand_dims, flatten, getitem, pad, permute, reshape, split, squeeze,
                     stack, swapaxes, transpose)


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
    for name in ("sum", "mean", "var", "max", "min", "reshape", "transpose", "permute", "flatten",
                 "exp", "log", "sqrt", "abs", "clip", "squeeze", "expand_dims",
                 "swapaxes", "sigmoid", "tanh", "relu", "softmax", "log_softmax",
                 "logsumexp", "broadcast_to"):
        setattr(T, name, globals()[name])
    T.T = property(lambda self: permute(self, *reversed(range(self.ndim))))
    T.argmax = _pytorch_names(**_DIM)(lambda self, axis=None, keepdims=False: Tensor(
        self.data.argmax(axis=axis, keepdims=keepdims)))
    T.argmin = _pytorch_names(**_DIM)(lambda self, axis=None, keepdims=False: Tensor(
        self.data.argmin(axis=axis, keepdims=keepdims)))
    T.astype = astype


_install_tensor_methods()
