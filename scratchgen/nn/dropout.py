"""Dropout (Srivastava et al., 2014): in training, zero each element with
probability p and scale the rest by 1/(1 - p), so every element keeps its
expected value and evaluation (where the layer is the identity) sees the
same scale.  The arithmetic is :func:`scratchgen.functional.dropout`."""
from __future__ import annotations

from .. import functional as F
from .module import Module


class Dropout(Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout2d(Dropout):
    """Channel dropout on (N, C, H, W): zero whole channels with
    probability p (Tompson et al., 2015); :func:`scratchgen.functional.dropout2d`."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)
