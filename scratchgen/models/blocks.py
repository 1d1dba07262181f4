"""Small building blocks the models share."""
from __future__ import annotations

from .. import nn


def mlp(sizes, activation=nn.ReLU, output=None, dropout=0.0):
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` with
    ``activation()`` (and ``Dropout(dropout)`` if > 0) between them and an
    optional ``output`` module last."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    if output is not None:
        layers.append(output)
    return nn.Sequential(*layers)


def numel(shape) -> int:
    count = 1
    for n in shape:
        count *= n
    return count
