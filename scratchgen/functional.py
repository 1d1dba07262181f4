"""``scratchgen.functional`` (imported as ``F``): stateless building blocks.

Activations, convolutions and losses live in their own modules
(:mod:`scratchgen.ops`, :mod:`scratchgen.conv`, :mod:`scratchgen.losses`) and
are gathered here under PyTorch's names.  What is defined here composes them:
``linear``, ``batch_norm``, ``layer_norm``, ``gelu`` and ``dropout``.
"""
from __future__ import annotations

import math

from . import backend
from .autograd import Function, Tensor, is_grad_enabled
from .backend import xp
from .conv import avg_pool2d, conv2d, conv_transpose2d, max_pool2d
from .losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                     gaussian_kl, gaussian_nll, mse_loss)
from .ops import (AddMM, concatenate, elu, exp, leaky_relu, log, log_softmax, logsumexp, relu,
                  sigmoid, silu, softmax, softplus, stack, tanh, where)
from .ops import sum as _sum
from .ops import swapaxes
from .resample import interpolate

__all__ = [
    "relu", "leaky_relu", "elu", "silu", "sigmoid", "tanh", "softplus", "exp", "log",
    "logsumexp",
    "softmax", "log_softmax", "linear", "conv2d", "conv_transpose2d", "max_pool2d",
    "avg_pool2d", "batch_norm", "layer_norm", "gelu", "scaled_dot_product_attention", "dropout",
    "dropout2d", "group_norm", "interpolate", "concatenate", "stack", "where",
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


def _batch_norm_train_plain(x, axes, weight, bias, eps):
    """Training-mode batch norm, the textbook rule op by op: per channel,
    the mean and (biased) variance over ``axes``, normalise, scale, shift.
    Its gradient is whatever the chain rule through these ops gives.
    Returns y and the batch statistics (arrays, for the running estimates).
    ``_batch_norm_train`` below computes the same numbers."""
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    # y = (x - mean) / sqrt(var + eps) * weight + bias
    y = (x - mean) / (var + eps).sqrt() * weight + bias
    return y, mean.data, var.data


class _BatchNorm(Function):
    """Training-mode batch norm, ``y = xhat * weight + bias`` with
    ``xhat = (x - mean) * s`` and ``s = 1 / sqrt(var + eps)``, mean and
    (biased) var per channel over ``axes``.  Written with mean, var, sub,
    div, mul and add (``_batch_norm_train_plain``) it is a dozen small ops,
    each a pass over x forward and more backward; as one Function it takes two passes for the
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


def _batch_norm_train(x, axes, weight, bias, eps):
    """``_batch_norm_train_plain``'s numbers from the fused :class:`_BatchNorm`.
    What it buys: 1.07-1.09x on the DCGAN step
    (``benchmarks/bench_plain_fast.py``, two runs; AMD EPYC, 2 shared vCPUs, 1 thread)."""
    norm = _BatchNorm(axes, eps)
    return norm(x, weight, bias), norm.mean, norm.var


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
        y, batch_mean, batch_var = _batch_norm_train(x, axes, weight, bias, eps)
        if running_mean is not None:
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * batch_mean.reshape(-1)
            running_var.data *= 1 - momentum
            running_var.data += momentum * count / (count - 1) * batch_var.reshape(-1)
        return y
    mean = running_mean.reshape(stats_shape)
    var = running_var.reshape(stats_shape)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * weight.reshape(stats_shape)
    if bias is not None:
        y = y + bias.reshape(stats_shape)
    return y


# ---------------------------------------------------------------------------
# Layer normalisation (Ba, Kiros & Hinton, 2016)
# ---------------------------------------------------------------------------

def _layer_norm_composed(x, axes, weight, bias, eps):
    """The textbook rule, op by op: each example is normalised over its own
    last axes (not over the batch, as batch norm does), then scaled and
    shifted elementwise.  Kept as runnable code; ``_LayerNorm`` is the same
    function fused, and a test checks that the two agree."""
    mean = x.mean(axis=axes, keepdims=True)
    y = (x - mean) / (x.var(axis=axes, keepdims=True) + eps).sqrt()
    return y * weight + bias


class _LayerNorm(Function):
    """``y = xhat * weight + bias``, ``xhat = (x - mean) * s``,
    ``s = 1 / sqrt(var + eps)``, mean and (biased) var of each example over
    its last ``len(normalized_shape)`` axes, m values each.  With g = dL/dy:

        dL/dbias = sum_batch g,   dL/dweight = sum_batch g * xhat
        dL/dxhat = h = g * weight, and as for batch norm (the same algebra
        over the other axes):
        dL/dx = s (h - mean(h) - xhat mean(h * xhat))

    One Function instead of eight: two passes for the statistics, one to
    normalise, one for the affine map, and a closed-form backward."""

    def __init__(self, axes, eps):
        self.axes, self.eps = axes, eps

    def forward(self, x, weight, bias):
        xhat = x - x.mean(axis=self.axes, keepdims=True)
        var = (xhat * xhat).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1 / xp.sqrt(var + self.eps)
        xhat *= self.inv_std
        self.xhat = xhat
        y = xp.multiply(xhat, weight, dtype=xp.result_type(xhat, weight, bias))
        y += bias
        return y

    def backward(self, g):
        x, weight, _ = self.inputs
        axes = self.axes
        if is_grad_enabled():
            # create_graph: a second derivative needs s and xhat as functions of x
            s = (x.var(axis=axes, keepdims=True) + self.eps) ** -0.5
            xhat = (x - x.mean(axis=axes, keepdims=True)) * s
        else:
            s, xhat = Tensor(self.inv_std), Tensor(self.xhat)
        batch = tuple(range(x.ndim - len(axes)))
        gw = _sum(g * xhat, axis=batch) if self.needs_input_grad[1] else None
        gb = _sum(g, axis=batch) if self.needs_input_grad[2] else None
        gx = None
        if self.needs_input_grad[0]:
            h = g * weight
            gx = s * (h - h.mean(axis=axes, keepdims=True)
                      - xhat * (h * xhat).mean(axis=axes, keepdims=True))
        return gx, gw, gb


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise each example over its last axes, ``normalized_shape``
    (an int or a tuple, as in PyTorch), to zero mean and unit (biased)
    variance, then ``* weight + bias`` (each of shape ``normalized_shape``).
    The same in training and evaluation: no running statistics."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"layer_norm: input {x.shape} does not end in normalized_shape {shape}; "
                         f"pass the sizes of the input's last axes")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.shape != shape:
            raise ValueError(f"layer_norm: {name} has shape {t.shape}, expected {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    # a missing weight or bias is the identity's: one fused Function either way
    weight = weight if weight is not None else Tensor(xp.ones(shape, dtype=x.dtype))
    bias = bias if bias is not None else Tensor(xp.zeros(shape, dtype=x.dtype))
    return _LayerNorm(axes, eps)(x, weight, bias)


# ---------------------------------------------------------------------------
# GELU (Hendrycks & Gimpel, 2016): x weighted by how likely a standard normal
# is to be below it, a smooth ReLU
# ---------------------------------------------------------------------------

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_SCALE, _TANH_CUBIC = math.sqrt(2 / math.pi), 0.044715


class NormalCDF(Function):
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2; Phi'(x) = phi(x) = e^(-x^2/2) / sqrt(2 pi)."""

    def forward(self, x):
        return 0.5 * (1 + backend.erf(x * _SQRT_HALF))

    def backward(self, gy):
        x = self.inputs[0]
        return gy * (exp(-0.5 * x * x) * _INV_SQRT_2PI)


def _gelu_composed(x, approximate="none"):
    """The textbook rules, op by op (``_GELU`` fuses them; a test checks
    that the two agree):

        exact:  gelu(x) = x Phi(x)
        tanh:   gelu(x) ~ x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"""
    if approximate == "tanh":
        return 0.5 * x * (1 + tanh(_TANH_SCALE * (x + _TANH_CUBIC * x * x * x)))
    return x * NormalCDF()(x)


def gelu_and_slope(x):
    """On arrays: gelu(x) = x Phi(x) and gelu'(x) = Phi(x) + x phi(x).  On a
    GPU ``_GELU`` runs it fused (``backend.fuse``): one kernel, not eleven."""
    cdf = 0.5 * (1 + backend.erf(x * _SQRT_HALF))
    return x * cdf, cdf + x * xp.exp(-0.5 * x * x) * _INV_SQRT_2PI


def gelu_tanh_and_slope(x):
    """On arrays, with u = c (x + a x^3) and t = tanh(u): gelu(x) ~ x/2 (1 + t)
    and its slope (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 a x^2)."""
    x2 = x * x
    t = xp.tanh(_TANH_SCALE * x * (1 + _TANH_CUBIC * x2))
    return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_SCALE * (
        1 + 3 * _TANH_CUBIC * x2)


_GELU_ARRAYS = {"none": backend.fuse(gelu_and_slope), "tanh": backend.fuse(gelu_tanh_and_slope)}


class _GELU(Function):
    """GELU with its derivative computed in the forward pass
    (:func:`gelu_and_slope`, :func:`gelu_tanh_and_slope`), so backward is
    one multiplication (under ``create_graph`` the same derivative is built
    from ops, so that it can be differentiated again)."""

    def __init__(self, approximate):
        self.approximate = approximate

    def forward(self, x):
        y, self.slope = _GELU_ARRAYS[self.approximate](x)
        return y.astype(x.dtype, copy=False)

    def backward(self, gy):
        x = self.inputs[0]
        if not is_grad_enabled():
            return gy * Tensor(self.slope.astype(gy.data.dtype, copy=False))
        # create_graph: the same derivative written in ops, so it can be differentiated
        if self.approximate == "tanh":
            t = tanh(_TANH_SCALE * (x + _TANH_CUBIC * x * x * x))
            return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_SCALE
                         * (1 + 3 * _TANH_CUBIC * x * x))
        return gy * (NormalCDF()(x) + x * exp(-0.5 * x * x) * _INV_SQRT_2PI)


