"""What ``scratchgen eval RUN_DIR`` measures, by kind of model and data.

* 2-D mixtures (ring8, grid25): modes captured and the share of
  high-quality samples (the VEEGAN/PacGAN protocol, 2,500 samples), reverse
  KL of the mode histogram to the uniform one; every 2-D set: MMD and the
  1-nearest-neighbour two-sample accuracy against held-out data.
* Likelihood models on images: test ELBO and the importance-weighted bound
  IWAE_k, in nats per example (higher is better); autoregressive models
  (MADE) their exact negative log-likelihood on the test set binarised once
  with seed 0 (``data.binary``), in nats per image (lower is better).
* Character models: the loss on the whole validation text, in nats and
  bits per character.
* Image samplers: MMD and 1-NN accuracy on pixels against test images,
  and in the 128-d feature space of a small classifier trained on the data
  set (:mod:`scratchgen.feature_net`, trained on first use and cached):

  - ``frechet_distance`` (FID-style) between generated and test images:
    0 for identical feature means and covariances, lower is better;
  - ``frechet_distance_real``: the same distance between as many *real*
    training images and the test images, the floor a perfect model would
    reach with this sample size (the estimate is biased upwards for small
    samples, so compare against this, not against 0);
  - ``precision`` and ``recall`` (k = 3): share of generated images on the
    test images' manifold and of test images on the generated one; 1 is
    best, and real-vs-real values show what "high" means on a data set.
    Read them together with the Fréchet distance: an odd real image has a
    wide ball that can take in junk, so on the 297 test digits uniform
    noise still scores precision ≈ 0.7 (recall ≈ 0.06, FD ≈ 17 times the
    floor) and a flat grey image precision 1;
  - ``feature_net_accuracy``: the classifier's own test accuracy, a sanity
    figure (the features mean little if it is low).

  All use ``m = min(n_samples, test images)`` images per set, the first m
  test images, so the numbers compare across models at the same ``n``.
* Class-conditional models (``cgan``, ``cvae``): samples are asked for the
  classes 0, 1, ..., K-1 in turn; ``conditional_accuracy`` is how often the
  same classifier labels a sample with the class asked for, and
  ``conditional_accuracy_vs_real`` that over its accuracy on real test
  images (1: the samples show their class as clearly as the data);
  ``frechet_distance_class_k`` compares the samples of class k with the
  test images of class k.  A conditional VAE's ELBO and IWAE are bounds on
  log p(x|y), with the test labels.

Every metric comes with its value on real data, measured the same way
(``NAME_real``: training examples in the place of samples), and
:func:`explain` prints the two side by side with what good looks like.
Each metric's meaning and good value are documented in
:mod:`scratchgen.runs.metrics`.
"""
from __future__ import annotations

import math

import numpy as np  # host side: metrics are computed on host arrays

from .. import backend
from ..autograd import no_grad
from ..creation import tensor
from . import metrics
from ..data.binary import EVAL_SEED, fixed_binarization
from ..data.registry import load_dataset
from ..data.text import load_text_dataset
from .feature_net import feature_net
from ..models import load
from .training import read_config


#: what good looks like, beside each metric (``explain`` prints it)
MEANING = {
    "modes": "modes with a high-quality sample (all of them is best)",
    "high_quality": "share of samples within 3 std of a mode (higher is better)",
    "reverse_kl": "KL of the mode histogram to uniform (0 is best)",
    "mmd": "kernel MMD^2 to held-out data (lower is better)",
    "nn1_accuracy": "1-NN two-sample accuracy (0.5: samples and data indistinguishable)",
    "frechet_distance": "Frechet distance in feature space (lower is better)",
    "precision": "share of samples on the data's manifold (higher is better)",
    "recall": "share of the data's manifold covered (higher is better)",
    "feature_net_accuracy": "the feature classifier's test accuracy (a sanity check)",
    "test_elbo_nats": "test ELBO, nats per example (higher is better)",
    "test_iwae": "test IWAE bound, nats per example (higher is better; >= the ELBO)",
    "test_nll_nats": "exact test negative log-likelihood, nats per image (lower is better)",
    "test_binarization_seed": "the seed of the test set's fixed binarisation",
    "val_nats_per_char": "validation loss, nats per character (lower is better)",
    "val_bits_per_char": "the same in bits per character (lower is better)",
    "val_characters": "characters in the validation text",
    "conditional_accuracy": "samples the classifier labels with the class asked for (higher)",
    "test_accuracy_of_classifier": "the same classifier on real test images",
    "conditional_accuracy_vs_real": "the two in ratio (1: as clear as the data)",
    "frechet_distance_class": "Frechet distance within one class (lower is better)",
}
REAL = "_real"   #: suffix of a metric measured on real data, the same way


