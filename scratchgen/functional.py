"""``scratchgen.functional`` (imported as ``F``): stateless building blocks.

Activations, convolutions and losses live in their own modules
(:mod:`scratchgen.ops`, :mod:`scratchgen.conv`, :mod:`scratchgen.losses`) and
are gathered here under PyTorch's names.  What is defined here composes them:
``linear``, ``batch_norm`` and ``dropout``.
"""
from __future__ import annotations

from . import backend
from .autograd import Function, Tensor, is_grad_enabled
from .backend import xp
from .conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                     gaussian_kl, gaussian_nll, mse_loss)
from .ops import (AddMM, concatenate, exp, leaky_relu, log, log_softmax, logsumexp, relu,
                  sigmoid, softmax, softplus, stack, tanh, where)

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
    if b is None:
        return x @ w.T
    return AddMM()(b, x, w.T) if x.ndim > 1 else x @ w.T + b


class _Standardize(Function):
    """Training-mode normalisation, ``xhat = (x - mean) * s`` with
    ``s = 1 / sqrt(var + eps)``, mean and (biased) var per channel over
    ``axes``.  Written with mean, var, sub and div it would be ten small
    ops, each a pass over x forward and more backward; as one Function it
    takes two passes for the statistics and one to normalise, and its
    backward has a closed form.  With m values per channel and g = dL/dxhat:

        dxhat_i/dx_k = s (delta_ik - 1/m) - s xhat_i xhat_k / m
        (dmean/dx_k = 1/m,  ds/dx_k = -s^3 (x_k - mean) / m = -s^2 xhat_k / m)
        dL/dx = s * (g - mean(g) - xhat * mean(g * xhat))

    The statistics are kept (``mean``, ``var``) for the running estimates."""

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x):
        self.mean = x.mean(axis=self.axes, keepdims=True)
        xhat = x - self.mean
        self.var = (xhat * xhat).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1 / xp.sqrt(self.var + self.eps)
        xhat *= self.inv_std
        return xhat

    def backward(self, g):
        xhat, axes = self.output, self.axes
        if is_grad_enabled():
            # create_graph: a second derivative needs s as a function of x, not a constant
            s = (self.inputs[0].var(axis=axes, keepdims=True) + self.eps) ** -0.5
        else:
            s = Tensor(self.inv_std)
        return s * (g - g.mean(axis=axes, keepdims=True)
                    - xhat * (g * xhat).mean(axis=axes, keepdims=True))


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
        standardize = _Standardize(axes, eps)
        y = standardize(x)
        if running_mean is not None:
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * standardize.mean.reshape(-1)
            running_var.data *= 1 - momentum
            running_var.data += momentum * count / (count - 1) * standardize.var.reshape(-1)
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
