"""Data for the lessons, all as host NumPy arrays.

Read in this order:

* :mod:`~scratchgen.data.toy` — 2-D toy sets (rings and grids of Gaussians,
  moons, spirals) that a model's samples can be drawn over;
* :mod:`~scratchgen.data.digits` — 1,797 8×8 handwritten digits bundled with
  the package: the default image data, always available offline;
* :mod:`~scratchgen.data.idx` — MNIST and Fashion-MNIST from their IDX
  files (found on disk, or downloaded with ``download=True``);
* :mod:`~scratchgen.data.loader` — :class:`DataLoader`, which turns arrays
  into shuffled mini-batches of Tensors;
* :mod:`~scratchgen.data.text` — characters as tokens: the bundled Tiny
  Shakespeare, any UTF-8 file, random windows for a language model.
"""
from .digits import load_digits
from .idx import DataError, download_mnist, load_mnist, read_idx
from .loader import DataLoader
from .text import TextDataset, TextError, Vocabulary, load_text, load_text_dataset
from .toy import (
    TOY_SETS,
    ToySet,
    grid25,
    load_toy,
    ring8,
    spiral,
    swiss_roll,
    two_moons,
)

__all__ = [
    "ToySet", "TOY_SETS", "load_toy", "ring8", "grid25", "two_moons", "spiral", "swiss_roll",
    "load_digits",
    "DataError", "load_mnist", "download_mnist", "read_idx",
    "DataLoader",
    "TextDataset", "TextError", "Vocabulary", "load_text", "load_text_dataset",
]
