"""What ``scratchgen eval RUN_DIR`` measures, by kind of model and data.

* 2-D mixtures (ring8, grid25): modes captured and the share of
  high-quality samples (the VEEGAN/PacGAN protocol, 2,500 samples), reverse
  KL of the mode histogram to the uniform one; every 2-D set: MMD and the
  1-nearest-neighbour two-sample accuracy against held-out data.
* Likelihood models on images: test ELBO and the importance-weighted bound
  IWAE_k, in nats per example (higher is better).
* Image samplers: MMD and 1-NN accuracy on pixels against test images.

Each metric's meaning and good value are documented in
:mod:`scratchgen.metrics`.
"""
from __future__ import annotations

import numpy as np  # host side: metrics are computed on host arrays

import scratchgen as sg

from . import metrics
from .data.registry import load_dataset
from .models import load
from .training import read_config


def _batched_mean(fn, x, batch_size=500) -> float:
    total = 0.0
    for start in range(0, len(x), batch_size):
        with sg.no_grad():
            total += float(fn(sg.tensor(x[start:start + batch_size])).sum().item())
    return total / len(x)


def evaluate(run_dir, n_samples: int = 2500, k: int = 50, seed: int = 0) -> dict:
    config = read_config(run_dir)
    model = load(run_dir)
    test = load_dataset(config.data, "test")
    sg.manual_seed(seed)
    samples = model.sample(n_samples).numpy().reshape(n_samples, -1)
    reference = test.x.reshape(len(test.x), -1)[:1000]
    result = {}
    if test.centers is not None:
        coverage = metrics.mode_coverage(samples, test.centers, test.std)
        result.update(modes=coverage.modes, n_modes=coverage.n_modes,
                      high_quality=coverage.high_quality, reverse_kl=coverage.reverse_kl)
    result["mmd"] = metrics.mmd(samples[:1000], reference)
    result["nn1_accuracy"] = metrics.nn1_accuracy(samples[:1000], reference)
    if hasattr(model, "elbo"):
        result["test_elbo_nats"] = _batched_mean(model.elbo, test.x)
        result[f"test_iwae{k}_nats"] = _batched_mean(lambda x: model.iwae(x, k), test.x)
    return {key: (float(v) if isinstance(v, (float, np.floating)) else v)
            for key, v in result.items()}
