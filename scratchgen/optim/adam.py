"""Adam and AdamW: a step size per coordinate, from running moments.

Adam keeps exponential moving averages of the gradient and of its square,

    m_t = b1 m_{t-1} + (1 - b1) g_t        (mean: the direction)
    v_t = b2 v_{t-1} + (1 - b2) g_t^2      (uncentred variance: the scale)

and steps ``lr * m / sqrt(v)``: about ``lr`` in size whatever the scale of
the gradient, smaller where the gradient's sign keeps changing (|m| small
next to sqrt(v)).  Both averages start at 0, so early on they are too
small by the factor ``1 - b^t`` (the weights b^(t-1)(1-b), ..., (1-b) sum to
``1 - b^t``); dividing by it (*bias correction*) removes the bias:

    m_hat = m_t / (1 - b1^t),   v_hat = v_t / (1 - b2^t),
    p_t = p_{t-1} - lr * m_hat / (sqrt(v_hat) + eps).

AMSGrad divides by the running *maximum* of v instead, so the effective
step size never grows.

Weight decay.  Adam's ``weight_decay`` adds ``wd * p`` to the gradient (L2
regularisation), which then gets divided by sqrt(v) like the rest: weights
with large gradients are hardly decayed.  AdamW (Loshchilov & Hutter, 2019)
*decouples* the decay: ``p <- p * (1 - lr * wd)`` before the Adam step, the
same relative shrinkage for every weight.
"""
from __future__ import annotations

import math

from .. import backend
from ..backend import xp
from .optimizer import Optimizer


def adam_step_elementwise(p, g, m, v, decay, beta1, beta2, step_size, eps_hat):
    """One Adam or AdamW step without AMSGrad, in place on ``p``, ``m`` and
    ``v``, every line elementwise (scalars as arrays' dtype scalars; Adam's
    L2 term already in ``g``):

        decay = 1 - lr wd for AdamW (1 for Adam),
        step_size = lr sqrt(bc2) / bc1, eps_hat = eps sqrt(bc2), bc = 1 - beta^t.

    On the CPU it runs as written (the reference); on a GPU
    :func:`_adam_step_fused` is the same function as one kernel instead of
    about ten (``backend.fuse``)."""
    # AdamW: p <- p (1 - lr wd), before the Adam step
    p *= decay
    # m_t = beta1 m_{t-1} + (1 - beta1) g_t,  v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    # p_t = p - lr m_hat / (sqrt(v_hat) + eps) = p - step_size m / (sqrt(v) + eps_hat)
    p -= step_size * m / (xp.sqrt(v) + eps_hat)


