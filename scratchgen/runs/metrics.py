"""How good is a generative model?  Sample-based and likelihood metrics.

A generative model is judged on two questions that pull against each other:
are its samples *good* (each looks like data: fidelity, precision) and are
they *diverse* (together they cover the data: coverage, recall)?  A model
that draws one perfect digit over and over wins the first and loses the
second; that failure, **mode collapse**, is what most of these metrics watch.

==========================  ===============================================
:func:`mode_coverage`        toy mixtures with known centres: modes hit,
                             share of good samples, balance over modes
:func:`mmd`                  kernel two-sample distance (any dimension)
:func:`nn1_accuracy`         1-nearest-neighbour two-sample test
:func:`frechet_distance`     distance between Gaussians fitted to features
                             (FID when the features come from a classifier)
:func:`precision_recall`     fidelity and coverage as two separate numbers
:func:`iwae_bound`           importance-weighted log-likelihood bound
==========================  ===============================================

Everything here is host-side: inputs are NumPy arrays (a Tensor or a CuPy
array is converted with :func:`scratchgen.backend.to_numpy`), the work is
done in float64 with NumPy and SciPy, and results are Python floats or
NumPy arrays.  Nothing here is differentiable; these are for reporting.
"""
from __future__ import annotations

import warnings

from typing import NamedTuple

import numpy as np
from scipy import linalg, special
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist, pdist


def _host(a) -> np.ndarray:
    """A host NumPy array from a NumPy/CuPy array, a Tensor, or anything with
    a ``.numpy()`` method (a PyTorch tensor, say)."""
    from scratchgen import backend  # lazy: keeps this module importable alone

    if not isinstance(a, np.ndarray) and hasattr(a, "numpy"):
        a = a.numpy()
    return backend.to_numpy(a)


def _points(a, name: str) -> np.ndarray:
    """``a`` as a float64 ``(n, d)`` matrix of n points, one per row."""
    a = np.asarray(_host(a), dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_points, n_features); got shape {a.shape}")
    return a


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All pairwise squared distances via ||a||^2 + ||b||^2 - 2 a.b: one matrix
    product instead of an (n, m, d) difference tensor.  Cancellation can make
    the result slightly negative, hence the clip."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


# --------------------------------------------------------------------------
# Mode coverage on toy mixtures
# --------------------------------------------------------------------------

class ModeCoverage(NamedTuple):
    """Result of :func:`mode_coverage` (``._asdict()`` gives a plain dict)."""

    modes: int           #: modes captured; good: ``n_modes``
    n_modes: int         #: modes in the mixture
    high_quality: float  #: share of samples near some centre; good: near 1
    reverse_kl: float    #: KL(mode histogram || uniform); good: 0, bad: log K


def mode_coverage(samples, centers, std, hq_threshold: float = 3.0) -> ModeCoverage:
    """Mode coverage on a Gaussian mixture with known centres (VEEGAN, PacGAN).

    The protocol of Srivastava et al. (2017) and Lin et al. (2018), who draw
    2,500 samples from the generator:

    * a sample is **high quality** if its nearest centre is within
      ``hq_threshold`` standard deviations (Euclidean distance ``<= 3 std``);
    * a mode is **captured** if it is the nearest centre of at least one
      high-quality sample;
    * the **reverse KL** measures how evenly the high-quality samples spread
      over the K modes: with ``q_k`` the fraction of them nearest to mode k,
      ``KL(q || uniform) = sum_{k: q_k > 0} q_k log(q_k K)``.  It is 0 when
      every mode gets the same share and ``log K`` when all samples sit in
      one mode; it is ``inf`` when there are no high-quality samples at all.
      (Empty modes add nothing, since ``q log q -> 0``; they show up in
      ``modes`` instead.)

    ``samples`` is ``(n, d)``, ``centers`` ``(K, d)``, ``std`` the common
    standard deviation of the mixture components.
    """
    samples, centers = _points(samples, "samples"), _points(centers, "centers")
    # Exact distances (not the ||a||^2 + ||b||^2 - 2ab shortcut): with a small
    # std the threshold is tiny next to the norms and would drown in rounding.
    dist = cdist(samples, centers)
    nearest = dist.argmin(1)
    hq = dist[np.arange(len(samples)), nearest] <= hq_threshold * std
    counts = np.bincount(nearest[hq], minlength=len(centers))
    return ModeCoverage(
        modes=int((counts > 0).sum()),
        n_modes=len(centers),
        high_quality=float(hq.mean()),
        reverse_kl=_kl_to_uniform(counts),
    )


def _kl_to_uniform(counts: np.ndarray) -> float:
    if counts.sum() == 0:
        return float("inf")
    q = counts[counts > 0] / counts.sum()
    return float((q * np.log(q * len(counts))).sum())


# --------------------------------------------------------------------------
# Two-sample tests
# --------------------------------------------------------------------------

