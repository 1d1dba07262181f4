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


def critic_slices(real, steps: int, pack: int = 1):
    """``steps`` consecutive slices of the batch ``real``, equal in size and a
    multiple of ``pack``: one for each discriminator (critic) update, so that
    each update sees real data it has not seen in this training step."""
    chunk = real.shape[0] // steps
    chunk -= chunk % pack
    if chunk == 0:
        raise ValueError(f"a batch of {real.shape[0]} is too small for {steps} "
                         f"discriminator steps on packs of {pack}; raise --batch-size")
    return [real[i * chunk:(i + 1) * chunk] for i in range(steps)]


def images_of(batch):
    """The images of a batch that may carry labels."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def unconditional(labels, name: str) -> None:
    if labels is not None:
        raise ValueError(f"{name} is unconditional: it cannot generate chosen labels "
                         "(train a cgan for that)")