_adam_step_fused = backend.fuse(adam_step_elementwise)


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), PyTorch's rule:

    .. code-block:: text

        g_t <- grad of p_{t-1}   (its negative if maximize)
        if weight_decay != 0:  g_t <- g_t + weight_decay * p_{t-1}
        m_t <- beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
        m_hat <- m_t / (1 - beta1^t)
        if amsgrad:
            v_max_t <- max(v_max_{t-1}, v_t)
            v_hat <- v_max_t / (1 - beta2^t)
        else:
            v_hat <- v_t / (1 - beta2^t)
        p_t <- p_{t-1} - lr * m_hat / (sqrt(v_hat) + eps)

    ``_update_plain`` is this rule as code, line by line; the step runs
    ``_update``, the same numbers computed in place as
    ``p -= (lr sqrt(bc2) / bc1) * m / (sqrt(v) + eps sqrt(bc2))`` with
    ``bc = 1 - beta^t``: the bias corrections moved onto two scalars
    (PyTorch divides by sqrt(bc2) instead, so the two agree to rounding).
    On a GPU (``backend.GPU_KERNELS``), without amsgrad, ``_update_fused``
    computes the same as one fused kernel per parameter.
    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v),
    ``max_exp_avg_sq`` (with amsgrad).
    """

    _decoupled_weight_decay = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _start(self, p, g, state, group, shrink=True):
        """Count the step, create the moments on the first one, apply the
        weight decay (AdamW's shrinking of p only if ``shrink``: the fused
        kernel shrinks p itself); return the gradient the moments see."""
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p), exp_avg_sq=xp.zeros_like(p))
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        lr, wd = group["lr"], group["weight_decay"]
        if wd != 0:
            if self._decoupled_weight_decay:
                if shrink:
                    # AdamW: p <- p (1 - lr wd), before the Adam step
                    p *= 1 - lr * wd
            else:
                # Adam: L2, g <- g + wd p
                g = g + wd * p
        return g

    def _update_plain(self, p, g, state, group):
        """The rule of the class docstring, line by line, a new array for
        every operation.  ``_update`` below computes the same numbers."""
        g = self._start(p, g, state, group)
        lr, (beta1, beta2), eps, t = group["lr"], group["betas"], group["eps"], state["step"]
        # m_t = beta1 m_{t-1} + (1 - beta1) g_t
        m = state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
        # v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
        v = state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
        if group["amsgrad"]:
            # v_max_t = max(v_max_{t-1}, v_t)
            v = state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)
        # m_hat = m_t / (1 - beta1^t),  v_hat = v_t / (1 - beta2^t)
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        # p_t = p_{t-1} - lr m_hat / (sqrt(v_hat) + eps)
        p -= lr * m_hat / (xp.sqrt(v_hat) + eps)

    def _update(self, p, g, state, group):
        """``_update_plain``'s numbers in place, through one scratch array,
        with the bias corrections folded into two scalars: no new
        parameter-sized array per operation.  What it buys: 1.03-1.08x on the
        MLP-VAE step, nothing measurable on the DCGAN's (0.87-1.02x)
        (``benchmarks/bench_plain_fast.py``, two runs; AMD EPYC, 2 shared
        vCPUs, 1 thread)."""
        if backend.GPU_KERNELS and not group["amsgrad"]:
            return self._update_fused(p, g, state, group)
        g = self._start(p, g, state, group)
        lr, (beta1, beta2) = group["lr"], group["betas"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        scratch = xp.multiply(g, 1 - beta1, out=xp.empty_like(p))
        m *= beta1
        m += scratch
        xp.multiply(g, g, out=scratch)
        scratch *= 1 - beta2
        v *= beta2
        v += scratch
        if group["amsgrad"]:
            v = xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        # lr m_hat / (sqrt(v_hat) + eps) = step_size * m / (sqrt(v) + eps sqrt(bc2)),
        # multiplying through by sqrt(bc2): one pass fewer (Kingma & Ba, Sec. 2)
        sqrt_bc2 = math.sqrt(1 - beta2 ** state["step"])
        step_size = lr * sqrt_bc2 / (1 - beta1 ** state["step"])
        denom = xp.sqrt(v, out=scratch)
        denom += group["eps"] * sqrt_bc2
        step = xp.divide(m, denom, out=denom)
        step *= step_size
        p -= step

    def _update_fused(self, p, g, state, group):
        """``_update``'s numbers from :func:`adam_step_elementwise`: on a GPU
        one fused kernel per parameter, where ``_update`` launches ~10."""
        g = self._start(p, g, state, group, shrink=False)
        lr, (beta1, beta2), wd, t = group["lr"], group["betas"], group["weight_decay"], \
            state["step"]
        decoupled = self._decoupled_weight_decay
        sqrt_bc2 = math.sqrt(1 - beta2 ** t)
        scalar = p.dtype.type  # kernel arithmetic in the parameter's dtype
        _adam_step_fused(p, g, state["exp_avg"], state["exp_avg_sq"],
                         scalar(1 - lr * wd if decoupled else 1), scalar(beta1), scalar(beta2),
                         scalar(lr * sqrt_bc2 / (1 - beta1 ** t)), scalar(group["eps"] * sqrt_bc2))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's rule:

    .. code-block:: text

        p_{t-1} <- p_{t-1} * (1 - lr * weight_decay)
        then the Adam update above, without its weight-decay term

    Note the default ``weight_decay=1e-2`` (Adam's is 0).
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
