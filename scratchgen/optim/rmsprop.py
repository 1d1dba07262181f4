"""RMSprop: divide the gradient by a running root-mean-square of itself.

Tieleman & Hinton (2012) proposed it in a lecture: keep

    s_t = alpha s_{t-1} + (1 - alpha) g_t^2

and step ``lr * g / (sqrt(s) + eps)``, so each coordinate moves about ``lr``
per step whatever its gradient's scale.  It is Adam without the momentum
average and without bias correction (s starts at 0, so the first steps are
large: ``g / sqrt(1 - alpha) = 10 g/|g|`` for alpha = 0.99).

*Centred* RMSprop also tracks the mean gradient ``a_t`` and divides by the
standard deviation ``sqrt(s - a^2)`` instead of the root mean square: a
steady, consistent gradient then counts as signal, not as scale.
"""
from __future__ import annotations

from ..backend import xp
from .optimizer import Optimizer


class RMSprop(Optimizer):
    r"""RMSprop, PyTorch's rule:

    .. code-block:: text

        g_t <- grad of p_{t-1}   (its negative if maximize)
        if weight_decay != 0:  g_t <- g_t + weight_decay * p_{t-1}
        v_t <- alpha * v_{t-1} + (1 - alpha) * g_t^2
        if centered:
            g_ave_t <- alpha * g_ave_{t-1} + (1 - alpha) * g_t
            avg <- sqrt(v_t - g_ave_t^2) + eps
        else:
            avg <- sqrt(v_t) + eps
        if momentum > 0:
            b_t <- momentum * b_{t-1} + g_t / avg
            p_t <- p_{t-1} - lr * b_t
        else:
            p_t <- p_{t-1} - lr * g_t / avg

    State per parameter (PyTorch's names): ``step``, ``square_avg`` (v),
    ``momentum_buffer`` (b, with momentum), ``grad_avg`` (g_ave, centred).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p, g, state, group):
        lr, alpha, wd, momentum = group["lr"], group["alpha"], group["weight_decay"], group["momentum"]
        if not state:
            state.update(step=0, square_avg=xp.zeros_like(p))
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1
        if wd != 0:
            g = g + wd * p
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * g * g
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * g
            avg = xp.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            avg = xp.sqrt(square_avg) + group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / avg
            p -= lr * buf
        else:
            p -= lr * (g / avg)
