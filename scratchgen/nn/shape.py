"""Layers that only rearrange: ``Flatten`` between convolutions and dense
layers, ``Unflatten`` on the way back (a decoder from a vector to an image)."""
from __future__ import annotations

import math

from .module import Module


class Flatten(Module):
    """Merge dims ``start_dim..end_dim``: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``: Unflatten(1, (C, H, W))
    turns (N, C*H*W) into (N, C, H, W)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        d = self.dim % x.ndim
        expected = math.prod(self.unflattened_size)
        if expected != x.shape[d] and -1 not in self.unflattened_size:
            raise ValueError(f"{self!r}: dim {self.dim} of the input {x.shape} has size "
                             f"{x.shape[d]}, not {expected}")
        return x.reshape(x.shape[:d] + self.unflattened_size + x.shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Identity(Module):
    """Returns its input: a placeholder where a layer is optional (any
    constructor arguments are accepted and ignored, as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
