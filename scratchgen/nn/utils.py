"""Training utilities.

``clip_grad_norm_`` rescales all gradients together when their joint norm
is too large: treat every gradient as one long vector g, and if
``||g|| > max_norm`` replace g by ``g * max_norm / (||g|| + 1e-6)``.  The
direction of the step is kept; only its length is capped, which tames the
rare huge gradient (exploding RNNs, unstable GAN steps).  PyTorch's rule.
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor
from ..backend import xp


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scale the gradients of ``parameters`` (a tensor or an iterable) so
    their total ``norm_type``-norm is at most ``max_norm``; return the total
    norm before clipping, a 0-d tensor (as PyTorch).

    Everything stays on the device: the factor min(1, max_norm / (||g|| +
    1e-6)) multiplies every gradient, 1 when there is nothing to clip, so no
    ``if`` needs the norm on the host (on a GPU that would wait for the
    whole backward pass, every step)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return Tensor(xp.zeros((), dtype=params[0].dtype if params else "float32"))
    norm_type = float(norm_type)
    if math.isinf(norm_type):
        total = xp.stack([xp.abs(p.grad.data).max() for p in grads]).max()
    elif norm_type == 2 and backend.GPU_KERNELS:
        # ||g||^2 = sum of <g_i, g_i>: one cuBLAS dot per gradient, where
        # |g|^p, then its sum, then the running total launch three GPU kernels
        total = xp.sqrt(xp.stack([xp.vdot(p.grad.data, p.grad.data) for p in grads]).sum())
    else:
        total = sum((xp.abs(p.grad.data) ** norm_type).sum() for p in grads) ** (1 / norm_type)
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)
    scales = {}  # the factor in each gradient's dtype, cast once
    for p in grads:  # new tensors: a grad may be shared with another tensor
        dtype = p.grad.dtype
        if dtype not in scales:
            scales[dtype] = scale.astype(dtype)
        p.grad = Tensor(p.grad.data * scales[dtype])
    return Tensor(total)
