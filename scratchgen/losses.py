"""Loss functions, each derived in a line or two, each in a stable form.

``reduction`` (PyTorch's word): ``'mean'`` averages the per-element (or, for
the Gaussian terms, per-example) losses, ``'sum'`` adds them, ``'none'``
returns them.
"""
from __future__ import annotations

import math

from . import backend
from .autograd import Function, Tensor, as_tensor, is_grad_enabled
from .backend import xp
from .ops import log, log_softmax, sigmoid, softplus, sum_to, where
from .ops.activations import _sigmoid_parts
from .ops.elementwise import _blend, _sign_mask

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


def _broadcasts_to(shape, target) -> bool:
    try:
        return xp.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _weighted(name, loss, weight):
    """Multiply the per-element losses by ``weight`` (PyTorch's ``weight=``:
    a rescaling that broadcasts to the loss's shape)."""
    if weight is None:
        return loss
    weight = as_tensor(weight, like=loss)
    if not _broadcasts_to(weight.shape, loss.shape):
        raise ValueError(f"{name}: weight of shape {weight.shape} does not broadcast to the "
                         f"input's shape {loss.shape}")
    return loss * weight


def binary_cross_entropy_with_logits(logits, target, weight=None, *, reduction="mean",
                                     pos_weight=None):
    """BCE on logits x with target t in [0, 1], positive examples weighted
    by ``pos_weight`` p (1 if not given), elements by ``weight``:

        -p t log sigma(x) - (1 - t) log(1 - sigma(x))
            = p t softplus(-x) + (1 - t) softplus(x)

    using log sigma(x) = -softplus(-x) and log(1 - sigma(x)) = -softplus(x).
    Each softplus is ``relu(+-x) + log1p(e^-|x|)``: every term is a sum of
    non-negative parts, so nothing cancels (``softplus(x) - t x`` loses the
    whole value at t = 1, x >= 17 in float32) and nothing overflows at
    |x| = 1e4.  The gradient is ``sigma(x) (1 - t + p t) - p t``, which is
    sigma(x) - t for p = 1.  ``pos_weight`` broadcasts along the last axis
    (one weight per class), as in PyTorch."""
    name = "binary_cross_entropy_with_logits"
    target = as_tensor(target, like=logits)
    _same_shape(name, logits, target)
    inputs = (logits, target)
    if pos_weight is not None:
        pos_weight = as_tensor(pos_weight, like=logits)
        if not _broadcasts_to(pos_weight.shape, logits.shape):
            raise ValueError(f"{name}: pos_weight of shape {pos_weight.shape} does not "
                             f"broadcast to the input's shape {logits.shape}")
        inputs += (pos_weight,)
    return _reduce(_weighted(name, _BCEWithLogits()(*inputs), weight), reduction)


def _bce_with_logits_plain(x, t, p=None):
    """The formula above op by op, its gradient by the chain rule through
    softplus; :class:`_BCEWithLogits` below computes the same numbers."""
    pt = t if p is None else p * t
    # p t softplus(-x) + (1 - t) softplus(x)
    return pt * softplus(-x) + (1 - t) * softplus(x)


def _bce_with_logits_array(x, t, p=None):
    """The forward of :class:`_BCEWithLogits` on arrays (see its docstring)."""
    tail = xp.log1p(xp.exp(-xp.abs(x)))          # log(1 + e^-|x|), in (0, log 2]
    pos, neg = xp.maximum(x, 0), xp.maximum(-x, 0)  # relu(x), relu(-x)
    if p is None:
        # softplus(x) - t x = (1 - t) relu(x) + t relu(-x) + tail: no cancellation
        return (1 - t) * pos + t * neg + tail
    return p * t * (neg + tail) + (1 - t) * (pos + tail)


#: on a GPU, one kernel instead of about twelve (``backend.fuse``)
_bce_with_logits_fused = backend.fuse(_bce_with_logits_array)


