"""Loss functions, each derived in a line or two, each in a stable form.

``reduction`` (PyTorch's word): ``'mean'`` averages the per-element (or, for
the Gaussian terms, per-example) losses, ``'sum'`` adds them, ``'none'``
returns them.
"""
from __future__ import annotations

import math

from .autograd import Function, Tensor
from .backend import xp
from .ops import _softplus_array, as_tensor, log, log_softmax, sigmoid, where

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _same_shape(name, a, b):
    if a.shape != b.shape:
        raise ValueError(f"{name}: input shape {a.shape} and target shape {b.shape} differ; "
                         "they must be equal (reshape the target)")


def binary_cross_entropy_with_logits(logits, target, reduction="mean"):
    """BCE on logits x with target t in [0, 1]:

        -t log sigma(x) - (1 - t) log(1 - sigma(x)) = softplus(x) - t x

    using log sigma(x) = -softplus(-x) and softplus(-x) = softplus(x) - x.
    softplus is computed without overflow, so |x| = 1e4 is fine; the
    gradient is sigma(x) - t."""
    target = as_tensor(target, like=logits)
    _same_shape("binary_cross_entropy_with_logits", logits, target)
    return _reduce(_BCEWithLogits()(logits, target), reduction)


class _BCEWithLogits(Function):
    """softplus(x) - t x elementwise, as one Function, because its gradient
    has a closed form: d/dx = sigmoid(x) - t and d/dt = -x.  (Composed of
    softplus, a product and a difference, its backward would take three
    times the passes over the logits.)"""

    def forward(self, x, t):
        return _softplus_array(x) - t * x

    def backward(self, gy):
        x, t = self.inputs
        gx = gy * (sigmoid(x) - t) if self.needs_input_grad[0] else None
        gt = -gy * x if self.needs_input_grad[1] else None
        return gx, gt


def binary_cross_entropy(probs, target, reduction="mean"):
    """BCE on probabilities p: -t log p - (1 - t) log(1 - p).  As in PyTorch,
    each log is clamped at -100, so p = 0 or 1 gives a large finite loss
    instead of inf.  Prefer the logits version: it never needs the clamp."""
    target = as_tensor(target, like=probs)
    _same_shape("binary_cross_entropy", probs, target)
    loss = -(target * _log_clamped(probs) + (1 - target) * _log_clamped(1 - probs))
    return _reduce(loss, reduction)


def _log_clamped(p):
    """max(log p, -100), with gradient 0 below the clamp.  Clipping p at
    e^-100 instead would be wrong in float32, where e^-100 is a subnormal
    whose 1/p overflows and 0 * inf = nan reaches the gradient; here the
    clamped entries take log 1 and their gradient never meets an inf."""
    kept = p.data > math.exp(-100)
    return where(kept, log(where(kept, p, 1.0)), -100.0)


def cross_entropy(logits, targets, reduction="mean"):
    """Softmax cross-entropy with integer class targets:

        -log softmax(x)[y] = lse(x) - x_y,

    read off log_softmax (stable); its gradient is softmax(x) - onehot(y)."""
    targets = targets.data if isinstance(targets, Tensor) else xp.asarray(targets)
    if logits.ndim != 2 or targets.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: expected logits (N, classes) and targets (N,), got "
                         f"{logits.shape} and {tuple(targets.shape)}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got {targets.dtype}")
    picked = log_softmax(logits, axis=1)[xp.arange(logits.shape[0]), targets]
    return _reduce(-picked, reduction)


def mse_loss(a, b, reduction="mean"):
    """(a - b)^2; gradient 2 (a - b)."""
    b = as_tensor(b, like=a)
    _same_shape("mse_loss", a, b)
    diff = a - b
    return _reduce(diff * diff, reduction)


def gaussian_kl(mu, logvar, reduction="mean"):
    """KL( N(mu, diag e^logvar) || N(0, I) ), per example (summed over the
    last axis):

        1/2 sum_j ( mu_j^2 + e^{logvar_j} - 1 - logvar_j )

    It is 0 exactly at mu = 0, logvar = 0.  'mean' averages over examples."""
    _same_shape("gaussian_kl", mu, logvar)
    per_example = 0.5 * (mu * mu + logvar.exp() - 1 - logvar).sum(axis=-1)
    return _reduce(per_example, reduction)


def gaussian_nll(x, mu, logvar, reduction="mean"):
    """-log N(x; mu, diag e^logvar), per example (summed over the last axis):

        1/2 sum_j ( log 2 pi + logvar_j + (x_j - mu_j)^2 e^{-logvar_j} )"""
    x = as_tensor(x, like=mu)
    _same_shape("gaussian_nll", x, mu)
    diff = x - mu
    per_element = 0.5 * (math.log(2 * math.pi) + logvar + diff * diff * (-logvar).exp())
    return _reduce(per_element.sum(axis=-1), reduction)
