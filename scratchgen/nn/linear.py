"""Dense layers: ``Linear``, its masked form ``MaskedLinear`` and its
lookup-table form, ``Embedding``.

``Linear`` computes ``y = x W^T + b`` with W of shape (out_features,
in_features), PyTorch's layout: row i of W holds the weights of output i.

``Embedding`` is a Linear layer without bias applied to a one-hot vector:
``onehot(i) @ W`` is row i of W.  Building the one-hot matrix would waste
memory and time, so the layer indexes, ``W[indices]``; indexing is
differentiable, and its backward adds the gradient of every occurrence of a
repeated index into the same row.

Default initialisation, PyTorch's: Linear (and convolution) weights
``kaiming_uniform_(a=sqrt(5))``, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
and the bias from the same interval; embeddings from N(0, 1).
"""
from __future__ import annotations

import math

from .. import backend
from .. import functional as F
from ..autograd import Tensor
from ..backend import xp
from . import init
from .module import Module, Parameter


def empty_parameter(*shape) -> Parameter:
    """A float32 parameter whose values ``reset_parameters`` then draws."""
    return Parameter(xp.zeros(shape, dtype=backend.DEFAULT_FLOAT))


def reset_weight_and_bias(weight, bias) -> None:
    """PyTorch's default init for Linear and convolution layers."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = empty_parameter(out_features, in_features)
        self.register_parameter("bias", empty_parameter(out_features) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")



class MaskedLinear(Linear):
    """A Linear layer some of whose connections are cut: ``y = x (W * M)^T
    + b`` for a fixed 0/1 ``mask`` M of the weight's shape (out, in).  The
    gradient of a cut weight is gy x * 0 = 0, so it stays whatever it was
    and never matters.  MADE builds its autoregressive networks from these
    (:mod:`scratchgen.models.made`).  The mask is a buffer (all ones until
    :meth:`set_mask`), so it is saved with the weights."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", Tensor(xp.ones((out_features, in_features),
                                                    dtype=backend.DEFAULT_FLOAT)))

    def set_mask(self, mask):
        """Use the 0/1 array ``mask``, of shape (out_features, in_features)."""
        mask = backend.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if tuple(mask.shape) != self.mask.shape:
            raise ValueError(f"{self!r}: mask must have shape {self.mask.shape} (out, in), "
                             f"got {tuple(mask.shape)}")
        self.mask.data[...] = mask

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)

class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``;
    integer indices of any shape (...) give vectors of shape (..., dim).

    ``padding_idx`` (PyTorch's option) names a row that stands for
    padding: it starts at zeros and never receives a gradient, so it stays
    whatever it is set to."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx={padding_idx} must lie in "
                                 f"[-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = empty_parameter(num_embeddings, embedding_dim)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices):
        index = indices.data if isinstance(indices, Tensor) else backend.asarray(indices)
        if index.dtype.kind not in "iu":
            raise TypeError(f"{self!r}: indices must be integers, got dtype {index.dtype}")
        # NumPy would wrap negative indices and CuPy wraps every index: check here,
        # except in training on a device, where the check would wait for the
        # device every step (training indices come from a checked data set)
        checked = not (self.training and backend.ON_DEVICE)
        if checked and index.size and not (0 <= int(index.min())
                                           and int(index.max()) < self.num_embeddings):
            raise IndexError(f"{self!r}: indices must lie in [0, {self.num_embeddings}), got "
                             f"values from {int(index.min())} to {int(index.max())}")
        rows = self.weight[index]
        if self.padding_idx is None:
            return rows
        # the padding row's value, as a constant: no gradient reaches it
        padding = (index == self.padding_idx)[..., None]
        return F.where(padding, self.weight.detach()[index], rows)

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
