"""Resizing images: ``interpolate`` (PyTorch's ``F.interpolate``) in the
modes ``'nearest'`` and ``'bilinear'``.

Both are linear maps along each axis.  Output position ``a`` of ``out``
reads the input around the source coordinate

    src(a) = a * in / out                       (nearest: the floor of it)
    src(a) = (a + 1/2) * in / out - 1/2         (bilinear, align_corners=False:
                                                 pixel centres line up)
    src(a) = a * (in - 1) / (out - 1)           (bilinear, align_corners=True:
                                                 corner pixels line up)

where ``in / out`` is ``1 / scale_factor`` when a scale factor is given
(PyTorch's rule).  Bilinear mixes the two neighbours ``i0 = floor(src)``
and ``i1 = min(i0 + 1, in - 1)`` with weights ``1 - l`` and ``l = src -
i0``, first along the width, then along the height.  Each step is an
indexing (which gathers rows or columns; its backward adds the gradients of
every output that read a pixel) times constant weights, so the gradient,
and the gradient of the gradient, come from those ops.  Gathering, not a
product with a 0/1 matrix: an inf in one pixel stays in the outputs that
read it instead of turning a whole row into NaN.
"""
from __future__ import annotations

import math

from . import backend
from .autograd import Tensor

_MODES = ("nearest", "bilinear")


def _sizes(x, size, scale_factor):
    """Output size and the source-per-output scale, per spatial axis."""
    spatial = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        size = (size,) * len(spatial) if isinstance(size, int) else tuple(size)
        return size, [n / m for n, m in zip(spatial, size)]
    factors = ((scale_factor,) * len(spatial) if isinstance(scale_factor, (int, float))
               else tuple(scale_factor))
    return tuple(math.floor(n * f) for n, f in zip(spatial, factors)), [1 / f for f in factors]


def _nearest_index(n_in, n_out, scale):
    return [min(math.floor(a * scale), n_in - 1) for a in range(n_out)]


def _bilinear_taps(n_in, n_out, scale, align_corners):
    """(i0, i1, l) per output position (see the module docstring)."""
    taps = []
    for a in range(n_out):
        if align_corners:
            src = a * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((a + 0.5) * scale - 0.5, 0.0)
        i0 = min(math.floor(src), n_in - 1)
        lam = src - i0
        # a neighbour of weight 0 is not read at all: its gradient is exactly 0
        taps.append((i0, min(i0 + 1, n_in - 1) if lam else i0, lam))
    return taps


def _along(x, axis, index):
    """x with ``index`` (a list of positions) gathered along ``axis``."""
    where = (slice(None),) * axis + (Tensor(backend.asarray(index)),)
    return x[where]


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize the spatial axes of ``x`` (N, C, H, W) (or (N, C, L) for
    nearest) to ``size``, or by ``scale_factor``.  ``align_corners``
    (bilinear only, default False) as in PyTorch."""
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {_MODES}, got {mode!r}")
    if mode == "bilinear" and x.ndim != 4:
        raise ValueError(f"interpolate: bilinear needs (N, C, H, W) input, got {x.shape}")
    if x.ndim not in (3, 4):
        raise ValueError(f"interpolate: expected (N, C, L) or (N, C, H, W), got {x.shape}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners only applies to bilinear")
    out, scales = _sizes(x, size, scale_factor)
    if min(out) < 1:
        raise ValueError(f"interpolate: output size {out} from input {x.shape} has no pixels")
    y = x
    if mode == "nearest":
        for axis, (n, m, s) in enumerate(zip(x.shape[2:], out, scales), start=2):
            y = _along(y, axis, _nearest_index(n, m, s))
        return y
    # width first, then height, as PyTorch mixes them
    for axis in (3, 2):
        n, m, s = x.shape[axis], out[axis - 2], scales[axis - 2]
        i0, i1, lam = zip(*_bilinear_taps(n, m, s, bool(align_corners)))
        shape = (m,) + (1,) * (3 - axis)
        w1 = Tensor(backend.asarray(lam, dtype=x.dtype).reshape(shape))
        y = _along(y, axis, list(i0)) * (1 - w1) + _along(y, axis, list(i1)) * w1
    return y