class _BCEWithLogits(Function):
    """``p t softplus(-x) + (1 - t) softplus(x)`` elementwise, as one
    Function, because its gradient has a closed form (composed of
    softplus, products and sums, ``_bce_with_logits_plain``, its backward
    would take several times the passes over the logits).  What it buys:
    1.03-1.11x on the MLP-VAE step (784 logits per image), none on the
    DCGAN's (1.00-1.01x; 64 logits)
    (``benchmarks/bench_plain_fast.py``, two runs; AMD EPYC, 2 shared vCPUs, 1 thread).

        d/dx = (1 - t) sigma(x) - p t sigma(-x)  (= sigma(x) - t for p = 1)
        d/dt = p softplus(-x) - softplus(x)      (= -x for p = 1)
        d/dp = t softplus(-x)"""

    def forward(self, x, t, p=None):
        return _bce_with_logits_fused(x, t, p)

    def backward(self, gy):
        x, t = self.inputs[:2]
        p = self.inputs[2] if len(self.inputs) == 3 else None
        needs = self.needs_input_grad
        gx = gy * self._slope(x, t, p) if needs[0] else None
        if p is None:
            gt = -gy * x if needs[1] else None
            return gx, gt
        gt = gy * (p * softplus(-x) - softplus(x)) if needs[1] else None
        gp = sum_to(gy * t * softplus(-x), p.shape) if needs[2] else None
        return gx, gt, gp

    @staticmethod
    def _slope(x, t, p):
        """d/dx = sigma(x) (1 - t + p t) - p t, written without its
        cancellation at t = 1 and large x (sigma(x) - 1 is -sigma(-x) =
        -4.5e-5 at x = 10, which 1 - sigma in float32 gets 1e-3 wrong):
        with s = 1 - t + p t and sigma(-|x|) = e r (``_sigmoid_parts``),
        it is (1 - t) - s e r for x >= 0 and s e r - p t below."""
        pt = t if p is None else p * t
        if is_grad_enabled():  # create_graph: in ops, to differentiate again
            return (1 - t) * sigmoid(x) - pt * sigmoid(-x)
        e, r = _sigmoid_parts(x.data)
        e *= r
        t, pt = t.data, pt.data
        s_er = (1 - t + pt) * e
        return Tensor(_blend(_sign_mask(x.data), s_er - pt, (1 - t) - s_er))


def binary_cross_entropy(probs, target, weight=None, *, reduction="mean"):
    """BCE on probabilities p: -t log p - (1 - t) log(1 - p), times
    ``weight``.  As in PyTorch, each log is clamped at -100, so p = 0 or 1
    gives a large finite loss instead of inf.  Prefer the logits version: it
    never needs the clamp."""
    name = "binary_cross_entropy"
    target = as_tensor(target, like=probs)
    _same_shape(name, probs, target)
    loss = -(target * _log_clamped(probs) + (1 - target) * _log_clamped(1 - probs))
    return _reduce(_weighted(name, loss, weight), reduction)


def _log_clamped(p):
    """max(log p, -100), with gradient 0 below the clamp.  Clipping p at
    e^-100 instead would be wrong in float32, where e^-100 is a subnormal
    whose 1/p overflows and 0 * inf = nan reaches the gradient; here the
    clamped entries take log 1 and their gradient never meets an inf."""
    kept = p.data > math.exp(-100)
    return where(kept, log(where(kept, p, 1.0)), -100.0)


