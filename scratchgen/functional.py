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


class _BatchNorm(Function):
    """Training-mode batch norm, ``y = xhat * weight + bias`` with
    ``xhat = (x - mean) * s`` and ``s = 1 / sqrt(var + eps)``, mean and
    (biased) var per channel over ``axes``.  Written with mean, var, sub,
    div, mul and add it would be a dozen small ops, each a pass over x
    forward and more backward; as one Function it takes two passes for the
    statistics, one to normalise and one for the affine map, and its
    backward has a closed form.  With m values per channel, g = dL/dy and
    the per-channel sums ``gb = sum(g)``, ``gw = sum(g * xhat)``:

        dL/dbias = gb,   dL/dweight = gw
        dL/dxhat = weight * g, and with
        dxhat_i/dx_k = s (delta_ik - 1/m) - s xhat_i xhat_k / m
        (dmean/dx_k = 1/m,  ds/dx_k = -s^3 (x_k - mean) / m = -s^2 xhat_k / m):
        dL/dx = s weight (g - gb/m - xhat gw/m)

    so ``g * xhat`` is computed once for both the weight's gradient and
    x's.  The statistics are kept (``mean``, ``var``) for the running
    estimates."""

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x, weight, bias):
        self.mean = x.mean(axis=self.axes, keepdims=True)
        xhat = x - self.mean
        self.var = (xhat * xhat).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1 / xp.sqrt(self.var + self.eps)
        xhat *= self.inv_std
        self.xhat = xhat  # for backward; y is a fresh array, so the bias goes in place
        y = xp.multiply(xhat, weight, dtype=xp.result_type(xhat, weight, bias))
        y += bias
        return y

    def backward(self, g):
        x, weight, _ = self.inputs
        axes, m = self.axes, x.size // x.shape[1]
        if is_grad_enabled():
            # create_graph: a second derivative needs s and xhat as functions of x
            s = (x.var(axis=axes, keepdims=True) + self.eps) ** -0.5
            xhat = (x - x.mean(axis=axes, keepdims=True)) * s
        else:
            s, xhat = Tensor(self.inv_std), Tensor(self.xhat)
        gb = g.sum(axis=axes, keepdims=True)
        gw = (g * xhat).sum(axis=axes, keepdims=True)
        gx = None
        if self.needs_input_grad[0]:
            a = s * weight  # per channel: every full-size pass below is one op
            gx = a * g - (xhat * (a * gw / m) + a * gb / m)
        return gx, gw, gb


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
        # a missing weight or bias is the identity's: one fused Function either way
        weight = (weight.reshape(stats_shape) if weight is not None
                  else Tensor(xp.ones(stats_shape, dtype=x.dtype)))
        bias = (bias.reshape(stats_shape) if bias is not None
                else Tensor(xp.zeros(stats_shape, dtype=x.dtype)))
        norm = _BatchNorm(axes, eps)
        y = norm(x, weight, bias)
        if running_mean is not None:
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * norm.mean.reshape(-1)
            running_var.data *= 1 - momentum
            running_var.data += momentum * count / (count - 1) * norm.var.reshape(-1)
        return y
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