def mmd(x, y, bandwidth: float | None = None) -> float:
    """Unbiased squared Maximum Mean Discrepancy with a Gaussian kernel.

    MMD compares two samples through the mean of a feature map; with the
    kernel ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))`` (Gretton et al. 2012)::

        MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)

    The unbiased estimate leaves out the ``i == j`` terms of the first two
    means, so it is centred on 0 when both samples come from one
    distribution and can then be slightly negative.  Good: near 0 (compare
    with the value between two real samples of the same size); larger means
    more different.  ``bandwidth`` (sigma) defaults to the *median
    heuristic*: the median pairwise distance within the pooled sample,
    which puts the kernel on the scale of the data.
    """
    x, y = _points(x, "x"), _points(y, "y")
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"mmd needs at least 2 points in each sample; got {m} and {n}")
    if bandwidth is None:
        bandwidth = float(np.median(pdist(np.concatenate([x, y]))))
    if not bandwidth > 0:
        raise ValueError(f"mmd bandwidth must be positive; got {bandwidth} "
                         "(most points coincide: pass bandwidth= explicitly)")
    gamma = 1.0 / (2.0 * bandwidth**2)
    kxx = np.exp(-gamma * _sq_dists(x, x))
    kyy = np.exp(-gamma * _sq_dists(y, y))
    kxy = np.exp(-gamma * _sq_dists(x, y))
    # The diagonals are k(a, a) = 1 exactly; subtracting them drops i == j.
    return float(
        (kxx.sum() - m) / (m * (m - 1))
        + (kyy.sum() - n) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def nn1_accuracy(x, y) -> float:
    """Leave-one-out accuracy of a 1-nearest-neighbour classifier telling
    sample ``x`` from sample ``y`` (Lopez-Paz & Oquab 2017; Xu et al. 2018).

    Pool both samples, label each point by its origin, and predict every
    point's label as that of its nearest *other* point.  If the samples come
    from one distribution the labels are coin flips: accuracy 0.5 (with
    equal sizes) is ideal.  Near 1.0 the two are trivially separable (the
    model misses the data); well *below* 0.5 each generated point sits on a
    real one, a sign that the model memorised its training set.
    """
    x, y = _points(x, "x"), _points(y, "y")
    pooled = np.concatenate([x, y])
    labels = np.r_[np.zeros(len(x), bool), np.ones(len(y), bool)]
    _, idx = cKDTree(pooled).query(pooled, k=2)
    # The nearest point is usually the point itself; with exact duplicates the
    # tree may list the twin first, so take whichever of the two is not self.
    self_first = idx[:, 0] == np.arange(len(pooled))
    neighbour = np.where(self_first, idx[:, 1], idx[:, 0])
    return float((labels[neighbour] == labels).mean())


# --------------------------------------------------------------------------
# Feature-space metrics
# --------------------------------------------------------------------------

def frechet_distance(feats_a, feats_b, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features.

    Fit ``N(mu1, S1)`` and ``N(mu2, S2)`` to the rows of the two ``(n, d)``
    arrays; the squared 2-Wasserstein (Fréchet) distance between them is
    (Dowson & Landau 1982)::

        ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

    With Inception features this is FID (Heusel et al. 2017).  Good: 0,
    identical first and second moments; it grows with the squared shift of
    the means and the mismatch of the covariances.  ``S1 S2`` need not be
    symmetric, and with fewer samples than features it is singular: its
    square root can then come back with tiny imaginary parts (dropped) or
    not finite, in which case ``eps * I`` is added to both covariances.
    """
    a, b = _points(feats_a, "feats_a"), _points(feats_b, "feats_b")
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # "singular matrix": the result is checked below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = eps * np.eye(len(s1))
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean.real))


class PrecisionRecall(NamedTuple):
    """Result of :func:`precision_recall`; unpacks as ``p, r = ...``."""

    precision: float  #: share of fake samples on the real manifold; good: 1
    recall: float     #: share of real samples on the fake manifold; good: 1


def precision_recall(real_feats, fake_feats, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's *manifold* is estimated as the union of balls around its
    points, each ball reaching to that point's k-th nearest neighbour in the
    same set.  **Precision** is the fraction of fake samples inside the real
    manifold (are samples realistic?); **recall** the fraction of real
    samples inside the fake manifold (is all of the data produced?).  Both
    are in [0, 1] and 1 is best; mode collapse shows as high precision with
    low recall, blurry or noisy samples as the reverse.  The paper uses
    ``k = 3`` and equal set sizes (the radii depend on the sample size).
    """
    real, fake = _points(real_feats, "real_feats"), _points(fake_feats, "fake_feats")
    return PrecisionRecall(
        precision=_inside_manifold(fake, real, k),
        recall=_inside_manifold(real, fake, k),
    )


def _inside_manifold(queries: np.ndarray, support: np.ndarray, k: int) -> float:
    """Fraction of ``queries`` within the k-NN ball of some ``support`` point."""
    if len(support) <= k:
        raise ValueError(f"k={k} needs more than {k} points per set; got {len(support)}")
    # Column 0 of the query is the point itself (distance 0), so column k is
    # the k-th nearest *other* point.
    radii = cKDTree(support).query(support, k=k + 1)[0][:, k]
    return float((cdist(queries, support) <= radii[None, :]).any(1).mean())


# --------------------------------------------------------------------------
# Likelihood
# --------------------------------------------------------------------------

def iwae_bound(log_weights) -> np.ndarray:
    """Per-example importance-weighted bound from ``(k, n)`` log weights.

    With ``k`` samples ``z_i ~ q(z | x)`` and log weights
    ``log w_i = log p(x, z_i) - log q(z_i | x)``, Burda et al. (2016) bound
    the log-likelihood by the log of the *mean* weight::

        L_k(x) = log (1/k) sum_i w_i = logsumexp_i(log w_i) - log k  <=  log p(x)

    computed stably with log-sum-exp (the weights themselves under- or
    overflow: ``log w ~ -1e4`` is common).  ``k = 1`` gives the ELBO; by
    Jensen, ``L_k`` is non-decreasing in ``k`` in expectation and tends to
    ``log p(x)`` as ``k -> inf``.  Larger (closer to 0) is better; values
    are in nats.  Returns an array of shape ``(n,)``.
    """
    lw = np.asarray(_host(log_weights), dtype=np.float64)
    if lw.ndim != 2:
        raise ValueError(f"log_weights must have shape (k, n); got {lw.shape}")
    return special.logsumexp(lw, axis=0) - np.log(lw.shape[0])
