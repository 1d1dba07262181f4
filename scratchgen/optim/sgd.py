"""Stochastic gradient descent, with momentum.

Plain SGD steps against the gradient, ``p <- p - lr * g``.  On a long narrow
valley the gradient points mostly across the valley, so the iterates zig-zag
while creeping along it.  *Momentum* keeps a running sum of past gradients,

    b_t = mu * b_{t-1} + g_t  =  g_t + mu g_{t-1} + mu^2 g_{t-2} + ...,

and steps along ``b``: the across-valley components alternate in sign and
cancel, the along-valley ones add up, to ``g / (1 - mu)`` on a steady slope
(10x the plain step for mu = 0.9).  *Nesterov* momentum steps along
``g + mu * b`` instead, a look-ahead that damps overshooting.

Weight decay adds ``wd * p`` to the gradient: the gradient of the L2 penalty
``wd / 2 * ||p||^2``.
"""
from __future__ import annotations

from ..backend import xp
from .optimizer import Optimizer, required


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), PyTorch's rule:

    .. code-block:: text

        g_t <- grad of p_{t-1}   (its negative if maximize)
        if weight_decay != 0:  g_t <- g_t + weight_decay * p_{t-1}
        if momentum != 0:
            if t > 1:  b_t <- momentum * b_{t-1} + (1 - dampening) * g_t
            else:      b_t <- g_t
            if nesterov:  g_t <- g_t + momentum * b_t
            else:         g_t <- b_t
        p_t <- p_{t-1} - lr * g_t

    ``lr`` has no default (PyTorch >= 2.2 defaults it to 1e-3; a learning
    rate is a choice worth making explicitly).  State per parameter:
    ``momentum_buffer`` (when momentum != 0).
    """

    def __init__(self, params, lr=required, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _validate(self, group):
        super()._validate(group)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, "
                             f"got momentum={group['momentum']!r}, "
                             f"dampening={group['dampening']!r}")

    def _update(self, p, g, state, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            g = g + wd * p
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.copy(g)  # an array even when 0-d
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p -= lr * g
