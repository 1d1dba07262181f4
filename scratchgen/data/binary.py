"""Binarised images: pixels in [0, 1] read as probabilities of black.

Bernoulli models (MADE, a VAE with a Bernoulli decoder) need 0/1 pixels.
Two ways to get them, both from the grey levels x in [0, 1]:

* **dynamic** binarisation, for training: a fresh draw ``b ~ Bernoulli(x)``
  each time an image is used, so the model sees many binary versions of
  each grey image (less over-fitting than one fixed draw);
* a **fixed, seeded** binarisation, for evaluation: one draw made with a
  given seed, so every model is scored on the same binary test set and a
  likelihood in nats can be compared across models and runs.
"""
from __future__ import annotations

import numpy as np

#: the seed of the fixed binarisation of every evaluation set
EVAL_SEED = 0


def binarize(x: np.ndarray, rng) -> np.ndarray:
    """One Bernoulli draw per pixel: 1 with probability x (same dtype as x)."""
    return (rng.random(x.shape) < x).astype(x.dtype)


def fixed_binarization(x: np.ndarray, seed: int = EVAL_SEED) -> np.ndarray:
    """The binarisation of ``x`` with NumPy's generator seeded by ``seed``:
    the same 0/1 images on every machine and every call."""
    return binarize(x, np.random.default_rng(seed))
