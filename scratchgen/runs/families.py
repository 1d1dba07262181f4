"""GAN, VAE and MADE side by side on binarised images: the comparison behind
``benchmarks/bench_families.py`` and lesson 17.

Each model is the one ``scratchgen train`` builds for the data set (its
recipe), trained for the same budget of this process's CPU time (so that
jobs sharing the machine do not change it).  The VAE and MADE, Bernoulli
likelihood models, train on *dynamically* binarised images (a fresh draw of
every pixel in every batch).  The GAN trains on the grey images, which are
the pixels' Bernoulli means, and its samples are drawn as Bernoulli pixels
of its output: fed exact 0/1 images, its discriminator tells them from the
generator's continuous outputs at a glance and the generator collapses
(measured: recall 0 on the digits).  All three are then judged on:

* **NLL** in nats per image on the test set binarised once with seed 0:
  exact for MADE, the importance-weighted bound IWAE_k (an upper bound on
  the NLL) for the VAE, undefined for the GAN, which has no density;
* **sample quality**: Fréchet distance and precision/recall (k = 3) in the
  features of the data set's classifier (:mod:`.feature_net`), between
  binary samples (each model's pixel probabilities drawn as Bernoulli
  pixels, so every model's samples live in the data's space) and the
  binarised test images, with the train-vs-test distance as the floor;
* **speed**: CPU seconds per training epoch and per 64 samples;
* **parameters**.
"""
from __future__ import annotations

import time

import numpy as np  # host side: binarisation and metrics

from ..autograd import no_grad
from ..backend import manual_seed
from ..creation import tensor
from ..data import DataLoader
from ..data.binary import binarize, fixed_binarization
from ..data.registry import load_dataset
from ..models import GAN, MADE, VAE
from . import metrics, recipes
from .feature_net import feature_net

FAMILIES = {"gan": GAN, "vae": VAE, "made": MADE}


def build(name: str, dataset):
    """The model of ``scratchgen train NAME`` for this data set, and its lr."""
    recipe = recipes.RECIPES[name]
    settings = recipes.training_settings(name, "digits" if dataset.shape[-1] == 8 else "fashion",
                                         True)
    model = FAMILIES[name](**recipe["args"](dataset))
    return model, settings


def train_for(model, settings, x, budget_s: float, seed: int, binary: bool = True) -> dict:
    """Train on ``x`` (dynamically binarised if ``binary``) until
    ``budget_s`` CPU seconds are spent (whole steps); returns epochs done
    and CPU seconds per epoch."""
    opts = model.make_optimizers(settings["lr"])
    loader = DataLoader(x, settings["batch_size"], shuffle=True, drop_last=True, seed=seed)
    rng = np.random.default_rng(seed)
    spent, steps = 0.0, 0
    model.train()
    while spent < budget_s:
        for batch in loader:
            start = time.process_time()
            model.train_step(tensor(binarize(batch.numpy(), rng)) if binary else batch, opts)
            spent += time.process_time() - start
            steps += 1
            if spent >= budget_s:
                break
    model.eval()
    epochs = steps / len(loader)
    return {"steps": steps, "epochs": epochs, "cpu_s_per_epoch": spent / epochs}


def binary_samples(model, n: int, rng) -> tuple[np.ndarray, float]:
    """``n`` samples as 0/1 images (Bernoulli draws of the model's pixel
    probabilities; MADE's are binary already) and the CPU seconds per 64."""
    start = time.process_time()
    probs = model.sample(n).numpy()
    seconds = (time.process_time() - start) * 64 / n
    return binarize(probs, rng).astype(np.float32), seconds


def nll(model, x_bin: np.ndarray, k: int) -> float | None:
    """Nats per image on binary ``x_bin``: exact (MADE), IWAE_k bound (VAE)."""
    batches = [tensor(x_bin[i:i + 250]) for i in range(0, len(x_bin), 250)]
    with no_grad():
        if hasattr(model, "log_prob"):
            return -float(np.mean(np.concatenate([model.log_prob(b).numpy() for b in batches])))
        if hasattr(model, "iwae"):
            return -float(np.mean(np.concatenate([model.iwae(b, k).numpy() for b in batches])))
    return None


def compare(data: str, budget_s: float, n_samples: int, k: int, seed: int = 0,
            names=("gan", "vae", "made")) -> tuple[list, dict]:
    """Rows of the table, and 32 binary samples per model for a figure."""
    train, test = load_dataset(data, "train"), load_dataset(data, "test")
    test_bin = fixed_binarization(test.x)
    m = min(n_samples, len(test_bin))
    net = feature_net(data)
    real = net.embed(test_bin[:m])
    floor_idx = np.random.default_rng(seed).choice(len(train.x), m, replace=False)
    floor = metrics.frechet_distance(net.embed(fixed_binarization(train.x[floor_idx], 1)), real)
    rows, grids = [], {}
    for name in names:
        manual_seed(seed)
        model, settings = build(name, train)
        timing = train_for(model, settings, train.x, budget_s, seed, binary=name != "gan")
        samples, sample_s = binary_samples(model, m, np.random.default_rng(seed))
        fake = net.embed(samples)
        precision, recall = metrics.precision_recall(real, fake, k=3)
        rows.append({"model": name, "params": sum(p.size for p in model.parameters()),
                     "nll_nats": nll(model, test_bin, k), **timing,
                     "cpu_s_per_64_samples": sample_s,
                     "frechet_distance": metrics.frechet_distance(fake, real),
                     "frechet_floor": floor, "precision": precision, "recall": recall})
        grids[name] = samples[:32]
    return rows, grids


def table(rows, k: int) -> list[dict]:
    nll_name = {"made": "exact", "vae": f"IWAE-{k} bound", "gan": "undefined (no density)"}
    return [{"model": r["model"].upper(), "params": f"{r['params']:,}",
             "NLL, nats/image": (f"{r['nll_nats']:.2f} ({nll_name[r['model']]})"
                                 if r["nll_nats"] is not None else nll_name[r["model"]]),
             "FD (floor)": f"{r['frechet_distance']:.2f} ({r['frechet_floor']:.2f})",
             "precision": f"{r['precision']:.2f}", "recall": f"{r['recall']:.2f}",
             "epochs": f"{r['epochs']:.1f}", "CPU s/epoch": f"{r['cpu_s_per_epoch']:.2f}",
             "CPU s/64 samples": f"{r['cpu_s_per_64_samples']:.3f}"} for r in rows]