def gelu(x, approximate="none"):
    """GELU, PyTorch's ``F.gelu``: ``approximate='none'`` (exact, with
    erf) or ``'tanh'`` (GPT-2's approximation)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _GELU(approximate)(x)


# ---------------------------------------------------------------------------
# Attention (Vaswani et al., 2017), written out
# ---------------------------------------------------------------------------

def causal_mask(length, keys=None):
    """The (length, keys) boolean mask of a causal model (keys defaults to
    length): row t (a query) may look at columns s <= t (keys at or before
    it), never after.  Aligned at the top left, as PyTorch's ``is_causal``."""
    return xp.tril(xp.ones((length, length if keys is None else keys), dtype=bool))


def attention_weights(query, key, attn_mask=None, is_causal=False, scale=None):
    """softmax over keys of the scores ``q . k / sqrt(d)``, with the mask
    applied by hand: a masked-out score is set to -inf before the softmax,
    so its weight is exp(-inf) = 0 exactly, the remaining weights of its row
    still sum to 1, and no gradient flows to it.  ``attn_mask`` is boolean,
    True where attending is allowed (PyTorch's convention); shape (..., L, S)."""
    d = query.shape[-1]
    scale = 1 / math.sqrt(d) if scale is None else scale
    # scores[..., t, s] = q_t . k_s / sqrt(d): dividing by sqrt(d) keeps their
    # spread near 1 whatever d is, so the softmax does not saturate at init
    scores = (query @ swapaxes(key, -1, -2)) * scale
    mask = causal_mask(query.shape[-2], key.shape[-2]) if is_causal else None
    if attn_mask is not None:
        # a host (NumPy) mask is copied to the backend once, explicitly
        given = attn_mask.data if isinstance(attn_mask, Tensor) else backend.asarray(attn_mask)
        mask = given if mask is None else xp.logical_and(mask, given)
    if mask is not None:
        scores = where(mask, scores, -math.inf)
    return softmax(scores, axis=-1)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    """PyTorch's ``F.scaled_dot_product_attention``, built from matmul,
    where and softmax: each query's output is the average of the values,
    weighted by :func:`attention_weights`.  Shapes (..., L, d) for the
    queries, (..., S, d) keys, (..., S, dv) values; output (..., L, dv)."""
    weights = attention_weights(query, key, attn_mask, is_causal, scale)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p)
    return weights @ value


