"""Weight initialisation: choose the scale so signals neither vanish nor explode.

For a layer ``y = W x`` with ``fan_in`` inputs, independent zero-mean
weights of variance s^2 and inputs of variance v give
``Var(y_i) = fan_in * s^2 * v``: the variance is multiplied by
``fan_in * s^2`` per layer, so over many layers it explodes or vanishes unless
``s^2 = 1 / fan_in``.  Two refinements:

* Glorot & Bengio (2010), "Xavier": keep the backward pass stable too, which
  needs ``1 / fan_out``; compromise on ``s^2 = 2 / (fan_in + fan_out)``.
* He et al. (2015), "Kaiming": a ReLU zeroes half its inputs and halves the
  second moment, so ``s^2 = 2 / fan_in``.  In general ``s = gain / sqrt(fan)``
  with a ``gain`` per nonlinearity (:func:`calculate_gain`).

A uniform distribution on [-b, b] has variance b^2 / 3, so the uniform
variants use ``b = sqrt(3) s``.

Fans of a weight tensor, PyTorch's convention: ``fan_in = shape[1] * r`` and
``fan_out = shape[0] * r``, where ``r`` is the product of the remaining
(kernel) dimensions.  For ConvTranspose2d, whose weight is (in, out, kh, kw),
this makes "fan_in" ``out * kh * kw``, as in PyTorch.

Every function overwrites ``t.data`` in place (keeping its dtype) and returns
``t``; the draws come from the generator that ``sg.manual_seed`` seeds.
"""
from __future__ import annotations

import math

from .. import backend


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity: 1 for linear, conv and
    sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for
    leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(t):
    if t.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {t.shape}")
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fill(t, values):
    t.data[...] = values
    return t


def uniform_(t, a: float = 0.0, b: float = 1.0):
    """Draws from U(a, b)."""
    u = backend.generator().random(t.shape, dtype=t.data.dtype)
    return _fill(t, a + (b - a) * u)


def normal_(t, mean: float = 0.0, std: float = 1.0):
    """Draws from N(mean, std^2)."""
    z = backend.generator().standard_normal(t.shape, dtype=t.data.dtype)
    return _fill(t, mean + std * z)


def constant_(t, val: float):
    return _fill(t, val)


def zeros_(t):
    return _fill(t, 0)


def ones_(t):
    return _fill(t, 1)


def xavier_uniform_(t, gain: float = 1.0):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t, gain: float = 1.0):
    """N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(t, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(t)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(t, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """U(-b, b) with b = sqrt(3) * gain / sqrt(fan); ``a`` is the leaky-ReLU
    slope for the gain.  PyTorch's default layer init is ``a = sqrt(5)``:
    gain^2 = 2 / (1 + 5) = 1/3, so b = 1 / sqrt(fan_in)."""
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """N(0, s^2) with s = gain / sqrt(fan)."""
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity))
