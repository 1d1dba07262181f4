"""The 8×8 handwritten digits that ship inside scratchgen.

1,797 grey-scale images of the digits 0–9 from the UCI "Optical Recognition
of Handwritten Digits" data set (Alpaydin & Kaynak, 1998; CC BY 4.0, see
``DIGITS_LICENSE.txt``).  Each pixel counts the inked dots in a 4×4 block of
a 32×32 bitmap, so it is an integer from 0 to 16.  The whole set is 45 kB,
small enough to bundle: every lesson and test runs offline with it, and a
small model learns it in seconds on a CPU.

``digits.npz`` holds ``images`` (uint8, ``(1797, 8, 8)``) and ``labels``
(uint8, ``(1797,)``).  It was made once from scikit-learn's copy of the same
data (``sklearn/datasets/data/digits.csv.gz``: 64 pixel columns, then the
label) with ``np.savez_compressed``; scikit-learn is not needed to use it.

The train/test split is fixed: a permutation drawn with seed 0, whose last
297 images are the test set, so every user gets the same 1,500 training
images and results can be compared.
"""
from __future__ import annotations

import functools
from importlib import resources

import numpy as np

N_TEST = 297
_SPLIT_SEED = 0
SPLITS = ("train", "test", "all")


@functools.cache
def _raw() -> tuple[np.ndarray, np.ndarray]:
    """The bundled file, read once per process."""
    with (resources.files(__package__).joinpath("digits.npz").open("rb") as f,
          np.load(f, allow_pickle=False) as npz):
        return npz["images"], npz["labels"]


def _indices(split: str) -> np.ndarray:
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(_raw()[1]))
    if split == "train":
        return order[:-N_TEST]
    if split == "test":
        return order[-N_TEST:]
    return np.arange(len(order))


def load_digits(split: str = "train", flatten: bool = False,
                scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one split as host arrays.

    Returns ``(x, y)``: ``x`` float32 of shape ``(n, 1, 8, 8)`` (one channel,
    PyTorch's layout) or ``(n, 64)`` with ``flatten=True``; its values are in
    ``[0, 1]`` (pixel / 16), or the raw counts 0..16 with ``scale=False``.
    ``y`` holds the digits as int64, ready for ``F.cross_entropy``.
    Splits: ``"train"`` (1,500), ``"test"`` (297), ``"all"`` (1,797).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    images, labels = _raw()
    idx = _indices(split)
    x = images[idx].astype(np.float32)
    if scale:
        x /= 16.0
    x = x.reshape(len(idx), 64) if flatten else x[:, None]
    return x, labels[idx].astype(np.int64)