def group_norm(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation (Wu & He, 2018): split the C channels of each
    example into ``num_groups`` groups and normalise each group over its
    channels and positions, then scale and shift per channel.  It is layer
    norm over the reshaped example (N, G, C/G * H * W), so it reuses that
    fused Function; ``weight`` and ``bias`` have shape (C,)."""
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(f"group_norm: {num_groups} groups must divide the channels (axis 1) "
                         f"of the input {x.shape}")
    n, c = x.shape[:2]
    per_group = x.size // (n * num_groups) if n else 0
    y = layer_norm(x.reshape(n, num_groups, per_group), per_group, eps=eps).reshape(x.shape)
    channel = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(channel)
    if bias is not None:
        y = y + bias.reshape(channel)
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


def dropout2d(x, p=0.5, training=True):
    """Channel dropout: zero whole channels of (N, C, H, W) with probability
    p (a feature map's neighbouring pixels are correlated, so dropping single
    pixels regularises little), survivors scaled by 1/(1 - p)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout2d probability must be in [0, 1), got {p}")
    if x.ndim != 4:
        raise ValueError(f"dropout2d: expected (N, C, H, W), got {x.shape}")
    if not training or p == 0:
        return x
    keep = backend.generator().random(x.shape[:2] + (1, 1), dtype=x.data.dtype) >= p
    return x * Tensor(keep.astype(x.data.dtype) / (1 - p))