def cross_entropy(logits, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy, PyTorch's ``F.cross_entropy``.

    ``logits`` are (N, C) or (N, C, d1, ...) with the classes on axis 1.
    With integer class targets y (N,) or (N, d1, ...), per example

        loss = -w_y log softmax(x)_y = w_y (lse(x) - x_y),

    read off log_softmax (stable); its gradient is softmax(x) - onehot(y)
    for w = 1.  ``weight`` (C,) rescales each class; targets equal to
    ``ignore_index`` contribute 0 and are left out of the mean, which is
    ``sum(loss) / sum(w_y)`` over the rest.  ``label_smoothing`` eps mixes
    the one-hot target with the uniform one:
    ``(1 - eps) loss + eps / C * sum_c -w_c log softmax(x)_c``.

    With probability targets q (float, the logits' shape) the loss is
    ``-sum_c w_c q_c log softmax(x)_c`` (q smoothed the same way), and the
    mean is over the N*d1*... examples."""
    name = "cross_entropy"
    if logits.ndim < 2:
        raise ValueError(f"{name}: expected logits (N, C) or (N, C, d1, ...), got {logits.shape}")
    n_classes = logits.shape[1]
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if weight is not None:
        weight = as_tensor(weight, like=logits)
        if weight.shape != (n_classes,):
            raise ValueError(f"{name}: weight must have one entry per class, shape "
                             f"({n_classes},), got {weight.shape}")
    logp = log_softmax(logits, axis=1)
    class_shape = (1, n_classes) + (1,) * (logits.ndim - 2)  # w_c against logp
    if isinstance(target, Tensor) and target.dtype.kind == "f":
        if target.shape != logits.shape:
            raise ValueError(f"{name}: float targets are class probabilities of the logits' "
                             f"shape {logits.shape}, got {target.shape}; class indices must "
                             "be an integer tensor (e.g. sg.tensor(labels, dtype='int64'))")
        q = target * (1 - label_smoothing) + label_smoothing / n_classes
        if weight is not None:
            q = q * weight.reshape(class_shape)
        return _reduce(-(logp * q).sum(axis=1), reduction)

    labels = target.data if isinstance(target, Tensor) else backend.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{name}: targets must be integer class indices or float "
                        f"probabilities of the logits' shape, got {labels.dtype}")
    if labels.shape != (logits.shape[0],) + logits.shape[2:]:
        raise ValueError(f"{name}: logits {logits.shape} need targets of shape "
                         f"{(logits.shape[0],) + logits.shape[2:]}, got {tuple(labels.shape)}")
    valid = labels != ignore_index
    picked_labels = xp.where(valid, labels, 0)  # any class: ignored rows are masked below
    # a range check reads two values on the host: on a device, made only
    # outside training (while no graph is recorded), see backend.ON_DEVICE
    checked = not (backend.ON_DEVICE and is_grad_enabled())
    if checked and picked_labels.size and not (0 <= int(picked_labels.min())
                                               and int(picked_labels.max()) < n_classes):
        raise IndexError(f"{name}: class indices must lie in [0, {n_classes}) (or equal "
                         f"ignore_index={ignore_index}), got values from "
                         f"{int(labels.min())} to {int(labels.max())}")
    # logp[n, y[n, d], d] over the flattened trailing axes d
    n, rest = logits.shape[0], labels.size // max(logits.shape[0], 1)
    flat = logp.reshape(n, n_classes, rest)
    y = picked_labels.reshape(n, rest)
    picked = flat[xp.arange(n).reshape(n, 1), y, xp.arange(rest).reshape(1, rest)]
    picked = picked.reshape(labels.shape)
    w_y = None if weight is None else weight[picked_labels]
    # where, not a product with the mask: an ignored row with logp = -inf stays 0
    loss = where(valid, -picked if w_y is None else -w_y * picked, 0.0)
    if label_smoothing:
        per_class = -logp if weight is None else -logp * weight.reshape(class_shape)
        smooth = where(valid, per_class.sum(axis=1), 0.0)
        loss = (1 - label_smoothing) * loss + label_smoothing / n_classes * smooth
    if reduction == "mean":
        total = (Tensor(valid.sum(dtype=logits.dtype)) if w_y is None
                 else where(valid, w_y, 0.0).sum())
        return loss.sum() / total
    return _reduce(loss, reduction)


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
