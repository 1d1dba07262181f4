"""Tests for scratchgen.runs.metrics: each metric on cases whose answer is known."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from scratchgen.runs import metrics

RING = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], 1)
STD = 0.01


def ring_samples(rng, n=2500, modes=range(8)):
    idx = rng.choice(list(modes), size=n)
    return RING[idx] + STD * rng.standard_normal((n, 2))


# -- mode coverage ----------------------------------------------------------

def test_mode_coverage_perfect_samples_cover_every_mode_evenly():
    res = metrics.mode_coverage(ring_samples(np.random.default_rng(0)), RING, STD)
    assert (res.modes, res.n_modes) == (8, 8)
    assert res.high_quality > 0.98
    assert res.reverse_kl == pytest.approx(0.0, abs=0.01)


def test_mode_coverage_collapsed_to_one_mode():
    res = metrics.mode_coverage(ring_samples(np.random.default_rng(1), modes=[3]), RING, STD)
    assert res.modes == 1
    assert res.reverse_kl == pytest.approx(math.log(8))


def test_mode_coverage_far_samples_are_not_high_quality():
    res = metrics.mode_coverage(np.full((100, 2), 5.0), RING, STD)
    assert (res.modes, res.high_quality, res.reverse_kl) == (0, 0.0, math.inf)


def test_mode_coverage_threshold_at_three_std():
    pts = RING[[0, 1]] + [[2.99 * STD, 0.0], [3.01 * STD, 0.0]]
    res = metrics.mode_coverage(pts, RING, STD)
    assert res._asdict() == {"modes": 1, "n_modes": 8, "high_quality": 0.5, "reverse_kl": math.log(8)}


# -- two-sample tests ---------------------------------------------------------

def test_mmd_small_for_same_distribution_large_for_shifted():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((200, 2)), rng.standard_normal((200, 2))
    same = metrics.mmd(x, y)
    assert abs(same) < 0.02
    assert metrics.mmd(x, y + 3.0) > 0.5


def test_mmd_matches_naive_double_loop():
    rng = np.random.default_rng(3)
    x, y, s = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), 0.7

    def k(a, b):
        return math.exp(-np.sum((a - b) ** 2) / (2 * s * s))

    xx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / 20
    yy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / 12
    xy = sum(k(a, b) for a in x for b in y) / 20
    assert metrics.mmd(x, y, bandwidth=s) == pytest.approx(xx + yy - 2 * xy)


def test_nn1_accuracy_half_for_same_one_for_separated():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((300, 2)), rng.standard_normal((300, 2))
    assert metrics.nn1_accuracy(x, y) == pytest.approx(0.5, abs=0.08)
    assert metrics.nn1_accuracy(x, y + 20.0) == 1.0


def test_nn1_accuracy_memorised_copy_scores_zero():
    x = np.random.default_rng(5).standard_normal((50, 2))
    assert metrics.nn1_accuracy(x, x.copy()) == 0.0


# -- feature-space metrics ----------------------------------------------------

def test_frechet_identical_features_is_zero():
    f = np.random.default_rng(6).standard_normal((100, 4))
    assert metrics.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(d=arrays(np.float64, 3, elements=st.floats(-10, 10)), seed=st.integers(0, 2**16))
def test_frechet_of_shift_is_squared_norm(d, seed):
    f = np.random.default_rng(seed).standard_normal((50, 3))
    assert metrics.frechet_distance(f, f + d) == pytest.approx(d @ d, abs=1e-6)


def test_frechet_singular_covariance_stays_finite():
    f = np.random.default_rng(7).standard_normal((3, 6))  # fewer samples than features
    g = np.random.default_rng(8).standard_normal((3, 6))
    assert np.isfinite(metrics.frechet_distance(f, g))


def test_precision_recall_identical_sets_are_perfect():
    f = np.random.default_rng(9).standard_normal((200, 5))
    p, r = metrics.precision_recall(f, f.copy())
    assert p == pytest.approx(1.0) and r == pytest.approx(1.0)


def test_precision_recall_detects_collapse():
    rng = np.random.default_rng(10)
    real = rng.standard_normal((300, 2))
    fake = 0.1 * rng.standard_normal((300, 2))  # all in the centre of the data
    res = metrics.precision_recall(real, fake)
    assert res.precision > 0.9 and res.recall < 0.3


# -- likelihood ---------------------------------------------------------------

def test_iwae_k1_is_the_input():
    lw = np.array([[-1.5, 2.0, -300.0]])
    np.testing.assert_allclose(metrics.iwae_bound(lw), lw[0])


def test_iwae_log_mean_exp_at_least_mean_and_at_most_max():
    lw = np.random.default_rng(11).standard_normal((10, 6)) * 3
    b = metrics.iwae_bound(lw)
    assert b.shape == (6,)
    assert np.all(b >= lw.mean(0)) and np.all(b <= lw.max(0))


def test_iwae_stable_for_very_negative_log_weights():
    lw = -1e4 + np.array([[0.0], [math.log(3.0)]])  # weights 1 and 3, times e^-1e4
    np.testing.assert_allclose(metrics.iwae_bound(lw), [-1e4 + math.log(2.0)])


# -- inputs -------------------------------------------------------------------

def test_accepts_objects_with_numpy_method():
    class Fake:
        def __init__(self, a):
            self.a = a

        def numpy(self):
            return self.a

    f = np.random.default_rng(12).standard_normal((20, 2))
    assert metrics.frechet_distance(Fake(f), Fake(f)) == pytest.approx(0.0, abs=1e-8)


def test_bad_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="2-D"):
        metrics.mmd(np.zeros(5), np.zeros(5))
