"""``scratchgen.functional`` (imported as ``F``): stateless building blocks.

Activations, convolutions and losses live in their own modules
(:mod:`scratchgen.ops`, :mod:`scratchgen.conv`, :mod:`scratchgen.losses`) and
are gathered here under PyTorch's names.  What is defined here composes them:
``linear``, ``batch_norm`` and ``dropout``.
"""
from __future__ import annotations

from . import backend
from .autograd import Tensor, no_grad
from .conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                     gaussian_kl, gaussian_nll, mse_loss)
from .ops import (concatenate, exp, leaky_relu, log, log_softmax, logsumexp, relu, sigmoid,
                  softmax, softplus, stack, tanh, where)

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "exp", "log", "logsumexp",
    "softmax", "log_softmax", "linear", "conv2d", "conv_transpose2d", "max_pool2d",
    "avg_pool2d", "batch_norm", "dropout", "concatenate", "stack", "where",
    "binary_cross_entropy_with_logits", "binary_cross_entropy", "cross_entropy",
    "mse_loss", "gaussian_kl", "gaussian_nll",
]


def linear(x, w, b=None):
    """y = x W^T + b, with W of shape (out, in) as in PyTorch."""
    if x.shape[-1] != w.shape[1]:
        raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the "
                         f"weight {w.shape} expects {w.shape[1]}")
    y = x @ w.T
    return y if b is None else y + b


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalise each channel (axis 1) to zero mean and unit variance, then
    scale and shift: ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    Training: mean and (biased) var of this batch, over every axis but 1,
    and the running estimates move toward them,
    ``running = (1 - momentum) running + momentum * batch``, with the
    *unbiased* batch variance (n / (n - 1) var), as PyTorch does.
    Evaluation: the running estimates, so y is an affine map of x."""
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: expected (N, C), (N, C, L) or (N, C, H, W), got {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    stats_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"batch_norm: need more than 1 value per channel in training, "
                             f"got input {x.shape}")
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        if running_mean is not None:
            with no_grad():
                running_mean.data *= 1 - momentum
                running_mean.data += momentum * mean.data.reshape(-1)
                running_var.data *= 1 - momentum
                running_var.data += momentum * count / (count - 1) * var.data.reshape(-1)
    else:
        mean = running_mean.reshape(stats_shape)
        var = running_var.reshape(stats_shape)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(stats_shape)
    if bias is not None:
        y = y + bias.reshape(stats_shape)
    return y


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the survivors by
    1/(1 - p), so the expected value is unchanged ("inverted dropout")."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    keep = backend.generator().random(x.shape, dtype=x.data.dtype) >= p
    return x * Tensor(keep.astype(x.data.dtype) / (1 - p))
