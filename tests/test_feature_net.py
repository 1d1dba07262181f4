"""The classifier behind the FID-style metrics: accuracy, features, cache."""
import os

import numpy as np
import pytest

import scratchgen as sg
from scratchgen.runs import evaluation, metrics
from scratchgen.runs import feature_net as fnet
from scratchgen.data.registry import load_dataset

# Silent ReLU units make the feature covariances singular; SciPy says so,
# and the distance is right all the same (see scratchgen.runs.feature_net).
pytestmark = pytest.mark.filterwarnings("ignore:Matrix is singular")

#: a budget small enough to train in well under a second (caching tests)
TINY = fnet.Budget(epochs=1, lr=3e-3, n_train=128)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache folder holding the digits net trained with its full budget."""
    folder = tmp_path_factory.mktemp("cache")
    fnet.feature_net("digits", cache_dir=folder)
    return folder


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train"), load_dataset("digits", "test")


@pytest.fixture(scope="module")
def feats(cache, digits):
    """Features of the test images and of as many training images."""
    train, test = digits
    net = fnet.feature_net("digits", cache_dir=cache)
    return net.embed(train.x[:len(test.x)]), net.embed(test.x)


def test_digits_net_is_accurate(cache):
    assert fnet.feature_net("digits", cache_dir=cache).accuracy >= 0.95


def test_features_shape_and_input_layouts(cache, digits):
    _, test = digits
    f = fnet.features(test.x[:10], "digits", cache_dir=cache)
    assert f.shape == (10, fnet.FEATURE_DIM) and isinstance(f, np.ndarray)
    assert np.isfinite(f).all() and (f >= 0).all()           # ReLU outputs
    assert f.std(0).max() > 0                                  # not a dead layer
    flat = fnet.features(test.x[:10].reshape(10, -1), "digits", cache_dir=cache)
    np.testing.assert_allclose(flat, f, rtol=1e-6, atol=1e-6)
    as_tensor = fnet.features(sg.tensor(test.x[:10]), "digits", cache_dir=cache)
    np.testing.assert_allclose(as_tensor, f, rtol=1e-6, atol=1e-6)


def test_features_are_batch_independent(cache, digits):
    _, test = digits
    net = fnet.feature_net("digits", cache_dir=cache)
    np.testing.assert_allclose(net.embed(test.x[:50], batch_size=7), net.embed(test.x[:50]),
                               rtol=1e-5, atol=1e-5)


def test_frechet_distance_of_a_set_to_itself_is_zero(feats):
    _, test_f = feats
    scale = np.trace(np.cov(test_f, rowvar=False))
    assert abs(metrics.frechet_distance(test_f, test_f)) < 1e-6 * scale


def test_noise_is_far_beyond_the_train_test_floor(cache, feats, digits):
    train_f, test_f = feats
    noise = np.random.default_rng(0).random(digits[1].x.shape, dtype=np.float32)
    floor = metrics.frechet_distance(train_f, test_f)
    far = metrics.frechet_distance(fnet.features(noise, "digits", cache_dir=cache), test_f)
    assert floor > 0 and far > 10 * floor


def test_real_versus_real_precision_and_recall_are_high(feats):
    train_f, test_f = feats
    precision, recall = metrics.precision_recall(test_f, train_f, k=3)
    assert precision > 0.8 and recall > 0.8


def test_one_digit_class_has_high_precision_low_recall(feats, digits):
    """Mode collapse in miniature: only zeros, realistic but not diverse."""
    train, test = digits
    train_f, test_f = feats
    zeros = train_f[train.y[:len(test.x)] == 0]
    precision, recall = metrics.precision_recall(test_f, np.resize(zeros, train_f.shape), k=3)
    assert precision > 0.8 and recall < 0.3


def test_second_call_loads_the_cache(tmp_path, monkeypatch, digits):
    first = fnet.feature_net("digits", cache_dir=tmp_path, budget=TINY)

    def refuse(*args, **kwargs):
        raise AssertionError("retrained although a valid cache file exists")

    monkeypatch.setattr(fnet, "train_feature_net", refuse)
    second = fnet.feature_net("digits", cache_dir=tmp_path, budget=TINY)
    assert second.accuracy == first.accuracy
    x = digits[1].x[:20]
    np.testing.assert_array_equal(second.embed(x), first.embed(x))


def test_cache_file_is_written_atomically(tmp_path):
    fnet.feature_net("digits", cache_dir=tmp_path, budget=TINY)
    folder = tmp_path / "feature_nets"
    assert sorted(os.listdir(folder)) == ["digits.npz"]     # no temporary left behind
    saved = sg.load(folder / "digits.npz")
    assert fnet.Budget(*saved["budget"]) == TINY and saved["dataset"] == "digits"


@pytest.mark.parametrize("damage", [b"", b"not a zip file", "truncate"])
def test_corrupt_cache_is_retrained_with_a_warning(tmp_path, damage):
    path = fnet.cache_path("digits", tmp_path)
    fnet.feature_net("digits", cache_dir=tmp_path, budget=TINY)
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2] if damage == "truncate" else damage)
    with pytest.warns(UserWarning, match="unreadable.*retraining"):
        net = fnet.feature_net("digits", cache_dir=tmp_path, budget=TINY)
    assert net.accuracy > 0.1
    assert fnet.Budget(*sg.load(path)["budget"]) == TINY   # a sound file again


def test_cache_with_wrong_contents_is_retrained(tmp_path):
    path = fnet.cache_path("digits", tmp_path)
    path.parent.mkdir(parents=True)
    sg.save({"state_dict": {"body.0.weight": np.zeros(3)}, "accuracy": 1.0,
             "budget": tuple(TINY)}, path)
    with pytest.warns(UserWarning, match="unreadable"):
        net = fnet.feature_net("digits", cache_dir=tmp_path, budget=TINY)
    assert net.accuracy < 1.0


def test_cache_trained_with_another_budget_is_retrained(tmp_path):
    fnet.feature_net("digits", cache_dir=tmp_path, budget=TINY)
    other = TINY._replace(n_train=64)
    with pytest.warns(UserWarning, match="retraining"):
        fnet.feature_net("digits", cache_dir=tmp_path, budget=other)
    assert fnet.Budget(*sg.load(fnet.cache_path("digits", tmp_path))["budget"]) == other


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.setenv(fnet.ENV_VAR, str(tmp_path / "env"))
    assert fnet.cache_path("digits") == tmp_path / "env" / "feature_nets" / "digits.npz"
    assert fnet.cache_path("digits", tmp_path) == tmp_path / "feature_nets" / "digits.npz"
    monkeypatch.delenv(fnet.ENV_VAR)
    assert fnet.cache_path("mnist").parent.parent.name == "scratchgen"


def test_training_leaves_the_callers_random_stream_alone():
    sg.manual_seed(5)
    expected = sg.randn(4).numpy()
    sg.manual_seed(5)
    fnet.train_feature_net("digits", TINY)
    np.testing.assert_array_equal(sg.randn(4).numpy(), expected)


def test_training_is_reproducible():
    x = load_dataset("digits", "test").x[:10]
    a, b = (fnet.train_feature_net("digits", TINY) for _ in range(2))
    np.testing.assert_array_equal(a.embed(x), b.embed(x))


def test_unknown_data_set_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no feature network for data set 'ring8'"):
        fnet.feature_net("ring8", cache_dir=tmp_path)


def test_evaluation_reports_feature_metrics(cache, monkeypatch, digits):
    """Real training images as "samples": the Fréchet distance equals the
    train-vs-test floor (same images) and precision/recall are high."""
    monkeypatch.setenv(fnet.ENV_VAR, str(cache))
    train, test = digits
    rows = np.random.default_rng(0).choice(len(train.x), len(test.x), replace=False)
    result = evaluation._feature_metrics("digits", train.x[rows], test, seed=0)
    assert set(result) == {"frechet_distance", "frechet_distance_real", "precision",
                           "precision_real", "recall", "recall_real", "feature_net_accuracy"}
    assert result["frechet_distance"] == pytest.approx(result["frechet_distance_real"])
    assert result["precision"] > 0.8 and result["recall"] > 0.8
    assert result["feature_net_accuracy"] >= 0.95
    noise = np.random.default_rng(1).random((len(test.x), 64), dtype=np.float32)
    bad = evaluation._feature_metrics("digits", noise, test, seed=0)
    assert bad["frechet_distance"] > 10 * bad["frechet_distance_real"]
    assert bad["recall"] < 0.2     # (precision is no judge of noise: see evaluation's docstring)
