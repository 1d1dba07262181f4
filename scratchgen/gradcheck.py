"""Checking gradients against finite differences.

For a function f and a fixed random cotangent u, the scalar
``s(x) = <u, f(x)>`` has gradient ``J^T u`` — exactly what backward computes.
The central difference

    (s(x + eps e_i) - s(x - eps e_i)) / (2 eps) = ds/dx_i + O(eps^2)

estimates it one element at a time.  Why float64: the rounding error of the
difference is about machine-epsilon * |s| / eps; with float32 (1e-7) and
eps = 1e-3 that is 1e-4, as large as the truncation error, so nothing can be
checked tightly.  In float64 (1e-16) eps = 1e-6 leaves both errors near
1e-10.  (Lesson 04 plots this trade-off.)

``mode="directional"`` checks a random direction v instead of every element:
``<grad s, v>`` against ``(s(x + eps v) - s(x - eps v)) / (2 eps)``, two
evaluations instead of two per element, for large inputs.

``gradgradcheck`` runs the same check on the function x -> J^T u, built
with ``create_graph=True``: it checks second derivatives.
"""
from __future__ import annotations

import numpy as _host_np  # host side: reporting and the check's own random draws

from . import backend
from .autograd import Tensor, enable_grad, no_grad
from .backward import grad
from .backend import xp
from .ops import concatenate


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree."""


def _float64_inputs(inputs):
    """float64 copies of the float inputs (which are the ones checked)."""
    out = []
    for t in inputs:
        if isinstance(t, Tensor) and t.dtype.kind == "f":
            out.append(Tensor(t.data.astype(xp.float64), requires_grad=True))
        else:
            out.append(t)
    return out


def _scalarize(fn, cotangent):
    def s(*xs):
        y = fn(*xs)
        return (y * cotangent).sum() if cotangent is not None else y.sum()
    return s


def _random_like(shape, rng):
    return Tensor(backend.asarray(rng.standard_normal(shape)))


def _analytic(s, inputs, checked):
    value = s(*inputs)
    if not value.requires_grad:
        return [xp.zeros_like(inputs[i].data) for i in checked]
    grads = grad(value, [inputs[i] for i in checked], allow_unused=True)
    return [xp.zeros_like(inputs[i].data) if g is None else g.data
            for i, g in zip(checked, grads)]


def _evaluate(s, inputs):
    with no_grad():
        return float(s(*inputs).item())


def _compare(analytic, numeric, atol, rtol, where):
    if not abs(analytic - numeric) <= atol + rtol * abs(numeric):
        raise GradcheckError(
            f"gradient mismatch at {where}: analytic {analytic:.10g}, numeric "
            f"{numeric:.10g} (difference {abs(analytic - numeric):.3g}, "
            f"allowed {atol + rtol * abs(numeric):.3g})")


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", seed=0):
    """Raise :class:`GradcheckError` unless backward agrees with central
    differences for every float input of ``fn``; return True otherwise."""
    rng = _host_np.random.default_rng(seed)
    inputs = _float64_inputs(inputs if isinstance(inputs, (tuple, list)) else [inputs])
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    with no_grad():
        out_shape = fn(*inputs).shape
    s = _scalarize(fn, _random_like(out_shape, rng))
    analytic = _analytic(s, inputs, checked)

    if mode == "directional":
        directions = [_random_like(inputs[i].shape, rng).data for i in checked]
        predicted = float(sum(float((g * v).sum()) for g, v in zip(analytic, directions)))
        for i, v in zip(checked, directions):
            inputs[i].data += eps * v
        plus = _evaluate(s, inputs)
        for i, v in zip(checked, directions):
            inputs[i].data -= 2 * eps * v
        minus = _evaluate(s, inputs)
        _compare(predicted, (plus - minus) / (2 * eps), atol, rtol, "a random direction")
        return True
    if mode != "full":
        raise ValueError(f"mode must be 'full' or 'directional', got {mode!r}")

    for i, g in zip(checked, analytic):
        flat = inputs[i].data.reshape(-1)  # a view: perturbing it perturbs the input
        g_host = backend.to_numpy(g).reshape(-1)
        for k in range(flat.size):
            original = float(flat[k])
            flat[k] = original + eps
            plus = _evaluate(s, inputs)
            flat[k] = original - eps
            minus = _evaluate(s, inputs)
            flat[k] = original
            element = _host_np.unravel_index(k, inputs[i].shape)
            _compare(float(g_host[k]), (plus - minus) / (2 * eps), atol, rtol,
                     f"input {i}, element {tuple(int(e) for e in element)}")
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="full", seed=0):
    """Check second derivatives: gradcheck of x -> J(x)^T u."""
    rng = _host_np.random.default_rng(seed + 1)
    inputs = _float64_inputs(inputs if isinstance(inputs, (tuple, list)) else [inputs])
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    with no_grad():
        cotangent = _random_like(fn(*inputs).shape, rng)

    def first_derivatives(*xs):
        with enable_grad():  # the numeric side evaluates this under no_grad
            y = fn(*xs)
            if not y.requires_grad:
                return Tensor(xp.zeros(1))
            grads = grad(y, [xs[i] for i in checked], grad_outputs=cotangent,
                         create_graph=True, allow_unused=True)
        return concatenate([g.reshape(-1) for g in grads if g is not None] or
                           [Tensor(xp.zeros(1))])

    return gradcheck(first_derivatives, inputs, eps, atol, rtol, mode, seed)