def _batched_mean(fn, x, labels=None, k: int = 1) -> float:
    """Mean over ``x`` of the per-example ``fn(batch)`` (``fn(batch,
    batch_labels)`` when ``labels`` are given), in batches, without a graph;
    ``k`` samples per example make the batches ``k`` times smaller."""
    total, batch_size = 0.0, max(1, 25_000 // k)   # about the same memory for every k
    for start in range(0, len(x), batch_size):
        extra = () if labels is None else (labels[start:start + batch_size],)
        with no_grad():
            total += float(fn(tensor(x[start:start + batch_size]), *extra).sum().item())
    return total / len(x)


def _feature_metrics(dataset: str, samples, test, seed: int, root=None,
                     progress: bool = False) -> dict:
    """Fréchet distance and precision/recall in classifier-feature space,
    each beside its value for as many real training images (the floor)."""
    net = feature_net(dataset, root=root, progress=progress)
    m = min(len(samples), len(test.x))
    real, fake = net.embed(test.x[:m]), net.embed(samples[:m])
    train = load_dataset(dataset, "train", root=root).x
    floor = net.embed(train[np.random.default_rng(seed).choice(len(train), m, replace=False)])
    precision, recall = metrics.precision_recall(real, fake, k=3)
    precision_real, recall_real = metrics.precision_recall(real, floor, k=3)
    return {"frechet_distance": metrics.frechet_distance(fake, real),
            "frechet_distance" + REAL: metrics.frechet_distance(floor, real),
            "precision": precision, "precision" + REAL: precision_real,
            "recall": recall, "recall" + REAL: recall_real,
            "feature_net_accuracy": net.accuracy}


def evaluate_text(run_dir) -> dict:
    """A character model: its loss on the whole validation text (every
    character predicted once), in nats and bits per character."""
    from .text_training import read_text_config
    config = read_text_config(run_dir)
    model = load(run_dir)
    val = load_text_dataset(config.data).val
    nats = model.text_nll(val)
    return {"val_nats_per_char": nats, "val_bits_per_char": nats / math.log(2),
            "val_characters": len(val)}


def _conditional_metrics(dataset: str, model, test, n_samples: int, root=None,
                         progress: bool = False) -> dict:
    """For a class-conditional model: how often the classifier labels a
    sample with the class that was asked for (against how often it labels
    real test images right), and the Fréchet distance per class."""
    net = feature_net(dataset, root=root, progress=progress)
    labels = np.arange(n_samples) % model.n_classes
    samples = model.sample(n_samples, labels=labels).numpy()
    accuracy = float((net.predict(samples) == labels).mean())
    real_accuracy = float((net.predict(test.x) == test.y).mean())
    result = {"conditional_accuracy": accuracy, "test_accuracy_of_classifier": real_accuracy,
              "conditional_accuracy_vs_real": accuracy / real_accuracy}
    for k in range(model.n_classes):
        fake, real = samples[labels == k], test.x[test.y == k]
        m = min(len(fake), len(real))
        if m > 2:
            result[f"frechet_distance_class_{k}"] = metrics.frechet_distance(
                net.embed(fake[:m]), net.embed(real[:m]))
    return result


def evaluate(run_dir, n_samples: int = 2500, k: int = 50, seed: int = 0, root=None,
             progress: bool = False) -> dict:
    """A run's metrics, each beside its value on real data (key ``NAME_real``),
    measured the same way: training examples in the place of samples.

    Each random part starts from ``seed`` (samples, the real subset, the
    ELBO's noise), so the numbers do not depend on what ran before in the
    process, nor on whether the feature network had to be trained first."""
    from .text_training import is_text_run
    if is_text_run(run_dir):
        return evaluate_text(run_dir)
    config = read_config(run_dir)
    model = load(run_dir)
    test = load_dataset(config.data, "test", root=root)
    train = load_dataset(config.data, "train", root=root)
    backend.manual_seed(seed)
    samples = model.sample(n_samples).numpy().reshape(n_samples, -1)
    reference = test.x.reshape(len(test.x), -1)[:1000]
    rows = np.random.default_rng(seed).choice(len(train.x), min(n_samples, len(train.x)),
                                              replace=False)
    real = train.x[rows].reshape(len(rows), -1)
    result = {}
    if test.centers is not None:
        for key, points in (("", samples), (REAL, real)):
            coverage = metrics.mode_coverage(points, test.centers, test.std)
            result.update({"modes" + key: coverage.modes,
                           "high_quality" + key: coverage.high_quality,
                           "reverse_kl" + key: coverage.reverse_kl})
    result["mmd"] = metrics.mmd(samples[:1000], reference)
    result["mmd" + REAL] = metrics.mmd(real[:1000], reference)
    result["nn1_accuracy"] = metrics.nn1_accuracy(samples[:1000], reference)
    result["nn1_accuracy" + REAL] = metrics.nn1_accuracy(real[:1000], reference)
    if test.is_image:
        result.update(_feature_metrics(config.data, samples, test, seed, root, progress))
    if hasattr(model, "log_prob") and test.is_image:
        # exact, on the test set binarised once with a fixed seed (data.binary)
        binary = fixed_binarization(test.x)
        result["test_nll_nats"] = -_batched_mean(model.log_prob, binary)
        result["test_binarization_seed"] = EVAL_SEED
    conditional = bool(getattr(model, "n_classes", 0)) and test.y is not None
    if conditional:
        backend.manual_seed(seed)
        result.update(_conditional_metrics(config.data, model, test, n_samples, root, progress))
    if hasattr(model, "elbo"):
        labels = test.y if conditional else None  # a conditional VAE bounds log p(x|y)
        backend.manual_seed(seed)
        result["test_elbo_nats"] = _batched_mean(model.elbo, test.x, labels)
        backend.manual_seed(seed)
        result[f"test_iwae{k}_nats"] = _batched_mean(lambda x, *y: model.iwae(x, k, *y),
                                                     test.x, labels, k)
    return {key: (float(v) if isinstance(v, (float, np.floating)) else v)
            for key, v in result.items()}


def explain(result: dict) -> str:
    """The table ``scratchgen eval`` prints: each metric, its value on real
    data measured the same way, and what good looks like."""
    def show(v):
        return "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
    rows = [("metric", "this run", "real data", "what good looks like")]
    for key, value in result.items():
        if key.endswith(REAL):
            continue
        family = next((f for f in ("test_iwae", "frechet_distance_class") if key.startswith(f)), key)
        meaning = MEANING.get(family, "")
        rows.append((key, show(value), show(result.get(key + REAL)), meaning))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d}"
                     for a, b, c, d in rows)
