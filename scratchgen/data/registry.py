"""Data sets by name, as the command line and the training runs see them.

``load_dataset(name, split)`` returns a :class:`Dataset`: host arrays plus
what a model and a metric need to know (image shape, labels, and for the
Gaussian mixtures their centres and std).  Toy sets are drawn with a fixed
seed per split, so "the ring8 training set" is the same on every machine.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .digits import load_digits
from .idx import load_mnist
from .toy import TOY_SETS

#: points per toy split: enough that a model cannot memorise them
TOY_SIZE = {"train": 50_000, "test": 5_000}


class Dataset(NamedTuple):
    x: np.ndarray                      # (n, 2) points or (n, 1, h, w) images in [0, 1]
    y: Optional[np.ndarray] = None     # integer labels, when the set has them
    centers: Optional[np.ndarray] = None
    std: Optional[float] = None

    @property
    def is_image(self) -> bool:
        return self.x.ndim == 4

    @property
    def shape(self) -> tuple:
        """The shape of one example."""
        return tuple(self.x.shape[1:])


IMAGE_SETS = ("digits", "mnist", "fashion")
NAMES = tuple(TOY_SETS) + IMAGE_SETS


def load_dataset(name: str, split: str = "train", root=None, download: bool = False) -> Dataset:
    if name in TOY_SETS:
        toy = TOY_SETS[name](TOY_SIZE[split], seed={"train": 0, "test": 1}[split])
        return Dataset(toy.x, None, toy.centers, toy.std)
    if name == "digits":
        return Dataset(*load_digits(split))
    if name in ("mnist", "fashion"):
        return Dataset(*load_mnist(name, split, root=root, download=download))
    raise ValueError(f"unknown data set {name!r}; choose one of: {', '.join(NAMES)}")
