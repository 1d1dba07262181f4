"""Figures for the lessons: sample grids, loss curves, 2-D scatters, latent
manifolds, interpolations, reconstructions and plain line plots.

Every function takes host arrays (Tensors and CuPy arrays are converted
with :func:`scratchgen.backend.to_numpy`), writes one image file to
``path`` and returns that path as a :class:`pathlib.Path`.  Three choices
keep this safe to call from scripts, tests and notebooks alike:

* **Headless.**  Figures are built as :class:`matplotlib.figure.Figure`
  objects, not through ``pyplot``: no GUI backend or display is ever
  touched, nothing is left open in pyplot's global registry, and a notebook
  user's own ``%matplotlib`` backend is not switched behind their back.
  Saving a ``.png`` uses the Agg renderer.
* **Atomic.**  The figure is written to a temporary file in the target
  folder and moved over ``path`` with :func:`os.replace`, so a crash or an
  interrupted run never leaves a half-written PNG in ``figures/``.
* **Grids are one image.**  A batch of images is tiled into a single array
  and drawn with one ``imshow``, not one axes per image: faster, and the
  tiling is a reshape a reader can follow (:func:`_tile`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm

from ..atomic import atomic_path
from .metrics import _host  # one host-conversion rule for all host code


# --------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------

def _save(fig: Figure, path) -> Path:
    """Write ``fig`` to ``path`` atomically (same folder, same suffix, so the
    format is inferred from the suffix and ``os.replace`` is a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, bbox_inches="tight")
    return path


# --------------------------------------------------------------------------
# Image grids
# --------------------------------------------------------------------------

def _as_images(images) -> np.ndarray:
    """``(n, h, w)`` grayscale images from ``(n, 1, h, w)``, ``(n, h, w)`` or
    flat ``(n, h*w)`` with square images."""
    a = np.asarray(_host(images), dtype=np.float64)
    if a.ndim == 4 and a.shape[1] == 1:
        return a[:, 0]
    if a.ndim == 3:
        return a
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side == a.shape[1]:
            return a.reshape(len(a), side, side)
    raise ValueError(
        "images must be grayscale, shaped (n, 1, h, w), (n, h, w) or (n, h*w) "
        f"with square images; got shape {a.shape}"
    )


def _tile(images: np.ndarray, ncol: int, pad: int = 1) -> np.ndarray:
    """Tile ``(n, h, w)`` images into one ``(rows*(h+pad)+pad, ncol*(w+pad)+pad)``
    array, row by row.  Gaps and empty cells are NaN, which ``imshow`` leaves
    transparent, so the separators take the figure's background colour."""
    n, h, w = images.shape
    nrows = -(-n // ncol)
    cells = np.full((nrows * ncol, h + pad, w + pad), np.nan)
    cells[:n, pad:, pad:] = images  # each cell: a gap above and to the left
    # (rows, cols, h, w) -> (rows, h, cols, w): pixel rows of a grid row line up.
    grid = cells.reshape(nrows, ncol, h + pad, w + pad).transpose(0, 2, 1, 3)
    grid = grid.reshape(nrows * (h + pad), ncol * (w + pad))
    return np.pad(grid, ((0, pad), (0, pad)), constant_values=np.nan)


def tile(images, ncol: int = 8, pad: int = 1) -> np.ndarray:
    """Images of any accepted shape as one array for ``imshow``, ``ncol``
    per row, ``pad`` transparent pixels between them: for panels of a
    larger figure (``sample_grid`` makes a figure of its own)."""
    return _tile(_as_images(images), ncol, pad)


def _grid_figure(images, path, ncol: int, title=None, value_range=(0, 1), row_labels=None) -> Path:
    images = _as_images(images)
    grid = _tile(images, ncol)
    scale = 6.0 / max(grid.shape)  # longest side 6 inches
    fig = Figure(figsize=(grid.shape[1] * scale, grid.shape[0] * scale + (0.4 if title else 0)))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=value_range[0], vmax=value_range[1], interpolation="nearest")
    ax.set_xticks([])
    if row_labels:
        cell = images.shape[1] + 1  # pad + h: row i is centred at cell * (i + 0.5)
        ax.set_yticks([cell * (i + 0.5) for i in range(len(row_labels))], row_labels)
        ax.tick_params(length=0)
    else:
        ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def sample_grid(images, path, nrow=None, title=None, value_range=(0, 1)) -> Path:
    """A grid of grayscale samples.  ``nrow`` is the number of images per row
    (as in torchvision's ``make_grid``; default: a square-ish grid);
    ``value_range`` maps to black and white (use ``(-1, 1)`` for tanh
    outputs)."""
    n = len(_as_images(images))
    ncol = nrow or math.ceil(math.sqrt(n))
    return _grid_figure(images, path, ncol, title, value_range)


