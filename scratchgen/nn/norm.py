"""Normalisation layers: batch norm (Ioffe & Szegedy, 2015) and, at the end,
layer norm (Ba et al., 2016).

Each channel c is normalised with the mean and variance of the batch, then
scaled and shifted by learned ``weight[c]`` and ``bias[c]``:
``y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c``.

A model in evaluation mode must not depend on which other examples share the
batch, so during training the layer keeps exponential moving averages,
``running = (1 - momentum) running + momentum * batch`` (the batch variance
taken unbiased), and evaluation uses those: then y is a fixed affine map of
x.  ``momentum=None`` makes it a plain cumulative average, with factor
``1 / num_batches_tracked``.  The buffers ``running_mean`` (zeros),
``running_var`` (ones) and ``num_batches_tracked`` (an int64 count) are
PyTorch's, so checkpoints carry over.  The arithmetic is
:func:`scratchgen.functional.batch_norm`.
"""
from __future__ import annotations

from .. import backend
from .. import functional as F
from ..autograd import Tensor
from ..backend import xp
from . import init
from .linear import empty_parameter
from .module import Module, check_input


def _buffer(shape, dtype=backend.DEFAULT_FLOAT) -> Tensor:
    return Tensor(xp.zeros(shape, dtype=dtype))


class _BatchNorm(Module):
    ndims, layout = (), ""  # set by the subclasses

    def __init__(self, num_features: int, eps: float = 1e-5, momentum=0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.register_parameter("weight", empty_parameter(num_features) if affine else None)
        self.register_parameter("bias", empty_parameter(num_features) if affine else None)
        stats = track_running_stats
        self.register_buffer("running_mean", _buffer(num_features) if stats else None)
        self.register_buffer("running_var", _buffer(num_features) if stats else None)
        self.register_buffer("num_batches_tracked", _buffer((), xp.int64) if stats else None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        check_input(self, x, self.ndims, self.layout, axis=1, size=self.num_features)
        factor = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        # without running statistics, evaluation normalises with the batch's too
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """For (N, C) features or (N, C, L) sequences."""
    ndims, layout = (2, 3), "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """For (N, C, H, W) images: statistics over N, H and W per channel."""
    ndims, layout = (4,), "(N, C, H, W)"


class LayerNorm(Module):
    """Layer normalisation (Ba et al., 2016): each example normalised over
    its last axes, ``normalized_shape``, with its own statistics, then an
    elementwise ``weight`` (ones) and ``bias`` (zeros) of that shape.  No
    batch statistics, so it behaves the same in training and evaluation and
    for a batch of one: the normalisation of transformers.
    :func:`scratchgen.functional.layer_norm` does the arithmetic."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        affine = elementwise_affine
        self.register_parameter("weight", empty_parameter(*shape) if affine else None)
        self.register_parameter("bias", empty_parameter(*shape) if affine and bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Group normalisation (Wu & He, 2018): the channels of each example in
    ``num_groups`` groups, each normalised with its own statistics (so, like
    LayerNorm, it does not depend on the batch and works for a batch of
    one), then a per-channel ``weight`` (ones) and ``bias`` (zeros).
    :func:`scratchgen.functional.group_norm` does the arithmetic."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by "
                             f"num_groups={num_groups}")
        self.num_groups, self.num_channels, self.eps, self.affine = \
            num_groups, num_channels, eps, affine
        self.register_parameter("weight", empty_parameter(num_channels) if affine else None)
        self.register_parameter("bias", empty_parameter(num_channels) if affine else None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r}: expected input (N, {self.num_channels}, ...), got "
                             f"{x.shape}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
