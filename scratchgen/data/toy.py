"""Toy 2-D data sets: the first thing every generative model should learn.

Two-dimensional data can be drawn, so a model's failures can be *seen*:

* ``ring8`` and ``grid25`` are mixtures of Gaussians with known centres.
  A GAN that covers only some of the modes ("mode collapse") shows it at a
  glance, and the known centres let a metric count the modes it covers.
* ``two_moons``, ``spiral`` and ``swiss_roll`` are curved, thin manifolds:
  easy to describe, hard for a model that can only bend space a little.

Every function returns a :class:`ToySet` of host NumPy arrays (float32)
and takes a ``seed``: the same seed gives the same points, so a lesson's
figure comes out the same on every run.  ``seed=None`` draws fresh points.
The data live on the host; a :class:`~scratchgen.data.DataLoader` moves
batches to the backend.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class ToySet(NamedTuple):
    """Points ``x`` of shape ``(n, 2)``; for a Gaussian mixture also its
    component means ``centers`` ``(k, 2)`` and their common ``std``."""

    x: np.ndarray
    centers: np.ndarray | None = None
    std: float | None = None


def _mixture(n: int, centers: np.ndarray, std: float, seed) -> ToySet:
    """``n`` points from an equal-weight mixture of isotropic Gaussians."""
    rng = np.random.default_rng(seed)
    component = rng.integers(0, len(centers), size=n)
    x = centers[component] + std * rng.standard_normal((n, 2))
    return ToySet(x.astype(np.float32), centers.astype(np.float32), std)


def ring8(n: int, seed=None) -> ToySet:
    """Eight Gaussians (std 0.01) evenly spaced on the unit circle."""
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    centers = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _mixture(n, centers, 0.01, seed)


def grid25(n: int, seed=None) -> ToySet:
    """Twenty-five Gaussians (std 0.05) on the grid ``{-4,-2,0,2,4}²``."""
    ticks = np.arange(-4.0, 5.0, 2.0)
    centers = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 2)
    return _mixture(n, centers, 0.05, seed)


def _finish(x: np.ndarray, noise: float, rng: np.random.Generator) -> ToySet:
    """Add Gaussian noise and shuffle, so that no batch holds just one arm."""
    x = x + noise * rng.standard_normal(x.shape)
    return ToySet(rng.permutation(x).astype(np.float32))


def two_moons(n: int, noise: float = 0.05, seed=None) -> ToySet:
    """Two interleaved half circles (as scikit-learn's ``make_moons``)."""
    rng = np.random.default_rng(seed)
    t = np.pi * rng.random(n)
    upper = np.arange(n) < n - n // 2          # half the points on each moon
    x = np.where(upper[:, None],
                 np.stack([np.cos(t), np.sin(t)], axis=1),
                 np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1))
    return _finish(x, noise, rng)


def spiral(n: int, noise: float = 0.1, seed=None) -> ToySet:
    """Two spiral arms winding out of the origin, one the other's mirror.

    The angle ``t`` runs to 3π (one and a half turns); the radius grows with
    it.  ``sqrt`` of a uniform draw spreads the points evenly along the arm
    instead of crowding them at the centre.
    """
    rng = np.random.default_rng(seed)
    t = 3 * np.pi * np.sqrt(rng.random(n))
    arm = (t / np.pi)[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1)
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None]
    return _finish(sign * arm, noise, rng)


def swiss_roll(n: int, noise: float = 0.1, seed=None) -> ToySet:
    """The swiss roll seen end-on: one arm, ``t (cos t, sin t)`` for
    ``t`` in ``[1.5π, 4.5π]`` (scikit-learn's range), scaled by 1/5 so the
    points lie within about ±3."""
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    x = t[:, None] * np.stack([np.cos(t), np.sin(t)], axis=1) / 5
    return _finish(x, noise, rng)


#: Every toy set by name, for command lines and configs.
TOY_SETS: dict[str, Callable[..., ToySet]] = {
    "ring8": ring8,
    "grid25": grid25,
    "two_moons": two_moons,
    "spiral": spiral,
    "swiss_roll": swiss_roll,
}


def load_toy(name: str, n: int, seed=None) -> ToySet:
    """``n`` points of the toy set called ``name`` (a key of :data:`TOY_SETS`)."""
    if name not in TOY_SETS:
        raise ValueError(f"unknown toy data set {name!r}; choose one of: {', '.join(TOY_SETS)}")
    return TOY_SETS[name](n, seed=seed)