def latent_manifold(decode_fn, path, n: int = 15, quantile: float = 0.05,
                    title=None, value_range=(0, 1)) -> Path:
    """Decode an ``n x n`` grid of a 2-D latent space (Kingma & Welling 2014,
    fig. 4).

    Evenly spaced probabilities ``linspace(quantile, 1 - quantile, n)`` go
    through the inverse CDF of the standard normal, so the grid is dense
    where the prior has mass and stops at its ``quantile`` tails instead of
    at an arbitrary box.  ``z1`` grows left to right and ``z2`` bottom to
    top.  ``decode_fn`` maps a host ``(n*n, 2)`` float32 array to images.
    """
    z = norm.ppf(np.linspace(quantile, 1 - quantile, n))
    z1, z2 = np.meshgrid(z, z[::-1])  # row 0 at the top holds the largest z2
    grid = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)
    return _grid_figure(decode_fn(grid), path, n, title, value_range)


def interpolation(images_rows, path, title=None, value_range=(0, 1)) -> Path:
    """Interpolations, one per row: ``images_rows`` is ``(rows, steps, ...)``
    where ``...`` is any image layout :func:`sample_grid` accepts."""
    a = np.asarray(_host(images_rows))
    rows, steps = a.shape[:2]
    return _grid_figure(a.reshape(rows * steps, *a.shape[2:]), path, steps, title, value_range)


def reconstructions(inputs, recons, path, n: int = 8, title=None, value_range=(0, 1)) -> Path:
    """The first ``n`` inputs in the top row, their reconstructions below."""
    pair = np.concatenate([_as_images(inputs)[:n], _as_images(recons)[:n]])
    return _grid_figure(pair, path, len(pair) // 2, title, value_range,
                        row_labels=["input", "recon."])


# --------------------------------------------------------------------------
# Curves and scatters
# --------------------------------------------------------------------------

def _columns(history) -> dict:
    """``{name: values}`` from a dict of lists or a list of ``{name: value}``
    rows (a row missing a name gives NaN there)."""
    if isinstance(history, dict):
        return {k: np.asarray(v, dtype=np.float64) for k, v in history.items()}
    names = dict.fromkeys(k for row in history for k in row)
    return {k: np.array([row.get(k, np.nan) for row in history], dtype=np.float64) for k in names}


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` points; the first ``window - 1`` points
    have no full window and are dropped."""
    return np.convolve(y, np.ones(window) / window, mode="valid")


def loss_curves(history, path, title=None, smooth: int = 1) -> Path:
    """One line per loss against the training step.

    ``history`` is ``{name: [values]}`` or a list of ``{name: value}`` rows;
    a ``"step"`` entry, if present, is the x axis (otherwise 0, 1, 2, ...).
    Minibatch losses are noisy (GAN losses especially), so with ``smooth > 1``
    each curve is drawn faintly as recorded and boldly as a trailing moving
    average over ``smooth`` steps; that average lags the raw curve by about
    ``smooth / 2`` steps.
    """
    cols = _columns(history)
    steps = cols.pop("step", None)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, y in cols.items():
        x = np.arange(len(y)) if steps is None else steps
        if smooth > 1 and len(y) >= smooth:
            (raw,) = ax.plot(x, y, alpha=0.25, lw=0.8)
            ax.plot(x[smooth - 1:], _moving_average(y, smooth), color=raw.get_color(), label=name)
        else:
            ax.plot(x, y, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def scatter_2d(samples, path, data=None, centers=None, title=None, lim=None) -> Path:
    """2-D samples drawn over the data: ``data`` as a gray 2-D histogram (its
    density), ``samples`` as small dots, ``centers`` (the true modes) as red
    crosses.  ``lim`` fixes both axes to ``[-lim, lim]`` so frames of a
    training run line up."""
    samples = np.asarray(_host(samples), dtype=np.float64)
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    box = None if lim is None else [[-lim, lim], [-lim, lim]]
    if data is not None:
        data = np.asarray(_host(data), dtype=np.float64)
        ax.hist2d(data[:, 0], data[:, 1], bins=100, range=box, cmap="Greys", cmin=1)
    ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.6, color="tab:blue", label="samples")
    if centers is not None:
        centers = np.asarray(_host(centers), dtype=np.float64)
        ax.scatter(centers[:, 0], centers[:, 1], marker="x", s=60, color="red", label="modes")
    if lim is not None:
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def line_plot(xs, ys_dict, path, xlabel, ylabel, logx=False, logy=False, title=None) -> Path:
    """Several named series over one shared x axis, e.g. finite-difference
    error against step size (``logx=logy=True``) or loss per optimizer."""
    xs = np.asarray(_host(xs), dtype=np.float64)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, ys in ys_dict.items():
        ax.plot(xs, np.asarray(_host(ys), dtype=np.float64), marker=".", label=name)
    ax.set_xscale("log" if logx else "linear")
    ax.set_yscale("log" if logy else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def text_loss_curves(history, evals, path, title=None) -> Path:
    """A language model's curves: the loss of each training batch and the
    periodic train/validation estimates, in nats per character."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.plot([r["step"] for r in history], [r["loss"] for r in history], lw=0.5, alpha=0.5,
            label="training batch")
    for key in ("train", "val"):
        ax.plot([r["step"] for r in evals], [r[key] for r in evals], "o-", label=f"{key} (estimate)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy, nats per character")
    if title:
        ax.set_title(title)
    ax.legend()
    return _save(fig, path)
